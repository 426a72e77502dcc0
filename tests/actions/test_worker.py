"""The outbox runner's rules, with handlers that fail on purpose (no server needed)."""

from __future__ import annotations

from sqlalchemy import select

from inboxsync.actions.worker import MAX_ATTEMPTS, ActionRunner
from inboxsync.errors import ConnectionLost, ObjectError, StorageError
from inboxsync.store import actions, grants
from inboxsync.store.db import Database
from inboxsync.store.models import Action


async def setup(db: Database, kinds: list[str]) -> str:
    async with db.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email="a@example.com",
            settings={},
            sealed_credentials=b"x",
            api_key_id=None,
        )
        for n, kind in enumerate(kinds):
            actions.enqueue(session, grant.id, kind, f"object-{n}", {})
    return grant.id


async def states(db: Database) -> list[tuple[str, str, int]]:
    async with db.session() as session:
        rows = (await session.scalars(select(Action).order_by(Action.id))).all()
        return [(a.kind, a.state, a.attempts) for a in rows]


async def test_order_retry_and_permanent_failure(sqlite_database: Database) -> None:
    gid = await setup(sqlite_database, ["ok", "gone", "flaky", "later"])
    calls: list[str] = []

    async def ok(action: Action) -> None:
        calls.append(action.kind)

    async def gone(action: Action) -> None:
        raise ObjectError("folder gone")

    async def flaky(action: Action) -> None:
        raise ConnectionLost("dropped")

    runner = ActionRunner(
        sqlite_database, gid, {"ok": ok, "gone": gone, "flaky": flaky, "later": ok}
    )
    try:
        await runner.run_due()
    except ConnectionLost:
        pass
    # Done, failed for good, waiting for a retry; the later one did not overtake it.
    assert await states(sqlite_database) == [
        ("ok", "done", 0),
        ("gone", "failed", 1),
        ("flaky", "pending", 1),
        ("later", "pending", 0),
    ]
    assert calls == ["ok"]


async def test_database_hiccup_retries_and_endless_transient_fails(
    sqlite_database: Database,
) -> None:
    gid = await setup(sqlite_database, ["db", "throttled"])

    async def db_down(action: Action) -> None:
        raise StorageError("database is locked")

    async def throttled(action: Action) -> None:
        from inboxsync.errors import RateLimited

        raise RateLimited("slow down")

    runner = ActionRunner(sqlite_database, gid, {"db": db_down, "throttled": throttled})
    await runner.run_due()
    assert (await states(sqlite_database))[0] == ("db", "pending", 1)  # retried, not failed

    async with sqlite_database.transaction() as session:
        first, second = (await session.scalars(select(Action).order_by(Action.id))).all()
        first.state = "done"
        second.attempts = MAX_ATTEMPTS - 1
    await runner.run_due()
    assert (await states(sqlite_database))[1] == ("throttled", "failed", MAX_ATTEMPTS)
