"""``inboxsync api``: the HTTP API alone (stateless; run as many as you like behind a load balancer).

Unlike ``serve`` it neither migrates the database (``inboxsync migrate`` does, once, before an
upgrade) nor syncs nor delivers webhooks: ``inboxsync worker`` and ``inboxsync webhooks`` do. Write
actions it enqueues are picked up by the worker that holds the grant (workers look for them every
few seconds). It refuses to start on a database whose schema is not the one this version needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from inboxsync.cli.options import http_options, load_settings, storage_options

if TYPE_CHECKING:
    from inboxsync.config import Settings


@click.command("api")
@storage_options
@http_options
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="API processes on the one port (about one per core; none of them syncs).",
)
def api_command(
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    api_key: str | None,
    workers: int,
) -> None:
    """Serve the REST API only (no sync, no webhooks, no migrations)."""
    import uvicorn

    from inboxsync.api.app import create_app, settle_heap
    from inboxsync.logging_setup import configure
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import HEAD, current_revision, is_current

    settings = load_settings(
        data_dir=data_dir, database_url=database_url, host=host, port=port, api_key=api_key
    )
    configure(settings.log_level, settings.log_format)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    async def run() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            if not await is_current(runtime.db):
                at = await current_revision(runtime.db)
                raise click.ClickException(
                    f"the database is at revision {at}, this version needs {HEAD}: "
                    "run `inboxsync migrate` first"
                )
            app = create_app(runtime)
            settle_heap()
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level.lower(),
                log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
                lifespan="off",
            )
            server = Server(config)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
            click.echo(f"inboxsync api on http://{settings.host}:{settings.port}", err=True)
            await server.serve()
        finally:
            await runtime.close()

    if workers > 1:
        _run_workers(settings, workers)
        return
    asyncio.run(run())


def _run_workers(settings: Settings, workers: int) -> None:
    """``workers`` uvicorn processes on the port, a listening socket each
    (:class:`~inboxsync.api.processes.Workers`); each builds its app from ``INBOXSYNC_*``."""
    import os

    import uvicorn

    from inboxsync.api.processes import Workers
    from inboxsync.runtime import Runtime
    from inboxsync.store.migrate import HEAD, current_revision, is_current

    async def check() -> None:
        runtime = Runtime.from_settings(settings)
        try:
            if not await is_current(runtime.db):
                at = await current_revision(runtime.db)
                raise click.ClickException(
                    f"the database is at revision {at}, this version needs {HEAD}: "
                    "run `inboxsync migrate` first"
                )
        finally:
            await runtime.close()

    asyncio.run(check())
    import shutil
    import tempfile

    from inboxsync.metrics import MULTIPROCESS_ENV

    # /metrics answered by any worker sums the counters of all (prometheus-client multiprocess mode).
    metrics_dir = tempfile.mkdtemp(prefix="inboxsync-metrics-")
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    os.environ["INBOXSYNC_DATA_DIR"] = str(settings.data_dir)
    os.environ["INBOXSYNC_DATABASE_URL"] = settings.resolved_database_url()
    if settings.api_key is not None:
        os.environ["INBOXSYNC_API_KEY"] = settings.api_key.get_secret_value()
    try:
        try:
            processes = Workers(
                "inboxsync.api.app:app_from_env",
                host=settings.host,
                port=settings.port,
                count=workers,
                factory=True,
                log_level=settings.log_level.lower(),
                log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
                lifespan="off",
            )
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            ) from exc
        click.echo(
            f"inboxsync api on http://{settings.host}:{processes.port} ({workers} workers)",
            err=True,
        )
        if processes.run() != 0:
            raise click.ClickException("an API process failed to start (its error is above)")
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
