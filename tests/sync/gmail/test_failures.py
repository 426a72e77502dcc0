"""Gmail sync when things go wrong: expired history, huge history ids, quota, revoked access."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from inboxsync.store import grants
from inboxsync.store.models import Change, Message
from tests.sync.gmail.helpers import gmail_grant, raw_message


async def test_history_expired_mid_way_resyncs_without_losing_local_state(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        box = rig.box
        msgs = [box.insert(raw_message(i), ["INBOX", "UNREAD"]) for i in range(40)]
        await rig.sync().run_once()
        async with rig.runtime.db.transaction() as session:
            row = await session.get(Message, msgs[0].id)
            assert row is not None
            row.metadata_ = {"crm": "42"}  # local state that a resync must keep
        for m in msgs[10:20]:
            box.modify(m.id, ["STARRED"], ["UNREAD"])
        box.delete(msgs[1].id)
        newer = [box.insert(raw_message(100 + i), ["INBOX"]) for i in range(3)]
        # Page one of history answers; by page two Google has dropped the start id.
        for i in range(600):
            box.modify(msgs[30].id, ["STARRED"] if i % 2 == 0 else [], ["STARRED"] if i % 2 else [])
        rig.fake.inject(404, reason="notFound", path_contains="/history", skip=1)
        box.delete(msgs[2].id)
        box.modify(msgs[3].id, [], ["INBOX"])

        summary = await rig.sync().run_once()
        assert summary.kind == "resync"
        assert await rig.stored() == rig.expected()
        async with rig.runtime.db.session() as session:
            row = await session.get(Message, msgs[0].id)
            assert row is not None and row.metadata_ == {"crm": "42"}
            count = len((await session.execute(select(Message.id))).all())
        assert count == len(box.messages) == 40 - 2 + len(newer)
        # The resync downloaded only what was new.
        gets = [r for r in rig.fake.requests if r.startswith("GET /gmail/v1/users/me/messages/")]
        assert len(gets) == 40 + len(newer)
        # And history works again afterwards.
        box.modify(msgs[4].id, ["STARRED"], [])
        assert (await rig.sync().run_once()).kind == "history"
        assert await rig.stored() == rig.expected()


async def test_history_ids_above_2_63_compare_as_numbers(tmp_path: Path) -> None:
    start = 9_999_999_999_999_999_000  # > 2^63, and about to gain a digit
    async with gmail_grant(tmp_path, history_id=start) as rig:
        box = rig.box
        msgs = [box.insert(raw_message(i), ["INBOX"]) for i in range(5)]
        await rig.sync().run_once()
        for _ in range(400):  # crosses 10^19: "10000…" < "9999…" as strings
            box.modify(msgs[0].id, ["STARRED"], [])
            box.modify(msgs[0].id, [], ["STARRED"])
        box.modify(msgs[1].id, ["STARRED"], [])
        assert box.history_id > 10**19
        await rig.sync().run_once()
        assert await rig.stored() == rig.expected()
        box.modify(msgs[2].id, ["STARRED"], [])
        await rig.sync().run_once()
        assert await rig.stored() == rig.expected()
        cursor = (await rig.folders())["[all]"].cursor
        assert int(cursor["history_id"]) == box.history_id


async def test_quota_exhaustion_slows_sync_but_loses_nothing(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        rig.fake.quota_per_minute = (
            300  # 300 units, refilled within a second: the client bursts more
        )
        rig.fake.quota_window = 1.0
        rig.fake.throttle_status = 403  # userRateLimitExceeded this time
        for i in range(100):
            rig.box.insert(raw_message(i), ["INBOX"])
        rig.deps.poll_interval = 0.05
        stop = asyncio.Event()
        task = asyncio.create_task(rig.sync().run(stop))
        for _ in range(400):
            await asyncio.sleep(0.05)
            if len(await rig.stored()) == 100:
                break
        stop.set()
        await task
        assert await rig.stored() == rig.expected()
        assert rig.fake.throttled > 0
        async with rig.runtime.db.session() as session:
            grant = await grants.get(session, rig.grant_id)
            assert grant.grant_status == "valid"


async def test_transient_failures_are_not_a_lost_authorization(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        rig.box.insert(raw_message(1), ["INBOX"])
        rig.fake.inject(503, path_contains="/profile", count=3)
        rig.fake.inject(429, path_contains="/messages/", count=2)
        rig.fake.inject(500, path_contains="/labels", count=2)
        rig.fake.expire_access_tokens()
        summary = await rig.sync().run_once()
        assert summary.new == 1
        async with rig.runtime.db.session() as session:
            assert (await grants.get(session, rig.grant_id)).grant_status == "valid"


async def test_revoked_access_marks_the_grant_invalid_once(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        rig.box.insert(raw_message(1), ["INBOX"])
        await rig.sync().run_once()
        rig.fake.revoke(rig.box.email)
        stop = asyncio.Event()
        await asyncio.wait_for(rig.sync().run(stop), 10)  # ends by itself
        async with rig.runtime.db.session() as session:
            grant = await grants.get(session, rig.grant_id)
            assert grant.grant_status == "invalid" and grant.sync_state == "invalid"
            expired = (
                await session.scalars(
                    select(Change).where(Change.grant_id == rig.grant_id, Change.event == "expired")
                )
            ).all()
        assert len(expired) == 1


async def test_a_message_that_fails_for_good_is_recorded_and_skipped(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        msgs = [rig.box.insert(raw_message(i), ["INBOX"]) for i in range(10)]
        bad = msgs[4].id
        rig.fake.inject(
            400, reason="failedPrecondition", path_contains=f"/messages/{bad}", count=99
        )
        summary = await rig.sync().run_once()
        assert summary.new == 9 and summary.skipped == 1
        assert set(await rig.stored()) == {m.id for m in msgs} - {bad}
        assert (await rig.folders())["[all]"].cursor["failed"] == [bad]
        await rig.sync().run_once()  # not asked again
        assert sum(f"/messages/{bad}" in r for r in rig.fake.requests) == 1


async def test_pubsub_push_wakes_the_sync_at_once(tmp_path: Path) -> None:
    import base64
    import json

    import httpx
    from pydantic import SecretStr

    from inboxsync.api.app import create_app

    async with gmail_grant(tmp_path) as rig:
        rig.box.insert(raw_message(1), ["INBOX"])
        rig.deps.poll_interval = 3600
        rig.runtime.settings = rig.runtime.settings.model_copy(
            update={"google_push_token": SecretStr("s3cret"), "api_key": SecretStr("k")}
        )
        stop = asyncio.Event()
        task = asyncio.create_task(rig.sync().run(stop))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(await rig.stored()) == 1:
                break
        late = rig.box.insert(raw_message(2), ["INBOX"])
        data = base64.b64encode(
            json.dumps({"emailAddress": rig.box.email, "historyId": rig.box.history_id}).encode()
        )
        body = {
            "message": {"data": data.decode(), "messageId": "1"},
            "subscription": "projects/p/subscriptions/s",
        }
        transport = httpx.ASGITransport(app=create_app(rig.runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            assert (await api.post("/v3/google/push?token=wrong", json=body)).status_code == 404
            assert (await api.post("/v3/google/push?token=s3cret", json=body)).status_code == 200
        for _ in range(100):
            await asyncio.sleep(0.05)
            if late.id in await rig.stored():
                break
        stop.set()
        await task
        assert late.id in await rig.stored()
