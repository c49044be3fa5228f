"""Object bytes in files: written to a temp file while hashed, renamed into place.

Layout under ``root`` (``<data dir>/s3``): ``tmp/`` holds bodies being
written; ``data/<ab>/<id>`` holds committed blobs (``<id>`` random hex,
``<ab>`` its first two characters).  A blob is renamed into ``data/`` before
the row that names it commits, so an acknowledged object always has its
bytes; a crash in between leaves an unreferenced file, which ``sweep`` removes
at start-up together with everything in ``tmp/``.

Reads and writes are synchronous and chunked (``CHUNK`` bytes at a time);
the provider runs them in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

from cloudlet.services.s3.checksums import Hasher

CHUNK = 1024 * 1024
#: Bodies up to this size are kept in their row instead of a file.  Small enough that a
#: row (body, key, metadata) usually fits in one 4 KiB database page: listing pages
#: through rows, and overflow pages would make every listed row a chain of reads.
INLINE_MAX = 3 * 1024

#: What a row stores for an object's bytes: a blob file's id (``str``), or for a small
#: body the bytes themselves (``bytes``, kept in the row).  Every ``FileStore`` method
#: that takes a blob accepts both; only ids name files.
BlobRef = str | bytes


def is_file(blob: BlobRef | None) -> TypeGuard[str]:
    """Whether ``blob`` names a file (one to delete when its row goes)."""
    return isinstance(blob, str)


@dataclass
class BlobBody:
    """A byte range of a blob, read lazily in ``CHUNK``-sized pieces (for an edge that streams responses)."""

    store: FileStore
    blob: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start + 1

    def __iter__(self) -> Iterator[bytes]:
        return self.store.read(self.blob, self.start, self.end)


def body_chunks(body: Any) -> Iterator[bytes] | None:
    """Synchronous chunks of a request body that is bytes or a file-like object; None for async bodies."""
    if isinstance(body, bytes | bytearray | memoryview):
        view = memoryview(body)
        return (bytes(view[i : i + CHUNK]) for i in range(0, len(view), CHUNK))
    if hasattr(body, "read"):
        return iter(lambda: body.read(CHUNK), b"")
    return None


def _append(f: BinaryIO, hasher: Hasher, chunk: bytes) -> None:
    if chunk:
        hasher.update(chunk)
        f.write(chunk)


def _copy_file(source: Path, f: BinaryIO) -> int:
    """Append the file ``source`` to ``f`` in the kernel; the bytes copied."""
    with open(source, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        try:
            while copied < size:
                n = os.copy_file_range(src.fileno(), f.fileno(), size - copied)
                if n == 0:
                    break
                copied += n
        except OSError:  # a file system without copy_file_range: copy through user space
            src.seek(copied)
            shutil.copyfileobj(src, f, CHUNK)
            copied = size
    return copied


def _discard(f: BinaryIO, temp: Path) -> None:
    f.close()
    with contextlib.suppress(OSError):
        temp.unlink()


class FileStore:
    """Blob files of the S3 service."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.data = self.root / "data"
        self.fsync = fsync
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)

    def path(self, blob: str) -> Path:
        return self.data / blob[:2] / blob

    def write(self, chunks: Iterable[bytes], algorithms: Iterable[str] = (), *, md5: bool = True) -> tuple[str, Hasher]:
        """Store the concatenated ``chunks`` as a new blob; returns its id and the hashes."""
        hasher = Hasher(algorithms, md5=md5)
        blob = uuid.uuid4().hex
        temp = self.tmp / blob
        f = open(temp, "wb")  # noqa: SIM115 - closed by _commit or _discard
        try:
            for chunk in chunks:
                _append(f, hasher, chunk)
            self._commit(f, temp, blob)
        except BaseException:
            _discard(f, temp)
            raise
        return blob, hasher

    def write_bytes(self, data: bytes, algorithms: Iterable[str] = ()) -> tuple[BlobRef, Hasher]:
        """Store ``data``: a body of at most ``INLINE_MAX`` bytes stays in memory (it goes into the row)."""
        if len(data) <= INLINE_MAX:
            hasher = Hasher(algorithms)
            hasher.update(data)
            return bytes(data), hasher
        view = memoryview(data)
        return self.write((bytes(view[i : i + CHUNK]) for i in range(0, len(view), CHUNK)), algorithms)

    async def write_async(self, chunks: AsyncIterable[bytes], algorithms: Iterable[str] = ()) -> tuple[str, Hasher]:
        """``write`` for a body that arrives as an async stream: memory stays at a few chunks.

        Each chunk is hashed and written in a worker thread while the next one
        arrives; no thread waits on the network (so concurrent uploads cannot
        starve the thread pool).  If the stream raises (a client that went
        away, a bad chunk signature) the temp file is removed and the error
        propagates; no blob appears.
        """
        hasher = Hasher(algorithms)
        blob = uuid.uuid4().hex
        temp = self.tmp / blob
        f = await asyncio.to_thread(open, temp, "wb")
        writing: asyncio.Future[None] | None = None
        try:
            async for chunk in chunks:
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(_append, f, hasher, chunk))
            if writing is not None:
                await writing
            await asyncio.to_thread(self._commit, f, temp, blob)
        except BaseException:
            if writing is not None and not writing.done():
                with contextlib.suppress(BaseException):
                    await asyncio.shield(writing)
            _discard(f, temp)
            raise
        return blob, hasher

    def _commit(self, f: BinaryIO, temp: Path, blob: str) -> None:
        """Close the temp file (synced to disk with ``fsync``) and rename it into ``data/``."""
        if self.fsync:
            f.flush()
            os.fsync(f.fileno())
        f.close()
        target = self.path(blob)
        target.parent.mkdir(exist_ok=True)
        os.replace(temp, target)

    def read(self, blob: BlobRef, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end]`` (inclusive, as HTTP ranges) of a blob, in chunks."""
        if isinstance(blob, bytes):
            data = blob[start : None if end is None else end + 1]
            if data:
                yield data
            return
        with open(self.path(blob), "rb") as f:
            f.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = f.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def read_bytes(self, blob: BlobRef | None, start: int = 0, end: int | None = None) -> bytes:
        if blob is None:
            return b""
        if isinstance(blob, bytes):
            return blob[start : None if end is None else end + 1]
        return b"".join(self.read(blob, start, end))

    def concat(self, blobs: list[BlobRef], algorithms: Iterable[str] = ()) -> tuple[str, Hasher]:
        """A new blob holding ``blobs`` one after the other (multipart completion).

        With no checksum to compute, files are copied by the kernel
        (``copy_file_range``: no bytes through Python, and a reflink where the
        file system shares extents); otherwise they are read and hashed.
        """
        algorithms = list(algorithms)
        if algorithms:

            def chunks() -> Iterator[bytes]:
                for blob in blobs:
                    yield from self.read(blob)

            return self.write(chunks(), algorithms, md5=False)
        hasher = Hasher(md5=False)
        blob = uuid.uuid4().hex
        temp = self.tmp / blob
        f = open(temp, "wb")  # noqa: SIM115 - closed by _commit or _discard
        try:
            for part in blobs:
                if isinstance(part, bytes):
                    f.write(part)
                    hasher.size += len(part)
                else:
                    f.flush()
                    hasher.size += _copy_file(self.path(part), f)
            self._commit(f, temp, blob)
        except BaseException:
            _discard(f, temp)
            raise
        return blob, hasher

    def delete(self, blobs: Iterable[BlobRef | None]) -> None:
        for blob in blobs:
            if is_file(blob):
                with contextlib.suppress(OSError):
                    self.path(blob).unlink()

    def sweep(self, referenced: Iterable[str]) -> int:
        """Remove temp files and blobs no row references; returns how many files went.

        ``referenced`` must be in ascending order: it is merged with the files, one
        directory's listing at a time, so a store of millions of blobs is swept
        without holding their names in memory.
        """
        removed = 0
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        names = iter(referenced)
        current = next(names, None)
        for directory in sorted(d for d in self.data.iterdir() if d.is_dir()):
            for file in sorted(directory.iterdir()):
                while current is not None and current < file.name:
                    current = next(names, None)
                if current == file.name:
                    continue
                with contextlib.suppress(OSError):
                    file.unlink()
                    removed += 1
        return removed
