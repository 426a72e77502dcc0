"""Threads: assignment by Message-ID references, and summaries derived from their messages.

A thread owns every Message-ID its messages carry or cite (``thread_refs``), so a reply finds its thread
whether it is synced before or after its parent (first sync goes newest first). When one message links two
threads, they merge into the older one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.store import bulk, changes
from inboxsync.store.models import Message, Thread, ThreadRef, table_of
from inboxsync.store.records import NewMessage

_REF_MAX = 255


def refs_of(message: NewMessage) -> list[str]:
    refs = [*message.references]
    if message.in_reply_to:
        refs.append(message.in_reply_to)
    if message.message_id_header:
        refs.append(message.message_id_header)
    return [r[:_REF_MAX] for r in dict.fromkeys(refs) if r]


class ThreadAssigner:
    """Assigns threads to a batch of new messages with one lookup query and one insert."""

    def __init__(self, session: AsyncSession, grant_id: str) -> None:
        self.session = session
        self.grant_id = grant_id
        self.known: dict[str, str] = {}  # ref -> thread id
        self.new_refs: dict[str, str] = {}
        self.created: set[str] = set()
        self.merged: dict[str, str] = {}  # absorbed thread -> surviving thread

    async def preload(self, messages: Iterable[NewMessage]) -> None:
        wanted = {ref for m in messages for ref in refs_of(m)}
        wanted_list = list(wanted)
        for start in range(0, len(wanted_list), 500):
            chunk = wanted_list[start : start + 500]
            rows = await self.session.execute(
                select(ThreadRef.ref, ThreadRef.thread_id).where(
                    ThreadRef.grant_id == self.grant_id, ThreadRef.ref.in_(chunk)
                )
            )
            self.known.update({ref: tid for ref, tid in rows.tuples()})

    def resolve(self, thread_id: str) -> str:
        """The thread ``thread_id`` ended up in (after merges)."""
        return self._resolve(thread_id)

    def _resolve(self, thread_id: str) -> str:
        while thread_id in self.merged:
            thread_id = self.merged[thread_id]
        return thread_id

    def assign(self, message: NewMessage, provider_thread: str | None = None) -> str:
        refs = refs_of(message)
        found = sorted({self._resolve(self.known[r]) for r in refs if r in self.known})
        if provider_thread is not None:
            thread_id = provider_thread
        elif found:
            thread_id = found[0]  # ids sort by creation time: keep the oldest
            for other in found[1:]:
                self.merged[other] = thread_id
        else:
            thread_id = new_id()
            self.created.add(thread_id)
        for ref in refs:
            if self.known.get(ref) is None or self._resolve(self.known[ref]) != thread_id:
                self.known[ref] = thread_id
                self.new_refs[ref] = thread_id
        return thread_id

    async def flush(self) -> None:
        """Write new refs and carry out merges (messages and refs of absorbed threads move over)."""
        for absorbed in list(self.merged):
            survivor = self._resolve(absorbed)
            await self.session.execute(
                update(Message)
                .where(Message.grant_id == self.grant_id, Message.thread_id == absorbed)
                .values(thread_id=survivor)
            )
            await self.session.execute(
                update(ThreadRef)
                .where(ThreadRef.grant_id == self.grant_id, ThreadRef.thread_id == absorbed)
                .values(thread_id=survivor)
            )
            await self.session.execute(delete(Thread).where(Thread.id == absorbed))
            if absorbed not in self.created:
                changes.record(self.session, self.grant_id, "thread", absorbed, "deleted")
        self.created = {self._resolve(t) for t in self.created}
        if self.new_refs:
            existing = await self.session.execute(
                select(ThreadRef.ref).where(
                    ThreadRef.grant_id == self.grant_id, ThreadRef.ref.in_(list(self.new_refs))
                )
            )
            present = set(existing.scalars())
            inserts = [
                {"grant_id": self.grant_id, "ref": ref, "thread_id": self._resolve(tid)}
                for ref, tid in self.new_refs.items()
                if ref not in present
            ]
            if inserts:
                await bulk.insert(self.session, table_of(ThreadRef), inserts)
            for ref in present:
                await self.session.execute(
                    update(ThreadRef)
                    .where(ThreadRef.grant_id == self.grant_id, ThreadRef.ref == ref)
                    .values(thread_id=self._resolve(self.new_refs[ref]))
                )
            self.new_refs.clear()


_SUMMARY_COLUMNS = (
    Message.id,
    Message.thread_id,
    Message.subject,
    Message.snippet,
    Message.from_,
    Message.to,
    Message.cc,
    Message.bcc,
    Message.unread,
    Message.starred,
    Message.is_draft,
    Message.has_attachments,
    Message.date,
    Message.received_at,
)


def _participants(messages: Sequence[Any]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for m in messages:
        for p in [*m.from_, *m.to, *m.cc, *m.bcc]:
            email = str(p.get("email", "")).lower()
            key = email or str(p.get("name", ""))
            if key and key not in seen:
                seen[key] = {"name": str(p.get("name", "")), "email": str(p.get("email", ""))}
    return list(seen.values())


def _summary(messages: list[Any], self_email: str) -> dict[str, Any]:
    messages.sort(key=lambda m: (m.received_at, m.id))
    latest = messages[-1]
    non_drafts = [m for m in messages if not m.is_draft]
    email = self_email.lower()
    sent = [
        m.date
        for m in messages
        if email and any(str(p.get("email", "")).lower() == email for p in m.from_)
    ]
    return {
        "subject": messages[0].subject,
        "snippet": latest.snippet,
        "participants": _participants(messages),
        "message_count": len(messages),
        "unread": any(m.unread for m in non_drafts),
        "starred": any(m.starred for m in messages),
        "has_attachments": any(m.has_attachments for m in messages),
        "has_drafts": len(non_drafts) != len(messages),
        "earliest_message_date": min(m.date for m in messages),
        "latest_message_received_date": latest.received_at,
        "latest_message_sent_date": max(sent) if sent else None,
        "latest_message_id": latest.id,
    }


async def recompute(
    session: AsyncSession,
    grant_id: str,
    thread_ids: Iterable[str],
    *,
    self_email: str = "",
    created: set[str] | None = None,
) -> None:
    """Derive each thread's summary from its messages; delete threads left empty; log the changes.

    Set-based: one column query for the messages, one for the threads, then bulk writes.
    """
    ids = list(dict.fromkeys(thread_ids))
    created = created or set()
    now = int(time.time())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await session.execute(
            select(*_SUMMARY_COLUMNS).where(
                Message.grant_id == grant_id, Message.thread_id.in_(chunk)
            )
        )
        by_thread: dict[str, list[Any]] = {tid: [] for tid in chunk}
        for row in rows:
            by_thread[row.thread_id].append(row)
        existing = {
            row.id: row
            for row in await session.execute(select(table_of(Thread)).where(Thread.id.in_(chunk)))
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        gone: list[str] = []
        created_events: list[str] = []
        updated_events: list[tuple[str, list[str]]] = []
        for tid, messages in by_thread.items():
            old = existing.get(tid)
            if not messages:
                if old is not None:
                    gone.append(tid)
                continue
            values = _summary(messages, self_email)
            if old is None:
                inserts.append({"id": tid, "grant_id": grant_id, "updated_at": now, **values})
                created_events.append(tid)
                continue
            changed = [k for k, v in values.items() if getattr(old, k) != v]
            if changed:
                updates.append({"_id": tid, "updated_at": now, **values})
                if tid in created:
                    created_events.append(tid)
                else:
                    updated_events.append((tid, changed))
        if inserts:
            await bulk.insert(session, table_of(Thread), inserts)
        if updates:
            table = table_of(Thread)
            await session.execute(
                update(table).where(table.c.id == bindparam("_id")),
                updates,
                execution_options={"synchronize_session": False},
            )
        if gone:
            await session.execute(delete(Thread).where(Thread.id.in_(gone)))
            await changes.record_many(session, grant_id, "thread", "deleted", gone)
        await changes.record_many(session, grant_id, "thread", "created", created_events)
        for tid, fields in updated_events:
            changes.record(session, grant_id, "thread", tid, "updated", fields)
