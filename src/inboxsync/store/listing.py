"""Read-side queries of the API for threads, folders and grants.

Thread pages are keyset pages on ``(latest_message_received_date DESC, id DESC)`` over
``ix_threads_grant_latest``; the members, folders and latest message of a page come in one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, case, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import NotFound
from inboxsync.store.db import Database
from inboxsync.store.message_json import thread_json
from inboxsync.store.models import Folder, Grant, Message, MessageFolder, Thread
from inboxsync.store.queries import Key, MessageFilter, like_escape, thread_has_message


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
    m = flt.messages
    latest = _LATEST
    query = select(*columns).select_from(Thread).where(Thread.grant_id == grant_id)
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
        query = query.where(Thread.latest_message_received_date < flt.latest_before)
    if flt.latest_after is not None:
        query = query.where(Thread.latest_message_received_date > flt.latest_after)
    if flt.earliest_after is not None:
        query = query.where(Thread.earliest_message_date >= flt.earliest_after)
    member = thread_has_message(m, Thread.id)
    if member is not None:
        query = query.where(member)
    if after is not None:
        query = query.where(
            tuple_(latest, Thread.id) < tuple_(literal(after[0]), literal(after[1]))
        )
    return query.order_by(latest.desc(), Thread.id.desc()).limit(limit)


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
) -> tuple[list[str], Key | None]:
    """Like :func:`thread_page`, each thread as the JSON text of its Nylas object, members and
    latest message included (one statement: :mod:`inboxsync.store.message_json`), read outside
    any session (:meth:`Database.read`)."""
    columns = (_LATEST, Thread.id, thread_json(db.is_sqlite))
    query = _thread_query(grant_id, flt, limit + 1, after, *columns)
    rows = await db.read(query)
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = (rows[-1][0] or 0, rows[-1][1]) if more and rows else None
    return [r[2] for r in rows], next_key


async def thread_json_one(db: Database, grant_id: str, thread_id: str) -> str:
    """The JSON text of one thread of this grant (404 when it is not one)."""
    query = select(thread_json(db.is_sqlite)).where(
        Thread.grant_id == grant_id, Thread.id == thread_id
    )
    rows = await db.read(query)
    text = rows[0][0] if rows else None
    if text is None:
        raise NotFound(f"thread {thread_id} not found")
    return str(text)


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
