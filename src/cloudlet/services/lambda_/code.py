"""Deployment packages: validate a zip, store it once, unzip it once.

A package is content-addressed by the SHA-256 of the zip bytes:

* the zip itself is a blob ``lambda/code/<sha256hex>.zip`` (so two functions or
  versions with the same code share one file, and ``GetFunction`` can hand it
  back);
* the engine runs code from a directory, ``<blob root>/../lambda-code/<sha256hex>/``,
  unzipped once.  Extraction goes into a temporary sibling directory that is
  renamed into place, so a directory that exists is always complete — a crash
  mid-extraction leaves only a ``.tmp-*`` directory that is ignored and swept.

The methods are synchronous and may take a while for big packages; the
provider runs them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cloudlet.services.lambda_.errors import InvalidParameterValue, RequestEntityTooLarge
from cloudlet.storage import BlobStore

#: Largest zip accepted in the request itself (``ZipFile``).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
#: Largest total size of the unzipped package.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: What AWS's front end reports as the request limit (the base64 of 50 MB).
_REQUEST_LIMIT = 69905067

BAD_ZIP_MESSAGE = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclass(frozen=True)
class CodeInfo:
    """What the function configuration records about a package."""

    sha256_hex: str
    #: ``CodeSha256`` as AWS shows it: base64 of the raw digest.
    sha256_b64: str
    #: ``CodeSize``: bytes of the zip.
    size: int
    unzipped_size: int


def blob_key(sha256_hex: str) -> str:
    return f"lambda/code/{sha256_hex}.zip"


def b64_to_hex(sha256_b64: str) -> str | None:
    """The hex form of a ``CodeSha256`` value, or ``None`` when it is not one."""
    try:
        raw = base64.b64decode(sha256_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


class CodeStore:
    """Zips in the blob store, unzipped trees beside it."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.extract_root = blobs.root.parent / "lambda-code"
        self._extracted: set[str] = set()

    def inspect(self, data: bytes, operation: str) -> CodeInfo:
        """Check limits and zip structure; raise the error AWS gives for a bad package."""
        if len(data) > MAX_ZIPPED_BYTES:
            raise RequestEntityTooLarge(
                f"Request must be smaller than {_REQUEST_LIMIT} bytes for the {operation} operation"
            )
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unzipped = sum(info.file_size for info in archive.infolist())
                if unzipped <= MAX_UNZIPPED_BYTES and archive.testzip() is not None:
                    raise InvalidParameterValue(BAD_ZIP_MESSAGE)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
            raise InvalidParameterValue(BAD_ZIP_MESSAGE) from exc
        if unzipped > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValue(
                f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )
        digest = hashlib.sha256(data).digest()
        return CodeInfo(
            sha256_hex=digest.hex(),
            sha256_b64=base64.b64encode(digest).decode(),
            size=len(data),
            unzipped_size=unzipped,
        )

    def save(self, data: bytes, info: CodeInfo) -> None:
        """Store the zip (once per content) and unzip it for the engine."""
        key = blob_key(info.sha256_hex)
        if not self.blobs.exists(key):
            self.blobs.put(key, data)
        self._extract(info.sha256_hex, data)

    def read_zip(self, sha256_hex: str) -> bytes | None:
        try:
            return self.blobs.get(blob_key(sha256_hex))
        except FileNotFoundError:
            return None

    def code_dir(self, sha256_hex: str) -> Path:
        """The unzipped package, extracting it again if the directory went missing."""
        target = self.extract_root / sha256_hex
        if sha256_hex in self._extracted and target.is_dir():
            return target
        if not target.is_dir():
            data = self.blobs.get(blob_key(sha256_hex))
            self._extract(sha256_hex, data)
        self._extracted.add(sha256_hex)
        return target

    def _extract(self, sha256_hex: str, data: bytes) -> None:
        target = self.extract_root / sha256_hex
        if target.is_dir():
            self._extracted.add(sha256_hex)
            return
        self.extract_root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.extract_root))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                archive.extractall(temp)
                root = temp.resolve()
                for info in archive.infolist():
                    # Keep the executable bits the packager set (scripts, binaries).
                    mode = (info.external_attr >> 16) & 0o777
                    path = (temp / info.filename).resolve()
                    if mode and not info.is_dir() and path.is_file() and path.is_relative_to(root):
                        path.chmod(mode | 0o400)
            try:
                temp.rename(target)
            except OSError:
                if not target.is_dir():  # not a lost race with another extraction
                    raise
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        self._extracted.add(sha256_hex)

    def sweep_temporaries(self) -> None:
        """Remove directories left by an extraction a crash interrupted."""
        if not self.extract_root.is_dir():
            return
        for entry in self.extract_root.glob(".tmp-*"):
            shutil.rmtree(entry, ignore_errors=True)
