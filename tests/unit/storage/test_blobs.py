"""BlobStore: atomic replace, key validation, fsync mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudlet.storage import BlobStore, InvalidBlobKey


def test_put_get_exists_delete(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    path = store.put("functions/abc/code.zip", b"PK\x03\x04data")
    assert path == store.path("functions/abc/code.zip")
    assert path.is_relative_to(store.root)
    assert store.exists("functions/abc/code.zip")
    assert store.get("functions/abc/code.zip") == b"PK\x03\x04data"
    store.delete("functions/abc/code.zip")
    assert not store.exists("functions/abc/code.zip")
    store.delete("functions/abc/code.zip")  # deleting twice is fine
    with pytest.raises(FileNotFoundError):
        store.get("functions/abc/code.zip")


def test_put_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, fsync=True)
    store.put("k", b"old")
    store.put("k", b"new" * 1000)
    assert store.get("k") == b"new" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_empty_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.put("empty", b"")
    assert store.exists("empty") and store.get("empty") == b""


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b", "a\x00b", ".tmp-abc", "a/"],
)
def test_unsafe_keys_are_rejected(tmp_path: Path, key: str) -> None:
    store = BlobStore(tmp_path / "root")
    with pytest.raises(InvalidBlobKey):
        store.put(key, b"x")
    with pytest.raises(InvalidBlobKey):
        store.path(key)
    assert not (tmp_path / "x").exists()


def test_directory_is_not_a_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    store.put("dir/file", b"1")
    assert not store.exists("dir")
