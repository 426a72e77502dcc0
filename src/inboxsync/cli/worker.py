"""``inboxsync worker``: sync and write-back for the grants this process holds leases of; no API.

Run as many as you like (on as many hosts) against one PostgreSQL database: each claims a fair share
of the grants through leases (``store/leases.py``), takes over the grants of a worker that died once
their leases expire, and gives grants back when new workers join. SIGTERM/SIGINT drains: every grant
finishes its batch and logs out, then the leases are released so that the others take over at once.
Like ``inboxsync api`` it does not migrate: ``inboxsync migrate`` does, once, before an upgrade.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.command("worker")
@storage_options
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="How long a lease lasts without renewal (env INBOXSYNC_LEASE_SECONDS; default 30).",
)
@click.option(
    "--worker-id", default=None, help="Name in the lease table (default host:pid:random)."
)
@click.option(
    "--metrics-port", type=int, default=None, help="Serve /metrics on this port (0: none)."
)
def worker_command(
    data_dir: Path | None,
    database_url: str | None,
    lease_seconds: float | None,
    worker_id: str | None,
    metrics_port: int | None,
) -> None:
    """Sync the grants this worker leases, and write local changes back, until stopped."""
    from inboxsync.logging_setup import configure
    from inboxsync.metrics import serve_metrics
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import HEAD, current_revision, is_current
    from inboxsync.sync.deps import SyncDeps
    from inboxsync.sync.supervisor import LeaseConfig, Supervisor

    settings = load_settings(
        data_dir=data_dir, database_url=database_url, lease_seconds=lease_seconds
    )
    configure(settings.log_level, settings.log_format)

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            if not await is_current(runtime.db):
                at = await current_revision(runtime.db)
                raise click.ClickException(
                    f"the database is at revision {at}, this version needs {HEAD}: "
                    "run `inboxsync migrate` first"
                )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            deps = SyncDeps(db=runtime.db, blobs=runtime.blobs, sealer=runtime.sealer)
            supervisor = Supervisor(
                deps, leases=LeaseConfig(ttl=settings.lease_seconds), worker_id=worker_id
            )
            click.echo(f"inboxsync worker {supervisor.worker_id}: syncing", err=True)
            metrics = (
                asyncio.create_task(serve_metrics(settings.host, metrics_port, stop))
                if metrics_port
                else None
            )
            try:
                await supervisor.run(stop)
            finally:
                stop.set()
                if metrics is not None:
                    await metrics
                deps.parser.close()
            click.echo(f"inboxsync worker {supervisor.worker_id}: stopped", err=True)
        finally:
            await runtime.close()

    asyncio.run(run())
