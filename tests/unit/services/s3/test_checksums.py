"""Checksums against published vectors and reference implementations."""

from __future__ import annotations

import base64
import hashlib
import zlib

from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.s3.checksums import (
    Hasher,
    checksum_b64,
    composite_checksum,
    crc32c,
    decode_content_md5,
)


def _crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_known_vectors() -> None:
    # RFC 3720 appendix B.4 and the classic check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc32c_matches_bitwise_and_is_incremental(a: bytes, b: bytes) -> None:
    assert crc32c(a + b) == _crc32c_bitwise(a + b)
    assert crc32c(b, crc32c(a)) == crc32c(a + b)


@given(st.lists(st.binary(max_size=100), max_size=5))
def test_hasher_matches_one_shot(chunks: list[bytes]) -> None:
    hasher = Hasher(["CRC32", "CRC32C", "SHA1", "SHA256"])
    for chunk in chunks:
        hasher.update(chunk)
    whole = b"".join(chunks)
    sums = hasher.checksums()
    assert hasher.md5.hexdigest() == hashlib.md5(whole).hexdigest()
    assert hasher.size == len(whole)
    assert sums["CRC32"] == base64.b64encode(zlib.crc32(whole).to_bytes(4, "big")).decode()
    assert sums["SHA1"] == base64.b64encode(hashlib.sha1(whole).digest()).decode()
    assert sums["SHA256"] == checksum_b64("SHA256", whole)
    assert sums["CRC32C"] == checksum_b64("CRC32C", whole)


def test_aws_example_values() -> None:
    # The CRC32 of b"" and of the facts sheet's observed body.
    assert checksum_b64("CRC32", b"") == "AAAAAA=="
    assert checksum_b64("SHA256", b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_composite_checksum() -> None:
    parts = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    expected = base64.b64encode(hashlib.sha256(parts[0] + parts[1]).digest()).decode() + "-2"
    assert composite_checksum("SHA256", parts) == expected


def test_content_md5_decoding() -> None:
    good = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    assert decode_content_md5(good) == hashlib.md5(b"x").digest()
    assert decode_content_md5("not base64!") is None
    assert decode_content_md5(base64.b64encode(b"short").decode()) is None
