"""Outgoing messages in the store: the local row of a message being sent (or a draft), and the
``send_message`` outbox row with its progress markers.

A message accepted for sending gets its :class:`Message` row at once (no folder yet: the Sent copy
is placed when the worker has APPENDed it) and an :class:`Action` born ``in_flight`` with a lease, so
that the request delivering it is the only one to touch it until the lease runs out. Payload keys::

    sha256, message_id_header, mail_from, recipients, sent_folder_id, draft (bool)
    smtp:  absent  -> not handed to SMTP yet (safe to send)
           "data"  -> DATA was about to start: the server may have it (never resent blindly)
           "done"  -> the server accepted it (smtp_reply, refused)
    sent:  "appending" -> an APPEND of the Sent copy may have happened; <uid> once placed
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.errors import NotFound
from inboxsync.store import changes, fts, messages, threads
from inboxsync.store.models import Action, Attachment, Folder, Message, MessageFolder, table_of
from inboxsync.store.records import NewMessage

KIND = "send_message"


def row_values(m: NewMessage, *, draft: bool) -> dict[str, Any]:
    """Message columns from a parsed outgoing message (ours: read, never unread)."""
    return {
        "sha256": m.sha256,
        "size": m.size,
        "message_id_header": m.message_id_header[:1000] if m.message_id_header else None,
        "in_reply_to": m.in_reply_to,
        "references": list(m.references),
        "subject": m.subject,
        "from_": list(m.from_),
        "to": list(m.to),
        "cc": list(m.cc),
        "bcc": list(m.bcc),
        "reply_to": list(m.reply_to),
        "date": m.date,
        "received_at": m.received_at,
        "snippet": m.snippet,
        "body": m.body,
        "unread": False,
        "is_draft": draft,
        "has_attachments": m.has_attachments,
        "parse_errors": list(m.parse_errors),
        "json_head": None,  # a draft's text changes: rendered live (store/message_json.py)
    }


async def put_attachments(session: AsyncSession, grant_id: str, mid: str, m: NewMessage) -> None:
    await session.execute(delete(Attachment).where(Attachment.message_id == mid))
    rows = messages.attachment_rows_of(grant_id, mid, m)
    if rows:
        await session.execute(table_of(Attachment).insert(), rows)


async def insert_local(
    session: AsyncSession,
    grant_id: str,
    m: NewMessage,
    *,
    draft: bool,
    metadata: dict[str, Any] | None = None,
    self_email: str = "",
) -> Message:
    """A message of ours (sent or draft) that no folder holds yet; threaded like synced mail."""
    now = int(time.time())
    assigner = threads.ThreadAssigner(session, grant_id)
    await assigner.preload([m])
    thread_id = assigner.assign(m)
    await assigner.flush()
    message = Message(
        id=new_id(),
        grant_id=grant_id,
        thread_id=thread_id,
        starred=False,
        metadata_=dict(metadata or {}),
        created_at=now,
        updated_at=now,
        **row_values(m, draft=draft),
    )
    session.add(message)
    await session.flush()
    await put_attachments(session, grant_id, message.id, m)
    await fts.index(session, [fts.of_new(grant_id, message.id, m)])
    changes.record(session, grant_id, "message", message.id, "created")
    await threads.recompute(
        session, grant_id, [thread_id], self_email=self_email, created=assigner.created
    )
    return message


def accept(
    session: AsyncSession,
    grant_id: str,
    message_id: str,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None,
    lease: float,
) -> Action:
    """The outbox row of a send, claimed by the caller for ``lease`` seconds."""
    now = time.time()
    action = Action(
        grant_id=grant_id,
        kind=KIND,
        object_id=message_id,
        payload=payload,
        state="in_flight",
        attempts=0,
        next_attempt_at=now + lease,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    return action


async def by_idempotency_key(session: AsyncSession, grant_id: str, key: str) -> Action | None:
    found = await session.scalars(
        select(Action).where(Action.grant_id == grant_id, Action.idempotency_key == key)
    )
    return found.first()


async def progress(
    session: AsyncSession,
    action_id: int,
    *,
    state: str | None = None,
    next_attempt_at: float | None = None,
    error: str | None = None,
    attempts: int | None = None,
    **payload: Any,
) -> Action:
    """Record a step of a send in its action (merged into the payload; ``None`` drops a key)."""
    action = await session.get(Action, action_id)
    if action is None:
        raise NotFound(f"action {action_id} not found")
    merged = {**action.payload, **payload}
    action.payload = {k: v for k, v in merged.items() if v is not None}
    if state is not None:
        action.state = state
    if next_attempt_at is not None:
        action.next_attempt_at = next_attempt_at
    if error is not None:
        action.last_error = error[:2000]
    if attempts is not None:
        action.attempts = attempts
    action.updated_at = time.time()
    return action


async def folder_with_role(session: AsyncSession, grant_id: str, role: str) -> Folder | None:
    found = await session.scalars(
        select(Folder).where(Folder.grant_id == grant_id, Folder.role == role).limit(1)
    )
    return found.first()


async def place(
    session: AsyncSession, message: Message, folder_id: str, uid: int, flags: Sequence[str]
) -> None:
    """The server holds ``message`` in ``folder_id`` under ``uid`` (unless sync recorded it first)."""
    if await session.get(MessageFolder, (folder_id, uid)) is None:
        await session.execute(
            table_of(MessageFolder)
            .insert()
            .values(
                folder_id=folder_id,
                uid=uid,
                message_id=message.id,
                grant_id=message.grant_id,
                flags=list(flags),
                modseq=None,
                received_at=message.received_at,
            )
        )
    await place_refresh(session, message)


async def place_refresh(session: AsyncSession, message: Message) -> None:
    """After a placement changed: flags re-derived, the change logged."""
    await messages.refresh_flags(session, message.grant_id, [message.id])
    changes.record(session, message.grant_id, "message", message.id, "updated", ["folders"])


async def placements_in(session: AsyncSession, message_id: str, folder_id: str) -> list[int]:
    rows = await session.scalars(
        select(MessageFolder.uid).where(
            MessageFolder.message_id == message_id, MessageFolder.folder_id == folder_id
        )
    )
    return list(rows.all())


async def unplace(session: AsyncSession, folder_id: str, uids: Sequence[str | int]) -> None:
    if uids:
        await session.execute(
            delete(MessageFolder).where(
                MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(list(uids))
            )
        )


async def discard(
    session: AsyncSession, grant_id: str, message_id: str, *, self_email: str = ""
) -> None:
    """Forget a message that was never sent (the server refused it for good)."""
    message = await session.get(Message, message_id)
    if message is None:
        return
    thread_id = message.thread_id
    await session.execute(delete(MessageFolder).where(MessageFolder.message_id == message_id))
    await session.execute(delete(Attachment).where(Attachment.message_id == message_id))
    await session.execute(delete(Message).where(Message.id == message_id))
    changes.record(session, grant_id, "message", message_id, "deleted")
    if thread_id:
        await session.flush()
        await threads.recompute(session, grant_id, [thread_id], self_email=self_email)


async def set_draft(session: AsyncSession, message_id: str, draft: bool) -> None:
    await session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(is_draft=draft, updated_at=int(time.time()))
    )


async def reply_context(
    session: AsyncSession, grant_id: str, message_id: str
) -> tuple[str | None, list[str]]:
    """(Message-ID, References) of the message a reply answers."""
    row = await session.get(Message, message_id)
    if row is None or row.grant_id != grant_id:
        raise NotFound(f"reply_to_message_id {message_id} not found")
    return row.message_id_header, list(row.references or [])
