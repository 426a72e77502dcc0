"""The worker's side of the outbox: take due actions in order, settle them, and protect what they touch.

The API's side (:mod:`inboxsync.store.actions`) changes the local copy and enqueues; this module is what
the write-back worker needs to apply, retry, fail and roll back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store.models import Action, Folder, MessageFolder, table_of

OPEN_STATES = ("pending", "in_flight")
# Kinds whose object is a message whose local state sync must not undo while they are open.
PROTECTING_KINDS = ("update_message", "delete_message", "save_draft", "delete_draft")


async def due(session: AsyncSession, grant_id: str, *, limit: int = 100) -> list[Action]:
    """Open actions of a grant, oldest first, up to the first one still waiting for its retry time
    (order matters: a move must not overtake the flag change made before it)."""
    rows = (
        await session.scalars(
            select(Action)
            .where(Action.grant_id == grant_id, Action.state.in_(OPEN_STATES))
            .order_by(Action.id)
            .limit(limit)
        )
    ).all()
    now = time.time()
    out: list[Action] = []
    for action in rows:
        if action.next_attempt_at > now:
            break
        out.append(action)
    return out


async def grants_with_due(
    session: AsyncSession, grant_ids: Sequence[str], *, chunk: int = 500
) -> set[str]:
    """Which of these grants have an open action whose time has come: one statement per ``chunk``
    grants (an index seek each), so a worker looks for every grant it holds at once."""
    now = time.time()
    found: set[str] = set()
    ids = list(grant_ids)
    for start in range(0, len(ids), chunk):
        rows = await session.scalars(
            select(Action.grant_id)
            .where(
                Action.grant_id.in_(ids[start : start + chunk]),
                Action.state.in_(OPEN_STATES),
                Action.next_attempt_at <= now,
            )
            .distinct()
        )
        found.update(rows)
    return found


async def has_open(session: AsyncSession, grant_id: str) -> bool:
    found = await session.scalar(
        select(Action.id).where(Action.grant_id == grant_id, Action.state.in_(OPEN_STATES)).limit(1)
    )
    return found is not None


async def protected_messages(session: AsyncSession, grant_id: str) -> set[str]:
    """Messages with an action not yet applied: sync must not undo their local state."""
    rows = await session.execute(
        select(Action.object_id).where(
            Action.grant_id == grant_id,
            Action.state.in_(OPEN_STATES),
            Action.kind.in_(PROTECTING_KINDS),
        )
    )
    return {r for r in rows.scalars() if r}


async def summary(
    session: AsyncSession, grant_id: str, *, failed_limit: int = 20
) -> dict[str, Any]:
    """For the sync status: how many actions wait, and the latest failures with their errors."""
    pending = await session.scalar(
        select(func.count())
        .select_from(Action)
        .where(Action.grant_id == grant_id, Action.state.in_(OPEN_STATES))
    )
    failed = (
        await session.scalars(
            select(Action)
            .where(Action.grant_id == grant_id, Action.state == "failed")
            .order_by(Action.id.desc())
            .limit(failed_limit)
        )
    ).all()
    return {
        "pending": int(pending or 0),
        "failed": [
            {
                "id": a.id,
                "kind": a.kind,
                "object_id": a.object_id,
                "error": a.last_error,
                "failed_at": int(a.updated_at),
            }
            for a in failed
        ],
    }


def mark_done(action: Action, **payload: Any) -> None:
    action.state = "done"
    action.last_error = None
    action.updated_at = time.time()
    if payload:
        action.payload = {**action.payload, **payload}


def mark_retry(action: Action, error: str, delay: float) -> None:
    action.state = "pending"
    action.attempts += 1
    action.last_error = error[:2000]
    action.next_attempt_at = time.time() + delay
    action.updated_at = time.time()


def mark_failed(action: Action, error: str) -> None:
    action.state = "failed"
    action.attempts += 1
    action.last_error = error[:2000]
    action.updated_at = time.time()


async def mark_folders_dirty(session: AsyncSession, folder_ids: Sequence[str]) -> None:
    """Make the next pass compare every UID of these folders with the server (a rollback)."""
    if folder_ids:
        await session.execute(
            update(Folder).where(Folder.id.in_(list(folder_ids))).values(highestmodseq=None)
        )


async def settle_placement(
    session: AsyncSession, folder_id: str, message_id: str, uid: int
) -> None:
    """The server told us the real UID of a message we placed in a folder provisionally."""
    provisional = (
        await session.scalars(
            select(MessageFolder).where(
                MessageFolder.folder_id == folder_id,
                MessageFolder.message_id == message_id,
                MessageFolder.uid < 0,
            )
        )
    ).first()
    taken = await session.get(MessageFolder, (folder_id, uid))
    if provisional is None:
        return
    if taken is not None:  # sync got there first
        await session.delete(provisional)
        return
    values = {
        "folder_id": folder_id,
        "uid": uid,
        "message_id": message_id,
        "grant_id": provisional.grant_id,
        "flags": provisional.flags,
        "modseq": None,
        "received_at": provisional.received_at,
    }
    await session.execute(
        delete(MessageFolder).where(
            MessageFolder.folder_id == folder_id, MessageFolder.uid == provisional.uid
        )
    )
    await session.execute(table_of(MessageFolder).insert().values(**values))


async def current_uids(session: AsyncSession, message_id: str) -> dict[str, list[int]]:
    """folder id -> the message's real (positive) UIDs there."""
    rows = await session.execute(
        select(MessageFolder.folder_id, MessageFolder.uid).where(
            MessageFolder.message_id == message_id, MessageFolder.uid > 0
        )
    )
    out: dict[str, list[int]] = {}
    for folder_id, uid in rows.tuples():
        out.setdefault(folder_id, []).append(uid)
    return out
