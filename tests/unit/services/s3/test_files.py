"""The blob file store: atomic writes, ranged reads, async streams, start-up sweep."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

from cloudlet.services.s3.files import CHUNK, INLINE_MAX, BlobBody, FileStore, body_chunks


def test_write_read_ranges_and_delete(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = bytes(range(256)) * 9000
    blob, hasher = store.write_bytes(data, ["SHA256"])
    assert hasher.md5.hexdigest() == hashlib.md5(data).hexdigest()
    assert hasher.size == len(data)
    assert store.read_bytes(blob) == data
    assert store.read_bytes(blob, 10, 20) == data[10:21]
    assert store.read_bytes(blob, CHUNK - 3, CHUNK + 3) == data[CHUNK - 3 : CHUNK + 4]
    body = BlobBody(store, blob, 5, len(data) - 1)
    assert len(body) == len(data) - 5
    assert b"".join(body) == data[5:]
    assert list((tmp_path / "tmp").iterdir()) == []
    store.delete([blob, None])
    assert not store.path(blob).exists()


def test_concat_and_file_like_bodies(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    a, _ = store.write_bytes(b"a" * 10)
    b, _ = store.write_bytes(b"b" * 5)
    joined, hasher = store.concat([a, b], ["CRC32"])
    assert store.read_bytes(joined) == b"a" * 10 + b"b" * 5
    assert hasher.size == 15
    chunks = body_chunks(io.BytesIO(b"x" * (CHUNK + 1)))
    assert chunks is not None and [len(c) for c in chunks] == [CHUNK, 1]
    assert body_chunks(object()) is None


def test_async_stream_write(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    parts = [bytes([i]) * 70000 for i in range(20)]

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            await asyncio.sleep(0)
            yield part

    blob, hasher = asyncio.run(store.write_async(stream(), ["CRC32"]))
    assert store.read_bytes(blob) == b"".join(parts)
    assert hasher.size == sum(map(len, parts))


def test_sweep_removes_temp_and_unreferenced(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    kept, _ = store.write_bytes(b"k" * (INLINE_MAX + 1))
    lost, _ = store.write_bytes(b"l" * (INLINE_MAX + 1))
    (tmp_path / "tmp" / "half-written").write_bytes(b"...")
    assert store.sweep([kept]) == 1
    assert store.path(kept).exists() and not store.path(lost).exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_failed_async_stream_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    async def run() -> None:
        try:
            await store.write_async(broken())
        except ConnectionResetError:
            return
        raise AssertionError("the stream error must propagate")

    asyncio.run(run())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_small_bodies_stay_inline(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    small, hasher = store.write_bytes(b"0123456789", ["CRC32"])
    assert small == b"0123456789" and hasher.size == 10 and "CRC32" in hasher.checksums()
    assert store.read_bytes(small, 2, 4) == b"234"
    assert b"".join(store.read(small, 5)) == b"56789"
    assert store.read_bytes(b"") == b""
    big, _ = store.write_bytes(b"x" * (INLINE_MAX + 1))
    assert isinstance(big, str) and store.path(big).exists()
    joined, _ = store.concat([small, big])
    assert store.read_bytes(joined) == b"0123456789" + b"x" * (INLINE_MAX + 1)
    store.delete([small, big, None])  # bytes name no file: skipped
    assert not store.path(big).exists()
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == [store.path(joined)]


def test_sweep_merges_sorted_references_with_the_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    blobs = [store.write_bytes(bytes([i]) * (INLINE_MAX + 1))[0] for i in range(60)]
    assert all(isinstance(b, str) for b in blobs)
    kept = sorted(str(b) for b in blobs[::2])
    assert store.sweep(["0" * 32, *kept, "z" * 32]) == 30  # names with no file are passed over
    assert sorted(p.name for p in (tmp_path / "data").rglob("*") if p.is_file()) == kept
