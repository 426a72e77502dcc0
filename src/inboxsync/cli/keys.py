"""``inboxsync keys rotate``: re-seal stored credentials under a new secret key.

Stop every process first (they hold the old key in memory and would fail to open what is re-sealed,
or seal a refreshed token with the old key after the rotation). The re-sealing is one transaction:
either every value moves to the new key or none does. Where the key lives decides the rest:

- ``data/secret.key`` (no ``INBOXSYNC_SECRET_KEY``): the new key is written to ``secret.key.new``
  before the transaction, and after it commits ``secret.key`` becomes ``secret.key.old`` and the new
  file takes its name. Should the command die after the commit, ``secret.key.new`` holds the key
  the database needs (rename it).
- ``INBOXSYNC_SECRET_KEY``: the new key is printed once; put it in the environment of every process.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.group("keys")
def keys_group() -> None:
    """Manage the key that seals stored credentials."""


@keys_group.command("rotate")
@storage_options
@click.option(
    "--new-key",
    envvar="INBOXSYNC_NEW_SECRET_KEY",
    default=None,
    help="The new key (base64 of 32 bytes; env INBOXSYNC_NEW_SECRET_KEY); default: a random one.",
)
def rotate_command(data_dir: Path | None, database_url: str | None, new_key: str | None) -> None:
    """Re-seal every grant's credentials and webhook secret under a new key (processes stopped)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from inboxsync.errors import InboxsyncError
    from inboxsync.runtime import Runtime
    from inboxsync.store.crypto import KEY_FILE_NAME, Sealer, _decode_key
    from inboxsync.store.migrate import ensure_current
    from inboxsync.store.rotation import reseal_all

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    key = (
        _decode_key(new_key.strip(), "--new-key")
        if new_key
        else AESGCM.generate_key(bit_length=256)
    )
    text = base64.urlsafe_b64encode(key).decode()
    key_file = settings.data_dir / KEY_FILE_NAME
    in_file = settings.secret_key is None
    if in_file and not key_file.exists():
        raise click.UsageError(f"no key to rotate: {key_file} does not exist")
    pending = key_file.with_name(KEY_FILE_NAME + ".new")
    if in_file:
        fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def run() -> tuple[int, int]:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            async with runtime.db.transaction() as session:
                return await reseal_all(session, runtime.sealer, Sealer(key))
        finally:
            await runtime.close()

    try:
        grants, hooks = asyncio.run(run())
    except BaseException as exc:
        if in_file:
            pending.unlink(missing_ok=True)  # nothing was re-sealed: the old key stays
        if isinstance(exc, InboxsyncError):
            raise click.ClickException(f"nothing re-sealed: {exc}") from exc
        raise
    if in_file:
        os.replace(key_file, key_file.with_name(KEY_FILE_NAME + ".old"))
        os.replace(pending, key_file)
        click.echo(
            f"re-sealed {grants} grants and {hooks} webhook secrets; new key in {key_file} "
            f"(the old one in {KEY_FILE_NAME}.old: delete it once backups made with it expire)"
        )
    else:
        click.echo(f"re-sealed {grants} grants and {hooks} webhook secrets")
        click.echo(f"set INBOXSYNC_SECRET_KEY={text} for every process before starting them")
