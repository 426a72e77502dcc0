"""``inboxsync events nats``: publish the change log to NATS JetStream until SIGINT/SIGTERM.

``inboxsync serve`` runs the same publisher as a task when ``INBOXSYNC_NATS_URL`` is set; fleets run
this command (one is enough: a second one on the same stream is fenced, not harmful).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from inboxsync.cli.options import load_settings, storage_options


@click.group("events")
def events_group() -> None:
    """Send the change log to a message broker."""


@events_group.command("nats")
@storage_options
@click.option("--url", default=None, help="NATS server (env INBOXSYNC_NATS_URL).")
@click.option("--stream", default=None, help="JetStream stream (env INBOXSYNC_NATS_STREAM).")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve /metrics on this port (0: none)."
)
def nats_command(
    data_dir: Path | None,
    database_url: str | None,
    url: str | None,
    stream: str | None,
    metrics_port: int | None,
) -> None:
    """Publish every change to <prefix>.<grant>.<object>.<event>, resuming where the stream is."""
    from inboxsync.events.nats_publisher import NatsPublisher, config_from
    from inboxsync.logging_setup import configure
    from inboxsync.metrics import serve_metrics
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import ensure_current

    settings = load_settings(
        data_dir=data_dir, database_url=database_url, nats_url=url, nats_stream=stream
    )
    config = config_from(settings)
    if config is None:
        raise click.UsageError("no NATS server: give --url or set INBOXSYNC_NATS_URL")
    configure(settings.log_level, settings.log_format)

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            await ensure_current(runtime.db)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            tasks = [asyncio.create_task(NatsPublisher(runtime.db, config).run(stop))]
            if metrics_port:
                tasks.append(asyncio.create_task(serve_metrics(settings.host, metrics_port, stop)))
            click.echo(f"inboxsync events nats: publishing to {config.stream}", err=True)
            await asyncio.gather(*tasks)
        finally:
            await runtime.close()

    asyncio.run(run())
