"""Read-side queries of the API for threads, folders and grants.

Thread pages are keyset pages on ``(latest_message_received_date DESC, id DESC)`` over
``ix_threads_grant_latest``; the members, folders and latest message of a page come in one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import NotFound
from inboxsync.store.db import Database
from inboxsync.store.message_json import assemble_thread, message_parts, thread_json
from inboxsync.store.models import Folder, Grant, Message, MessageFolder, Thread
from inboxsync.store.queries import (
    Key,
    MessageFilter,
    keyset_values,
    like_escape,
    thread_has_message,
    with_heads,
)


@dataclass(frozen=True, slots=True)
class ThreadFilter:
    messages: MessageFilter = field(default_factory=MessageFilter)
    latest_before: int | None = None
    latest_after: int | None = None
    earliest_after: int | None = None


# The bare column (always set: a thread exists only while it has messages), so that the page is
# read from ix_threads_grant_latest instead of sorting every thread of the grant.
_LATEST = Thread.latest_message_received_date


def _thread_query(
    grant_id: str, flt: ThreadFilter, limit: int, after: Key | None, *columns: Any
) -> Select[Any]:
    """A keyset page of threads; its own values are named bound parameters (see
    :func:`_thread_values`), so that :func:`thread_page_json` can run it again compiled once."""
    m = flt.messages
    latest = _LATEST
    query = (
        select(*columns)
        .select_from(Thread)
        .where(Thread.grant_id == bindparam("grant_id", grant_id, String))
    )
    if m.subject:
        query = query.where(Thread.subject.ilike(f"%{like_escape(m.subject)}%", escape="\\"))
    if m.unread is not None:
        query = query.where(Thread.unread.is_(m.unread))
    if m.starred is not None:
        query = query.where(Thread.starred.is_(m.starred))
    if m.has_attachment is not None:
        query = query.where(Thread.has_attachments.is_(m.has_attachment))
    if m.thread_id is not None:
        query = query.where(Thread.id == m.thread_id)
    if flt.latest_before is not None:
        query = query.where(latest < bindparam("latest_before", flt.latest_before, BigInteger))
    if flt.latest_after is not None:
        query = query.where(latest > bindparam("latest_after", flt.latest_after, BigInteger))
    if flt.earliest_after is not None:
        earliest = bindparam("earliest_after", flt.earliest_after, BigInteger)
        query = query.where(Thread.earliest_message_date >= earliest)
    member = thread_has_message(m, Thread.id)
    if member is not None:
        query = query.where(member)
    if after is not None:
        key = (bindparam("key_sort", after[0], BigInteger), bindparam("key_id", after[1], String))
        query = query.where(tuple_(latest, Thread.id) < tuple_(*key))
    order = (latest.desc(), Thread.id.desc())
    return query.order_by(*order).limit(bindparam("limit", limit, Integer))


def _thread_values(
    grant_id: str, flt: ThreadFilter, limit: int, after: Key | None
) -> dict[str, Any]:
    return {
        "grant_id": grant_id,
        "latest_before": flt.latest_before,
        "latest_after": flt.latest_after,
        "earliest_after": flt.earliest_after,
        **keyset_values(after, limit),
    }


def _thread_shape(flt: ThreadFilter, after: Key | None) -> tuple[object, ...] | None:
    """What tells two prepared thread pages apart; None for filters with values of their own."""
    m = flt.messages
    if m.subject or m.thread_id or thread_has_message(m, Thread.id) is not None:
        return None
    dates = (flt.latest_before, flt.latest_after, flt.earliest_after)
    flags = (m.unread, m.starred, m.has_attachment)
    return ("thread_page_json", *(d is not None for d in dates), after is not None, *flags)


def _with_latest(query: Select[Any]) -> Select[Any]:
    """``query`` with each thread's latest message joined as ``messages`` (for message_parts)."""
    return query.outerjoin(
        Message,
        and_(Message.id == Thread.latest_message_id, Message.grant_id == Thread.grant_id),
    )


async def thread_page(
    session: AsyncSession, grant_id: str, flt: ThreadFilter, limit: int, after: Key | None
) -> tuple[list[Thread], Key | None]:
    query = _thread_query(grant_id, flt, limit + 1, after, Thread)
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_key = (last.latest_message_received_date or 0, last.id) if more and last else None
    return rows, next_key


async def thread_page_json(
    db: Database, grant_id: str, flt: ThreadFilter, limit: int, after: Key | None
) -> tuple[list[bytes], Key | None]:
    """Like :func:`thread_page`, each thread as the JSON of its Nylas object, members and latest
    message included (one statement: :mod:`inboxsync.store.message_json`), read outside any
    session, compiled once per shape of filters where it can (:meth:`Database.read_prepared`).
    The latest messages' heads come from the head cache where there is one, as for message pages
    (:func:`inboxsync.store.queries.message_page_json`)."""
    sqlite, heads = db.is_sqlite, db.heads

    def query() -> Select[Any]:
        # The page with each thread's JSON, then its latest message joined as ``messages``
        # outside it: the filters' EXISTS over a thread's messages must not see that join. No
        # second pass over ``threads``: a generic plan (docs/adr/0015), which cannot know the
        # LIMIT, joined the page back to every thread of the grant by hash (4.6 ms, not 1.7).
        page = _thread_query(
            grant_id,
            flt,
            limit + 1,
            after,
            _LATEST.label("latest"),
            Thread.id.label("tid"),
            thread_json(sqlite).label("thread"),
            Thread.latest_message_id.label("latest_id"),
        ).subquery("page")
        latest = message_parts(sqlite, head=heads is None)
        return (
            select(page.c.latest, page.c.tid, page.c.thread, Message.id, *latest)
            .select_from(page)
            .outerjoin(
                Message,
                and_(
                    Message.id == page.c.latest_id,
                    Message.grant_id == bindparam("grant_id", grant_id, String),
                ),
            )
            .order_by(page.c.latest.desc(), page.c.tid.desc())
        )

    values = _thread_values(grant_id, flt, limit + 1, after)
    rows = await db.read_prepared(_thread_shape(flt, after), query, values)
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = (rows[-1][0] or 0, rows[-1][1]) if more and rows else None
    if heads is not None:
        rows = await with_heads(db, heads, rows, 3, keep=True)
    return [assemble_thread(r[2], r[4:]) for r in rows], next_key


async def thread_json_one(db: Database, grant_id: str, thread_id: str) -> bytes:
    """The JSON of one thread of this grant (404 when it is not one)."""

    def query() -> Select[Any]:
        return _with_latest(
            select(thread_json(db.is_sqlite), *message_parts(db.is_sqlite))
            .select_from(Thread)
            .where(
                Thread.grant_id == bindparam("grant_id", type_=String),
                Thread.id == bindparam("thread_id", type_=String),
            )
        )

    values = {"grant_id": grant_id, "thread_id": thread_id}
    rows = await db.read_prepared("thread_json_one", query, values)
    if not rows:
        raise NotFound(f"thread {thread_id} not found")
    return assemble_thread(rows[0][0], rows[0][1:])


async def get_thread(session: AsyncSession, grant_id: str, thread_id: str) -> Thread:
    thread = await session.get(Thread, thread_id)
    if thread is None or thread.grant_id != grant_id:
        raise NotFound(f"thread {thread_id} not found")
    return thread


@dataclass(slots=True)
class ThreadMembers:
    message_ids: list[str]
    draft_ids: list[str]
    folders: list[str]


async def thread_members(
    session: AsyncSession, grant_id: str, thread_ids: Sequence[str]
) -> dict[str, ThreadMembers]:
    """Messages, drafts and folders of a page of threads (two queries)."""
    found = {t: ThreadMembers([], [], []) for t in thread_ids}
    if not thread_ids:
        return found
    # Sorted here, not in SQL: an ORDER BY received_at makes SQLite walk every message of the grant
    # in ix_messages_grant_received instead of looking the threads up in ix_messages_grant_thread.
    rows = await session.execute(
        select(Message.thread_id, Message.id, Message.is_draft, Message.received_at).where(
            Message.grant_id == grant_id, Message.thread_id.in_(list(thread_ids))
        )
    )
    for tid, mid, draft, _ in sorted(rows.tuples(), key=lambda r: (r[3], r[1])):
        if tid in found:
            (found[tid].draft_ids if draft else found[tid].message_ids).append(mid)
    folder_rows = await session.execute(
        select(Message.thread_id, MessageFolder.folder_id)
        .join(Message, Message.id == MessageFolder.message_id)
        .where(Message.grant_id == grant_id, Message.thread_id.in_(list(thread_ids)))
        .distinct()
        .order_by(Message.thread_id, MessageFolder.folder_id)
    )
    for tid, fid in folder_rows.tuples():
        if tid in found:
            found[tid].folders.append(fid)
    return found


async def thread_message_ids(session: AsyncSession, grant_id: str, thread_id: str) -> list[str]:
    rows = await session.execute(
        select(Message.id).where(Message.grant_id == grant_id, Message.thread_id == thread_id)
    )
    return list(rows.scalars())


@dataclass(frozen=True, slots=True)
class FolderCounts:
    total: int
    unread: int
    children: int


async def folder_list(
    session: AsyncSession, grant_id: str, *, parent_id: str | None = None
) -> list[Folder]:
    query = select(Folder).where(Folder.grant_id == grant_id)
    if parent_id is not None:
        query = query.where(Folder.parent_id == parent_id)
    return list((await session.scalars(query.order_by(Folder.path, Folder.id))).all())


async def folder_counts(session: AsyncSession, grant_id: str) -> dict[str, FolderCounts]:
    """Live totals per folder of a grant (one grouped query), and child counts."""
    rows = await session.execute(
        select(
            MessageFolder.folder_id,
            func.count(func.distinct(MessageFolder.message_id)),
            func.count(func.distinct(case((Message.unread.is_(True), Message.id)))),
        )
        .join(Message, Message.id == MessageFolder.message_id)
        .where(MessageFolder.grant_id == grant_id)
        .group_by(MessageFolder.folder_id)
    )
    totals = {fid: (int(t), int(u)) for fid, t, u in rows.tuples()}
    parents = await session.execute(
        select(Folder.parent_id, func.count())
        .where(Folder.grant_id == grant_id, Folder.parent_id.is_not(None))
        .group_by(Folder.parent_id)
    )
    children = {str(pid): int(n) for pid, n in parents.tuples()}
    ids = set(totals) | set(children)
    ids.update(
        (await session.execute(select(Folder.id).where(Folder.grant_id == grant_id))).scalars()
    )
    return {fid: FolderCounts(*totals.get(fid, (0, 0)), children.get(fid, 0)) for fid in ids}


async def grant_list(
    session: AsyncSession,
    *,
    api_key_id: str | None,
    limit: int,
    offset: int,
    sort_by: str = "created_at",
    descending: bool = False,
    since: int | None = None,
    before: int | None = None,
    email: str | None = None,
    grant_status: str | None = None,
    provider: str | None = None,
) -> list[Grant]:
    """Grants visible to a key, offset-paged (as Nylas pages grants)."""
    column: Any = Grant.updated_at if sort_by == "updated_at" else Grant.created_at
    order = (column.desc(), Grant.id.desc()) if descending else (column.asc(), Grant.id.asc())
    query = select(Grant)
    if api_key_id is not None:
        query = query.where(Grant.api_key_id == api_key_id)
    if since is not None:
        query = query.where(Grant.created_at >= since)
    if before is not None:
        query = query.where(Grant.created_at < before)
    if email:
        query = query.where(func.lower(Grant.email) == email.lower())
    if grant_status:
        query = query.where(Grant.grant_status == grant_status)
    if provider:
        query = query.where(Grant.provider == provider)
    query = query.order_by(*order).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def blob_keys_of_grant(session: AsyncSession, grant_id: str) -> set[str]:
    rows = await session.execute(select(Message.sha256).where(Message.grant_id == grant_id))
    return set(rows.scalars())


async def blob_keys_in_use(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` a message of any grant still names (index lookups grant by grant)."""
    used: set[str] = set()
    wanted = list(keys)
    grant_ids = list((await session.execute(select(Grant.id))).scalars())
    for gid in grant_ids:
        for start in range(0, len(wanted), 500):
            rows = await session.execute(
                select(Message.sha256).where(
                    Message.grant_id == gid, Message.sha256.in_(wanted[start : start + 500])
                )
            )
            used.update(rows.scalars())
    return used
