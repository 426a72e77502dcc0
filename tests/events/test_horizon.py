"""The horizon never lets a reader pass a change that a running transaction will still commit."""

from __future__ import annotations

import pytest

from inboxsync.events.horizon import Horizon
from inboxsync.store import changes, deliveries
from inboxsync.store.db import Database
from tests.events.conftest import make_setup


@pytest.mark.postgres
async def test_lower_id_committed_later_is_not_skipped(pg_database: Database) -> None:
    """PostgreSQL only: SQLite has one writer at a time, so its ids commit in order."""
    database = pg_database
    setup = await make_setup(database, "http://127.0.0.1:9/hook")
    horizon = Horizon(database)
    async with database.session() as session:
        start = await deliveries.newest_change(session)
    slow = database.sessions()
    await slow.begin()
    changes.record(slow, setup.grant_id, "grant", setup.grant_id, "updated", ["slow"])
    await slow.flush()  # id N drawn, not committed
    async with database.transaction() as session:
        changes.record(session, setup.grant_id, "grant", setup.grant_id, "updated", ["fast"])
    try:
        upto = await horizon.current()
        async with database.session() as session:
            seen = await deliveries.changes_between(session, start, upto, 100)
        assert seen == []  # id N+1 is committed but N is not: nothing may be read yet
    finally:
        await slow.commit()
        await slow.close()
    upto = await horizon.current()
    async with database.session() as session:
        seen = await deliveries.changes_between(session, start, upto, 100)
    assert [c.fields for c in seen] == [["slow"], ["fast"]]


async def test_sqlite_has_no_limit(sqlite_database: Database) -> None:
    assert await Horizon(sqlite_database).current() is None
