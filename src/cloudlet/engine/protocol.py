"""Frames spoken between the engine and a worker (execution environment).

Layout of one frame on the worker's stream socket::

    +----------------+----------------+------------------+-------------+
    | header length  | body length    | header (JSON)    | body (raw)  |
    | 4 bytes, BE    | 4 bytes, BE    | UTF-8 object     | bytes       |
    +----------------+----------------+------------------+-------------+

The header is a JSON object with a ``"type"``; the body carries the raw
payload (event bytes, result bytes) so it is never re-encoded.

Conversation (worker side in ``runtime.py``)::

    worker → engine  {"type": "ready", "pid", "init_ms"}          after the handler module imported
                     {"type": "init_error", "pid"} + error body    the module could not be loaded; worker exits
    engine → worker  {"type": "invoke", "request_id", "deadline_ms", ...} + event bytes
    worker → engine  {"type": "result", "ok", "maxrss_kb", "fatal"} + result or error bytes

A frame larger than ``MAX_FRAME`` or a header that is not a JSON object is a
protocol violation: the engine kills the worker and the call fails with
``Runtime.ExitError``.

The zygote's control socket is a ``SOCK_SEQPACKET`` socket: one JSON object
per packet (``encode_packet``/``decode_packet``), file descriptors attached
with ``SCM_RIGHTS``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

_PREFIX = struct.Struct(">II")
#: Headers are small; bodies are capped a little above Lambda's 6 MB sync payload limit.
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


def encode_frame(header: dict[str, Any], body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return _PREFIX.pack(len(head), len(body)) + head + body


def _decode_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"bad frame header: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not a JSON object")
    return header


def _check_sizes(head_len: int, body_len: int) -> None:
    if head_len > MAX_HEADER or body_len > MAX_BODY:
        raise ProtocolError(f"frame too large ({head_len} + {body_len} bytes)")


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """Read one frame; ``asyncio.IncompleteReadError`` on EOF."""
    head_len, body_len = _PREFIX.unpack(await reader.readexactly(_PREFIX.size))
    _check_sizes(head_len, body_len)
    header = _decode_header(await reader.readexactly(head_len))
    body = await reader.readexactly(body_len) if body_len else b""
    return header, body


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes]:
    """Blocking read of one frame; ``EOFError`` when the peer is gone."""
    head_len, body_len = _PREFIX.unpack(_recv_exactly(sock, _PREFIX.size))
    _check_sizes(head_len, body_len)
    header = _decode_header(_recv_exactly(sock, head_len))
    body = _recv_exactly(sock, body_len) if body_len else b""
    return header, body


def send_frame(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    sock.sendall(encode_frame(header, body))


def encode_packet(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def decode_packet(data: bytes) -> dict[str, Any]:
    return _decode_header(data)
