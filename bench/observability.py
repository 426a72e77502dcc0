"""Observability costs on PostgreSQL: a /metrics scrape with many grants; NATS publishing throughput.

    .venv/bin/python bench/observability.py [--grants 10000] [--changes 50000]

Creates a scratch PostgreSQL database (127.0.0.1:5432, dropped at the end) with ``--grants`` grants,
one pending write-back action per 10 grants and ``--changes`` change rows. Then:

- scrape: ``GET /metrics`` through the ASGI app (fleet gauges read from the database + rendering),
  20 times; p50/p95 in ms and the response size;
- request overhead: ``GET /healthz`` 2,000 times through the app, p50 µs (the middleware included);
- NATS: a publisher on a fresh stream (NATS at 127.0.0.1:4222) from change 0 until every change is
  acknowledged; changes per second. The stream is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INBOXSYNC_LOG_LEVEL", "WARNING")

import httpx  # noqa: E402
import nats  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from inboxsync.api.app import create_app  # noqa: E402
from inboxsync.config import Settings  # noqa: E402
from inboxsync.events.nats_publisher import NatsConfig, NatsPublisher  # noqa: E402
from inboxsync.metrics import FleetStats, render  # noqa: E402
from inboxsync.runtime import Runtime  # noqa: E402
from inboxsync.store import changes  # noqa: E402
from inboxsync.store.migrate import upgrade  # noqa: E402
from inboxsync.store.models import Action, Grant  # noqa: E402
from inboxsync.store.stats import fleet_stats  # noqa: E402
from tests.support.database import create_pg_database, drop_pg_database, pg_url  # noqa: E402


async def seed(runtime: Runtime, grants: int, change_count: int) -> None:
    now = time.time()
    async with runtime.db.transaction() as session:
        rows = [
            {
                "id": f"g{n:08d}",
                "provider": "imap",
                "email": f"u{n}@example.com",
                "settings": {},
                "credentials": b"x",
                "grant_status": "valid" if n % 50 else "invalid",
                "sync_state": ("idle", "running", "error")[n % 3],
                "initial_sync_complete": True,
                "last_sync_at": int(now) - n % 600,
                "lease_generation": 0,
                "created_at": int(now) - 3600,
                "updated_at": int(now),
            }
            for n in range(grants)
        ]
        for i in range(0, len(rows), 2000):
            await session.execute(insert(Grant), rows[i : i + 2000])
        actions = [
            {
                "grant_id": f"g{n:08d}",
                "kind": "update_message",
                "object_id": f"m{n}",
                "payload": {},
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now - n,
                "updated_at": now,
            }
            for n in range(0, grants, 10)
        ]
        await session.execute(insert(Action), actions)
        for i in range(0, change_count, 5000):
            ids = [f"m{k}" for k in range(i, min(i + 5000, change_count))]
            await changes.record_many(
                session, f"g{i // 5000 % grants:08d}", "message", "created", ids
            )


async def _ready(stats: FleetStats) -> FleetStats:
    return stats


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=NatsConfig.batch)
    args = parser.parse_args()
    name = await create_pg_database()
    runtime = Runtime.from_settings(
        Settings(data_dir=Path(f"/tmp/obsbench-{name}"), database_url=pg_url(name))
    )
    try:
        await upgrade(runtime.db)
        await seed(runtime, args.grants, args.changes)
        reads = []
        for _ in range(10):
            t = time.perf_counter()
            stats = await fleet_stats(runtime.db)
            reads.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        for _ in range(10):
            await render(lambda: _ready(stats))
        rendering = (time.perf_counter() - t) * 100
        print(
            f"fleet gauges: database read p50 {statistics.median(reads):.0f} ms, "
            f"rendering {rendering:.0f} ms a scrape"
        )
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            await client.get("/metrics")
            times, size = [], 0
            for _ in range(20):
                t = time.perf_counter()
                response = await client.get("/metrics")
                times.append((time.perf_counter() - t) * 1000)
                size = len(response.content)
            times.sort()
            print(
                f"/metrics with {args.grants} grants: p50 {statistics.median(times):.0f} ms, "
                f"p95 {times[int(len(times) * 0.95) - 1]:.0f} ms, {size / 1024:.0f} KiB"
            )
            hz = []
            for _ in range(2000):
                t = time.perf_counter()
                await client.get("/healthz")
                hz.append((time.perf_counter() - t) * 1e6)
            print(f"/healthz through the app: p50 {statistics.median(hz):.0f} µs")

        stream = f"BENCH_{uuid.uuid4().hex[:8]}"
        config = NatsConfig(
            url="nats://127.0.0.1:4222", stream=stream, prefix=stream.lower(), batch=args.batch
        )
        publisher = NatsPublisher(runtime.db, config)
        async with runtime.db.session() as session:
            last = (await changes.after(session, None, 0, 10**7))[-1].id
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(publisher.run(stop))
        while publisher.position < last and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        print(
            f"NATS: {last} changes published and acknowledged in {elapsed:.1f} s "
            f"= {last / elapsed:,.0f} changes/s (batch {config.batch})"
        )
        nc = await nats.connect("nats://127.0.0.1:4222")
        await nc.jetstream().delete_stream(stream)
        await nc.close()
    finally:
        await runtime.close()
        await drop_pg_database(name)


if __name__ == "__main__":
    asyncio.run(main())
