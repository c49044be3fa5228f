"""Streamed request bodies: incremental aws-chunked decoding and the checks layered on a stream."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.edge import body, sigv4
from cloudlet.errors import AuthError, ServiceError

STREAMING = sigv4.StreamingSignature(
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    key=sigv4.signing_key("secret", "20260101", "us-east-1", "s3"),
    timestamp="20260101T000000Z",
    scope="20260101/us-east-1/s3/aws4_request",
    seed_signature="a" * 64,
)
UNSIGNED_TRAILER = sigv4.StreamingSignature("STREAMING-UNSIGNED-PAYLOAD-TRAILER")


def signed_framing(chunks: list[bytes]) -> bytes:
    out, previous = b"", STREAMING.seed_signature
    for chunk in [*chunks, b""]:
        previous = STREAMING.chunk_signature(previous, chunk)
        out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n"
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=150, deadline=None)
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_feeding_any_split_decodes_like_the_whole_body(chunks: list[bytes], cuts: list[int]) -> None:
    framed = signed_framing(chunks)
    decoder = sigv4.ChunkedDecoder(STREAMING)
    out = b"".join(piece for part in split(framed, cuts) for piece in decoder.feed(part))
    assert decoder.finish() == {}
    assert out == b"".join(chunks)
    assert decoder.decoded == len(out)
    assert sigv4.decode_aws_chunked(framed, STREAMING).data == out


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=2000),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    flip=st.integers(min_value=0),
)
def test_any_changed_data_byte_fails_a_signed_body(data: bytes, cuts: list[int], flip: int) -> None:
    chunks = [data[i : i + 500] for i in range(0, len(data), 500)]
    framed = bytearray(signed_framing(chunks))
    # change one byte of chunk data (never framing): find the data areas
    areas, pos = [], 0
    for chunk in chunks:
        start = framed.index(b"\r\n", pos) + 2
        areas.extend(range(start, start + len(chunk)))
        pos = start + len(chunk) + 2
    at = areas[flip % len(areas)]
    framed[at] ^= 0x01
    decoder = sigv4.ChunkedDecoder(STREAMING)
    with pytest.raises(sigv4.ChunkedBodyError) as exc:
        for part in split(bytes(framed), cuts):
            decoder.feed(part)
        decoder.finish()
    assert exc.value.bad_signature


def test_trailers_arrive_after_the_final_chunk() -> None:
    framed = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    decoder = sigv4.ChunkedDecoder(UNSIGNED_TRAILER)
    out = b"".join(p for i in range(0, len(framed), 3) for p in decoder.feed(framed[i : i + 3]))
    assert out == b"hello"
    assert decoder.finish() == {"x-amz-checksum-crc32": "AAAAAA=="}


@pytest.mark.parametrize(
    "framed, message",
    [
        (b"5\r\nhello\r\n", "final zero-size chunk"),
        (b"zz\r\n", "bad chunk size"),
        (b"5\r\nhelloXX0\r\n\r\n", "not followed by CRLF"),
        (b"1" * 5000, "chunk header without CRLF"),
    ],
)
def test_broken_framing_is_refused(framed: bytes, message: str) -> None:
    decoder = sigv4.ChunkedDecoder(UNSIGNED_TRAILER)
    with pytest.raises(sigv4.ChunkedBodyError, match=message):
        decoder.feed(framed)
        decoder.finish()


# -- stream layers ---------------------------------------------------------------------


def incoming(pieces: list[bytes], length: int | None = None) -> body.IncomingBody:
    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return body.IncomingBody(chunks(), length)


def collect(stream: body.IncomingBody) -> bytes:
    return asyncio.run(stream.read_all())


def test_receive_pieces_are_coalesced_and_a_disconnect_is_an_incomplete_body() -> None:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"b" * 700_000, "more_body": True},
        {"type": "http.request", "body": b"c" * 700_000, "more_body": True},
        {"type": "http.request", "body": b"d", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def run() -> list[int]:
        stream = body.from_receive([b"a" * 10], receive, None)
        return [len(piece) async for piece in stream]

    assert asyncio.run(run()) == [1_400_010, 1]

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(AuthError) as exc:
        collect(body.from_receive([b"x"], gone, None))
    assert exc.value.code == "IncompleteBody"


def test_a_stream_is_read_once() -> None:
    stream = incoming([b"x"])
    assert collect(stream) == b"x"
    with pytest.raises(RuntimeError):
        collect(stream)


def test_sha256_layer_passes_a_matching_body_and_fails_at_the_end_otherwise() -> None:
    data = [b"x" * 300_000, b"y" * 10]
    good = hashlib.sha256(b"".join(data)).hexdigest()
    assert collect(body.checked_sha256(incoming(data), good.upper())) == b"".join(data)
    with pytest.raises(AuthError) as exc:
        collect(body.checked_sha256(incoming(data), "0" * 64))
    assert exc.value.code == "XAmzContentSHA256Mismatch"
    assert exc.value.fields["S3ComputedContentSHA256"] == good


def test_chunked_layer_decodes_checks_length_and_keeps_trailers() -> None:
    framed = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    stream = body.decoded_chunks(incoming([framed[:4], framed[4:]]), UNSIGNED_TRAILER, 5)
    assert collect(stream) == b"hello"
    assert stream.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}
    with pytest.raises(AuthError) as exc:
        collect(body.decoded_chunks(incoming([framed]), UNSIGNED_TRAILER, 6))
    assert exc.value.code == "IncompleteBody"
    bad = signed_framing([b"data"]).replace(b"data", b"dat!")
    with pytest.raises(AuthError) as exc:
        collect(body.decoded_chunks(incoming([bad]), STREAMING, 4))
    assert exc.value.code == "SignatureDoesNotMatch" and exc.value.status == 403


def test_reading_whole_stops_past_the_limit() -> None:
    assert asyncio.run(incoming([b"ab", b"cd"]).read_all(4)) == b"abcd"
    with pytest.raises(ServiceError) as exc:
        asyncio.run(incoming([b"ab", b"cde"]).read_all(4))
    assert exc.value.status == 413
    with pytest.raises(ServiceError):  # an announced length over the limit fails before reading
        asyncio.run(incoming([], length=5).read_all(4))
