"""Frames between engine and worker: both the blocking and the asyncio side."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from cloudlet.engine.protocol import (
    ProtocolError,
    decode_packet,
    encode_frame,
    encode_packet,
    read_frame,
    recv_frame,
    send_frame,
)


def test_blocking_round_trip_keeps_body_bytes() -> None:
    left, right = socket.socketpair()
    with left, right:
        body = bytes(range(256)) * 10
        send_frame(left, {"type": "invoke", "request_id": "r1"}, body)
        send_frame(left, {"type": "ping"})
        assert recv_frame(right) == ({"type": "invoke", "request_id": "r1"}, body)
        assert recv_frame(right) == ({"type": "ping"}, b"")


def test_blocking_read_raises_eof_when_peer_closes_mid_frame() -> None:
    left, right = socket.socketpair()
    with right:
        left.sendall(encode_frame({"type": "x"}, b"abcdef")[:-2])
        left.close()
        with pytest.raises(EOFError):
            recv_frame(right)


def test_asyncio_reader_reads_what_blocking_side_wrote() -> None:
    async def scenario() -> tuple[dict[str, object], bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(encode_frame({"type": "result", "ok": True}, b'{"a": 1}'))
        reader.feed_eof()
        return await read_frame(reader)

    assert asyncio.run(scenario()) == ({"type": "result", "ok": True}, b'{"a": 1}')


@pytest.mark.parametrize(
    "raw",
    [
        struct.pack(">II", 2, 0) + b"[]",  # header is not an object
        struct.pack(">II", 3, 0) + b"{x}",  # not JSON
        struct.pack(">II", 1 << 30, 0),  # absurd size
    ],
)
def test_bad_frames_are_protocol_errors(raw: bytes) -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(raw)
        with pytest.raises(ProtocolError):
            recv_frame(right)


def test_packets_are_json_objects() -> None:
    assert decode_packet(encode_packet({"op": "fork", "id": 1})) == {"op": "fork", "id": 1}
    with pytest.raises(ProtocolError):
        decode_packet(b"1")
