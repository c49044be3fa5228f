"""Request bodies that are still arriving: S3 uploads streamed to disk instead of held in memory.

The edge reads a request body whole when it is small (the common case, one
ASGI message).  A body that is still coming after ``STREAM_AFTER`` bytes
becomes an :class:`IncomingBody`; the edge then either reads it whole (every
operation but S3's object uploads) or hands it to the provider as the
request's ``stream``, an async iterator of chunks of about ``CHUNK`` bytes.

Checks that need the whole body — the SigV4 payload hash, ``aws-chunked``
chunk signatures, the declared decoded length — become layers around the
stream (:func:`checked_sha256`, :func:`decoded_chunks`) that raise the S3
error at the point the body proves bad; the consumer (the blob writer)
discards what it stored when iteration raises.  Memory per upload stays at
a few chunks whatever the object's size: uvicorn stops reading the socket
while its buffer is full, and nothing here buffers more than one chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

from cloudlet.edge import sigv4
from cloudlet.edge.auth_errors import S3_SIGNATURE_MISMATCH_MESSAGE
from cloudlet.errors import AuthError, ServiceError

#: A body still arriving after this many bytes is streamed rather than read whole.
STREAM_AFTER = 1024 * 1024
#: The most an operation that does not stream may receive (above Lambda's 70,167,211-byte
#: CreateFunction request, AWS's largest in-memory request; S3 object uploads stream).
MAX_IN_MEMORY = 128 * 1024 * 1024
#: Pieces handed to the consumer are coalesced to at least this size (except the last).
CHUNK = 1024 * 1024
#: Pieces at least this large are hashed in a worker thread (hashlib releases the GIL),
#: keeping the event loop free for other requests.
_THREAD_HASH = 256 * 1024

Receive = Callable[[], Any]


def too_large(limit: int) -> ServiceError:
    """A body bigger than the edge holds in memory for an operation that does not stream."""
    return ServiceError(f"Request must be smaller than {limit} bytes.", code="RequestEntityTooLargeException",
                        status=413)


def incomplete_body() -> AuthError:
    return AuthError(
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
        code="IncompleteBody", status=400,
    )


class IncomingBody:
    """A request body as an async iterator of byte chunks; it can be iterated once.

    ``length`` is the byte count announced (``Content-Length``, or for
    ``aws-chunked`` uploads ``x-amz-decoded-content-length``) when known;
    ``trailers`` holds the trailing headers of an ``aws-chunked`` body once it
    has been read to the end.
    """

    def __init__(self, chunks: AsyncIterator[bytes], length: int | None) -> None:
        self._chunks = chunks
        self.length = length
        self.trailers: dict[str, str] = {}
        self._used = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._used:
            raise RuntimeError("a request body can be read only once")
        self._used = True
        return self._chunks

    async def read_all(self, limit: int | None = None) -> bytes:
        """The whole body (for operations that need it in memory); ``TooLarge`` past ``limit`` bytes."""
        if limit is not None and self.length is not None and self.length > limit:
            raise too_large(limit)
        pieces, size = [], 0
        async for chunk in self:
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(limit)
            pieces.append(chunk)
        return b"".join(pieces)


def from_receive(received: list[bytes], receive: Receive, length: int | None) -> IncomingBody:
    """The rest of an ASGI request body: ``received`` (already read) then further messages."""

    async def chunks() -> AsyncIterator[bytes]:
        pending = list(received)  # joined once per CHUNK: one copy of every byte
        size = sum(len(piece) for piece in pending)
        received.clear()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise incomplete_body()
            piece = message.get("body", b"")
            pending.append(piece)
            size += len(piece)
            more = message.get("more_body", False)
            if size >= CHUNK or (not more and size):
                yield b"".join(pending)
                pending.clear()
                size = 0
            if not more:
                return

    return IncomingBody(chunks(), length)


async def _hash(digest: Any, piece: bytes) -> None:
    if len(piece) >= _THREAD_HASH:
        await asyncio.to_thread(digest.update, piece)
    else:
        digest.update(piece)


def checked_sha256(body: IncomingBody, claimed: str) -> IncomingBody:
    """``body``, raising S3's ``XAmzContentSHA256Mismatch`` at its end unless its SHA-256 is ``claimed``."""
    source = aiter(body)

    async def chunks() -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        async for piece in source:
            await _hash(digest, piece)
            yield piece
        actual = digest.hexdigest()
        if not hmac.compare_digest(actual, claimed.lower()):
            raise AuthError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code="XAmzContentSHA256Mismatch", status=400,
                fields={"ClientComputedContentSHA256": claimed, "S3ComputedContentSHA256": actual},
            )

    return IncomingBody(chunks(), body.length)


def decoded_chunks(body: IncomingBody, streaming: sigv4.StreamingSignature, declared: int | None) -> IncomingBody:
    """The payload of an ``aws-chunked`` ``body``, its chunk signatures checked as they complete.

    ``declared`` is ``x-amz-decoded-content-length``; a payload of another size
    is S3's ``IncompleteBody``.  The trailing headers land in ``trailers`` of
    the returned body when the last byte has been read.
    """
    source = aiter(body)
    decoder = sigv4.ChunkedDecoder(streaming)

    async def chunks() -> AsyncIterator[bytes]:
        pending = bytearray()
        try:
            async for piece in source:
                for data in decoder.feed(piece):
                    pending += data
                if len(pending) >= CHUNK:
                    yield bytes(pending)
                    pending.clear()
            result.trailers = decoder.finish()
        except sigv4.ChunkedBodyError as error:
            raise chunked_error(error) from None
        if declared is not None and decoder.decoded != declared:
            raise incomplete_body()
        if pending:
            yield bytes(pending)

    result = IncomingBody(chunks(), declared)
    return result


def chunked_error(error: sigv4.ChunkedBodyError) -> AuthError:
    """S3's answer to a broken ``aws-chunked`` body."""
    if error.bad_signature:
        return AuthError(S3_SIGNATURE_MISMATCH_MESSAGE, code="SignatureDoesNotMatch", status=403)
    return AuthError(f"The request body is not valid aws-chunked encoding: {error}", code="IncompleteBody", status=400)
