"""The lease repository (store/leases.py) on SQLite and PostgreSQL: exclusive ownership, expiry
takeover, generations, fair share, the fence."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from inboxsync.errors import LeaseLost
from inboxsync.store import grants, leases
from inboxsync.store.db import Database
from inboxsync.store.models import Folder

TTL = 30.0
STAMPS = {"created_at": 0, "updated_at": 0}


async def make_grants(db: Database, count: int) -> list[str]:
    ids = []
    async with db.transaction() as session:
        for n in range(count):
            g = await grants.create(
                session,
                provider="imap",
                email=f"user{n}@example.com",
                settings={"imap_host": "h"},
                sealed_credentials=b"x",
                api_key_id=None,
            )
            ids.append(g.id)
    return ids


async def claim(db: Database, worker: str, now: float, **kw: int) -> list[leases.Lease]:
    async with db.transaction() as session:
        return await leases.claim(session, worker, now, TTL, **kw)


async def test_claim_is_exclusive_and_generation_counts(database: Database) -> None:
    ids = await make_grants(database, 4)
    a = await claim(database, "a", 1000.0, slack=10)
    assert sorted(x.grant_id for x in a) == sorted(ids)
    assert {x.generation for x in a} == {1}
    assert await claim(database, "b", 1001.0, slack=10) == []  # all held and unexpired
    async with database.transaction() as session:
        assert set(await leases.renew(session, "a", 1010.0, TTL)) == set(ids)
    assert await claim(database, "b", 1010.0 + TTL - 1, slack=10) == []  # renewed: still a's
    b = await claim(database, "b", 1010.0 + TTL + 1, slack=10)  # a stopped renewing: expired
    assert sorted(x.grant_id for x in b) == sorted(ids)
    assert {x.generation for x in b} == {2}
    async with database.transaction() as session:
        assert await leases.renew(session, "a", 1050.0, TTL) == {}  # a learns it lost them all
        table = await leases.owners(session)
    assert {owner for owner, _, _ in table.values()} == {"b"}


async def test_concurrent_claims_never_share_a_grant(database: Database) -> None:
    await make_grants(database, 30)
    workers = [f"w{n}" for n in range(3)]

    async def one(worker: str) -> list[str]:
        got: list[str] = []
        for _ in range(5):
            try:
                got += [x.grant_id for x in await claim(database, worker, 2000.0, limit=4)]
            except Exception as exc:  # SQLite: concurrent writers may see "database is locked"
                if not database.is_sqlite:
                    raise
                assert "locked" in str(exc)
            await asyncio.sleep(0)
        return got

    results = await asyncio.gather(*(one(w) for w in workers))
    claimed = [g for got in results for g in got]
    assert len(claimed) == len(set(claimed))  # no grant claimed twice
    async with database.session() as session:
        table = await leases.owners(session)
    for worker, got in zip(workers, results, strict=True):
        assert {g for g, (owner, _, _) in table.items() if owner == worker} == set(got)


async def test_fair_share_and_rebalancing(database: Database) -> None:
    await make_grants(database, 30)
    first = await claim(database, "a", 100.0, slack=1)
    assert len(first) == 30  # alone: every grant (its share is 31)
    async with database.transaction() as session:
        await leases.heartbeat_worker(session, "b", 101.0)
        await leases.heartbeat_worker(session, "c", 101.0)
        assert await leases.fair_share(session, 101.0, TTL, slack=1) == 11
        over = await leases.excess(session, "a", 101.0, TTL, slack=1)
    assert over == 19
    shed = [x.grant_id for x in first[:over]]
    async with database.transaction() as session:
        assert await leases.release(session, "a", shed) == over
    b = await claim(database, "b", 102.0, slack=1)
    c = await claim(database, "c", 102.0, slack=1)
    assert len(b) == 11 and len(c) == 8
    async with database.session() as session:
        table = await leases.owners(session)
    counts = {w: sum(1 for o, _, _ in table.values() if o == w) for w in "abc"}
    assert counts == {"a": 11, "b": 11, "c": 8}
    # a dead worker drops out of the live count once its heartbeat is older than the ttl
    async with database.transaction() as session:
        await leases.heartbeat_worker(session, "a", 102.0 + TTL)
        await leases.heartbeat_worker(session, "b", 102.0 + TTL)
        assert await leases.live_workers(session, 102.0 + TTL, TTL) == 2
        assert await leases.fair_share(session, 102.0 + TTL, TTL, slack=1) == 16


async def test_release_and_inactive_grants(database: Database) -> None:
    ids = await make_grants(database, 3)
    await claim(database, "a", 10.0, slack=5)
    async with database.transaction() as session:
        grant = await grants.get(session, ids[0])
        grant.sync_state = "stopped"
    async with database.transaction() as session:
        held = await leases.renew(session, "a", 11.0, TTL)
    assert set(held) == set(ids[1:])  # a stopped grant is no longer renewed
    async with database.transaction() as session:
        await leases.release(session, "a")
    back = await claim(database, "b", 12.0, slack=5)
    assert sorted(x.grant_id for x in back) == sorted(ids[1:])  # at once, without waiting
    assert {x.generation for x in back} == {2}


async def test_fence_rolls_back_a_writer_that_lost_its_lease(database: Database) -> None:
    (gid,) = await make_grants(database, 1)
    (old,) = await claim(database, "a", 0.0)
    fenced = leases.FencedDatabase(database, old)
    async with fenced.transaction() as session:  # the holder writes
        session.add(
            Folder(
                id="f1",
                grant_id=gid,
                path="INBOX",
                name="INBOX",
                cursor={},
                attributes=[],
                **STAMPS,
            )
        )
    (new,) = await claim(database, "b", TTL + 1)  # a's lease expired and b took it
    assert new.generation == old.generation + 1
    with pytest.raises(LeaseLost):
        async with fenced.transaction() as session:
            session.add(
                Folder(
                    id="f2",
                    grant_id=gid,
                    path="Old",
                    name="Old",
                    cursor={},
                    attributes=[],
                    **STAMPS,
                )
            )
    async with leases.FencedDatabase(database, new).transaction() as session:
        session.add(
            Folder(
                id="f3", grant_id=gid, path="New", name="New", cursor={}, attributes=[], **STAMPS
            )
        )
    async with database.session() as session:
        paths = set((await session.scalars(select(Folder.path))).all())
    assert paths == {"INBOX", "New"}


async def test_deleting_a_grant_deletes_its_lease(database: Database) -> None:
    (gid,) = await make_grants(database, 1)
    await claim(database, "a", 0.0)
    async with database.transaction() as session:
        await grants.remove(session, gid)
    async with database.transaction() as session:
        assert await leases.owners(session) == {}
        assert await leases.renew(session, "a", 1.0, TTL) == {}
