"""``/metrics`` after real work: a Dovecot account synced, a refused login, API requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inboxsync.api.app import create_app
from inboxsync.metrics import fleet_text
from inboxsync.runtime import Runtime
from inboxsync.store import actions, deliveries, grants, webhooks
from inboxsync.store.db import Database
from inboxsync.store.models import GrantLease, WebhookDelivery
from inboxsync.store.stats import fleet_stats
from inboxsync.sync.imap.account import ImapGrantSync
from tests.support.dovecot import Dovecot
from tests.sync.imap.helpers import imap_grant

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(runtime: Runtime) -> Samples:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def mail(n: int) -> bytes:
    return (
        f"Message-ID: <m{n}@example.com>\r\nFrom: b@example.com\r\nTo: a@example.com\r\n"
        f"Subject: n{n}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.mark.dovecot
async def test_metrics_after_a_dovecot_sync(dovecot: Dovecot, tmp_path: Path) -> None:
    raws = [mail(i) for i in range(25)]

    def seed() -> None:
        with dovecot.admin() as admin:
            admin.append_many("INBOX", raws)

    await asyncio.to_thread(seed)
    async with imap_grant(dovecot, tmp_path) as rig:
        before = await scrape(rig.runtime)
        lag = value(before, "inboxsync_grant_sync_lag_seconds", grant_id=rig.grant_id)
        assert value(before, "inboxsync_grants", provider="imap", state="running") == 1
        assert lag >= 0  # never synced: counted from the connection

        await ImapGrantSync(rig.deps, rig.grant_id).run_once()
        after = await scrape(rig.runtime)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("inboxsync_messages_synced_total", provider="imap") == 25
    assert delta("inboxsync_bytes_synced_total", provider="imap") == sum(len(r) for r in raws)
    assert delta("inboxsync_sync_passes_total", provider="imap") == 1
    assert value(after, "inboxsync_imap_connections") == value(before, "inboxsync_imap_connections")
    assert value(after, "inboxsync_database_up") == 1
    assert value(after, "inboxsync_grants", provider="imap", state="running") == 1
    lag = value(after, "inboxsync_grant_sync_lag_seconds", grant_id=rig.grant_id)
    assert 0 <= lag < 60
    assert ("process_resident_memory_bytes", ()) in after  # the default process collector


@pytest.mark.dovecot
async def test_refused_login_counts_an_error_and_an_invalid_grant(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    async with imap_grant(dovecot, tmp_path, password="wrong") as rig:
        before = await scrape(rig.runtime)
        await asyncio.wait_for(ImapGrantSync(rig.deps, rig.grant_id).run(asyncio.Event()), 30)
        after = await scrape(rig.runtime)
    errors = "inboxsync_provider_errors_total"
    assert value(after, errors, provider="imap", error="AuthError") == (
        value(before, errors, provider="imap", error="AuthError") + 1
    )
    assert value(after, "inboxsync_grants", provider="imap", state="invalid") == 1
    assert (
        "inboxsync_grant_sync_lag_seconds",
        (("grant_id", rig.grant_id),),
    ) not in after  # an invalid grant is not lagging: it is stopped


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    from inboxsync.config import Settings
    from inboxsync.store.migrate import upgrade

    rt = Runtime.from_settings(Settings(data_dir=tmp_path))
    await upgrade(rt.db)
    yield rt
    await rt.close()


async def test_request_latency_is_labelled_by_route_template(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        before = parse((await client.get("/metrics")).text)
        for grant in ("g1", "g2", "a%2Fb"):  # no key: 401, still routed
            response = await client.get(f"/v3/grants/{grant}/sync")
            assert response.status_code == 401
        assert (await client.get("/no/such/path")).status_code == 404
        after = parse((await client.get("/metrics")).text)
    name = "inboxsync_http_request_duration_seconds_count"
    routed = {"method": "GET", "route": "/v3/grants/{grant_id}/sync", "status": "401"}
    assert value(after, name, **routed) - value(before, name, **routed) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    assert not any("g1" in dict(labels).get("route", "") for _, labels in after)


async def test_fleet_gauges_from_the_database(database: Database) -> None:
    """Queue depth and age, webhook backlog, undispatched changes: read at scrape time."""
    from inboxsync.store import changes

    async with database.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email="a@example.com",
            settings={},
            sealed_credentials=b"x",
            api_key_id=None,
        )
        hook = await webhooks.create(
            session,
            api_key_id=None,
            webhook_url="https://hooks.example.com/x",
            trigger_types=["message.created"],
            description=None,
            notification_email_addresses=[],
            sealed_secret=b"x",
        )
        old = actions.enqueue(session, grant.id, "update_message", "m1", {})
        old.created_at = time.time() - 120
        actions.enqueue(session, grant.id, "update_message", "m2", {})
        await changes.record_many(session, grant.id, "message", "created", ["m1", "m2", "m3"])
        session.add(
            WebhookDelivery(
                delivery_id="d1",
                webhook_id=hook.id,
                grant_id=grant.id,
                change_id=1,
                type="message.created",
                source="/imap/emails/realtime",
                time=int(time.time()) - 30,
                object_json="{}",
            )
        )
    stats = await fleet_stats(database)
    assert stats.grants == {("imap", "running"): 1}
    assert stats.actions == {"pending": 2}
    assert 119 <= stats.actions_oldest_age < 200
    assert stats.webhook_backlog == 1 and 29 <= stats.webhook_oldest_age < 100
    async with database.session() as session:
        logged = [c.id for c in await changes.after(session, None, 0, 100)]
    assert len(logged) == 4  # grant.created and the three messages
    assert stats.changes_undispatched == 4
    assert stats.changes_newest_id == logged[-1]
    async with database.transaction() as session:  # as the webhook dispatcher does
        assert await deliveries.move(session, deliveries.DISPATCH, 0, logged[1])
    assert (await fleet_stats(database)).changes_undispatched == 2


async def test_lease_gauges_from_the_database(database: Database) -> None:
    """Held, expired (a dead worker's, not taken over yet) and free leases, and who holds them."""
    async with database.transaction() as session:
        ids = []
        for n in range(4):
            grant = await grants.create(
                session,
                provider="imap",
                email=f"u{n}@example.com",
                settings={},
                sealed_credentials=b"x",
                api_key_id=None,
            )
            ids.append(grant.id)
        now = time.time()
        session.add_all(
            [
                GrantLease(grant_id=ids[0], owner="w1", expires_at=now + 30, generation=1),
                GrantLease(grant_id=ids[1], owner="w1", expires_at=now + 30, generation=1),
                GrantLease(grant_id=ids[2], owner="w2", expires_at=now - 5, generation=3),
                GrantLease(grant_id=ids[3], owner=None, expires_at=0, generation=2),
            ]
        )
    stats = await fleet_stats(database)
    assert stats.leases == {"held": 2, "expired": 1, "free": 1}
    assert stats.leases_by_worker == {"w1": 2}
    text = fleet_text(stats)
    assert 'inboxsync_leases{state="expired"} 1.0' in text
    assert 'inboxsync_leases_by_worker{worker="w1"} 2.0' in text


async def test_serve_metrics_on_its_own_port(runtime: Runtime) -> None:
    """What ``inboxsync worker --metrics-port`` (and ``events nats --metrics-port``) run."""
    from functools import partial

    from inboxsync.metrics import serve_metrics
    from tests.support.ports import free_port

    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve_metrics("127.0.0.1", port, stop, refresh=partial(fleet_stats, runtime.db))
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):
                try:
                    response = await client.get("/metrics")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert response.status_code == 200
            samples = parse(response.text)
            assert value(samples, "inboxsync_database_up") == 1
            assert ("inboxsync_imap_connections", ()) in samples
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/other")).status_code == 404
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert task.done() and task.exception() is None


def test_fleet_text_parses_back() -> None:
    """The hand-written exposition of the fleet gauges is what Prometheus' parser reads back."""
    from inboxsync.metrics import FleetStats, fleet_text

    stats = FleetStats(
        grants={("imap", "idle"): 3, ("google", 'we"ird\\state\n'): 1},
        lag={"g1": 12.5, "g2": 0.0},
        actions={"pending": 4},
        actions_oldest_age=61.25,
        webhook_backlog=7,
        webhook_oldest_age=3.0,
        changes_undispatched=9,
    )
    samples = parse(fleet_text(stats))
    assert value(samples, "inboxsync_grants", provider="google", state='we"ird\\state\n') == 1
    assert value(samples, "inboxsync_grants", provider="imap", state="idle") == 3
    assert value(samples, "inboxsync_grant_sync_lag_seconds", grant_id="g1") == 12.5
    assert ("inboxsync_grant_sync_lag_seconds", (("grant_id", "g2"),)) in samples
    assert value(samples, "inboxsync_actions", state="pending") == 4
    assert value(samples, "inboxsync_actions_oldest_age_seconds") == 61.25
    assert value(samples, "inboxsync_webhook_backlog") == 7
    assert value(samples, "inboxsync_changes_undispatched") == 9
    down = parse(fleet_text(FleetStats(database_up=False)))
    assert down == {("inboxsync_database_up", ()): 0.0}


async def test_a_metrics_port_in_use_leaves_the_process_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uvicorn exits when it cannot bind; a worker's sync must go on without its ``/metrics``."""
    import socket

    from inboxsync.metrics import serve_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stop = asyncio.Event()
        task = asyncio.create_task(serve_metrics("127.0.0.1", port, stop))
        for _ in range(100):
            if "could not serve /metrics" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "could not serve /metrics" in caplog.text
        stop.set()
        await asyncio.wait_for(task, 10)
