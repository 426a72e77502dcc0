"""``inboxsync serve``: everything in one process (API, sync, webhooks) on the embedded database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from inboxsync.api.app import create_app, settle_heap
from inboxsync.config import Settings
from inboxsync.events.nats_publisher import NatsPublisher
from inboxsync.events.nats_publisher import config_from as nats_config
from inboxsync.events.service import WebhookService, config_from
from inboxsync.runtime import Runtime
from inboxsync.store import api_keys
from inboxsync.store.migrate import ensure_current
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.supervisor import LeaseConfig, Supervisor

log = logging.getLogger("inboxsync.serve")

API_KEY_FILE = "api_key"


async def ensure_operator_key(runtime: Runtime) -> str | None:
    """On a fresh embedded install with no key configured, make one and keep it in ``data/api_key``.

    Returns the key when it was just created (so the caller can print it once).
    """
    if runtime.settings.api_key is not None:
        return None
    async with runtime.db.transaction() as session:
        if await api_keys.count(session) > 0:
            return None
        _, key = await api_keys.create(session, "default")
    path: Path = runtime.settings.data_dir / API_KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


class _Server(uvicorn.Server):
    """uvicorn's server without its signal capture: ``serve`` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings) -> None:
    runtime = Runtime.from_settings(settings)
    try:
        await ensure_current(runtime.db)
        created = await ensure_operator_key(runtime)
        if created:
            print(
                f"Created an API key (kept in {settings.data_dir / API_KEY_FILE}): {created}",
                flush=True,
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
        server = _Server(config)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        deps = SyncDeps(db=runtime.db, blobs=runtime.blobs, sealer=runtime.sealer)
        supervisor = Supervisor(
            deps, leases=LeaseConfig(ttl=settings.lease_seconds), worker_id="serve"
        )
        app.state.supervisor = supervisor
        stop = asyncio.Event()
        sync_task = asyncio.create_task(supervisor.run(stop), name="supervisor")
        hooks = WebhookService(runtime.db, runtime.sealer, config_from(settings))
        hooks_task = asyncio.create_task(hooks.run(stop), name="webhooks")
        nats = nats_config(settings)  # INBOXSYNC_NATS_URL: the change log to NATS JetStream too
        nats_task = (
            asyncio.create_task(NatsPublisher(runtime.db, nats).run(stop), name="nats")
            if nats is not None
            else None
        )
        print(f"inboxsync serving on http://{settings.host}:{settings.port}", flush=True)
        try:
            await server.serve()
        finally:
            stop.set()
            await sync_task
            await hooks_task
            if nats_task is not None:
                await nats_task
            deps.parser.close()
    finally:
        await runtime.close()
    log.info("stopped")
