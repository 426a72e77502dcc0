"""``inboxsync grants add imap …``, ``grants list``, ``grants remove ID``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options
from inboxsync.errors import InboxsyncError

# The database, IMAP and crypto modules are imported inside the commands: `inboxsync --help` and
# `inboxsync version` stay quick.


@click.group("grants")
def grants_group() -> None:
    """Connect, list and remove accounts."""


@grants_group.command("add")
@click.argument("provider", type=click.Choice(["imap"]))
@click.option("--email", default=None, help="The account's address (default: the IMAP username).")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=int, default=None, help="Default 993 (ssl) or 143.")
@click.option("--imap-security", type=click.Choice(["ssl", "starttls", "none"]), default=None)
@click.option("--imap-username", required=True)
@click.option("--imap-password", prompt=True, hide_input=True, help="Prompted for when left out.")
@click.option("--smtp-host", default=None)
@click.option("--smtp-port", type=int, default=None)
@click.option("--smtp-security", type=click.Choice(["ssl", "starttls", "none"]), default=None)
@click.option("--smtp-username", default=None)
@click.option("--smtp-password", default=None)
@storage_options
def add(
    provider: str,
    data_dir: Path | None,
    database_url: str | None,
    email: str | None,
    **fields: object,
) -> None:
    """Connect an account: the login is checked before anything is stored."""
    from inboxsync.core.accounts import ImapAccount
    from inboxsync.runtime import Runtime
    from inboxsync.store import grants
    from inboxsync.store.migrate import ensure_current
    from inboxsync.sync.imap.session import check_login

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    values = {k: v for k, v in fields.items() if v is not None}
    if email:
        values["email"] = email

    async def run() -> str:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            account = ImapAccount.from_settings(
                values, allow_plaintext_remote=settings.allow_plaintext_remote
            )
            await check_login(account)
            async with runtime.db.transaction() as session:
                grant = await grants.create(
                    session,
                    provider=provider,
                    email=account.email,
                    settings=account.public_settings(),
                    sealed_credentials=runtime.sealer.seal(account.secrets()),
                    api_key_id=None,
                )
            return grant.id
        finally:
            await runtime.close()

    try:
        click.echo(asyncio.run(run()))
    except InboxsyncError as exc:
        raise click.ClickException(str(exc)) from exc


@grants_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@storage_options
def list_(data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """List the grants."""
    from inboxsync.runtime import Runtime
    from inboxsync.store import grants
    from inboxsync.store.migrate import ensure_current

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> list[dict[str, object]]:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            async with runtime.db.session() as session:
                rows = await grants.list_(session, limit=100_000)
            return [
                {
                    "id": g.id,
                    "provider": g.provider,
                    "email": g.email,
                    "grant_status": g.grant_status,
                    "sync_state": g.sync_state,
                    "last_error": g.last_error,
                }
                for g in rows
            ]
        finally:
            await runtime.close()

    for row in asyncio.run(run()):
        if as_json:
            click.echo(json.dumps(row))
        else:
            click.echo(
                f"{row['id']}  {row['provider']:6} {row['grant_status']:8} {row['sync_state']:8} {row['email']}"
            )


@grants_group.command("remove")
@click.argument("grant_id")
@storage_options
def remove(grant_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove a grant and its synced data."""
    from inboxsync.runtime import Runtime
    from inboxsync.store import grants
    from inboxsync.store.migrate import ensure_current

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            async with runtime.db.transaction() as session:
                await grants.get(session, grant_id)
                await grants.remove(session, grant_id)
        finally:
            await runtime.close()

    try:
        asyncio.run(run())
    except InboxsyncError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {grant_id}")
