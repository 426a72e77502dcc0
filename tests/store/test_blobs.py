from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from inboxsync.errors import NotFound
from inboxsync.store.blobs import FileBlobStore


def test_put_get_dedup(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    key = store.put(b"hello")
    assert key == hashlib.sha256(b"hello").hexdigest()
    assert store.get(key) == b"hello"
    assert store.put(b"hello") == key
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert files[0].name == key


def test_put_many_and_stream(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    blobs = [bytes([i]) * (70_000 + i) for i in range(5)] + [b"same", b"same"]
    keys = store.put_many(blobs)
    assert len(set(keys)) == 6
    for data, key in zip(blobs, keys, strict=True):
        assert b"".join(store.open_chunks(key)) == data
    assert not list((tmp_path / "blobs" / "tmp").iterdir())


def test_truncated_file_is_rewritten(tmp_path: Path) -> None:
    """A blob left incomplete (say by a crash) is replaced, not trusted, when stored again."""
    store = FileBlobStore(tmp_path / "blobs", durable=False)
    key = store.put(b"complete message")
    store.path(key).write_bytes(b"")
    assert store.put(b"complete message") == key
    assert store.get(key) == b"complete message"


def test_put_file_moves_in(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    src = tmp_path / "incoming"
    src.write_bytes(b"x" * 200_000)
    key = store.put_file(src)
    assert not src.exists()
    assert store.get(key) == b"x" * 200_000


def test_missing_and_bad_keys(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
    store.delete("0" * 64)
