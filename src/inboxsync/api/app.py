"""The FastAPI application: routers, error handlers, request ids."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from inboxsync import __version__
from inboxsync.api import errors
from inboxsync.api.envelope import RequestIdHeader
from inboxsync.api.observe import ObserveMiddleware
from inboxsync.api.paths import RawPathMiddleware
from inboxsync.api.routes import (
    attachments,
    changes,
    connect,
    drafts,
    folders,
    grants,
    health,
    messages,
    send,
    sync_status,
    threads,
    webhooks,
)
from inboxsync.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="inboxsync",
        version=__version__,
        description="Self-hosted email sync engine with a Nylas v3 compatible email API.",
    )
    app.state.runtime = runtime
    errors.install(app)

    app.add_middleware(RequestIdHeader)
    app.add_middleware(ObserveMiddleware)  # inside RawPathMiddleware: sees the matched route
    app.include_router(health.router)
    for module in (grants, send, messages, drafts, threads, folders, attachments):
        app.include_router(module.router)  # send before messages: messages/send is no {message_id}
    app.add_middleware(send.SendBodyLimit, send_limit=runtime.settings.max_send_bytes)
    app.add_middleware(RawPathMiddleware)
    app.include_router(connect.router)
    app.include_router(sync_status.router)
    app.include_router(webhooks.router)
    app.include_router(changes.router)
    return app


def settle_heap() -> None:
    """Collect once, then put every object alive now out of the collector's reach (``gc.freeze``).

    Call it when a server process is set up, before it answers. The objects of a started process
    (modules, ORM mappings, the app) are ~150,000; a full collection walked all of them every few
    thousand requests and stalled every request in flight for ~110 ms (docs/adr/0011).
    """
    gc.collect()
    gc.freeze()


def app_from_env() -> FastAPI:
    """The app of one ``inboxsync api --workers N`` process: settings from ``INBOXSYNC_*``
    (the parent puts its command-line options there before starting the workers)."""
    from inboxsync.config import Settings
    from inboxsync.logging_setup import configure

    settings = Settings()
    configure(settings.log_level, settings.log_format)
    app = create_app(Runtime.from_settings(settings))
    settle_heap()
    return app
