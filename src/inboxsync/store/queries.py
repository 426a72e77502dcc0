"""Read-side queries of the API: message pages by keyset, filters, and per-page lookups.

Pages are keyset pages on ``(received_at DESC, id DESC)``: the next page starts strictly after the
last row of the previous one, so a page costs the same wherever it is in the mailbox and stays
stable while mail arrives. Without ``in=`` the scan walks ``ix_messages_grant_received``; with it,
``ix_message_folders_folder_received``. Folder ids and attachments of a page come in one query each.
Rows are plain Core rows (no ORM identity map) because this is the hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import NotFound
from inboxsync.store import addresses
from inboxsync.store.db import Database, HeadCache
from inboxsync.store.message_json import assemble, head_or_live, message_parts
from inboxsync.store.models import Attachment, Folder, Message, MessageAddress, MessageFolder

MESSAGE_COLUMNS = (
    Message.id,
    Message.grant_id,
    Message.thread_id,
    Message.subject,
    Message.from_,
    Message.to,
    Message.cc,
    Message.bcc,
    Message.reply_to,
    Message.date,
    Message.received_at,
    Message.snippet,
    Message.body,
    Message.unread,
    Message.starred,
    Message.is_draft,
    Message.has_attachments,
    Message.metadata_,
    Message.sha256,
    Message.created_at,
)

ATTACHMENT_COLUMNS = (
    Attachment.id,
    Attachment.grant_id,
    Attachment.message_id,
    Attachment.part_id,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.content_id,
    Attachment.content_disposition,
    Attachment.is_inline,
)

Key = tuple[int, str]  # (received_at, id): where a keyset page starts (exclusive)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What a message (or thread) list is narrowed to; every field is optional."""

    subject: str | None = None
    any_email: tuple[str, ...] = ()
    from_: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    folder_id: str | None = None
    unread: bool | None = None
    starred: bool | None = None
    thread_id: str | None = None
    received_before: int | None = None
    received_after: int | None = None
    has_attachment: bool | None = None


def like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ADDRESS_FIELDS = (("from_", "from"), ("to", "to"), ("cc", "cc"), ("bcc", "bcc"))


def address_filters(flt: MessageFilter) -> list[tuple[str, tuple[str, ...], int]]:
    """The filter's address conditions, each as (its field of :class:`MessageFilter`, addresses,
    field bits of ``message_addresses``): all must hold, each by any of its addresses."""
    found = [
        (name, emails, addresses.ROLES[role])
        for name, role in _ADDRESS_FIELDS
        if (emails := getattr(flt, name))
    ]
    if flt.any_email:
        found.append(("any_email", flt.any_email, addresses.ANY_ROLE))
    return found


def message_conditions(flt: MessageFilter) -> list[ColumnElement[bool]]:
    """WHERE terms on ``messages`` for everything but the folder (which picks the index)."""
    terms: list[ColumnElement[bool]] = []
    if flt.subject:
        terms.append(Message.subject.ilike(f"%{like_escape(flt.subject)}%", escape="\\"))
    for _, emails, roles in address_filters(flt):
        terms.append(addresses.has_address(emails, roles))
    if flt.unread is not None:
        terms.append(Message.unread.is_(flt.unread))
    if flt.starred is not None:
        terms.append(Message.starred.is_(flt.starred))
    if flt.thread_id is not None:
        terms.append(Message.thread_id == flt.thread_id)
    if flt.has_attachment is not None:
        terms.append(Message.has_attachments.is_(flt.has_attachment))
    return terms


def _address_driver(flt: MessageFilter) -> tuple[str, str, int] | None:
    """The address a page walks ``message_addresses`` for (its first address filter, when that
    names one address): the filter's field, the address, its field bits; None: the page walks
    messages or a folder."""
    found = address_filters(flt)
    if not found or len(found[0][1]) != 1:
        return None
    name, emails, roles = found[0]
    return name, addresses.normal(emails[0]), roles


def _page_query(
    grant_id: str,
    flt: MessageFilter,
    limit: int,
    after: Key | None,
    columns: Sequence[Any] = MESSAGE_COLUMNS,
) -> Select[Any]:
    """A keyset page. Its own values are named bound parameters (see :func:`_page_values`), so
    that :func:`message_page_json` can run it again, compiled once, with other values.

    It walks, newest first, the index of the most telling filter: one address's range of
    ``message_addresses`` (``from=``, ``any_email=`` … of one address), a folder's range of
    ``message_folders`` (``in=``), or the grant's messages; the other filters are conditions."""
    driver = _address_driver(flt)
    walked_filter: dict[str, Any] = {} if driver is None else {driver[0]: ()}
    terms = message_conditions(replace(flt, **walked_filter))
    grant = bindparam("grant_id", grant_id, String)
    folder = bindparam("folder_id", flt.folder_id, String)
    if driver is not None:
        walked = MessageAddress
        received, ident = walked.received_at, walked.message_id
        query = (
            select(*columns)
            .select_from(walked)
            .join(Message, Message.id == walked.message_id)
            .where(
                walked.grant_id == grant,
                walked.address == bindparam("address", driver[1], String),
                walked.roles.op("&")(bindparam("roles", driver[2], Integer)) != 0,
            )
        )
        if flt.folder_id is not None:
            terms.append(
                exists().where(
                    MessageFolder.message_id == walked.message_id,
                    MessageFolder.folder_id == folder,
                )
            )
    elif flt.folder_id is not None:
        received, ident = MessageFolder.received_at, MessageFolder.message_id
        query = (
            select(*columns)
            .select_from(MessageFolder)
            .join(Message, Message.id == MessageFolder.message_id)
            .where(MessageFolder.folder_id == folder, Message.grant_id == grant)
        )
    else:
        received, ident = Message.received_at, Message.id
        query = select(*columns).select_from(Message).where(Message.grant_id == grant)
    if flt.received_before is not None:
        terms.append(received < bindparam("received_before", flt.received_before, BigInteger))
    if flt.received_after is not None:
        terms.append(received > bindparam("received_after", flt.received_after, BigInteger))
    if after is not None:
        terms.append(
            tuple_(received, ident)
            < tuple_(
                bindparam("key_sort", after[0], BigInteger),
                bindparam("key_id", after[1], String),
            )
        )
    order = (received.desc(), ident.desc())
    return query.where(*terms).order_by(*order).limit(bindparam("limit", limit, Integer))


def _page_values(
    grant_id: str, flt: MessageFilter, limit: int, after: Key | None
) -> dict[str, Any]:
    """The bound parameters of :func:`_page_query`."""
    driver = _address_driver(flt)
    return {
        "grant_id": grant_id,
        "address": driver[1] if driver else None,
        "roles": driver[2] if driver else None,
        "folder_id": flt.folder_id,
        "received_before": flt.received_before,
        "received_after": flt.received_after,
        **keyset_values(after, limit),
    }


def keyset_values(after: Key | None, limit: int) -> dict[str, Any]:
    """The bound parameters of a keyset page's start and size: ``key_sort``, ``key_id``, ``limit``."""
    key_sort, key_id = after if after is not None else (None, None)
    return {"key_sort": key_sort, "key_id": key_id, "limit": limit}


def _page_shape(flt: MessageFilter, after: Key | None) -> tuple[object, ...] | None:
    """What tells two :func:`_page_query` statements apart once values are bound parameters;
    None for filters with values of their own in the statement (subject, thread, addresses but
    the one the page walks)."""
    walks_address = _address_driver(flt) is not None
    if flt.subject or flt.thread_id or len(address_filters(flt)) > int(walks_address):
        return None
    return (
        "message_page_json",
        walks_address,
        flt.folder_id is not None,
        flt.received_before is not None,
        flt.received_after is not None,
        after is not None,
        flt.unread,
        flt.starred,
        flt.has_attachment,
    )


async def message_page(
    session: AsyncSession, grant_id: str, flt: MessageFilter, limit: int, after: Key | None
) -> tuple[list[Row[Any]], Key | None]:
    """Up to ``limit`` message rows after ``after``, and the key of the next page (or None)."""
    rows = list((await session.execute(_page_query(grant_id, flt, limit + 1, after))).all())
    if flt.folder_id is not None:  # one message under two UIDs of a folder: show it once
        unique: dict[str, Row[Any]] = {}
        for r in rows:
            unique.setdefault(r.id, r)
        rows = list(unique.values())
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = (rows[-1].received_at, rows[-1].id) if more and rows else None
    return rows, next_key


async def message_page_json(
    db: Database, grant_id: str, flt: MessageFilter, limit: int, after: Key | None
) -> tuple[list[bytes], Key | None]:
    """Like :func:`message_page`, but each message as the JSON of its Nylas object (UTF-8),

    assembled from its stored head and the fields that change (:mod:`inboxsync.store.message_json`),
    read outside any session: compiled once per shape of filters (:meth:`Database.read_prepared`),
    or through :meth:`Database.read` for filters that take patterns (subject, thread).
    With a head cache (:attr:`Database.heads`) the page's statement reads no heads: those the
    process has come from it, the others by id in a second statement.
    """
    columns = (Message.received_at, Message.id, *message_parts(db.is_sqlite, head=not db.heads))
    rows = await db.read_prepared(
        _page_shape(flt, after),
        lambda: _page_query(grant_id, flt, limit + 1, after, columns),
        _page_values(grant_id, flt, limit + 1, after),
    )
    seen: set[str] = set()
    unique = []
    for row in rows:  # in a folder, one message under two UIDs is shown once
        if row[1] not in seen:
            seen.add(row[1])
            unique.append(row)
    more = len(unique) > limit
    unique = unique[:limit]
    next_key = (unique[-1][0], unique[-1][1]) if more and unique else None
    if db.heads is not None:
        unique = await with_heads(db, db.heads, unique, 1)
    return [assemble(r[2:]) for r in unique], next_key


async def with_heads(
    db: Database, cache: HeadCache, rows: Sequence[Sequence[Any]], at: int, *, keep: bool = False
) -> list[Sequence[Any]]:
    """Rows read with ``message_parts(head=False)`` (the message id at ``at``, whether it has a
    head next) completed: the head from ``cache``, or read by id and kept there; a message with
    no head rendered live, by id. A row whose message is gone meanwhile (or None) is left out, or
    with ``keep`` kept with None for its head and rendering (a thread without its latest message)."""
    heads: dict[str, bytes] = {}
    wanted: list[str] = []
    for row in rows:
        head = cache.get(row[at]) if row[at + 1] else None
        if head is None:
            if row[at] is not None:
                wanted.append(row[at])
        else:
            heads[row[at]] = head
    live: dict[str, str] = {}
    if wanted:
        found = await db.read_prepared(
            "message_heads",
            lambda: select(Message.id, *head_or_live(db.is_sqlite)).where(
                Message.id == func.any(bindparam("ids", type_=ARRAY(String)))
            ),
            {"ids": wanted},
        )
        for mid, head, rendered in found:
            if head is not None:
                cache.put(mid, head)
                heads[mid] = head
            elif rendered is not None:
                live[mid] = rendered
    out: list[Sequence[Any]] = []
    for row in rows:
        mid = row[at]
        if mid in heads:
            out.append((*row[: at + 1], heads[mid], *row[at + 2 : -1], None))
        elif mid in live:
            out.append((*row[: at + 1], None, *row[at + 2 : -1], live[mid]))
        elif keep:
            out.append((*row[: at + 1], None, *row[at + 2 : -1], None))
    return out


async def messages_json(db: Database, grant_id: str, message_ids: Sequence[str]) -> list[bytes]:
    """The JSON of these messages of this grant, in the order given (missing ids skipped): one
    prepared statement whatever their number (the ids travel as one parameter); heads as in
    :func:`message_page_json`."""
    if not message_ids:
        return []
    sqlite = db.is_sqlite
    parts = message_parts(sqlite, head=not db.heads)

    def query() -> Select[Any]:
        grant = bindparam("grant_id", type_=String)
        if sqlite:
            ids = bindparam("ids", type_=String)
            # The unary + keeps SQLite from walking every message of the grant by grant_id
            # instead of looking each id up by its primary key.
            return select(Message.id, *parts).where(
                literal_column("+messages.grant_id") == grant,
                Message.id.in_(select(literal_column("value")).select_from(func.json_each(ids))),
            )
        return select(Message.id, *parts).where(
            Message.grant_id == grant,
            Message.id == func.any(bindparam("ids", type_=ARRAY(String))),
        )

    ids: object = json.dumps(list(message_ids)) if sqlite else list(message_ids)
    rows = await db.read_prepared("messages_json", query, {"grant_id": grant_id, "ids": ids})
    if db.heads is not None:
        rows = await with_heads(db, db.heads, rows, 0)
    by_id = {r[0]: assemble(r[1:]) for r in rows}
    return [by_id[m] for m in message_ids if m in by_id]


async def message_json_one(db: Database, grant_id: str, message_id: str) -> bytes:
    """The JSON of one message of this grant (404 when it is not one)."""
    found = await messages_json(db, grant_id, [message_id])
    if not found:
        raise NotFound(f"message {message_id} not found")
    return found[0]


async def message_rows(
    session: AsyncSession, grant_id: str, message_ids: Sequence[str]
) -> list[Row[Any]]:
    """Full rows of the given messages of this grant (missing or foreign ids are skipped)."""
    if not message_ids:
        return []
    query = select(*MESSAGE_COLUMNS).where(
        Message.grant_id == grant_id, Message.id.in_(list(message_ids))
    )
    return list((await session.execute(query)).all())


async def message_row(session: AsyncSession, grant_id: str, message_id: str) -> Row[Any]:
    rows = await message_rows(session, grant_id, [message_id])
    if not rows:
        raise NotFound(f"message {message_id} not found")
    return rows[0]


async def folders_of(session: AsyncSession, message_ids: Sequence[str]) -> dict[str, list[str]]:
    """message id -> folder ids, for a page of messages, in one query."""
    found: dict[str, list[str]] = {m: [] for m in message_ids}
    if not message_ids:
        return found
    rows = await session.execute(
        select(MessageFolder.message_id, MessageFolder.folder_id)
        .where(MessageFolder.message_id.in_(list(message_ids)))
        .order_by(MessageFolder.message_id, MessageFolder.folder_id)
    )
    for mid, fid in rows.tuples():
        folders = found.setdefault(mid, [])
        if fid not in folders:
            folders.append(fid)
    return found


async def attachments_of(
    session: AsyncSession, message_ids: Sequence[str]
) -> dict[str, list[Row[Any]]]:
    """message id -> attachment rows, for a page of messages, in one query."""
    found: dict[str, list[Row[Any]]] = {}
    if not message_ids:
        return found
    rows = await session.execute(
        select(*ATTACHMENT_COLUMNS)
        .where(Attachment.message_id.in_(list(message_ids)))
        .order_by(Attachment.message_id, Attachment.part_id)
    )
    for row in rows.all():
        found.setdefault(row.message_id, []).append(row)
    return found


async def attachment_row(
    session: AsyncSession, grant_id: str, attachment_id: str, message_id: str
) -> tuple[Row[Any], str]:
    """The attachment and the blob key of its message; 404 unless both belong to this grant."""
    query = (
        select(*ATTACHMENT_COLUMNS, Message.sha256)
        .join(Message, Message.id == Attachment.message_id)
        .where(
            Attachment.id == attachment_id,
            Attachment.message_id == message_id,
            Message.grant_id == grant_id,
        )
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"attachment {attachment_id} of message {message_id} not found")
    return row, str(row.sha256)


#: How long a process trusts what an ``in=`` value named: folders change through its own API (which
#: forgets at once, :func:`forget_folder_names`) or, rarely, through sync in another process.
FOLDER_NAME_SECONDS = 1.0


def forget_folder_names(db: Database, grant_id: str) -> None:
    """After this process changed a grant's folders: resolve its ``in=`` values afresh (a new
    dict, so that a resolution under way when this runs does not store what it read before)."""
    db.folder_names = {k: v for k, v in db.folder_names.items() if k[0] != grant_id}


async def resolve_folder(db: Database, grant_id: str, value: str) -> str | None:
    """A folder id from an id, a role (``inbox``), a name or a path; None when nothing matches.
    Kept for :data:`FOLDER_NAME_SECONDS`: a list in a folder then costs one statement, not two."""
    now = time.monotonic()
    known = db.folder_names.get((grant_id, value))
    if known is not None and known[0] > now:
        return known[1]
    names = db.folder_names
    found = await _resolve_folder(db, grant_id, value)
    if names is db.folder_names:  # not forgotten while it was read
        if len(names) > 10_000:
            names.clear()
        names[(grant_id, value)] = (now + FOLDER_NAME_SECONDS, found)
    return found


async def _resolve_folder(db: Database, grant_id: str, value: str) -> str | None:
    """:func:`resolve_folder` read from the database."""

    def query() -> Select[Any]:
        return select(Folder.id, Folder.role, Folder.path, Folder.name).where(
            Folder.grant_id == bindparam("grant_id", type_=String)
        )

    rows = await db.read_prepared("resolve_folder", query, {"grant_id": grant_id})
    lowered = value.lower()
    for rank in range(4):
        for ident, role, path, name in rows:
            if (
                (rank == 0 and ident == value)
                or (rank == 1 and (role or "") == lowered)
                or (rank == 2 and path == value)
                or (rank == 3 and str(name).lower() == lowered)
            ):
                return str(ident)
    return None


def thread_has_message(flt: MessageFilter, thread_id_column: Any) -> ColumnElement[bool] | None:
    """EXISTS (a message of the thread matching the message-level parts of ``flt``)."""
    terms = message_conditions(
        MessageFilter(
            subject=None,
            any_email=flt.any_email,
            from_=flt.from_,
            to=flt.to,
            cc=flt.cc,
            bcc=flt.bcc,
        )
    )
    if flt.folder_id is not None:
        terms.append(
            exists().where(
                MessageFolder.message_id == Message.id,
                MessageFolder.folder_id == flt.folder_id,
            )
        )
    if not terms:
        return None
    return exists().where(Message.thread_id == thread_id_column, and_(*terms))
