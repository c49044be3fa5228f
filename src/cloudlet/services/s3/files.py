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
from typing import Any

from cloudlet.services.s3.checksums import Hasher

CHUNK = 1024 * 1024


class _StreamAborted(Exception):
    """Tells the writer thread that the request body stream failed."""


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
        try:
            with open(temp, "wb") as f:
                for chunk in chunks:
                    if chunk:
                        hasher.update(chunk)
                        f.write(chunk)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            target = self.path(blob)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return blob, hasher

    def write_bytes(self, data: bytes, algorithms: Iterable[str] = ()) -> tuple[str, Hasher]:
        view = memoryview(data)
        return self.write((bytes(view[i : i + CHUNK]) for i in range(0, len(view), CHUNK)), algorithms)

    async def write_async(self, chunks: AsyncIterable[bytes], algorithms: Iterable[str] = ()) -> tuple[str, Hasher]:
        """``write`` for a body that arrives as an async stream: memory stays at a few chunks.

        If the stream raises (a client that went away, a bad chunk signature) the
        temp file is removed and the error propagates; no blob appears.
        """
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=4)
        loop = asyncio.get_running_loop()

        def pull() -> Iterator[bytes]:
            while True:
                item = asyncio.run_coroutine_threadsafe(queue.get(), loop).result()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item

        writer = asyncio.create_task(asyncio.to_thread(self.write, pull(), algorithms))
        try:
            async for chunk in chunks:
                await queue.put(chunk)
        except BaseException as exc:
            await queue.put(_StreamAborted(str(exc)))
            with contextlib.suppress(_StreamAborted):
                await writer
            raise
        await queue.put(None)
        return await writer

    def read(self, blob: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end]`` (inclusive, as HTTP ranges) of a blob, in chunks."""
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

    def read_bytes(self, blob: str | None, start: int = 0, end: int | None = None) -> bytes:
        if blob is None:
            return b""
        return b"".join(self.read(blob, start, end))

    def concat(self, blobs: list[str], algorithms: Iterable[str] = ()) -> tuple[str, Hasher]:
        """A new blob holding ``blobs`` one after the other (multipart completion)."""

        def chunks() -> Iterator[bytes]:
            for blob in blobs:
                yield from self.read(blob)

        return self.write(chunks(), algorithms, md5=False)

    def delete(self, blobs: Iterable[str | None]) -> None:
        for blob in blobs:
            if blob:
                with contextlib.suppress(OSError):
                    self.path(blob).unlink()

    def sweep(self, referenced: set[str]) -> int:
        """Remove temp files and blobs no row references; returns how many files went."""
        removed = 0
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for directory in self.data.iterdir():
            if not directory.is_dir():
                continue
            for file in directory.iterdir():
                if file.name not in referenced:
                    with contextlib.suppress(OSError):
                        file.unlink()
                        removed += 1
        return removed
