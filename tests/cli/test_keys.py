"""``inboxsync keys rotate``: every sealed value moves to the new key, or none does."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inboxsync.cli.main import cli
from inboxsync.config import Settings
from inboxsync.errors import ConfigError
from inboxsync.runtime import Runtime
from inboxsync.store import grants, webhooks
from inboxsync.store.crypto import KEY_FILE_NAME, Sealer, load_or_create_key
from inboxsync.store.migrate import upgrade
from inboxsync.store.models import Grant, Webhook


async def seed(settings: Settings, *, corrupt: bool = False) -> None:
    runtime = Runtime.from_settings(settings)
    await upgrade(runtime.db)
    async with runtime.db.transaction() as session:
        for n in range(3):
            await grants.create(
                session,
                provider="imap",
                email=f"u{n}@example.com",
                settings={},
                sealed_credentials=b"\x01" + b"x" * 40
                if corrupt and n == 2
                else runtime.sealer.seal({"imap_password": f"pw{n}"}),
                api_key_id=None,
            )
        await webhooks.create(
            session,
            api_key_id=None,
            webhook_url="https://hooks.example.com/",
            trigger_types=["message.created"],
            description=None,
            notification_email_addresses=[],
            sealed_secret=runtime.sealer.seal({"secret": "s3"}),
        )
    await runtime.close()


async def stored(settings: Settings) -> tuple[list[bytes], list[bytes]]:
    runtime = Runtime.from_settings(settings)
    async with runtime.db.session() as session:
        creds = list((await session.scalars(select(Grant.credentials).order_by(Grant.email))).all())
        secrets = list((await session.scalars(select(Webhook.secret))).all())
    await runtime.close()
    return creds, secrets


def test_rotate_the_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    asyncio.run(seed(settings))
    old = Sealer(load_or_create_key(None, tmp_path))

    result = CliRunner().invoke(cli, ["keys", "rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "re-sealed 3 grants and 1 webhook secrets" in result.output

    assert (tmp_path / f"{KEY_FILE_NAME}.old").exists()
    assert not (tmp_path / f"{KEY_FILE_NAME}.new").exists()
    assert oct((tmp_path / KEY_FILE_NAME).stat().st_mode & 0o777) == "0o600"
    new = Sealer(load_or_create_key(None, tmp_path))
    creds, secrets = asyncio.run(stored(settings))
    assert [new.open(c) for c in creds] == [{"imap_password": f"pw{n}"} for n in range(3)]
    assert [new.open(s) for s in secrets] == [{"secret": "s3"}]
    with pytest.raises(ConfigError):
        old.open(creds[0])


def test_rotate_an_environment_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_text = base64.urlsafe_b64encode(os.urandom(32)).decode()
    new_text = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("INBOXSYNC_SECRET_KEY", old_text)
    settings = Settings(data_dir=tmp_path)
    asyncio.run(seed(settings))
    result = CliRunner().invoke(
        cli, ["keys", "rotate", "--data-dir", str(tmp_path), "--new-key", new_text]
    )
    assert result.exit_code == 0, result.output
    assert f"INBOXSYNC_SECRET_KEY={new_text}" in result.output
    assert not (tmp_path / KEY_FILE_NAME).exists()  # nothing written: the key lives in the env
    creds, _ = asyncio.run(stored(settings))
    new = Sealer(load_or_create_key(new_text, tmp_path))
    assert new.open(creds[1]) == {"imap_password": "pw1"}


def test_a_value_the_old_key_cannot_open_moves_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    asyncio.run(seed(settings, corrupt=True))
    before = asyncio.run(stored(settings))
    key_before = (tmp_path / KEY_FILE_NAME).read_text()

    result = CliRunner().invoke(cli, ["keys", "rotate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing re-sealed: credentials cannot be decrypted" in result.output
    assert asyncio.run(stored(settings)) == before
    assert (tmp_path / KEY_FILE_NAME).read_text() == key_before
    assert not (tmp_path / f"{KEY_FILE_NAME}.new").exists()
