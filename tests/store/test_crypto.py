from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from inboxsync.errors import ConfigError
from inboxsync.store import grants
from inboxsync.store.crypto import Sealer, hash_api_key, load_or_create_key, new_api_key
from inboxsync.store.db import Database
from inboxsync.store.migrate import upgrade


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    key = load_or_create_key(None, tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(None, tmp_path) == key


def test_key_from_setting(tmp_path: Path) -> None:
    raw = os.urandom(32)
    assert load_or_create_key(base64.urlsafe_b64encode(raw).decode(), tmp_path) == raw
    with pytest.raises(ConfigError):
        load_or_create_key("c2hvcnQ=", tmp_path)


def test_seal_roundtrip_and_wrong_key() -> None:
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal({"imap_password": "hunter2"})
    assert b"hunter2" not in sealed
    assert sealer.open(sealed) == {"imap_password": "hunter2"}
    with pytest.raises(ConfigError):
        Sealer(os.urandom(32)).open(sealed)


def test_api_key_hash() -> None:
    key = new_api_key()
    assert key.startswith("isk_") and len(key) > 40
    assert hash_api_key(key) != key and len(hash_api_key(key)) == 64


async def test_no_plaintext_credential_in_database_file(tmp_path: Path) -> None:
    db_path = tmp_path / "inboxsync.db"
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    await upgrade(db)
    sealer = Sealer(load_or_create_key(None, tmp_path))
    password = f"Pa55-very-secret-value-{os.getpid()}"
    async with db.transaction() as session:
        await grants.create(
            session,
            provider="imap",
            email="alice@example.com",
            settings={"imap_host": "127.0.0.1"},
            sealed_credentials=sealer.seal({"imap_password": password}),
            api_key_id=None,
        )
    await db.close()
    for path in tmp_path.glob("inboxsync.db*"):
        assert password.encode() not in path.read_bytes()
