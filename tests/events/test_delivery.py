"""Delivery end to end on SQLite and PostgreSQL: order, signature, outages, failures, status."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest

from inboxsync.events.service import WebhookService
from inboxsync.store import webhooks
from inboxsync.store.db import Database
from inboxsync.store.models import Webhook
from tests.events.conftest import FAST, Setup, add_folders, first_seen, make_setup
from tests.events.receiver import Receiver


@contextlib.asynccontextmanager
async def running(setup: Setup) -> AsyncIterator[WebhookService]:
    service = WebhookService(setup.db, setup.sealer, FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def status_of(db: Database, webhook_id: str) -> str:
    async with db.session() as session:
        hook = await webhooks.get(session, webhook_id)
        return hook.status


async def wait_status(db: Database, webhook_id: str, status: str, within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if await status_of(db, webhook_id) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"status {await status_of(db, webhook_id)}, expected {status}")


async def test_order_shape_and_signature(database: Database, receiver: Receiver) -> None:
    setup = await make_setup(database, receiver.url, ["folder.created"])
    names = [f"f{i:03d}" for i in range(40)]
    async with running(setup):
        await add_folders(database, setup.grant_id, names[:20])
        await receiver.wait_for(20)
        await add_folders(database, setup.grant_id, names[20:])
        await receiver.wait_for(40)
    got = first_seen(receiver.received)
    assert [b["data"]["object"]["name"] for b in got] == names
    for hit in receiver.received:
        expected = hmac.new(setup.secret.encode(), hit.body, hashlib.sha256).hexdigest()
        assert hit.headers["x-nylas-signature"] == expected
        body = hit.json
        assert set(body) == {
            "specversion",
            "type",
            "source",
            "id",
            "time",
            "webhook_delivery_attempt",
            "data",
        }
        assert body["specversion"] == "1.0" and body["type"] == "folder.created"
        assert body["webhook_delivery_attempt"] == 1
        assert body["data"]["grant_id"] == setup.grant_id
        assert body["data"]["application_id"] == "inboxsync"
        assert body["data"]["object"]["object"] == "folder"
    assert len({h.json["id"] for h in receiver.received}) == 40


async def test_receiver_down_then_back(database: Database, receiver: Receiver) -> None:
    """Connection refused for a while (short backoff stands in for minutes): nothing lost."""
    setup = await make_setup(database, receiver.url, ["folder.created"])
    port = receiver.port
    await receiver.stop()
    names = [f"d{i:02d}" for i in range(25)]
    async with running(setup):
        await add_folders(database, setup.grant_id, names)
        await wait_status(database, setup.webhook_id, "failing")
        await asyncio.sleep(0.5)
        await receiver.start(port)
        await receiver.wait_for(25)
        await wait_status(database, setup.webhook_id, "active")
    got = first_seen(receiver.received)
    assert [b["data"]["object"]["name"] for b in got] == names
    assert got[0]["webhook_delivery_attempt"] > 1


@pytest.mark.parametrize("mode", ["error", "hang", "close"])
async def test_failing_receiver_is_retried(
    database: Database, receiver: Receiver, mode: str
) -> None:
    setup = await make_setup(database, receiver.url, ["folder.created"])
    receiver.mode = mode
    names = [f"{mode}{i}" for i in range(5)]
    async with running(setup):
        await add_folders(database, setup.grant_id, names)
        await wait_status(database, setup.webhook_id, "failing")
        attempts = receiver.attempts
        assert attempts >= 1
        receiver.mode = "ok"
        await receiver.wait_for(5)
    got = first_seen(receiver.received)
    assert [b["data"]["object"]["name"] for b in got] == names


async def test_failed_after_window_and_reactivation(database: Database, receiver: Receiver) -> None:
    setup = await make_setup(database, receiver.url, ["folder.created"])
    receiver.mode = "error"
    short = FAST.policy.__class__(retry_base=0.05, retry_cap=0.1, retry_window=0.5)
    service = WebhookService(
        setup.db, setup.sealer, FAST.__class__(**{**FAST.__dict__, "policy": short})
    )
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await add_folders(database, setup.grant_id, ["x1", "x2"])
        await wait_status(database, setup.webhook_id, "failed")
        async with database.session() as session:
            hook = await session.get(Webhook, setup.webhook_id)
            assert hook is not None and hook.failing_since is not None
        seen = receiver.attempts
        await asyncio.sleep(0.5)
        assert receiver.attempts == seen  # failed: no more attempts
        receiver.mode = "ok"
        async with database.transaction() as session:
            hook = await webhooks.get(session, setup.webhook_id)
            webhooks.set_status(hook, "active")
            from inboxsync.store import deliveries

            await deliveries.rearm(session, hook.id)
        await receiver.wait_for(2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [b["data"]["object"]["name"] for b in first_seen(receiver.received)] == ["x1", "x2"]


async def test_slow_endpoint_does_not_delay_another(database: Database, receiver: Receiver) -> None:
    slow = Receiver(mode="hang")
    await slow.start()
    try:
        setup = await make_setup(database, receiver.url, ["folder.created"])
        await make_setup_second(database, setup, slow.url)
        async with running(setup):
            await add_folders(database, setup.grant_id, ["a", "b", "c"])
            await receiver.wait_for(3, within=3.0)
        assert slow.attempts >= 1
    finally:
        await slow.stop()


async def make_setup_second(database: Database, setup: Setup, url: str) -> None:
    async with database.transaction() as session:
        hook = await webhooks.create(
            session,
            api_key_id=None,
            webhook_url=url,
            trigger_types=["folder.created"],
            description=None,
            notification_email_addresses=[],
            sealed_secret=setup.sealer.seal({"secret": "s"}),
        )
        hook.created_at -= 10
