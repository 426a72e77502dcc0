"""Message repository: batch ingest (the hot path of sync), placements, flags, removal.

Ingest of a batch is a handful of set-based statements whatever the batch size: one lookup of known
content hashes, one bulk insert per table, one upsert of placements, a thread recompute for the threads
touched. The caller commits the batch together with the folder's progress cursor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.store import bulk, changes, fts, message_json, threads
from inboxsync.store.models import Attachment, Folder, Message, MessageFolder, table_of
from inboxsync.store.records import IngestResult, NewMessage, Placement, flag_state
from inboxsync.store.upsert import upsert


async def known_by_hash(
    session: AsyncSession, grant_id: str, hashes: Iterable[str]
) -> dict[str, str]:
    """sha256 -> message id, for the hashes this grant already has."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(Message.sha256, Message.id).where(
                Message.grant_id == grant_id, Message.sha256.in_(wanted[start : start + 500])
            )
        )
        found.update(dict(rows.tuples().all()))
    return found


def message_row(
    grant_id: str, mid: str, thread_id: str, m: NewMessage, p: Placement, now: int
) -> dict[str, object]:
    unread, starred, draft = flag_state(p.flags)
    return {
        "id": mid,
        "grant_id": grant_id,
        "thread_id": thread_id,
        "provider_id": m.provider_id,
        "sha256": m.sha256,
        "size": m.size,
        "message_id_header": m.message_id_header[:1000] if m.message_id_header else None,
        "in_reply_to": m.in_reply_to,
        "references": list(m.references),
        "subject": m.subject,
        "from": list(m.from_),
        "to": list(m.to),
        "cc": list(m.cc),
        "bcc": list(m.bcc),
        "reply_to": list(m.reply_to),
        "date": m.date,
        "received_at": m.received_at,
        "snippet": m.snippet,
        "body": m.body,
        "unread": unread,
        "starred": starred,
        "is_draft": draft,
        "has_attachments": m.has_attachments,
        "metadata": dict(m.metadata),
        "parse_errors": list(m.parse_errors),
        "created_at": now,
        "updated_at": now,
    }


def attachment_rows_of(grant_id: str, mid: str, m: NewMessage) -> list[dict[str, object]]:
    """The ``attachments`` rows of a new message."""
    return [
        {
            "id": new_id(),
            "grant_id": grant_id,
            "message_id": mid,
            "part_id": a.part_id,
            "filename": a.filename,
            "content_type": a.content_type[:255],
            "size": a.size,
            "content_id": a.content_id[:1000] if a.content_id else None,
            "content_disposition": a.content_disposition,
            "is_inline": a.is_inline,
        }
        for a in m.attachments
    ]


async def insert_new(
    session: AsyncSession,
    grant_id: str,
    rows: Sequence[tuple[str, str, NewMessage, Placement]],
    now: int,
    folder_ids: Mapping[str, Iterable[str]],
) -> None:
    """Insert new messages given as (id, thread id, record, placement for their flags), with their
    attachments, full-text documents and pre-rendered JSON heads: one bulk statement per table (IMAP
    and Gmail ingest). ``folder_ids``: the folders the caller places each in next (on PostgreSQL
    the row gets them now, so that the triggers of migration 0010 need not write it again)."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    message_rows: list[dict[str, object]] = []
    attachment_rows: list[dict[str, object]] = []
    search_docs: list[fts.SearchDoc] = []
    for mid, thread_id, m, p in rows:
        row = message_row(grant_id, mid, thread_id, m, p, now)
        files = attachment_rows_of(grant_id, mid, m)
        row["json_head"] = message_json.head_of(row, files)
        if postgres:
            row["folder_ids"] = " ".join(sorted(set(folder_ids.get(mid, ())))) or None
        message_rows.append(row)
        search_docs.append(fts.of_new(grant_id, mid, m))  # full-text index, same transaction
        attachment_rows.extend(files)
    if message_rows:
        await bulk.insert(session, table_of(Message), message_rows)
    if attachment_rows:
        await bulk.insert(session, table_of(Attachment), attachment_rows)
    await fts.index(session, search_docs)


async def ingest(
    session: AsyncSession,
    grant_id: str,
    folder_id: str,
    batch: Sequence[tuple[NewMessage, Placement]],
    *,
    self_email: str = "",
) -> IngestResult:
    """Store a batch of messages found in one folder; known content only gains a placement."""
    now = int(time.time())
    known = await known_by_hash(session, grant_id, (m.sha256 for m, _ in batch))
    assigner = threads.ThreadAssigner(session, grant_id)
    fresh = [(m, p) for m, p in batch if m.sha256 not in known]
    await assigner.preload(m for m, _ in fresh)

    new_rows: list[tuple[str, str, NewMessage, Placement]] = []
    created: list[str] = []
    for m, p in fresh:
        if m.sha256 in known:  # the same bytes twice in one batch
            continue
        mid = new_id()
        known[m.sha256] = mid
        created.append(mid)
        new_rows.append((mid, assigner.assign(m, m.provider_thread_id), m, p))
    await assigner.flush()
    # A later message of the batch may have merged the thread an earlier one was given.
    new_rows = [(mid, assigner.resolve(tid), m, p) for mid, tid, m, p in new_rows]
    await insert_new(session, grant_id, new_rows, now, {mid: (folder_id,) for mid, *_ in new_rows})

    created_set = set(created)
    placements = [
        {
            "folder_id": folder_id,
            "uid": p.uid,
            "message_id": known[m.sha256],
            "grant_id": grant_id,
            "flags": list(p.flags),
            "modseq": p.modseq,
            "received_at": m.received_at,
        }
        for m, p in batch
    ]
    await upsert(session, MessageFolder, placements, ["folder_id", "uid"])
    placed = [known[m.sha256] for m, _ in batch if known[m.sha256] not in created_set]
    placed = list(dict.fromkeys(placed))
    if placed:
        await refresh_flags(session, grant_id, placed)

    await changes.record_many(session, grant_id, "message", "created", created)
    await changes.record_many(session, grant_id, "message", "updated", placed, ["folders"])

    touched = {thread_id for _, thread_id, _, _ in new_rows}
    if placed:
        rows = await session.execute(select(Message.thread_id).where(Message.id.in_(placed)))
        touched.update(t for t in rows.scalars() if t)
    await threads.recompute(
        session, grant_id, touched, self_email=self_email, created=assigner.created
    )
    return IngestResult(tuple(created), tuple(placed), tuple(touched))


async def refresh_flags(
    session: AsyncSession, grant_id: str, message_ids: Sequence[str]
) -> list[str]:
    """Re-derive unread/starred/draft from every placement; return ids whose state changed.

    A message is read if any copy is \\Seen, starred if any copy is \\Flagged.
    """
    changed: list[str] = []
    for start in range(0, len(message_ids), 500):
        chunk = list(message_ids[start : start + 500])
        placements = await session.execute(
            select(MessageFolder.message_id, MessageFolder.flags).where(
                MessageFolder.message_id.in_(chunk)
            )
        )
        state: dict[str, tuple[bool, bool, bool]] = {}
        for mid, flags in placements.tuples():
            unread, starred, draft = flag_state(flags)
            prev = state.get(mid)
            state[mid] = (
                (unread, starred, draft)
                if prev is None
                else (prev[0] and unread, prev[1] or starred, prev[2] or draft)
            )
        rows = await session.execute(
            select(Message.id, Message.unread, Message.starred, Message.is_draft).where(
                Message.id.in_(chunk)
            )
        )
        for mid, unread, starred, draft in rows.tuples():
            new = state.get(mid)
            if new is not None and new != (unread, starred, draft):
                await session.execute(
                    update(Message)
                    .where(Message.id == mid)
                    .values(
                        unread=new[0], starred=new[1], is_draft=new[2], updated_at=int(time.time())
                    )
                )
                changed.append(mid)
    return changed


async def folder_placements(
    session: AsyncSession, folder_id: str, uids: Iterable[int] | None = None
) -> dict[int, tuple[str, list[str], int | None]]:
    """uid -> (message id, flags, modseq) for one folder (only ``uids`` when given)."""
    columns = (
        MessageFolder.uid,
        MessageFolder.message_id,
        MessageFolder.flags,
        MessageFolder.modseq,
    )
    if uids is None:
        rows = await session.execute(select(*columns).where(MessageFolder.folder_id == folder_id))
        return {uid: (mid, flags, modseq) for uid, mid, flags, modseq in rows.tuples()}
    wanted = list(uids)
    out: dict[int, tuple[str, list[str], int | None]] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(*columns).where(
                MessageFolder.folder_id == folder_id,
                MessageFolder.uid.in_(wanted[start : start + 500]),
            )
        )
        out.update({uid: (mid, flags, modseq) for uid, mid, flags, modseq in rows.tuples()})
    return out


async def placement_count(session: AsyncSession, folder_id: str) -> int:
    value = await session.scalar(
        select(func.count()).select_from(MessageFolder).where(MessageFolder.folder_id == folder_id)
    )
    return int(value or 0)


async def max_uid(session: AsyncSession, folder_id: str) -> int:
    value = await session.scalar(
        select(func.max(MessageFolder.uid)).where(MessageFolder.folder_id == folder_id)
    )
    return int(value or 0)


async def min_uid(session: AsyncSession, folder_id: str) -> int:
    value = await session.scalar(
        select(func.min(MessageFolder.uid)).where(MessageFolder.folder_id == folder_id)
    )
    return int(value or 0)


async def set_flags(
    session: AsyncSession,
    grant_id: str,
    folder_id: str,
    updates: Sequence[tuple[int, Sequence[str], int | None]],
    *,
    self_email: str = "",
) -> list[str]:
    """Apply server flag changes (uid, flags, modseq); returns the ids of messages that changed."""
    if not updates:
        return []
    by_uid = {uid: (list(flags), modseq) for uid, flags, modseq in updates}
    uids = list(by_uid)
    mids: list[str] = []
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        rows = await session.execute(
            select(MessageFolder.uid, MessageFolder.message_id, MessageFolder.flags).where(
                MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(chunk)
            )
        )
        for uid, mid, old in rows.tuples():
            flags, modseq = by_uid[uid]
            if sorted(old) != sorted(flags):
                mids.append(mid)
            await session.execute(
                update(MessageFolder)
                .where(MessageFolder.folder_id == folder_id, MessageFolder.uid == uid)
                .values(flags=flags, modseq=modseq)
            )
    changed = await refresh_flags(session, grant_id, list(dict.fromkeys(mids)))
    for mid in changed:
        changes.record(session, grant_id, "message", mid, "updated", ["unread", "starred"])
    await recompute_threads_of(session, grant_id, changed, self_email)
    return changed


async def remove_placements(
    session: AsyncSession,
    grant_id: str,
    folder_id: str,
    uids: Iterable[int],
    *,
    self_email: str = "",
    defer_orphans: bool = False,
) -> tuple[list[str], list[str]]:
    """Forget UIDs of a folder (expunged or moved away).

    Messages left in no folder are deleted, unless ``defer_orphans``: then they are returned and kept
    until :func:`delete_orphans`, so that a message moved to a folder synced later keeps its id.
    Returns (message ids still placed somewhere, orphaned message ids).
    """
    uid_list = list(uids)
    mids: set[str] = set()
    for start in range(0, len(uid_list), 500):
        chunk = uid_list[start : start + 500]
        rows = await session.execute(
            select(MessageFolder.message_id).where(
                MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(chunk)
            )
        )
        mids.update(rows.scalars())
        await session.execute(
            delete(MessageFolder).where(
                MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(chunk)
            )
        )
    if not mids:
        return [], []
    placed = await _still_placed(session, list(mids))
    kept = [m for m in mids if m in placed]
    orphans = [m for m in mids if m not in placed]
    if kept:
        await refresh_flags(session, grant_id, kept)
        for mid in kept:
            changes.record(session, grant_id, "message", mid, "updated", ["folders"])
        await recompute_threads_of(session, grant_id, kept, self_email)
    if orphans and not defer_orphans:
        orphans = await delete_orphans(session, grant_id, orphans, self_email=self_email)
    return kept, orphans


async def _still_placed(session: AsyncSession, mids: list[str]) -> set[str]:
    placed: set[str] = set()
    for start in range(0, len(mids), 500):
        rows = await session.execute(
            select(MessageFolder.message_id)
            .where(MessageFolder.message_id.in_(mids[start : start + 500]))
            .distinct()
        )
        placed.update(rows.scalars())
    return placed


async def delete_orphans(
    session: AsyncSession, grant_id: str, candidates: Iterable[str], *, self_email: str = ""
) -> list[str]:
    """Delete those of ``candidates`` that sit in no folder; returns the ids deleted."""
    mids = list(dict.fromkeys(candidates))
    if not mids:
        return []
    placed = await _still_placed(session, mids)
    orphans = [m for m in mids if m not in placed]
    if not orphans:
        return []
    thread_ids: set[str] = set()
    for start in range(0, len(orphans), 500):
        chunk = orphans[start : start + 500]
        rows = await session.execute(select(Message.thread_id).where(Message.id.in_(chunk)))
        thread_ids.update(t for t in rows.scalars() if t)
        await session.execute(delete(Attachment).where(Attachment.message_id.in_(chunk)))
        await session.execute(delete(Message).where(Message.id.in_(chunk)))
    for mid in orphans:
        changes.record(session, grant_id, "message", mid, "deleted")
    await threads.recompute(session, grant_id, thread_ids, self_email=self_email)
    return orphans


async def recompute_threads_of(
    session: AsyncSession, grant_id: str, message_ids: Sequence[str], self_email: str
) -> None:
    if not message_ids:
        return
    rows = await session.execute(select(Message.thread_id).where(Message.id.in_(list(message_ids))))
    await threads.recompute(
        session, grant_id, {t for t in rows.scalars() if t}, self_email=self_email
    )


async def move_placements(session: AsyncSession, folder_id: str, remap: dict[int, int]) -> None:
    """Give placements of a folder new UIDs (UIDVALIDITY change matched by content)."""
    rows = (
        await session.scalars(
            select(MessageFolder).where(
                MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(list(remap))
            )
        )
    ).all()
    saved = [(r.message_id, r.grant_id, r.flags, r.received_at, remap[r.uid]) for r in rows]
    await session.execute(
        delete(MessageFolder).where(
            MessageFolder.folder_id == folder_id, MessageFolder.uid.in_(list(remap))
        )
    )
    if saved:
        await session.execute(
            table_of(MessageFolder).insert(),
            [
                {
                    "folder_id": folder_id,
                    "uid": new_uid,
                    "message_id": mid,
                    "grant_id": gid,
                    "flags": flags,
                    "modseq": None,
                    "received_at": received,
                }
                for mid, gid, flags, received, new_uid in saved
            ],
        )


async def update_folder_counts(session: AsyncSession, folder: Folder) -> None:
    total = await session.scalar(
        select(func.count()).select_from(MessageFolder).where(MessageFolder.folder_id == folder.id)
    )
    unread = await session.scalar(
        select(func.count(func.distinct(MessageFolder.message_id)))
        .select_from(MessageFolder)
        .join(Message, Message.id == MessageFolder.message_id)
        .where(MessageFolder.folder_id == folder.id, Message.unread.is_(True))
    )
    folder.total_count = int(total or 0)
    folder.unread_count = int(unread or 0)


async def count_for_grant(session: AsyncSession, grant_id: str) -> int:
    value = await session.scalar(
        select(func.count()).select_from(Message).where(Message.grant_id == grant_id)
    )
    return int(value or 0)
