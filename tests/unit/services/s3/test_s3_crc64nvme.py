"""CRC-64/NVME (S3's CRC64NVME) and CRC combination against published vectors and a bitwise reference."""

from __future__ import annotations

import base64
import os
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.services.s3.checksums import (
    ALGORITHMS,
    CRC32C,
    CRC64NVME,
    FULL_OBJECT_ALGORITHMS,
    Hasher,
    checksum_b64,
    combine_b64,
    crc32c,
    crc64nvme,
)


def _crc64nvme_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


def test_known_vectors() -> None:
    # The CRC catalogue's check value, NVMe-spec style 4 KiB vectors, and the empty input.
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert crc64nvme(b"") == 0
    assert crc64nvme(bytes(4096)) == 0x6482D367EB22B64E
    assert crc64nvme(b"\xff" * 4096) == 0xC0DDBA7302ECA3AC
    assert checksum_b64("CRC64NVME", b"Hello, World!\n") == "SoXXbx67KpE="
    assert checksum_b64("CRC64NVME", b"") == "AAAAAAAAAAA="


def test_reflected_polynomial_is_the_bit_reverse_of_the_normal_one() -> None:
    assert int(f"{0xAD93D23594C93659:064b}"[::-1], 2) == CRC64NVME.poly


def test_wire_member_is_registered() -> None:
    assert ALGORITHMS["CRC64NVME"] == "ChecksumCRC64NVME"
    assert "CRC64NVME" in FULL_OBJECT_ALGORITHMS


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_matches_bitwise_and_is_incremental(a: bytes, b: bytes) -> None:
    assert crc64nvme(a + b) == _crc64nvme_bitwise(a + b)
    assert crc64nvme(b, crc64nvme(a)) == crc64nvme(a + b)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 3 * 1024 * 1024), st.integers(0, 2**32))
def test_lanes_path_equals_slicing_path(size: int, seed: int) -> None:
    data = (seed.to_bytes(5, "big") * (size // 5 + 1))[:size] if size else b""
    data = bytes(x ^ (i * 131 & 0xFF) for i, x in enumerate(data[:4096])) + data[4096:]
    for crc in (CRC64NVME, CRC32C):
        slow = crc._small(crc.mask, memoryview(data)) ^ crc.mask
        assert crc.update(0, data) == slow


def test_large_random_input_continues_across_calls() -> None:
    data = os.urandom(2 * 1024 * 1024 + 777)
    whole = crc64nvme(data)
    assert crc64nvme(data[1_000_001:], crc64nvme(data[:1_000_001])) == whole
    assert crc32c(data) == CRC32C._small(CRC32C.mask, memoryview(data)) ^ CRC32C.mask


@given(st.lists(st.binary(max_size=2000), max_size=6))
def test_hasher_matches_one_shot(chunks: list[bytes]) -> None:
    hasher = Hasher(["CRC64NVME", "CRC32C", "CRC32"])
    for chunk in chunks:
        hasher.update(chunk)
    whole = b"".join(chunks)
    sums = hasher.checksums()
    assert sums["CRC64NVME"] == base64.b64encode(crc64nvme(whole).to_bytes(8, "big")).decode()
    assert sums["CRC32C"] == base64.b64encode(crc32c(whole).to_bytes(4, "big")).decode()
    assert sums["CRC32"] == base64.b64encode(zlib.crc32(whole).to_bytes(4, "big")).decode()


def test_hasher_with_big_and_small_chunks() -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    hasher = Hasher(["CRC64NVME"])
    for piece in (data[:10], data[10 : 2 * 1024 * 1024], data[2 * 1024 * 1024 :]):
        hasher.update(piece)
    assert hasher.checksums()["CRC64NVME"] == checksum_b64("CRC64NVME", data)


@given(st.lists(st.binary(max_size=500), min_size=1, max_size=6), st.sampled_from(sorted(FULL_OBJECT_ALGORITHMS)))
def test_combine_equals_hash_of_concatenation(parts: list[bytes], algorithm: str) -> None:
    pieces = [(checksum_b64(algorithm, p), len(p)) for p in parts]
    assert combine_b64(algorithm, pieces) == checksum_b64(algorithm, b"".join(parts))
