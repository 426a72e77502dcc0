"""``data.object`` of notifications: the objects exactly as the API serves them, loaded per batch.

Objects are read when a change is fanned out (moments after it committed), so a notification
carries the object's state at that time; a deleted object is ``{id, grant_id, object}``. Grant
notifications carry the grant plus Nylas's ``code``, ``grant_id`` and ``integration_id`` keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import listing, queries
from inboxsync.store.models import Change, Folder, Grant, Thread
from inboxsync.views import serialize

Key = tuple[str, str, str]  # (grant id, object type, object id)


def gone(change: Change) -> dict[str, Any]:
    return {"id": change.object_id, "grant_id": change.grant_id, "object": change.object_type}


async def messages(
    session: AsyncSession, grant_id: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    rows = await queries.message_rows(session, grant_id, ids)
    found = [r.id for r in rows]
    folders = await queries.folders_of(session, found)
    files = await queries.attachments_of(session, found)
    out = {}
    for row in rows:
        obj = serialize.message(row, folders.get(row.id, []), files.get(row.id, ()))
        if getattr(row, "is_draft", False):
            obj["object"] = "draft"
        out[row.id] = obj
    return out


async def threads(
    session: AsyncSession, grant_id: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    rows = list(
        (
            await session.scalars(
                select(Thread).where(Thread.grant_id == grant_id, Thread.id.in_(list(ids)))
            )
        ).all()
    )
    members = await listing.thread_members(session, grant_id, [t.id for t in rows])
    latest = await messages(
        session, grant_id, [t.latest_message_id for t in rows if t.latest_message_id]
    )
    return {
        t.id: serialize.thread(t, members[t.id], latest.get(t.latest_message_id or ""))
        for t in rows
    }


async def folders(
    session: AsyncSession, grant_id: str, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    rows = list(
        (
            await session.scalars(
                select(Folder).where(Folder.grant_id == grant_id, Folder.id.in_(list(ids)))
            )
        ).all()
    )
    counts = await listing.folder_counts(session, grant_id) if rows else {}
    return {f.id: serialize.folder(f, counts.get(f.id)) for f in rows}


async def grant(session: AsyncSession, grant_id: str) -> dict[str, Any] | None:
    row = await session.get(Grant, grant_id)
    if row is None:
        return None
    obj = serialize.grant(row)
    obj.update({"grant_id": row.id, "code": None, "integration_id": None})
    return obj


async def load(session: AsyncSession, batch: Sequence[Change]) -> dict[Key, dict[str, Any]]:
    """The current object of every change in ``batch`` (deleted ones and missing ones: ``gone``)."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for change in batch:
        if change.event != "deleted":
            kind = "message" if change.object_type == "draft" else change.object_type
            wanted[(change.grant_id, kind)].add(change.object_id)
    loaded: dict[Key, dict[str, Any]] = {}
    for (grant_id, kind), ids in wanted.items():
        found: dict[str, dict[str, Any]] = {}
        if kind == "message":
            found = await messages(session, grant_id, sorted(ids))
        elif kind == "thread":
            found = await threads(session, grant_id, sorted(ids))
        elif kind == "folder":
            found = await folders(session, grant_id, sorted(ids))
        elif kind == "grant":
            obj = await grant(session, grant_id)
            found = {grant_id: obj} if obj is not None else {}
        for oid, obj in found.items():
            loaded[(grant_id, kind, oid)] = obj
    out: dict[Key, dict[str, Any]] = {}
    for change in batch:
        kind = "message" if change.object_type == "draft" else change.object_type
        key = (change.grant_id, change.object_type, change.object_id)
        obj = loaded.get((change.grant_id, kind, change.object_id))
        out[key] = obj if obj is not None and change.event != "deleted" else gone(change)
    return out
