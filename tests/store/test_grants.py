from __future__ import annotations

import pytest

from inboxsync.errors import NotFound
from inboxsync.store import api_keys, changes, grants
from inboxsync.store.db import Database


async def test_create_get_list_remove(database: Database) -> None:
    async with database.transaction() as session:
        key, _ = await api_keys.create(session, "app")
    async with database.transaction() as session:
        g = await grants.create(
            session,
            provider="imap",
            email="Alice@Example.com",
            settings={"imap_host": "h"},
            sealed_credentials=b"\x01sealed",
            api_key_id=key.id,
        )
    async with database.session() as session:
        assert (await grants.get(session, g.id)).email == "Alice@Example.com"
        assert (await grants.get(session, g.id, api_key_id=key.id)).id == g.id
        with pytest.raises(NotFound):
            await grants.get(session, g.id, api_key_id="other")
        assert (await grants.find_by_email(session, "alice@example.com")).id == g.id
        assert [x.id for x in await grants.list_(session, api_key_id=key.id)] == [g.id]
        assert await grants.list_(session, api_key_id="other") == []
    async with database.transaction() as session:
        await grants.remove(session, g.id)
    async with database.session() as session:
        with pytest.raises(NotFound):
            await grants.get(session, g.id)
        log = await changes.after(session, [g.id], 0, 10)
    assert [(c.object_type, c.event) for c in log] == [("grant", "created"), ("grant", "deleted")]
    assert log[0].id < log[1].id
