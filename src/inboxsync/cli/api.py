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

import click

from inboxsync.cli.options import http_options, load_settings, storage_options


@click.command("api")
@storage_options
@http_options
def api_command(
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    api_key: str | None,
) -> None:
    """Serve the REST API only (no sync, no webhooks, no migrations)."""
    import uvicorn

    from inboxsync.api.app import create_app
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
            config = uvicorn.Config(
                create_app(runtime),
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

    asyncio.run(run())
