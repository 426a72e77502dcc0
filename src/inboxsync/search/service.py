"""Search for the API and the CLI: query string in, a page of messages or threads out."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Row
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import InvalidRequest
from inboxsync.search.plan import FolderRef, compile_query
from inboxsync.store import listing
from inboxsync.store.models import Thread
from inboxsync.store.queries import Key, MessageFilter, like_escape
from inboxsync.store.search import Expr
from inboxsync.store.search_pages import SearchRequest, message_search_page, thread_search_page

SORTS = ("newest", "relevance")


def check_sort(sort: str | None) -> bool:
    """Whether results go by relevance (``sort=relevance``) rather than newest first."""
    value = (sort or "newest").strip().lower()
    if value not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}")
    return value == "relevance"


async def expression(session: AsyncSession, grant_id: str, query: str) -> Expr:
    """The checked expression of ``query`` for this grant (folders resolved, dates from now)."""
    folders = [
        FolderRef(f.id, f.role, f.path, f.name)
        for f in await listing.folder_list(session, grant_id)
    ]
    return compile_query(query, folders, int(time.time()))


async def messages(
    session: AsyncSession,
    grant_id: str,
    query: str,
    filters: MessageFilter,
    limit: int,
    after: Key | None,
    *,
    relevance: bool = False,
) -> tuple[list[Row[Any]], Key | None]:
    expr = await expression(session, grant_id, query)
    request = SearchRequest(grant_id, expr, filters, relevance=relevance)
    return await message_search_page(session, request, limit, after)


async def threads(
    session: AsyncSession,
    grant_id: str,
    query: str,
    filters: listing.ThreadFilter,
    limit: int,
    after: Key | None,
) -> tuple[list[Thread], Key | None]:
    expr = await expression(session, grant_id, query)
    # Flags and subject are the thread's (as on the plain thread list); the rest is per message.
    per_message = replace(
        filters.messages, unread=None, starred=None, has_attachment=None, subject=None
    )
    request = SearchRequest(grant_id, expr, per_message, thread_terms(filters))
    return await thread_search_page(session, request, limit, after)


def thread_terms(flt: listing.ThreadFilter) -> tuple[ColumnElement[bool], ...]:
    """The thread-level parts of a thread list's filters, as conditions on ``threads``."""
    terms: list[ColumnElement[bool]] = []
    m = flt.messages
    if m.subject:
        terms.append(Thread.subject.ilike(f"%{like_escape(m.subject)}%", escape="\\"))
    if m.unread is not None:
        terms.append(Thread.unread.is_(m.unread))
    if m.starred is not None:
        terms.append(Thread.starred.is_(m.starred))
    if m.has_attachment is not None:
        terms.append(Thread.has_attachments.is_(m.has_attachment))
    if flt.latest_before is not None:
        terms.append(Thread.latest_message_received_date < flt.latest_before)
    if flt.latest_after is not None:
        terms.append(Thread.latest_message_received_date > flt.latest_after)
    if flt.earliest_after is not None:
        terms.append(Thread.earliest_message_date >= flt.earliest_after)
    return tuple(terms)
