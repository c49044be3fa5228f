"""AWS Signature Version 4: the pure parts (canonical request, keys, signatures).

Verification rebuilds what the client signed, from the request as it arrived
(AWS_FACTS §3.4):

* **Canonical URI** — S3 signs the path exactly as sent.  Every other service
  signs the path with dot segments and repeated slashes removed, then
  percent-encoded a second time (``%`` becomes ``%25``).
* **Canonical query** — each ``name=value`` percent-decoded and re-encoded
  with the RFC 3986 unreserved set, sorted by name then value; for presigned
  requests ``X-Amz-Signature`` is left out.  (``raw_canonical_query`` is the
  fallback for hand-made URLs, which botocore signs without re-encoding.)
* **Canonical headers** — the signed headers, lower-cased, values trimmed and
  inner whitespace runs collapsed, in ``SignedHeaders`` order.
* **Payload hash** — chosen by the caller (``x-amz-content-sha256``,
  ``UNSIGNED-PAYLOAD`` or the body's SHA-256).

The edge decodes the wire as Latin-1; ``wire_text`` turns such text back
into what the client signed (see there).  Text is hashed as UTF-8 with
``surrogateescape`` so that no input can make hashing raise.

``aws-chunked`` bodies (``STREAMING-…`` payloads) are decoded by
``decode_aws_chunked``, which checks the chained chunk and trailer signatures.

The signing key depends only on (secret, date, region, service), so it is
derived once per day per scope and kept in an LRU cache: the hot path is one
SHA-256 of the canonical request plus one HMAC.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: Every value S3 accepts in ``x-amz-content-sha256`` besides a hex digest.
SPECIAL_PAYLOAD_HASHES = frozenset({UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_TRAILER, *STREAMING_SIGNED})

_UNRESERVED = "-_.~"


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wire_text(text: str) -> str:
    """Re-read text the edge decoded as Latin-1 as the UTF-8 the client most likely meant.

    Pure ASCII comes back unchanged.  Latin-1-decoded bytes that form valid
    UTF-8 (what SDKs that send UTF-8 on the wire signed) are decoded as UTF-8.
    Anything else is returned as is: characters above U+00FF mean the text was
    never Latin-1-decoded bytes, and bytes that are not UTF-8 are most likely a
    client (Python's ``http.client``) that signed a ``str`` and sent it as
    Latin-1, so the Latin-1 reading is what it signed.
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


# -- canonical request ------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def canonical_uri(raw_path: str, *, normalize: bool) -> str:
    """The path as signed (cached: clients call the same few paths over and over)."""
    path = raw_path or "/"
    if not normalize:
        return path
    return quote(encode(_remove_dot_segments(path)), safe="/~")


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, plus AWS's rule that empty segments (``//``) disappear.
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
        else:
            segments.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and segments else ""
    return lead + "/".join(segments) + trail


def canonical_query(raw_query: str, *, exclude: str | None = None) -> str:
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name_enc = _requote(name)
        if exclude is not None and name_enc == exclude:
            continue
        pairs.append((name_enc, _requote(value)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def raw_canonical_query(raw_query: str, *, exclude: str | None = None) -> str:
    """The query as botocore signs a URL it was handed: ``name=value`` pairs sorted, *not* re-encoded.

    Identical to ``canonical_query`` for every URL an SDK builds itself; it
    differs only for hand-made URLs (a literal ``+``, lower-case escapes), which
    botocore signs as written.  Tried only after ``canonical_query`` fails.
    """
    pairs = []
    for item in raw_query.split("&"):
        name, _, value = item.partition("=")
        if exclude is None or name != exclude:
            pairs.append((name, value))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


#: A component that is already canonical: unreserved characters, and upper-case escapes of anything else.
_CANONICAL_COMPONENT = re.compile(
    r"(?:[A-Za-z0-9\-_.~]|%(?!3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE]|2[DE])[0-9A-F]{2})*"
)


def _requote(component: str) -> str:
    if _CANONICAL_COMPONENT.fullmatch(component):  # the common case: SDKs send canonical queries
        return component
    return quote(unquote_to_bytes(encode(component)), safe=_UNRESERVED)


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """``name:value\\n`` per signed header, values trimmed and whitespace runs collapsed."""
    return "".join(f"{name}:{' '.join(wire_text(headers.get(name, '')).split())}\n" for name in signed_headers)


def canonical_request(
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    return "\n".join(
        (method.upper(), uri, query, canonical_headers(headers, signed_headers), ";".join(signed_headers), payload_hash)
    )


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256_hex(encode(canonical))}"


# -- keys and signatures ----------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, encode(message), hashlib.sha256).digest()


@functools.lru_cache(maxsize=4096)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(encode("AWS4" + secret), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def signature(key: bytes, to_sign: str) -> str:
    return hmac.new(key, encode(to_sign), hashlib.sha256).hexdigest()


def signatures_match(expected: str, provided: str) -> bool:
    """Constant-time comparison (on bytes, so non-ASCII input cannot raise)."""
    return hmac.compare_digest(expected.encode(), encode(provided))


# -- aws-chunked uploads ----------------------------------------------------


@dataclass(frozen=True)
class StreamingSignature:
    """What S3 needs to check the chunk signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body.

    Each chunk's signature chains on the previous one, starting from the seed
    signature of the request itself; the optional trailer is signed last.
    """

    payload: str
    key: bytes = field(default=b"", repr=False)
    timestamp: str = ""
    scope: str = ""
    seed_signature: str = ""

    @property
    def signed_chunks(self) -> bool:
        return self.payload in STREAMING_SIGNED

    def chunk_signature(self, previous: str, chunk: bytes) -> str:
        return self.chunk_signature_for_digest(previous, sha256_hex(chunk))

    def chunk_signature_for_digest(self, previous: str, chunk_sha256: str) -> str:
        """The signature of a chunk whose SHA-256 (hex) is ``chunk_sha256``."""
        to_sign = "\n".join((f"{ALGORITHM}-PAYLOAD", self.timestamp, self.scope, previous, EMPTY_SHA256, chunk_sha256))
        return signature(self.key, to_sign)

    def trailer_signature(self, previous: str, trailer: bytes) -> str:
        """``trailer`` is the trailing header lines, each ``name:value\\n``."""
        to_sign = "\n".join((f"{ALGORITHM}-TRAILER", self.timestamp, self.scope, previous, sha256_hex(trailer)))
        return signature(self.key, to_sign)


class ChunkedBodyError(ValueError):
    """An ``aws-chunked`` body that is malformed, or (``bad_signature``) whose chunk or trailer signature is wrong."""

    def __init__(self, message: str, *, bad_signature: bool = False) -> None:
        super().__init__(message)
        self.bad_signature = bad_signature


@dataclass(frozen=True)
class ChunkedBody:
    """A decoded ``aws-chunked`` body: the object data and its trailing headers (lower-case names)."""

    data: bytes
    trailers: dict[str, str]


def decode_aws_chunked(body: bytes, streaming: StreamingSignature) -> ChunkedBody:
    """Strip the ``aws-chunked`` framing of a whole body (see ``ChunkedDecoder``)."""
    decoder = ChunkedDecoder(streaming)
    data = b"".join(decoder.feed(body))
    return ChunkedBody(data, decoder.finish())


#: Longest chunk header (``hex-size;chunk-signature=<64 hex>``) or trailer section we accept.
_MAX_HEADER = 4096
_MAX_TRAILER = 64 * 1024


class ChunkedDecoder:
    """Incremental ``aws-chunked`` decoding: ``feed`` framed bytes as they arrive, get data back.

    Layout: ``hex-size[;chunk-signature=sig]\\r\\n data \\r\\n`` repeated, a
    zero-size chunk, then optional trailer lines ``name:value\\r\\n`` (the last
    one ``x-amz-trailer-signature:sig`` for signed trailers) and ``\\r\\n``.
    Each chunk's signature is checked when its last byte has arrived; data is
    handed out before that, so a caller must discard what it stored when
    ``feed`` or ``finish`` raises.  Memory: one chunk header, never a chunk.
    """

    def __init__(self, streaming: StreamingSignature) -> None:
        self.streaming = streaming
        self.signed = streaming.signed_chunks
        self._previous = streaming.seed_signature
        self._buf = bytearray()
        #: Data bytes of the current chunk still to come; ``-1`` while a header is expected,
        #: ``-2`` while the CRLF after a chunk's data is.
        self._remaining = -1
        self._hash = hashlib.sha256()
        self._provided = ""
        self._final = False
        #: Decoded data bytes so far.
        self.decoded = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The payload bytes ``data`` completes (possibly none)."""
        buf = self._buf
        buf += data
        if self._final:
            if len(buf) > _MAX_TRAILER:
                raise ChunkedBodyError("trailing headers too long")
            return []
        out: list[bytes] = []
        pos = 0
        while True:
            if self._remaining > 0:
                take = min(self._remaining, len(buf) - pos)
                if take == 0:
                    break
                piece = bytes(buf[pos : pos + take])
                if self.signed:
                    self._hash.update(piece)
                out.append(piece)
                self.decoded += take
                pos += take
                self._remaining -= take
                if self._remaining:
                    break
                self._remaining = -2
            if self._remaining == -2:
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ChunkedBodyError("chunk data not followed by CRLF")
                pos += 2
                self._end_chunk()
                self._remaining = -1
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if len(buf) - pos > _MAX_HEADER:
                    raise ChunkedBodyError("chunk header without CRLF")
                break
            size = self._start_chunk(bytes(buf[pos:eol]))
            pos = eol + 2
            if size == 0:
                self._end_chunk()
                self._final = True
                break
            self._remaining = size
        del buf[:pos]
        return out

    def finish(self) -> dict[str, str]:
        """Check the end of the body; the trailing headers (lower-case names)."""
        if not self._final:
            raise ChunkedBodyError("the body ended before its final zero-size chunk")
        trailers, trailer_signature, canonical = _trailers(bytes(self._buf), 0)
        streaming = self.streaming
        if streaming.payload.endswith("-TRAILER") and self.signed and trailers:
            if trailer_signature is None:
                raise ChunkedBodyError("trailing headers without x-amz-trailer-signature")
            expected = streaming.trailer_signature(self._previous, encode(canonical))
            if not signatures_match(expected, trailer_signature):
                raise ChunkedBodyError("trailer signature does not match", bad_signature=True)
        return trailers

    def _start_chunk(self, header: bytes) -> int:
        size_text, _, extension = header.decode("latin-1").partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise ChunkedBodyError(f"bad chunk size {size_text!r}") from None
        if size < 0:
            raise ChunkedBodyError(f"bad chunk size {size_text!r}")
        if self.signed:
            name, _, provided = extension.partition("=")
            if name.strip() != "chunk-signature" or not provided.strip():
                raise ChunkedBodyError("chunk without chunk-signature")
            self._provided = provided.strip()
            self._hash = hashlib.sha256()
        return size

    def _end_chunk(self) -> None:
        if not self.signed:
            return
        expected = self.streaming.chunk_signature_for_digest(self._previous, self._hash.hexdigest())
        if not signatures_match(expected, self._provided):
            raise ChunkedBodyError("chunk signature does not match", bad_signature=True)
        self._previous = self._provided


def _trailers(body: bytes, pos: int) -> tuple[dict[str, str], str | None, str]:
    """Trailing ``name:value`` lines up to the blank line: (headers, trailer signature, canonical text)."""
    trailers: dict[str, str] = {}
    signature_value: str | None = None
    canonical = ""
    for raw in body[pos:].split(b"\r\n"):
        line = raw.decode("latin-1").strip()
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ChunkedBodyError(f"bad trailing header {line!r}")
        name, value = name.strip().lower(), value.strip()
        if name == "x-amz-trailer-signature":
            signature_value = value
        else:
            trailers[name] = value
            canonical += f"{name}:{value}\n"
    return trailers, signature_value, canonical
