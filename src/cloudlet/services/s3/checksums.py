"""Object checksums: MD5 (the ETag), Content-MD5, and S3's flexible checksums.

``Hasher`` is fed the body chunk by chunk while it is written to disk, so
large bodies are hashed without being held in memory.  CRC32 comes from
``zlib``; CRC32C (Castagnoli) and CRC64NVME are computed here in pure Python,
and only when a client asks for them (or, for CRC64NVME, as S3's default).
Values on the wire are base64 of the big-endian digest (4 bytes for the
CRC32s, 8 for CRC64NVME).

Both home-made CRCs are *reflected* CRCs with an all-ones initial value and
final XOR, so one class, ``ReflectedCrc``, serves both:

* CRC-32C: reflected polynomial 0x82F63B78, check value 0xE3069283.
* CRC-64/NVME: polynomial 0xAD93D23594C93659 (reflected 0x9A6C9329AC4BC9B5),
  refin/refout true, init and xorout 0xFFFFFFFFFFFFFFFF, check value
  ``crc64nvme(b"123456789") == 0xAE8B14860A799888`` (the parameters of the
  CRC catalogue entry "CRC-64/NVME"; the unit tests pin the check value and
  NVMe-spec style vectors).

Speed.  A table-driven loop (slicing-by-8) runs at about 10 MB/s in CPython:
every 8 bytes cost some 40 bytecodes.  Large inputs therefore go through a
*lanes* path that moves the per-byte work into C: the input is cut into
``lanes`` contiguous stripes of ``stride`` bytes, and all stripes advance one
byte per step together.  A step is a handful of C calls over ``lanes`` bytes
each — ``bytes.translate`` does the 256-entry table look-up for one byte of
the CRC register (one translate table per register byte), and big-int XOR
combines them.  The stripes' CRCs are then joined with the CRC's linearity
(``crc(A || B) = A·x^(8·len B) mod P  ⊕  crc(B)``), the same algebra that
``combine`` exposes for multipart full-object checksums.  Measured on the
development machine (2 shared cores, CPython 3.11): CRC64NVME ≈ 40-47 MB/s
and CRC32C ≈ 55-60 MB/s on 1 MiB+ inputs, against ≈ 10-12 MB/s for
slicing-by-8 and ≈ 4-7 MB/s byte at a time.
"""

from __future__ import annotations

import array
import base64
import binascii
import hashlib
import sys
import zlib
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "ALGORITHMS",
    "CRC32C",
    "CRC64NVME",
    "DEFAULT_ALGORITHM",
    "FULL_OBJECT_ALGORITHMS",
    "SLOW_ALGORITHMS",
    "Hasher",
    "ReflectedCrc",
    "checksum_b64",
    "combine_b64",
    "composite_checksum",
    "crc32c",
    "crc64nvme",
    "decode_content_md5",
]

#: Flexible checksum algorithms we verify and return (API name → params member).
ALGORITHMS: dict[str, str] = {
    "CRC32": "ChecksumCRC32",
    "CRC32C": "ChecksumCRC32C",
    "CRC64NVME": "ChecksumCRC64NVME",
    "SHA1": "ChecksumSHA1",
    "SHA256": "ChecksumSHA256",
}

#: What S3 stores for an object uploaded without any checksum.  Since the
#: December 2024 default-integrity change S3 adds a full-object CRC64NVME to
#: new objects that arrive without one (AWS S3 API reference, ``Checksum`` /
#: ``PutObject`` response ``ChecksumCRC64NVME``: "present if the object was
#: uploaded with the CRC64NVME checksum algorithm, or if it was uploaded
#: without a checksum (and Amazon S3 added the default checksum, CRC64NVME, to
#: the uploaded object)"; AWS SDKs and Tools guide, "Data Integrity
#: Protections for Amazon S3").
DEFAULT_ALGORITHM = "CRC64NVME"

#: Algorithms a multipart upload may use with ``ChecksumType=FULL_OBJECT``
#: (the CRCs, which combine); CRC64NVME supports *only* FULL_OBJECT.
FULL_OBJECT_ALGORITHMS = frozenset({"CRC32", "CRC32C", "CRC64NVME"})

#: Algorithms computed in Python: too slow to run on the event loop.
SLOW_ALGORITHMS = frozenset({"CRC32C", "CRC64NVME"})


class ReflectedCrc:
    """A reflected CRC with all-ones init and final XOR: tables, update, combine.

    ``update(value, data)`` continues from a previous *final* value (0 to
    start), like ``zlib.crc32``.  Internally the register is ``value ^ mask``;
    the register after ``data`` is ``shift(register, len(data)) ^ raw(data)``
    where ``raw`` is the CRC with zero init and no final XOR.
    """

    #: Inputs shorter than this go through slicing-by-8 (the lanes path has a fixed cost per step).
    LANES_MIN = 32 * 1024
    #: At most this many stripes at a time: their bytes stay within the CPU caches.
    MAX_LANES = 1024

    def __init__(self, poly: int, width: int) -> None:
        if width not in (32, 64):
            raise ValueError("width must be 32 or 64")
        self.poly = poly
        self.width = width
        self.nbytes = width // 8
        self.mask = (1 << width) - 1
        self._top = 1 << (width - 1)
        first = []
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
            first.append(crc)
        tables = [first]
        for _ in range(7):
            prev = tables[-1]
            tables.append([(prev[i] >> 8) ^ first[prev[i] & 0xFF] for i in range(256)])
        self._tables = tables
        #: ``columns[j]`` maps a byte to byte ``j`` of its table entry (for ``bytes.translate``).
        self._columns = [bytes((entry >> (8 * j)) & 0xFF for entry in first) for j in range(self.nbytes)]
        # x^(2^k) mod P, k = 0..63, for shifting by any length.
        self._x2n = [self._top >> 1]
        for _ in range(63):
            self._x2n.append(self._mulmod(self._x2n[-1], self._x2n[-1]))
        self._xpow8 = lru_cache(maxsize=256)(self._xpow8_uncached)
        self._shift_tables = lru_cache(maxsize=4)(self._shift_tables_uncached)

    # -- public ------------------------------------------------------------

    def update(self, value: int, data: bytes | bytearray | memoryview) -> int:
        """The CRC of the bytes before (whose CRC is ``value``) followed by ``data``."""
        reg = value ^ self.mask
        view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
        n = len(view)
        pos = 0
        while n - pos >= self.LANES_MIN:
            stride = 1024 if n - pos >= 1024 * self.MAX_LANES else 256
            lanes = min((n - pos) // stride, self.MAX_LANES)
            size = lanes * stride
            reg = self._mulmod(self._xpow8(size), reg) ^ self._lanes(view[pos : pos + size], lanes, stride)
            pos += size
        return self._small(reg, view[pos:]) ^ self.mask

    def combine(self, crc_a: int, crc_b: int, len_b: int) -> int:
        """The CRC of ``A || B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` — no bytes needed."""
        return self._mulmod(self._xpow8(len_b), crc_a) ^ crc_b

    # -- GF(2) arithmetic (reflected: the top bit is x^0) --------------------

    def _mulmod(self, a: int, b: int) -> int:
        product = 0
        bit = self._top
        poly = self.poly
        while a:
            if a & bit:
                product ^= b
                a ^= bit
            bit >>= 1
            b = (b >> 1) ^ poly if b & 1 else b >> 1
        return product

    def _xpow8_uncached(self, nbytes: int) -> int:
        """x^(8·nbytes) mod P: multiplying a register by it feeds it ``nbytes`` zero bytes."""
        power = self._top
        n = nbytes << 3
        k = 0
        while n:
            if n & 1:
                power = self._mulmod(self._x2n[k], power)
            n >>= 1
            k += 1
        return power

    def _shift_tables_uncached(self, nbytes: int) -> list[list[int]]:
        """Per register byte, 256 entries: the register shifted by ``nbytes`` zero bytes, by table look-up."""
        x = self._xpow8(nbytes)
        out = []
        for j in range(self.nbytes):
            basis = [self._mulmod(x, 1 << (8 * j + k)) for k in range(8)]
            table = [0] * 256
            for v in range(1, 256):
                low = v & -v
                table[v] = table[v ^ low] ^ basis[low.bit_length() - 1]
            out.append(table)
        return out

    # -- the two paths ---------------------------------------------------------

    def _small(self, reg: int, view: memoryview) -> int:
        """Slicing-by-8 on the register."""
        t0, t1, t2, t3, t4, t5, t6, t7 = self._tables
        n = len(view)
        whole = n - n % 8
        if self.width == 64:
            words = array.array("Q")
            words.frombytes(view[:whole])
            if sys.byteorder != "little":
                words.byteswap()
            for w in words:
                w ^= reg
                reg = (t7[w & 0xFF] ^ t6[(w >> 8) & 0xFF] ^ t5[(w >> 16) & 0xFF] ^ t4[(w >> 24) & 0xFF]
                       ^ t3[(w >> 32) & 0xFF] ^ t2[(w >> 40) & 0xFF] ^ t1[(w >> 48) & 0xFF] ^ t0[w >> 56])
        else:
            halves = array.array("I")
            halves.frombytes(view[:whole])
            if sys.byteorder != "little":
                halves.byteswap()
            it = iter(halves)
            for low, high in zip(it, it, strict=True):
                low ^= reg
                reg = (t7[low & 0xFF] ^ t6[(low >> 8) & 0xFF] ^ t5[(low >> 16) & 0xFF] ^ t4[low >> 24]
                       ^ t3[high & 0xFF] ^ t2[(high >> 8) & 0xFF] ^ t1[(high >> 16) & 0xFF] ^ t0[high >> 24])
        for byte in view[whole:]:
            reg = (reg >> 8) ^ t0[(reg ^ byte) & 0xFF]
        return reg

    def _lanes(self, view: memoryview, lanes: int, stride: int) -> int:
        """``raw`` of ``view`` (``lanes * stride`` bytes): all stripes one byte per step, then joined."""
        states = self._advance8(view, lanes, stride) if self.nbytes == 8 else self._advance4(view, lanes, stride)
        # Lane l's register is byte l of every state: interleave them into machine words.
        joined = bytearray(lanes * self.nbytes)
        for j, state in enumerate(states):
            joined[j :: self.nbytes] = state.to_bytes(lanes, "little")
        values = array.array("Q" if self.nbytes == 8 else "I")
        values.frombytes(joined)
        if sys.byteorder != "little":
            values.byteswap()
        # Horner: acc = shift(acc, stride) ^ lane, over the stripes in order.
        tables = self._shift_tables(stride)
        acc = 0
        if self.nbytes == 8:
            h0, h1, h2, h3, h4, h5, h6, h7 = tables
            for v in values:
                acc = v ^ (h0[acc & 0xFF] ^ h1[(acc >> 8) & 0xFF] ^ h2[(acc >> 16) & 0xFF] ^ h3[(acc >> 24) & 0xFF]
                           ^ h4[(acc >> 32) & 0xFF] ^ h5[(acc >> 40) & 0xFF] ^ h6[(acc >> 48) & 0xFF] ^ h7[acc >> 56])
        else:
            h0, h1, h2, h3 = tables
            for v in values:
                acc = v ^ (h0[acc & 0xFF] ^ h1[(acc >> 8) & 0xFF] ^ h2[(acc >> 16) & 0xFF] ^ h3[acc >> 24])
        return acc

    def _advance8(self, view: memoryview, lanes: int, stride: int) -> list[int]:
        # State j holds byte j of every lane's register (lane l at byte l): one
        # byte-at-a-time CRC step for all lanes is reg = (reg >> 8) ^ T[(reg ^ b) & 0xFF].
        fb = int.from_bytes
        c0, c1, c2, c3, c4, c5, c6, c7 = self._columns
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0
        for i in range(stride):
            idx = (s0 ^ fb(view[i::stride], "little")).to_bytes(lanes, "little")
            s0 = s1 ^ fb(idx.translate(c0), "little")
            s1 = s2 ^ fb(idx.translate(c1), "little")
            s2 = s3 ^ fb(idx.translate(c2), "little")
            s3 = s4 ^ fb(idx.translate(c3), "little")
            s4 = s5 ^ fb(idx.translate(c4), "little")
            s5 = s6 ^ fb(idx.translate(c5), "little")
            s6 = s7 ^ fb(idx.translate(c6), "little")
            s7 = fb(idx.translate(c7), "little")
        return [s0, s1, s2, s3, s4, s5, s6, s7]

    def _advance4(self, view: memoryview, lanes: int, stride: int) -> list[int]:
        fb = int.from_bytes
        c0, c1, c2, c3 = self._columns
        s0 = s1 = s2 = s3 = 0
        for i in range(stride):
            idx = (s0 ^ fb(view[i::stride], "little")).to_bytes(lanes, "little")
            s0 = s1 ^ fb(idx.translate(c0), "little")
            s1 = s2 ^ fb(idx.translate(c1), "little")
            s2 = s3 ^ fb(idx.translate(c2), "little")
            s3 = fb(idx.translate(c3), "little")
        return [s0, s1, s2, s3]


CRC32C = ReflectedCrc(0x82F63B78, 32)
CRC64NVME = ReflectedCrc(0x9A6C9329AC4BC9B5, 64)
#: CRC-32 (zlib's) through the same arithmetic, for ``combine`` only: zlib hashes faster.
_CRC32 = ReflectedCrc(0xEDB88320, 32)
_BY_NAME = {"CRC32": _CRC32, "CRC32C": CRC32C, "CRC64NVME": CRC64NVME}


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc`` (0 to start)."""
    return CRC32C.update(crc, data)


def crc64nvme(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/NVME of ``data`` continuing from ``crc`` (0 to start)."""
    return CRC64NVME.update(crc, data)


class _Crc:
    """An incremental CRC.  The pure-Python ones buffer small chunks: their fast path wants big inputs."""

    BUFFER = 1024 * 1024

    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0
        self.size = 4 if name != "CRC64NVME" else 8
        self._crc = None if name == "CRC32" else _BY_NAME[name]
        self._pending = bytearray()

    def update(self, data: bytes) -> None:
        if self._crc is None:
            self.value = zlib.crc32(data, self.value)
            return
        # Hash whole BUFFERs only, so the slow slicing-by-8 path sees just the final tail.
        if not self._pending and len(data) >= self.BUFFER:
            cut = len(data) - len(data) % self.BUFFER
            self.value = self._crc.update(self.value, memoryview(data)[:cut])
            self._pending += memoryview(data)[cut:]
            return
        self._pending += data
        if len(self._pending) >= self.BUFFER:
            cut = len(self._pending) - len(self._pending) % self.BUFFER
            with memoryview(self._pending) as view, view[:cut] as head:
                self.value = self._crc.update(self.value, head)
            del self._pending[:cut]

    def _flush(self) -> None:
        if self._crc is not None and self._pending:
            self.value = self._crc.update(self.value, self._pending)
            self._pending.clear()

    def digest(self) -> bytes:
        self._flush()
        return self.value.to_bytes(self.size, "big")


def _new(algorithm: str) -> _Crc | hashlib._Hash:
    if algorithm in _BY_NAME:
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


def combine_b64(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The full-object checksum of parts given as (base64 CRC, size), without reading their bytes.

    ``algorithm`` must be in ``FULL_OBJECT_ALGORITHMS``.
    """
    crc = _BY_NAME[algorithm]
    value = 0
    for b64, size in parts:
        value = crc.combine(value, int.from_bytes(base64.b64decode(b64), "big"), size)
    return base64.b64encode(value.to_bytes(crc.nbytes, "big")).decode()


def decode_content_md5(value: str) -> bytes | None:
    """The 16 raw bytes a ``Content-MD5`` header holds, or None if it is not valid base64 MD5."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 16 else None
