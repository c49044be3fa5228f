"""``multipart/form-data`` bodies of S3 POST Object (RFC 7578), read as they stream in.

S3 wants the ``file`` part last: every field comes first, in at most
``MAX_PRE_DATA`` bytes, so the fields are parsed from the first bytes of the
body and the file's bytes are then handed on as an async stream that ends at
the closing boundary — a form upload of any size never sits in memory.
Anything after the file part is read and ignored, as S3 does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cloudlet.errors import ServiceError
from cloudlet.services.s3 import errors

#: The form fields before the file may take at most this many bytes (S3's ``MaxPostPreDataLengthBytes``).
MAX_PRE_DATA = 20 * 1024
#: ``; name=value`` or ``; name="value"``.  Browsers escape ``"`` as ``%22`` and never use
#: backslash escapes (WHATWG HTML, multipart/form-data), so a backslash is data: ``C:\dir\a.txt``.
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("[^"]*"|[^;]*)')
#: Longest part header block we accept.
_MAX_PART_HEADERS = 8 * 1024


@dataclass
class Form:
    """The fields of a POST form; ``file`` streams the file part's bytes (read it once)."""

    #: Lower-cased name → (name as sent, value); repeated fields joined with ``,``.
    fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    file: FileStream | None = None
    #: The ``filename`` parameter of the file part (None when the part has none).
    filename: str | None = None

    def get(self, name: str) -> str | None:
        found = self.fields.get(name)
        return found[1] if found is not None else None


class FileStream:
    """The file part's bytes as an async iterator; ``size`` counts what has been read."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._counted()

    async def _counted(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


class _Source:
    """A body's chunks with a read-ahead buffer."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self.buf = bytearray()
        self.done = False

    async def more(self) -> bool:
        """Append the next chunk to ``buf``; False at the end of the body."""
        if self.done:
            return False
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            self.done = True
            return False
        self.buf += chunk
        return True

    async def find(self, needle: bytes, start: int, limit: int) -> int:
        """Index of ``needle`` in ``buf`` at or after ``start``, reading on; -1 past ``limit`` bytes or the end."""
        while True:
            at = self.buf.find(needle, start)
            if at >= 0:
                return at
            if len(self.buf) > limit or not await self.more():
                return -1

    async def need(self, size: int) -> bool:
        while len(self.buf) < size:
            if not await self.more():
                return False
        return True


async def read_form(content_type: str, chunks: AsyncIterator[bytes]) -> Form:
    """The fields of a form body and, in ``file``, a stream of its file part."""
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/form-data":
        raise errors.precondition_failed("Bucket POST must be of the enclosure-type multipart/form-data")
    boundary = _parameters(";" + params).get("boundary")
    if not boundary:
        raise _malformed()
    delimiter = b"--" + boundary.encode("latin-1")
    source = _Source(chunks)
    await source.need(len(delimiter))
    if source.buf.startswith(delimiter):
        pos = 0
    else:
        pos = await source.find(b"\r\n" + delimiter, 0, MAX_PRE_DATA)
        if pos < 0:
            raise _malformed()
        pos += 2
    form = Form()
    while True:
        pos += len(delimiter)
        await source.need(pos + 2)
        if source.buf[pos : pos + 2] == b"--":
            return form
        while source.buf[pos : pos + 1] in (b" ", b"\t"):
            pos += 1
            await source.need(pos + 2)
        if source.buf[pos : pos + 2] != b"\r\n":
            raise _malformed()
        head_end = await source.find(b"\r\n\r\n", pos, pos + _MAX_PART_HEADERS + MAX_PRE_DATA)
        if head_end < 0:
            raise _malformed()
        headers = _part_headers(bytes(source.buf[pos + 2 : head_end + 2]))
        start = head_end + 4
        kind, _, rest = headers.get("content-disposition", "").partition(";")
        part = _parameters(";" + rest)
        name = part.get("name")
        if kind.strip().lower() != "form-data" or name is None:
            raise _malformed()
        if name.lower() == "file":
            form.filename = part.get("filename")
            form.file = FileStream(_file_bytes(source, start, b"\r\n" + delimiter))
            return form
        end = await source.find(b"\r\n" + delimiter, start, MAX_PRE_DATA + len(delimiter) + 2)
        if end > MAX_PRE_DATA or (end < 0 and len(source.buf) > MAX_PRE_DATA):
            raise _pre_data_too_large()
        if end < 0:
            raise _malformed()
        value = bytes(source.buf[start:end]).decode("utf-8", "replace")
        previous = form.fields.get(name.lower())
        form.fields[name.lower()] = (name, f"{previous[1]},{value}" if previous else value)
        pos = end + 2


async def _file_bytes(source: _Source, start: int, closing: bytes) -> AsyncIterator[bytes]:
    """The bytes from ``start`` up to ``closing`` (the next delimiter); the rest of the body is read and dropped."""
    del source.buf[:start]
    keep = len(closing) - 1  # a delimiter may straddle two chunks: hold back its possible start
    while True:
        at = source.buf.find(closing)
        if at >= 0:
            if at:
                yield bytes(source.buf[:at])
            source.buf.clear()
            while await source.more():  # parts after the file are ignored
                source.buf.clear()
            return
        if len(source.buf) > keep:
            out = bytes(source.buf[: len(source.buf) - keep])
            del source.buf[: len(out)]
            yield out
        if not await source.more():
            raise _malformed()


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise _malformed()
            headers[name.strip().lower()] = value.strip()
    return headers


def _parameters(text: str) -> dict[str, str]:
    out = {}
    for name, raw in _PARAM.findall(text):
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        out[name.lower()] = value
    return out


def _malformed() -> ServiceError:
    return ServiceError("The body of your POST request is not well-formed multipart/form-data.",
                        code="MalformedPOSTRequest", status=400)


def _pre_data_too_large() -> ServiceError:
    return ServiceError("Your POST request fields preceeding the upload file was too large.",
                        code="MaxPostPreDataLengthExceeded", status=400,
                        fields={"MaxPostPreDataLengthBytes": str(MAX_PRE_DATA)})
