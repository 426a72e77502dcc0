"""The ``inboxsync`` command."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from inboxsync import __version__
from inboxsync.cli.options import http_options, load_settings, storage_options


class _Commands(click.Group):
    """The commands, with the database's failures told in a line, not a traceback: a server that
    cannot be reached or refuses (wrong host, port, password, database) is the user's to fix."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        from inboxsync.errors import StorageError
        from inboxsync.store.db import db_errors

        try:
            return super().invoke(ctx)
        except (StorageError, DBAPIError, OSError) as exc:
            raise click.ClickException(f"database or storage: {_reason(exc)}") from exc
        except db_errors() as exc:  # asyncpg's own (a refused password, a missing database)
            raise click.ClickException(f"database: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper: the driver's message
    return f"{type(orig or exc).__name__}: {orig or exc}".splitlines()[0]


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """inboxsync: a self-hosted email sync engine with a Nylas v3 compatible API."""


@cli.command()
@storage_options
@http_options
def serve(
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    api_key: str | None,
) -> None:
    """Run everything in one process: API, sync and webhooks (SQLite in ./data by default)."""
    from inboxsync.cli.serve import serve as run

    settings = load_settings(
        data_dir=data_dir, database_url=database_url, host=host, port=port, api_key=api_key
    )
    from inboxsync.logging_setup import configure

    configure(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


@cli.command()
@storage_options
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(data_dir: Path | None, database_url: str | None, revision: str) -> None:
    """Apply the database migrations (upgrade to head, or to --revision)."""
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import current_revision, downgrade, head_revision, upgrade

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> str | None:
        runtime = Runtime.from_settings(settings)
        try:
            before = await current_revision(runtime.db)
            target = head_revision() if revision == "head" else revision
            if before is not None and target != "head" and _is_older(target, before):
                await downgrade(runtime.db, target)
            else:
                await upgrade(runtime.db, revision)
            return await current_revision(runtime.db)
        finally:
            await runtime.close()

    click.echo(f"database at revision {asyncio.run(run())}")


def _is_older(target: str, current: str) -> bool:
    from alembic.script import ScriptDirectory

    from inboxsync.store.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(""))
    if target == "base":
        return True
    return any(rev.revision == target for rev in script.iterate_revisions(current, "base")) and (
        target != current
    )


@cli.command()
def version() -> None:
    """Print the version."""
    click.echo(f"inboxsync {__version__}")


def _register() -> None:
    from inboxsync.cli.api import api_command
    from inboxsync.cli.events import events_group
    from inboxsync.cli.grants import grants_group
    from inboxsync.cli.keys import keys_group
    from inboxsync.cli.search import search_group
    from inboxsync.cli.sync import sync_command
    from inboxsync.cli.webhooks import webhooks_command
    from inboxsync.cli.worker import worker_command

    cli.add_command(api_command)
    cli.add_command(events_group)
    cli.add_command(grants_group)
    cli.add_command(keys_group)
    cli.add_command(search_group)
    cli.add_command(sync_command)
    cli.add_command(webhooks_command)
    cli.add_command(worker_command)


_register()


def main() -> None:
    cli()
