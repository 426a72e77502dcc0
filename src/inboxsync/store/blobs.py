"""Content-addressed blob store for raw RFC 822 bytes.

A blob's key is the hex SHA-256 of its bytes, so the same message stored twice takes the space once.
Files live at ``<root>/<k[0:2]>/<key>`` (one level of 256 directories: a second level made nearly
every file of a first sync create its own directory); they are written to a temporary name and renamed, and
:meth:`FileBlobStore.put_many` makes a whole batch durable with one ``syncfs`` after the renames, so the
first sync of a large mailbox does not pay one ``fsync`` per message. The rows that name a blob commit
only after that, so a committed row always finds its blob whole. A crash before the ``syncfs`` can leave
a file under its final name that is empty or short (ext4 orders data before the metadata that makes it
visible, but delayed allocation may lose the data itself); no committed row names it, and the next
``put`` of those bytes sees the wrong size and writes it again.

The interface (:class:`BlobStore`) is small so that an object store can stand in later.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from inboxsync.errors import NotFound, StorageError

_CHUNK = 1 << 16


class BlobStore(Protocol):
    """Where raw message bytes live."""

    def put(self, data: bytes) -> str: ...

    def put_many(self, blobs: Iterable[bytes]) -> list[str]: ...

    def put_file(self, path: Path) -> str: ...

    def sync(self) -> None: ...

    def get(self, key: str) -> bytes: ...

    def open_chunks(self, key: str) -> Iterator[bytes]: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def blob_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FSYNC_EACH_BELOW = 8


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(directory: Path) -> None:
    """Flush every dirty page of the filesystem holding ``directory`` (Linux), else ``os.sync``."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


class FileBlobStore:
    """Blobs as files under a directory (the default, embedded and single-host)."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.durable = durable
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise NotFound(f"no blob {key!r}")
        return self.root / key[:2] / key

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def put(self, data: bytes) -> str:
        return self.put_many([data])[0]

    def put_many(self, blobs: Iterable[bytes]) -> list[str]:
        """Store several blobs; when this returns, every one is durable under its final name."""
        keys: list[str] = []
        pending: list[tuple[Path, Path]] = []
        try:
            for data in blobs:
                key = blob_key(data)
                keys.append(key)
                final = self.path(key)
                if final.exists() and final.stat().st_size == len(data):
                    continue
                tmp = self._tmp / f"{key}.{os.getpid()}.{os.urandom(6).hex()}"
                with open(tmp, "wb") as fh:
                    fh.write(data)
                pending.append((tmp, final))
            self._commit(pending)
        except OSError as exc:
            for tmp, _ in pending:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise StorageError(f"blob store write failed: {exc}") from exc
        return keys

    def put_file(self, path: Path) -> str:
        """Store a file written elsewhere (for example a message streamed from the server)."""
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        key = digest.hexdigest()
        final = self.path(key)
        try:
            if final.exists() and final.stat().st_size == path.stat().st_size:
                path.unlink()
                return key
            tmp = self._tmp / f"{key}.{os.getpid()}.{os.urandom(6).hex()}"
            os.replace(path, tmp)
            self._commit([(tmp, final)])
        except OSError as exc:
            raise StorageError(f"blob store write failed: {exc}") from exc
        return key

    def _commit(self, pending: list[tuple[Path, Path]]) -> None:
        if not pending:
            return
        if self.durable and len(pending) <= FSYNC_EACH_BELOW:
            # A few files (new mail): fsync each; syncfs would also flush everyone else's writes.
            for tmp, _ in pending:
                _fsync_path(tmp)
        for tmp, final in pending:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        if self.durable:
            if len(pending) <= FSYNC_EACH_BELOW:
                for directory in {final.parent for _, final in pending}:
                    _fsync_path(directory)
            else:
                _syncfs(self.root)

    def sync(self) -> None:
        """Make every blob written so far (by any process) durable: one ``syncfs``."""
        if self.durable:
            _syncfs(self.root)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {key}") from exc
        except OSError as exc:
            raise StorageError(f"blob store read failed: {exc}") from exc

    def open_chunks(self, key: str) -> Iterator[bytes]:
        try:
            fh = open(self.path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise NotFound(f"no blob {key}") from exc
        with fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


async def aiter_chunks(store: BlobStore, key: str) -> AsyncIterator[bytes]:
    """The blob's bytes in chunks, for a streaming HTTP response."""
    for chunk in store.open_chunks(key):
        yield chunk
