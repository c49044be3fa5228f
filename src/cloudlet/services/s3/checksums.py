"""Object checksums: MD5 (the ETag), Content-MD5, and S3's flexible checksums.

``Hasher`` is fed the body chunk by chunk while it is written to disk, so
large bodies are hashed without being held in memory.  CRC32 comes from
``zlib``; CRC32C (Castagnoli) is computed here with a slicing-by-8 table in
pure Python, and only when a client asks for it.  Values on the wire are
base64 of the big-endian digest (4 bytes for the CRCs).
"""

from __future__ import annotations

import array
import base64
import binascii
import hashlib
import sys
import zlib
from collections.abc import Iterable

__all__ = [
    "ALGORITHMS",
    "Hasher",
    "checksum_b64",
    "composite_checksum",
    "crc32c",
    "decode_content_md5",
]

#: Flexible checksum algorithms we verify and return (API name → params member).
ALGORITHMS: dict[str, str] = {
    "CRC32": "ChecksumCRC32",
    "CRC32C": "ChecksumCRC32C",
    "SHA1": "ChecksumSHA1",
    "SHA256": "ChecksumSHA256",
}

_CASTAGNOLI = 0x82F63B78


def _make_tables() -> list[list[int]]:
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ first[prev[i] & 0xFF] for i in range(256)])
    return tables


_T = _make_tables()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc`` (0 to start)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    crc ^= 0xFFFFFFFF
    n = len(data)
    whole = n - n % 8
    words = array.array("I")
    words.frombytes(memoryview(data)[:whole])
    if sys.byteorder != "little":
        words.byteswap()
    it = iter(words)
    for low, high in zip(it, it, strict=True):
        low ^= crc
        crc = (
            t7[low & 0xFF]
            ^ t6[(low >> 8) & 0xFF]
            ^ t5[(low >> 16) & 0xFF]
            ^ t4[low >> 24]
            ^ t3[high & 0xFF]
            ^ t2[(high >> 8) & 0xFF]
            ^ t1[(high >> 16) & 0xFF]
            ^ t0[high >> 24]
        )
    for byte in memoryview(data)[whole:]:
        crc = (crc >> 8) ^ t0[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF


class _Crc:
    def __init__(self, fn: str) -> None:
        self.fn = fn
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value) if self.fn == "CRC32" else crc32c(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def _new(algorithm: str) -> _Crc | hashlib._Hash:
    if algorithm in ("CRC32", "CRC32C"):
        return _Crc(algorithm)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise ValueError(f"unknown checksum algorithm {algorithm}")


class _NoHash:
    """Stands in for MD5 where nobody needs it (multipart completion: the ETag comes from the parts)."""

    def update(self, data: bytes) -> None:
        return None

    def hexdigest(self) -> str:
        return ""

    def digest(self) -> bytes:
        return b""


class Hasher:
    """MD5 plus any flexible checksums, fed incrementally."""

    def __init__(self, algorithms: Iterable[str] = (), *, md5: bool = True) -> None:
        self.md5 = hashlib.md5() if md5 else _NoHash()
        self.size = 0
        self._sums = {name: _new(name) for name in algorithms}

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        self.size += len(data)
        for h in self._sums.values():
            h.update(data)

    def checksums(self) -> dict[str, str]:
        """Algorithm → base64 digest."""
        return {name: base64.b64encode(h.digest()).decode() for name, h in self._sums.items()}

    def digests(self) -> dict[str, bytes]:
        return {name: h.digest() for name, h in self._sums.items()}


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The base64 checksum of ``data`` (one-shot)."""
    h = _new(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


def composite_checksum(algorithm: str, part_digests: list[bytes]) -> str:
    """S3's multipart checksum: the checksum of the concatenated part digests, ``-N``."""
    return f"{checksum_b64(algorithm, b''.join(part_digests))}-{len(part_digests)}"


def decode_content_md5(value: str) -> bytes | None:
    """The 16 raw bytes a ``Content-MD5`` header holds, or None if it is not valid base64 MD5."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None
