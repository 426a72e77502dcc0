"""Prometheus metrics: the metric objects every layer counts into, and the scrape-time fleet gauges.

Two kinds of metric, kept apart so that hot paths never pay for the expensive ones:

- **Process metrics** live in :data:`REGISTRY` (prometheus-client's default, which also carries the
  ``process_*`` and ``python_*`` collectors): counters and histograms bumped where things happen, one
  ``inc`` per batch, never per message (messages and bytes synced, provider errors by class, IMAP
  connections open, webhook delivery latency, API request latency by route, NATS publishing).
  Every process (``serve``, ``worker``, ``webhooks``, ``events nats``) has its own; Prometheus
  scrapes each and sums.
- **Fleet gauges** come from the database (grants by state, sync lag per grant, write-back queue
  depth and age, webhook backlog). They are read at scrape time, into a :class:`FleetStats`, by the
  ``refresh`` callable the caller passes (``store.stats.fleet_stats``): nothing is kept up to date
  in between. They are the same from every process of a fleet, so scrape them from one (the API).

This module sits at the bottom of the layers (beside ``config`` and ``errors``): it imports nothing
of inboxsync, so ``providers``, ``store``, ``sync``, ``events`` and ``api`` may all import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "FleetStats",
    "render",
    "serve_metrics",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode

# --- process metrics (cheap: bumped in the code paths, once per batch) ---------------------------

MESSAGES_SYNCED = Counter(
    "inboxsync_messages_synced",
    "Messages downloaded from providers and stored (counted once per batch).",
    ["provider"],
)
BYTES_SYNCED = Counter(
    "inboxsync_bytes_synced",
    "Raw RFC 822 bytes of the messages stored by sync.",
    ["provider"],
)
PROVIDER_ERRORS = Counter(
    "inboxsync_provider_errors",
    "Errors met while syncing, by provider and error class (AuthError, ConnectionLost, ...).",
    ["provider", "error"],
)
SYNC_PASSES = Counter(
    "inboxsync_sync_passes",
    "Full sync passes over a grant's folders that completed.",
    ["provider"],
)
IMAP_CONNECTIONS = Gauge(
    "inboxsync_imap_connections",
    "IMAP connections this process holds open now.",
    multiprocess_mode="livesum",
)
LEASES_HELD = Gauge(
    "inboxsync_leases_held",
    "Grants whose lease this worker process holds (and syncs) now.",
)
LEASES_CLAIMED = Counter(
    "inboxsync_leases_claimed",
    "Leases this process claimed: a free grant, or one whose lease had expired (a takeover).",
)
LEASES_LOST = Counter(
    "inboxsync_leases_lost",
    "Grants this process stopped without giving their lease back, by reason: taken (another "
    "worker holds it now) or unrenewed (no renewal for 3/4 of a lease: database unreachable).",
    ["reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "inboxsync_webhook_deliveries",
    "Webhook notifications sent, by result (delivered, failed).",
    ["result"],
)
WEBHOOK_LATENCY = Histogram(
    "inboxsync_webhook_delivery_latency_seconds",
    "From the notification's time to the receiver's 2xx answer.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0),
)
HTTP_LATENCY = Histogram(
    "inboxsync_http_request_duration_seconds",
    "API request latency, by method, route template (not the raw path) and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
NATS_PUBLISHED = Counter(
    "inboxsync_nats_published",
    "Changes published to NATS JetStream and acknowledged by the stream.",
)
NATS_POSITION = Gauge(
    "inboxsync_nats_position",
    "The last change id the NATS stream acknowledged (this process's publisher).",
    multiprocess_mode="max",
)
NATS_ERRORS = Counter(
    "inboxsync_nats_errors",
    "Publishing rounds to NATS that failed (the publisher reconnects and resumes).",
)

_ERROR_CLASSES = frozenset(
    {
        "AuthError",
        "ConnectionLost",
        "RateLimited",
        "ProtocolError",
        "ObjectError",
        "ProviderError",
        "StorageError",
        "LeaseLost",
        "ConfigError",
        "OSError",
        "TimeoutError",
        "RuntimeError",
    }
)


def count_synced(provider: str, messages: int, nbytes: int = 0) -> None:
    """One batch of ``messages`` (``nbytes`` raw bytes) stored by the sync of ``provider``."""
    MESSAGES_SYNCED.labels(provider).inc(messages)
    if nbytes:
        BYTES_SYNCED.labels(provider).inc(nbytes)


def count_error(provider: str, exc: BaseException) -> None:
    """A provider error met by the sync; labelled by its class in the exception tree."""
    name = type(exc).__name__
    if name not in _ERROR_CLASSES:  # keep the label set small: the nearest known ancestor
        name = next(
            (k.__name__ for k in type(exc).__mro__ if k.__name__ in _ERROR_CLASSES), "other"
        )
    PROVIDER_ERRORS.labels(provider, name).inc()


def count_delivered(notified_at: float) -> None:
    """A webhook notification of time ``notified_at`` (Unix seconds) was answered with a 2xx."""
    WEBHOOK_DELIVERIES.labels("delivered").inc()
    WEBHOOK_LATENCY.observe(max(0.0, time.time() - notified_at))


# --- fleet gauges (read from the database at scrape time) -----------------------------------------


@dataclass
class FleetStats:
    """What the database says at one scrape (``store.stats.fleet_stats`` fills it)."""

    grants: dict[tuple[str, str], int] = field(default_factory=dict)  # (provider, state) -> count
    lag: dict[str, float] = field(default_factory=dict)  # grant id -> seconds since last pass
    actions: dict[str, int] = field(default_factory=dict)  # state -> count
    actions_oldest_age: float = 0.0  # seconds the oldest pending action has waited
    webhook_backlog: int = 0  # notifications queued, not yet delivered
    webhook_oldest_age: float = 0.0  # seconds since the oldest queued notification's time
    changes_undispatched: int = 0  # change ids past the webhook fan-out cursor
    changes_newest_id: int = (
        0  # the newest change id (NATS lag: this minus inboxsync_nats_position)
    )
    leases: dict[str, int] = field(default_factory=dict)  # held / expired / free -> grants
    leases_by_worker: dict[str, int] = field(default_factory=dict)  # worker id -> live leases
    database_up: bool = True


def fleet_text(s: FleetStats) -> str:
    """The fleet gauges in the Prometheus text format, written directly: with a series per grant,
    prometheus-client's generic rendering costs ~20 µs a sample (0.2 s a scrape at 10,000 grants)."""
    out: list[str] = []
    _family(out, "inboxsync_database_up", "1 when the scrape could read the database.")
    out.append(f"inboxsync_database_up {1.0 if s.database_up else 0.0}\n")
    if not s.database_up:
        return "".join(out)
    _family(
        out,
        "inboxsync_grants",
        "Grants by provider and state (running, idle, error, invalid, stopped, ...).",
    )
    for (provider, state), count in sorted(s.grants.items()):
        out.append(
            f'inboxsync_grants{{provider="{_esc(provider)}",state="{_esc(state)}"}} {float(count)}\n'
        )
    _family(
        out,
        "inboxsync_grant_sync_lag_seconds",
        "Seconds since the last successful full sync pass of each valid grant "
        "(since it was connected, before its first pass).",
    )
    out.extend(
        f'inboxsync_grant_sync_lag_seconds{{grant_id="{_esc(grant_id)}"}} {seconds!r}\n'
        for grant_id, seconds in sorted(s.lag.items())
    )
    _family(
        out,
        "inboxsync_leases",
        "Grant leases by state: held (a live lease), expired (a worker died or was cut off and "
        "nobody has taken the grant over yet: nobody syncs it), free (never claimed or given back).",
    )
    for state, count in sorted(s.leases.items()):
        out.append(f'inboxsync_leases{{state="{_esc(state)}"}} {float(count)}\n')
    _family(out, "inboxsync_leases_by_worker", "Live leases held by each worker id.")
    for worker, count in sorted(s.leases_by_worker.items()):
        out.append(f'inboxsync_leases_by_worker{{worker="{_esc(worker)}"}} {float(count)}\n')
    _family(out, "inboxsync_actions", "Write-back actions (the outbox to providers) by state.")
    for state, count in sorted(s.actions.items()):
        out.append(f'inboxsync_actions{{state="{_esc(state)}"}} {float(count)}\n')
    for name, doc, value in (
        (
            "inboxsync_actions_oldest_age_seconds",
            "Age of the oldest pending write-back action (0 when none).",
            s.actions_oldest_age,
        ),
        (
            "inboxsync_webhook_backlog",
            "Webhook notifications queued and not yet delivered.",
            s.webhook_backlog,
        ),
        (
            "inboxsync_webhook_backlog_oldest_age_seconds",
            "Age of the oldest queued webhook notification (0 when none).",
            s.webhook_oldest_age,
        ),
        (
            "inboxsync_changes_undispatched",
            "Change-log entries not yet fanned out to webhook destinations.",
            s.changes_undispatched,
        ),
        (
            "inboxsync_changes_newest_id",
            "The newest change-log id (minus inboxsync_nats_position: what NATS has not got yet).",
            s.changes_newest_id,
        ),
    ):
        _family(out, name, doc)
        out.append(f"{name} {float(value)!r}\n")
    return "".join(out)


def _family(out: list[str], name: str, doc: str) -> None:
    out.append(f"# HELP {name} {doc}\n# TYPE {name} gauge\n")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


Refresh = Callable[[], Awaitable[FleetStats]]


async def render(refresh: Refresh | None = None) -> bytes:
    """The text exposition: this process's metrics, then the fleet gauges when ``refresh`` is given.

    Under ``inboxsync api --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set by the parent) the process
    metrics are the sum over the N processes, whichever of them answers the scrape."""
    out = generate_latest(_process_registry())
    if refresh is not None:
        try:
            stats = await refresh()
        except Exception:
            log.warning("metrics: could not read the database", exc_info=True)
            stats = FleetStats(database_up=False)
        out += fleet_text(stats).encode()
    return out


# --- a /metrics endpoint for processes without the API ------------------------------------------


def _process_registry() -> CollectorRegistry:
    if not os.environ.get(MULTIPROCESS_ENV):
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_app(refresh: Refresh | None = None) -> Callable[..., Awaitable[None]]:
    """A minimal ASGI app: ``GET /metrics`` (and ``/healthz``); 404 for anything else."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path == "/metrics":
            status, body, ctype = 200, await render(refresh), CONTENT_TYPE
        elif path == "/healthz":
            status, body, ctype = 200, b'{"status":"ok"}', "application/json"
        else:
            status, body, ctype = 404, b'{"status":"not found"}', "application/json"
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def serve_metrics(
    host: str,
    port: int,
    stop: asyncio.Event,
    refresh: Refresh | None = None,
) -> None:
    """Serve ``/metrics`` on ``host:port`` until ``stop`` is set (``inboxsync worker --metrics-port``).

    Run it as a task beside the process's work: ``asyncio.create_task(serve_metrics(...))``. Pass
    ``refresh`` (``functools.partial(store.stats.fleet_stats, db)``) to add the fleet gauges.
    """
    import uvicorn

    config = uvicorn.Config(
        metrics_app(refresh),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _server(config)

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits when it cannot bind: the process's work goes on
            log.error("could not serve /metrics on %s:%d (port in use?)", host, port)

    task = asyncio.create_task(serve(), name="metrics-http")
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task


def _server(config: Any) -> Any:
    """A uvicorn server that leaves the process's signal handlers alone (the caller owns them)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)
