"""``inboxsync webhooks``: deliver webhooks from the change log until SIGINT/SIGTERM.

Run as many as you like against one PostgreSQL database: destinations are leased, so each is sent by
one process at a time. ``inboxsync serve`` runs the same service as a task.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.command("webhooks")
@storage_options
@click.option(
    "--metrics-port", type=int, default=None, help="Serve /metrics on this port (0: none)."
)
def webhooks_command(
    data_dir: Path | None, database_url: str | None, metrics_port: int | None
) -> None:
    """Deliver webhook notifications (and prune the change log) until stopped."""
    from inboxsync.events.service import WebhookService, config_from
    from inboxsync.logging_setup import configure
    from inboxsync.metrics import serve_metrics
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import ensure_current

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    configure(settings.log_level, settings.log_format)

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            service = WebhookService(runtime.db, runtime.sealer, config_from(settings))
            click.echo("inboxsync webhooks: delivering", err=True)
            metrics = (
                asyncio.create_task(serve_metrics(settings.host, metrics_port, stop))
                if metrics_port
                else None
            )
            await service.run(stop)
            if metrics is not None:
                await metrics
        finally:
            await runtime.close()

    asyncio.run(run())
