"""The change log: append a row in the caller's transaction; read rows after a cursor."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import bulk
from inboxsync.store.models import Change, table_of


def record(
    session: AsyncSession,
    grant_id: str,
    object_type: str,
    object_id: str,
    event: str,
    fields: Sequence[str] = (),
) -> Change:
    """Add a change row to the session; it commits with the data change it describes."""
    change = Change(
        grant_id=grant_id,
        object_type=object_type,
        object_id=object_id,
        event=event,
        fields=list(fields),
        created_at=time.time(),
    )
    session.add(change)
    session.info["changed"] = True  # the database wakes stream and webhook readers on commit
    return change


async def record_many(
    session: AsyncSession,
    grant_id: str,
    object_type: str,
    event: str,
    object_ids: Sequence[str],
    fields: Sequence[str] = (),
) -> None:
    """The same change for many objects, in one statement (the hot path of sync)."""
    if not object_ids:
        return
    now = time.time()
    rows = [
        {
            "grant_id": grant_id,
            "object_type": object_type,
            "object_id": oid,
            "event": event,
            "fields": list(fields),
            "created_at": now,
        }
        for oid in object_ids
    ]
    await bulk.insert(session, table_of(Change), rows)
    session.info["changed"] = True


async def after(
    session: AsyncSession, grant_ids: Sequence[str] | None, cursor: int, limit: int
) -> list[Change]:
    """Changes with an id above ``cursor`` (for the given grants, or all), oldest first."""
    query = select(Change).where(Change.id > cursor).order_by(Change.id).limit(limit)
    if grant_ids is not None:
        query = query.where(Change.grant_id.in_(grant_ids))
    return list((await session.scalars(query)).all())
