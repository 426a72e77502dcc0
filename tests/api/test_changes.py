"""The change stream: pages after a cursor, long-poll, SSE, resume after a restart, expiry, scope."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxsync.api.app import create_app
from inboxsync.events import objects
from inboxsync.runtime import Runtime
from inboxsync.store import api_keys, changes, deliveries
from inboxsync.store.migrate import upgrade
from tests.compat.harness import AUTH, make_runtime
from tests.compat.live import live_server
from tests.compat.seed import seed_grant


async def open_client(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime))
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = make_runtime(tmp_path)
    await upgrade(rt.db)
    yield rt
    await rt.close()


async def read_all(
    client: httpx.AsyncClient, path: str, cursor: str, limit: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        body = (
            await client.get(path, params={"cursor": cursor, "limit": limit}, headers=AUTH)
        ).json()
        if not body["data"]:
            assert body["next_cursor"] == cursor
            return out
        out.extend(body["data"])
        cursor = body["next_cursor"]


async def test_pages_resume_after_restart(tmp_path: Path, runtime: Runtime) -> None:
    seeded = await seed_grant(runtime, count=6)
    path = f"/v3/grants/{seeded.grant_id}/changes"
    async with await open_client(runtime) as client:
        first = (await client.get(path, params={"limit": 3}, headers=AUTH)).json()
        assert len(first["data"]) == 3
        assert first["data"][0]["type"] == "grant.created"
        cursor = first["next_cursor"]
        rest = await read_all(client, path, cursor, 4)
    everything = first["data"] + rest
    ids = [int(c["id"]) for c in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    types = {c["type"] for c in everything}
    assert {"grant.created", "folder.created", "message.created", "thread.created"} <= types
    await runtime.close()

    again = make_runtime(tmp_path)  # a restart: new process state, same database
    try:
        async with again.db.transaction() as session:
            changes.record(session, seeded.grant_id, "folder", "f-new", "deleted")
        async with await open_client(again) as client:
            resumed = await read_all(client, path, cursor, 100)
    finally:
        await again.close()
    assert [c["id"] for c in resumed] == [c["id"] for c in rest] + [str(ids[-1] + 1)]
    assert resumed[-1]["type"] == "folder.deleted"


async def test_long_poll_returns_on_change(runtime: Runtime) -> None:
    seeded = await seed_grant(runtime, count=1)
    path = f"/v3/grants/{seeded.grant_id}/changes"
    async with await open_client(runtime) as client:
        head = await read_all(client, path, "0", 100)
        cursor = head[-1]["id"]

        async def later() -> None:
            await asyncio.sleep(0.3)
            async with runtime.db.transaction() as session:
                changes.record(session, seeded.grant_id, "message", "m1", "updated", ["unread"])

        started = time.monotonic()
        task = asyncio.create_task(later())
        response = await client.get(path, params={"cursor": cursor, "wait": 10}, headers=AUTH)
        await task
        elapsed = time.monotonic() - started
    data = response.json()["data"]
    assert [c["type"] for c in data] == ["message.updated"] and data[0]["fields"] == ["unread"]
    assert 0.25 < elapsed < 3


async def test_expired_cursor_and_bad_cursor(runtime: Runtime) -> None:
    seeded = await seed_grant(runtime, count=1)
    async with runtime.db.transaction() as session:
        await deliveries.move(session, deliveries.PRUNED, 0, 5)
    async with await open_client(runtime) as client:
        path = f"/v3/grants/{seeded.grant_id}/changes"
        expired = await client.get(path, params={"cursor": "2"}, headers=AUTH)
        assert expired.status_code == 400 and "expired" in expired.json()["error"]["message"]
        assert (await client.get(path, params={"cursor": "x"}, headers=AUTH)).status_code == 400
        ok = await client.get(path, params={"cursor": "5"}, headers=AUTH)
        assert ok.status_code == 200


async def test_all_changes_scoped_to_key(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        row, key = await api_keys.create(session, "app")
    mine = await seed_grant(runtime, count=1, api_key_id=row.id, email="a@example.com")
    other = await seed_grant(runtime, count=1, start=1, email="b@example.com")
    async with await open_client(runtime) as client:
        as_key = (
            await client.get("/v3/changes", headers={"Authorization": f"Bearer {key}"})
        ).json()
        as_operator = await read_all(client, "/v3/changes", "0", 100)
    assert {c["grant_id"] for c in as_key["data"]} == {mine.grant_id}
    assert {c["grant_id"] for c in as_operator} == {mine.grant_id, other.grant_id}


async def test_webhook_object_is_the_api_object(runtime: Runtime) -> None:
    seeded = await seed_grant(runtime, count=4)
    async with runtime.db.session() as session:
        batch = await deliveries.changes_between(session, 0, None, 1000, [seeded.grant_id])
        loaded = await objects.load(session, batch)
    async with await open_client(runtime) as client:
        for change in batch:
            kind = change.object_type
            if kind not in ("message", "thread", "folder") or change.event == "deleted":
                continue
            api = await client.get(
                f"/v3/grants/{seeded.grant_id}/{kind}s/{change.object_id}", headers=AUTH
            )
            assert loaded[(change.grant_id, kind, change.object_id)] == api.json()["data"]


async def test_server_sent_events(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    await upgrade(runtime.db)
    seeded = await seed_grant(runtime, count=2)
    await runtime.close()
    with live_server(tmp_path) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            headers = {**AUTH, "Accept": "text/event-stream", "Last-Event-ID": "1"}
            events: list[tuple[str, str, dict[str, Any]]] = []
            async with client.stream(
                "GET", f"/v3/grants/{seeded.grant_id}/changes", headers=headers
            ) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                block: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line.startswith(("id:", "event:", "data:")):
                        key, _, value = line.partition(":")
                        block[key] = value.strip()
                    elif not line and "data" in block:
                        events.append((block["id"], block["event"], json.loads(block["data"])))
                        block = {}
                        if len(events) >= 5:
                            break
    assert events[0][0] == "2"  # after Last-Event-ID 1
    assert [int(e[0]) for e in events] == list(range(2, 7))
    assert all(e[1] == e[2]["type"] for e in events)
