"""Account leases: which worker syncs which grant, and the fence that stops a worker that lost one.

A worker (``inboxsync worker``, or ``serve`` with one worker on SQLite) keeps a row in ``sync_workers``
alive and holds grants through rows of ``grant_leases``:

- :func:`claim` takes up to ``limit`` free or expired leases of active grants, never more than the
  worker's fair share (``ceil(active grants / live workers) + slack``). On PostgreSQL the candidates are
  locked with ``FOR UPDATE SKIP LOCKED``, so concurrent claims never pick the same row and never wait.
  Each claim bumps ``generation``, the fencing token.
- :func:`renew` extends every lease the worker still holds in one statement and says which ones it
  still holds; the caller stops the others at once.
- :func:`excess` tells how many grants a worker holds above its share (a new worker joined): the
  caller stops that many and :func:`release` gives them back.
- :class:`FencedDatabase` is the database as one grant's sync sees it: every transaction starts with
  one guarded statement on the lease row (``grant_id``, ``owner``, ``generation``), and finding no row
  raises :class:`~inboxsync.errors.LeaseLost` and rolls the transaction back. On PostgreSQL the guard
  is ``SELECT … FOR KEY SHARE``: it does not block the owner's heartbeat (a non-key update) but it
  conflicts with a claim's ``FOR UPDATE``, so a takeover either skips the row while the old owner is
  writing, or commits first and the old owner's guard then sees the new generation. On SQLite (one
  writer) the guard is a no-op ``UPDATE``, which also takes the write lock first.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import LeaseLost
from inboxsync.store.db import Database
from inboxsync.store.models import Grant, GrantLease, SyncWorker


@dataclass(frozen=True)
class Lease:
    """A lease this worker holds: the fencing token of its writes for ``grant_id``."""

    grant_id: str
    owner: str
    generation: int


def _active() -> ColumnElement[bool]:
    return and_(Grant.grant_status == "valid", Grant.sync_state != "stopped")


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def heartbeat_worker(session: AsyncSession, worker: str, now: float) -> None:
    """Say this worker is alive (an upsert of its ``sync_workers`` row)."""
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    stmt = insert(SyncWorker).values(id=worker, heartbeat_at=now, started_at=now)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now})
    )


async def live_workers(session: AsyncSession, now: float, ttl: float) -> int:
    """Workers that said they were alive within the last ``ttl`` seconds."""
    count = await session.scalar(
        select(func.count()).select_from(SyncWorker).where(SyncWorker.heartbeat_at > now - ttl)
    )
    return int(count or 0)


async def fair_share(session: AsyncSession, now: float, ttl: float, *, slack: int = 1) -> int:
    """The most grants one worker should hold: ``ceil(active grants / live workers) + slack``."""
    active = int(
        await session.scalar(select(func.count()).select_from(Grant).where(_active())) or 0
    )
    workers = max(1, await live_workers(session, now, ttl))
    return math.ceil(active / workers) + slack


async def held(session: AsyncSession, worker: str, now: float) -> int:
    """How many unexpired leases ``worker`` holds."""
    count = await session.scalar(
        select(func.count())
        .select_from(GrantLease)
        .where(GrantLease.owner == worker, GrantLease.expires_at > now)
    )
    return int(count or 0)


async def claim(
    session: AsyncSession,
    worker: str,
    now: float,
    ttl: float,
    *,
    limit: int = 100,
    slack: int = 1,
) -> list[Lease]:
    """Take up to ``limit`` free or expired leases of active grants, within the fair share."""
    await heartbeat_worker(session, worker, now)
    insert = pg_insert if _is_postgres(session) else sqlite_insert
    missing = (
        select(Grant.id, literal(0.0), literal(0))
        .where(
            _active(),
            ~select(GrantLease.grant_id).where(GrantLease.grant_id == Grant.id).exists(),
        )
        .order_by(Grant.id)  # concurrent claims insert in one order: no deadlock between them
    )
    await session.execute(
        insert(GrantLease)
        .from_select(["grant_id", "expires_at", "generation"], missing)
        .on_conflict_do_nothing(index_elements=["grant_id"])
    )
    want = min(
        limit,
        await fair_share(session, now, ttl, slack=slack) - await held(session, worker, now),
    )
    if want <= 0:
        return []
    free = or_(GrantLease.owner.is_(None), GrantLease.expires_at <= now)
    candidates = (
        select(GrantLease.grant_id)
        .join(Grant, Grant.id == GrantLease.grant_id)
        .where(free, _active())
        .order_by(GrantLease.expires_at, GrantLease.grant_id)
        .limit(want)
    )
    if _is_postgres(session):
        candidates = candidates.with_for_update(of=GrantLease, skip_locked=True)
    ids = list((await session.scalars(candidates)).all())
    if not ids:
        return []
    rows = await session.execute(
        update(GrantLease)
        .where(GrantLease.grant_id.in_(ids), free)
        .values(
            owner=worker,
            expires_at=now + ttl,
            heartbeat_at=now,
            generation=GrantLease.generation + 1,
        )
        .returning(GrantLease.grant_id, GrantLease.generation)
    )
    return [Lease(grant_id, worker, generation) for grant_id, generation in rows.all()]


async def renew(session: AsyncSession, worker: str, now: float, ttl: float) -> dict[str, int]:
    """Extend every lease ``worker`` still holds on an active grant (one statement); returns them
    (grant id -> generation). A lease missing from the answer is lost: stop its sync at once."""
    await heartbeat_worker(session, worker, now)
    rows = await session.execute(
        update(GrantLease)
        .where(
            GrantLease.owner == worker,
            GrantLease.grant_id.in_(select(Grant.id).where(_active())),
        )
        .values(expires_at=now + ttl, heartbeat_at=now)
        .returning(GrantLease.grant_id, GrantLease.generation)
    )
    return dict(rows.tuples().all())


async def excess(
    session: AsyncSession, worker: str, now: float, ttl: float, *, slack: int = 1
) -> int:
    """How many grants ``worker`` holds above its fair share (0 when within it)."""
    return max(
        0, await held(session, worker, now) - await fair_share(session, now, ttl, slack=slack)
    )


async def release(
    session: AsyncSession, worker: str, grant_ids: Sequence[str] | None = None
) -> int:
    """Give back ``grant_ids`` (every lease when None) so that another worker may claim them now;
    with no ``grant_ids`` the worker also leaves ``sync_workers`` (shutdown)."""
    stmt = update(GrantLease).where(GrantLease.owner == worker)
    if grant_ids is not None:
        stmt = stmt.where(GrantLease.grant_id.in_(list(grant_ids)))
    result = await session.execute(stmt.values(owner=None, expires_at=0.0))
    if grant_ids is None:
        await session.execute(delete(SyncWorker).where(SyncWorker.id == worker))
    return int(getattr(result, "rowcount", 0) or 0)


async def forget_workers(session: AsyncSession, now: float, older_than: float) -> None:
    """Drop ``sync_workers`` rows silent for ``older_than`` seconds (killed workers)."""
    await session.execute(delete(SyncWorker).where(SyncWorker.heartbeat_at < now - older_than))


async def owners(session: AsyncSession) -> dict[str, tuple[str | None, float, int]]:
    """Every lease row: grant id -> (owner, expires_at, generation). For tests and operators."""
    rows = await session.execute(
        select(GrantLease.grant_id, GrantLease.owner, GrantLease.expires_at, GrantLease.generation)
    )
    return {g: (o, e, n) for g, o, e, n in rows.tuples().all()}


async def check(session: AsyncSession, lease: Lease) -> None:
    """The fence: raise :class:`LeaseLost` unless ``lease`` is still the grant's current lease."""
    match = (
        GrantLease.grant_id == lease.grant_id,
        GrantLease.owner == lease.owner,
        GrantLease.generation == lease.generation,
    )
    if _is_postgres(session):
        found = await session.scalar(
            select(GrantLease.generation).where(*match).with_for_update(key_share=True, read=True)
        )
        held_now = found is not None
    else:
        result = await session.execute(
            update(GrantLease).where(*match).values(generation=GrantLease.generation)
        )
        held_now = bool(getattr(result, "rowcount", 0))
    if not held_now:
        raise LeaseLost(f"grant {lease.grant_id}: lease generation {lease.generation} was lost")


class FencedDatabase(Database):
    """The same engine and sessions as ``db``; every :meth:`transaction` first checks ``lease``."""

    def __init__(self, db: Database, lease: Lease) -> None:  # no super().__init__: shares db's
        self.url = db.url
        self.is_sqlite = db.is_sqlite
        self.engine = db.engine
        self.sessions = db.sessions
        self._waiters = db._waiters
        self.heads = db.heads
        self.folder_names = db.folder_names
        self.base = db
        self.lease = lease

    def changes_committed(self) -> None:
        self.base.changes_committed()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.session() as session, session.begin():
            await check(session, self.lease)
            yield session

    async def close(self) -> None:
        """The engine belongs to the process's database: closing a grant's view closes nothing."""
