"""Drafts: message rows with ``is_draft``; the id stays while the content (and the IMAP copy, its
UID and content hash) is replaced on each update.

Each version of a draft is a new blob with its own Message-ID. The row is re-pointed at it here at
once; the worker APPENDs the new copy to the Drafts folder and removes the older ones
(``save_draft``). Deleting a draft forgets the row and leaves ``delete_draft`` for the worker.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Row, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import NotFound
from inboxsync.store import changes, fts, sending, threads
from inboxsync.store.actions import enqueue
from inboxsync.store.models import Message, MessageFolder
from inboxsync.store.queries import MESSAGE_COLUMNS, MessageFilter, message_conditions
from inboxsync.store.records import NewMessage

Key = tuple[int, str]


async def get(session: AsyncSession, grant_id: str, draft_id: str) -> Message:
    row = await session.get(Message, draft_id)
    if row is None or row.grant_id != grant_id or not row.is_draft:
        raise NotFound(f"draft {draft_id} not found")
    return row


def _save(session: AsyncSession, row: Message, drafts_folder_id: str | None) -> None:
    if drafts_folder_id is not None:
        enqueue(
            session,
            row.grant_id,
            "save_draft",
            row.id,
            {
                "sha256": row.sha256,
                "message_id_header": row.message_id_header,
                "folder_id": drafts_folder_id,
            },
        )


async def create(
    session: AsyncSession,
    grant_id: str,
    m: NewMessage,
    *,
    metadata: dict[str, Any] | None = None,
    self_email: str = "",
) -> Message:
    row = await sending.insert_local(
        session, grant_id, m, draft=True, metadata=metadata, self_email=self_email
    )
    folder = await sending.folder_with_role(session, grant_id, "drafts")
    _save(session, row, folder.id if folder else None)
    return row


async def replace(
    session: AsyncSession,
    grant_id: str,
    draft_id: str,
    m: NewMessage,
    *,
    metadata: dict[str, Any] | None = None,
    self_email: str = "",
) -> Message:
    """Point the draft at a new version (same id, same thread)."""
    row = await get(session, grant_id, draft_id)
    for key, value in sending.row_values(m, draft=True).items():
        setattr(row, key, value)
    if metadata is not None:
        row.metadata_ = dict(metadata)
    row.updated_at = int(time.time())
    await sending.put_attachments(session, grant_id, row.id, m)
    await fts.forget(session, [row.id])
    await fts.index(session, [fts.of_new(grant_id, row.id, m)])
    changes.record(session, grant_id, "message", row.id, "updated", ["body", "subject"])
    await session.flush()
    if row.thread_id:
        await threads.recompute(session, grant_id, [row.thread_id], self_email=self_email)
    folder = await sending.folder_with_role(session, grant_id, "drafts")
    _save(session, row, folder.id if folder else None)
    return row


async def delete(
    session: AsyncSession, grant_id: str, draft_id: str, *, self_email: str = ""
) -> None:
    row = await get(session, grant_id, draft_id)
    rows = await session.execute(
        select(MessageFolder.folder_id, MessageFolder.uid).where(
            MessageFolder.message_id == draft_id
        )
    )
    placements = [{"folder_id": f, "uid": u} for f, u in rows.tuples()]
    header, provider_id = row.message_id_header, row.provider_id  # Gmail: its draft id
    await sending.discard(session, grant_id, draft_id, self_email=self_email)
    if placements:
        enqueue(
            session,
            grant_id,
            "delete_draft",
            draft_id,
            {"placements": placements, "message_id_header": header}
            | ({"provider_id": provider_id} if provider_id else {}),
        )


async def page(
    session: AsyncSession, grant_id: str, flt: MessageFilter, limit: int, after: Key | None
) -> tuple[list[Row[Any]], Key | None]:
    """Drafts newest first, keyset-paged like messages."""
    terms = [Message.grant_id == grant_id, Message.is_draft.is_(True), *message_conditions(flt)]
    if flt.folder_id is not None:
        terms.append(
            Message.id.in_(
                select(MessageFolder.message_id).where(MessageFolder.folder_id == flt.folder_id)
            )
        )
    if after is not None:
        terms.append(
            tuple_(Message.received_at, Message.id) < tuple_(literal(after[0]), literal(after[1]))
        )
    query = (
        select(*MESSAGE_COLUMNS)
        .where(*terms)
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(limit + 1)
    )
    rows = list((await session.execute(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, ((rows[-1].received_at, rows[-1].id) if more and rows else None)
