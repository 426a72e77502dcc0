"""``inboxsync search reindex [--grant ID]``: rebuild the full-text index from the stored messages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.group("search")
def search_group() -> None:
    """Full-text search."""


@search_group.command("reindex")
@click.option("--grant", "grant_id", default=None, help="Only this grant.")
@storage_options
def reindex_command(grant_id: str | None, data_dir: Path | None, database_url: str | None) -> None:
    """Rebuild the search documents of every message (after an upgrade, or to repair)."""
    from inboxsync.errors import InboxsyncError
    from inboxsync.runtime import Runtime
    from inboxsync.search.reindex import reindex
    from inboxsync.store.migrate import ensure_current

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> int:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            return await reindex(runtime.db, runtime.blobs.get, grant_id)
        finally:
            await runtime.close()

    started = time.monotonic()
    try:
        count = asyncio.run(run())
    except InboxsyncError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"reindexed {count} messages in {time.monotonic() - started:.1f} s")
