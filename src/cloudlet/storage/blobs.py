"""Bytes in files under one root directory, replaced atomically.

A blob is addressed by a *key*: a relative, ``/``-separated path such as
``functions/abc123/code.zip``.  Keys are checked before they touch the file
system: no absolute paths, no empty, ``.`` or ``..`` segments, no backslashes
or NUL bytes, so no key can name a file outside the root.

``put`` writes to a temporary file in the destination's own directory (same
file system, so the rename is atomic) and then ``os.replace``-s it into place:
a reader sees the old bytes or the new bytes, never a torn file, and a crash
leaves at most a stray ``.tmp-*`` file.  With ``fsync=True`` the file is
fsynced before the rename and its directory after it, so the new bytes
survive power loss; without it they survive a crash of the process (the data
is in the OS page cache).

The methods are synchronous: callers on an event loop run large blobs through
``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


class InvalidBlobKey(ValueError):
    """A key that is not a safe relative path."""


class BlobStore:
    """Files under ``root``, one per key."""

    def __init__(self, root: Path, *, fsync: bool = False) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (it may not exist)."""
        return self.root.joinpath(*self._segments(key))

    def put(self, key: str, data: bytes) -> Path:
        """Store ``data`` under ``key``, replacing any previous bytes atomically."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        if self.fsync:
            self._fsync_dir(target.parent)
        return target

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` if there are none."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""
        target = self.path(key)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        if self.fsync:
            self._fsync_dir(target.parent)

    @staticmethod
    def _segments(key: str) -> list[str]:
        if not isinstance(key, str) or not key:
            raise InvalidBlobKey("a blob key must be a non-empty string")
        if "\x00" in key or "\\" in key or key.startswith("/"):
            raise InvalidBlobKey(f"invalid blob key {key!r}")
        segments = key.split("/")
        for segment in segments:
            if segment in ("", ".", ".."):
                raise InvalidBlobKey(f"invalid blob key {key!r}")
        if segments[-1].startswith(TEMP_PREFIX):
            raise InvalidBlobKey(f"blob key {key!r} uses the reserved prefix {TEMP_PREFIX!r}")
        return segments

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
