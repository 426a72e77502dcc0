"""The webhook outbox and the change-log cursors (fan-out position, prune watermark).

Deliveries are rows per (destination, change), sent in ``id`` order per grant and deleted once the
receiver answered 2xx. The fan-out cursor moves in the same transaction that inserts the rows, with a
compare-and-set so that two processes never queue the same change twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store.models import Change, EventCursor, Grant, WebhookDelivery, table_of

DISPATCH = "dispatch"  # changes up to here are fanned out to the destinations
PRUNED = "pruned"  # changes up to here may have been deleted (cursors below it have expired)


async def position(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(EventCursor.position).where(EventCursor.name == name))
    return int(value or 0)


async def move(session: AsyncSession, name: str, old: int, new: int) -> bool:
    """Compare-and-set a cursor; False when another process moved it first."""
    now = time.time()
    exists = await session.scalar(select(EventCursor.name).where(EventCursor.name == name))
    if exists is None:
        if old != 0:
            return False
        session.add(EventCursor(name=name, position=new, updated_at=now))
        await session.flush()
        return True
    result = await session.execute(
        update(EventCursor)
        .where(EventCursor.name == name, EventCursor.position == old)
        .values(position=new, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(result, "rowcount", 0))


async def changes_between(
    session: AsyncSession,
    after: int,
    upto: int | None,
    limit: int,
    grant_ids: Sequence[str] | None = None,
) -> list[Change]:
    """Changes with ``after < id <= upto`` (for the given grants, or all), oldest first."""
    query = select(Change).where(Change.id > after).order_by(Change.id).limit(limit)
    if upto is not None:
        query = query.where(Change.id <= upto)
    if grant_ids is not None:
        query = query.where(Change.grant_id.in_(list(grant_ids)))
    return list((await session.scalars(query)).all())


async def newest_change(session: AsyncSession, upto: int | None = None) -> int:
    query = select(func.max(Change.id))
    if upto is not None:
        query = query.where(Change.id <= upto)
    return int(await session.scalar(query) or 0)


async def pg_sample(session: AsyncSession) -> tuple[int, frozenset[str]]:
    """PostgreSQL: the last id the change sequence handed out, then the transactions writing to
    ``changes`` now (their virtual transaction ids, from the RowExclusiveLock each holds on the
    table from its first insert to its end). Read in this order, in two statements."""
    last = await session.scalar(text("SELECT last_value FROM changes_id_seq"))
    writers = await session.execute(
        text(
            "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
            " AND relation = 'changes'::regclass AND mode = 'RowExclusiveLock'"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    )
    return int(last or 0), frozenset(str(v) for v in writers.scalars())


async def grant_owners(
    session: AsyncSession, grant_ids: Sequence[str]
) -> dict[str, tuple[str | None, str]]:
    """grant id -> (the API key that owns it, None for the operator's; provider), if it exists."""
    if not grant_ids:
        return {}
    rows = await session.execute(
        select(Grant.id, Grant.api_key_id, Grant.provider).where(Grant.id.in_(list(grant_ids)))
    )
    return {gid: (key, provider) for gid, key, provider in rows.tuples()}


async def grants_of_key(session: AsyncSession, api_key_id: str) -> list[str]:
    rows = await session.execute(select(Grant.id).where(Grant.api_key_id == api_key_id))
    return list(rows.scalars())


async def enqueue(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(table_of(WebhookDelivery).insert(), rows)


async def pending(session: AsyncSession, webhook_id: str, limit: int) -> list[WebhookDelivery]:
    """The oldest undelivered notifications of a destination."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def delivered(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(list(ids))))


async def failed(
    session: AsyncSession,
    delivery_id: int,
    *,
    attempts: int,
    next_at: float,
    error: str,
    now: float,
) -> None:
    table = table_of(WebhookDelivery)
    await session.execute(
        update(table)
        .where(table.c.id == delivery_id)
        .values(
            attempts=attempts,
            next_attempt_at=next_at,
            last_error=error[:1000],
            first_failed_at=func.coalesce(table.c.first_failed_at, now),
        )
    )


async def oldest_failure(session: AsyncSession, webhook_id: str) -> float | None:
    """When the oldest still-undelivered failed notification of a destination first failed."""
    query = select(func.min(WebhookDelivery.first_failed_at)).where(
        WebhookDelivery.webhook_id == webhook_id
    )
    value = await session.scalar(query)
    return float(value) if value is not None else None


async def next_due(session: AsyncSession, webhook_id: str) -> float | None:
    """When the next queued notification of a destination may be sent (None: queue empty).

    Only the head of each grant's queue counts: the rest wait behind it.
    """
    heads = (
        select(func.min(WebhookDelivery.id))
        .where(WebhookDelivery.webhook_id == webhook_id)
        .group_by(WebhookDelivery.grant_id)
    )
    query = select(func.min(WebhookDelivery.next_attempt_at)).where(WebhookDelivery.id.in_(heads))
    value = await session.scalar(query)
    return float(value) if value is not None else None


async def rearm(session: AsyncSession, webhook_id: str) -> None:
    """A destination made active again: its queue is due now and its failure clock restarts."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .values(next_attempt_at=0.0, first_failed_at=None),
        execution_options={"synchronize_session": False},
    )


async def backlog(session: AsyncSession, webhook_id: str) -> int:
    query = select(func.count()).where(WebhookDelivery.webhook_id == webhook_id)
    return int(await session.scalar(query) or 0)


async def prune(session: AsyncSession, before: float) -> int:
    """Delete changes older than ``before`` that are fanned out, never the newest (ids stay monotonic).

    On SQLite the id is the rowid: keeping the highest row keeps new ids above every old one.
    """
    limit = await position(session, DISPATCH)
    newest = await newest_change(session)
    if not newest:
        return 0
    upto = await session.scalar(
        select(func.max(Change.id)).where(
            Change.created_at < before, Change.id <= limit, Change.id < newest
        )
    )
    if not upto:
        return 0
    result = await session.execute(delete(Change).where(Change.id <= upto))
    old = await position(session, PRUNED)
    if upto > old:
        await move(session, PRUNED, old, upto)
    return int(getattr(result, "rowcount", 0) or 0)
