"""``inboxsync sync --once [--grant ID]``: one full pass over every folder, then exit."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.command("sync")
@click.option("--once", is_flag=True, required=True, help="Run one full pass and exit.")
@click.option("--grant", "grant_ids", multiple=True, help="Only this grant (repeatable).")
@storage_options
def sync_command(
    once: bool, grant_ids: tuple[str, ...], data_dir: Path | None, database_url: str | None
) -> None:
    """Sync every grant (or the given ones) once and print a one-line summary."""
    from inboxsync.errors import InboxsyncError
    from inboxsync.runtime import Runtime
    from inboxsync.store import grants
    from inboxsync.store.migrate import ensure_current
    from inboxsync.sync.deps import SyncDeps
    from inboxsync.sync.imap.account import ImapGrantSync, PassSummary

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> tuple[int, int, PassSummary]:
        runtime = Runtime.from_settings(settings)
        deps = SyncDeps(db=runtime.db, blobs=runtime.blobs, sealer=runtime.sealer)
        total = PassSummary()
        ok = failed = 0
        try:
            await ensure_current(runtime.db)
            async with runtime.db.session() as session:
                targets = [await grants.get(session, g) for g in grant_ids] or [
                    g for g in await grants.all_active(session) if g.provider in ("imap", "google")
                ]
            for grant in targets:
                try:
                    if grant.provider == "google":
                        from inboxsync.sync.gmail.account import GmailGrantSync

                        gmail = await GmailGrantSync(deps, grant.id).run_once()
                        ok += 1
                        total.new += gmail.new
                        total.flags += gmail.relabelled
                        total.gone += gmail.deleted
                        total.skipped += gmail.skipped
                        continue
                    summary = await ImapGrantSync(deps, grant.id).run_once()
                except InboxsyncError as exc:
                    failed += 1
                    total.errors.append(f"{grant.id}: {exc}")
                    continue
                ok += 1
                total.folders += summary.folders
                total.new += summary.new
                total.gone += summary.gone
                total.flags += summary.flags
                total.skipped += summary.skipped
            return ok, failed, total
        finally:
            deps.parser.close()
            await runtime.close()

    started = time.monotonic()
    try:
        ok, failed, total = asyncio.run(run())
    except InboxsyncError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"synced {ok} grant(s), {failed} failed: {total.folders} folders, {total.new} new, "
        f"{total.flags} flag changes, {total.gone} removed, {total.skipped} skipped "
        f"in {time.monotonic() - started:.2f} s"
    )
    for error in total.errors:
        click.echo(f"error: {error}", err=True)
    if failed:
        sys.exit(1)
