"""Gmail messages in the store: keyed by Gmail's own ids, one placement per label.

A Gmail message is one ``messages`` row whose id *is* the Gmail message id (16 hex digits) and whose
thread is the Gmail thread id, so the API serves Google's ids. Each label that is a folder gives one
``message_folders`` row; the UID of every row is :func:`uid_of` the Gmail id. Besides the labels, every
message outside SPAM and TRASH sits in the synthetic "all mail" folder (``ALL_PATH``), as Gmail shows it,
so that a message archived out of every label is still placed somewhere: a message with no placement is
deleted. UNREAD, STARRED and DRAFT become the ``\\Seen``/``\\Flagged``/``\\Draft`` flags of every
placement, so :func:`records.flag_state` and the API read Gmail messages as they read IMAP ones.

The set-based parts (thread assignment, change rows, thread summaries, orphan removal) are the ones of
:mod:`.messages` and :mod:`.threads`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import changes, messages, sending, threads
from inboxsync.store.models import (
    Action,
    Folder,
    Grant,
    Message,
    MessageFolder,
)
from inboxsync.store.records import NewMessage, Placement
from inboxsync.store.upsert import upsert

ALL_PATH = "[all]"  # the synthetic folder of every message outside SPAM and TRASH
FLAG_LABELS = frozenset({"UNREAD"})  # labels that are flags only, never folders
_MASK = (1 << 63) - 1
_CHUNK = 500


def uid_of(gmail_id: str) -> int:
    """A stable BIGINT for a Gmail id (16 hex digits can pass 2^63: the top bit is dropped)."""
    return int(gmail_id, 16) & _MASK


def flags_of(labels: Iterable[str]) -> tuple[str, ...]:
    present = set(labels)
    flags = [] if "UNREAD" in present else ["\\Seen"]
    if "STARRED" in present:
        flags.append("\\Flagged")
    if "DRAFT" in present:
        flags.append("\\Draft")
    return tuple(flags)


def folders_of(labels: Iterable[str], folder_ids: Mapping[str, str]) -> list[str]:
    """Folder ids of a label set (labels without a folder are left out)."""
    present = set(labels)
    out = [folder_ids[lab] for lab in sorted(present) if lab in folder_ids and lab != ALL_PATH]
    if not present & {"SPAM", "TRASH"} and ALL_PATH in folder_ids:
        out.append(folder_ids[ALL_PATH])
    return out


async def existing(session: AsyncSession, grant_id: str, ids: Iterable[str]) -> set[str]:
    """Which of these Gmail ids are stored for the grant (a local draft's Gmail copy counts)."""
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = await session.execute(
            select(Message.id).where(
                Message.grant_id == grant_id, Message.id.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update(rows.scalars())
    found.update(await local_drafts(session, grant_id, set(wanted) - found))
    return found


async def local_drafts(session: AsyncSession, grant_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Gmail message id -> the local draft it copies, for drafts written through our API.

    Such a draft keeps its own id; its current Gmail copy sits in the Drafts folder under
    ``uid_of(gmail message id)`` (see :func:`inboxsync.actions.gmail.save_draft`), so the history
    and listings that name the copy find the draft instead of storing the copy a second time.
    """
    by_uid = {uid_of(i): i for i in dict.fromkeys(ids)}
    if not by_uid:
        return {}
    folder = await sending.folder_with_role(session, grant_id, "drafts")
    if folder is None:
        return {}
    uids = list(by_uid)
    out: dict[str, str] = {}
    for start in range(0, len(uids), _CHUNK):
        rows = await session.execute(
            select(MessageFolder.uid, MessageFolder.message_id).where(
                MessageFolder.folder_id == folder.id,
                MessageFolder.uid.in_(uids[start : start + _CHUNK]),
            )
        )
        for uid, mid in rows.tuples():
            if mid != by_uid[uid]:
                out[by_uid[uid]] = mid
    return out


async def all_ids(session: AsyncSession, grant_id: str) -> set[str]:
    """Ids of the messages that came from Gmail (not local drafts and sends awaiting Google)."""
    rows = await session.execute(
        select(Message.id).where(Message.grant_id == grant_id, Message.provider_id == Message.id)
    )
    return set(rows.scalars())


async def labels_of(
    session: AsyncSession, grant_id: str, ids: Iterable[str]
) -> dict[str, set[str]]:
    """The label set of stored messages, rebuilt from their placements and flags."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, set[str]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await session.execute(
            select(MessageFolder.message_id, Folder.path, MessageFolder.flags)
            .join(Folder, Folder.id == MessageFolder.folder_id)
            .where(MessageFolder.message_id.in_(chunk), MessageFolder.grant_id == grant_id)
        )
        for mid, path, flags in rows.tuples():
            labels = out.setdefault(mid, set())
            if path != ALL_PATH:
                labels.add(path)
            if "\\Seen" not in flags:
                labels.add("UNREAD")
    return out


def _placements(
    grant_id: str, mid: str, labels: Iterable[str], folder_ids: Mapping[str, str], received: int
) -> list[dict[str, object]]:
    flags = list(flags_of(labels))
    uid = uid_of(mid)
    return [
        {
            "folder_id": fid,
            "uid": uid,
            "message_id": mid,
            "grant_id": grant_id,
            "flags": flags,
            "modseq": None,
            "received_at": received,
        }
        for fid in folders_of(labels, folder_ids)
    ]


async def ingest(
    session: AsyncSession,
    grant_id: str,
    batch: Sequence[tuple[NewMessage, frozenset[str]]],
    folder_ids: Mapping[str, str],
    *,
    self_email: str = "",
) -> list[str]:
    """Store new Gmail messages (``provider_id`` and ``provider_thread_id`` set) with their labels.

    Ids already stored are left alone (a resumed first sync may see them again). Returns new ids.
    """
    now = int(time.time())
    known = await existing(session, grant_id, (m.provider_id or "" for m, _ in batch))
    drafts = await local_drafts(session, grant_id, known)
    for m, labels in batch:
        if m.provider_id in drafts and "DRAFT" not in labels:  # sent from Gmail itself
            await sending.discard(session, grant_id, drafts[m.provider_id], self_email=self_email)
            known.discard(m.provider_id)
    fresh: dict[str, tuple[NewMessage, frozenset[str]]] = {}
    for m, labels in batch:
        if m.provider_id and m.provider_id not in known:
            fresh[m.provider_id] = (m, labels)
    if not fresh:
        return []
    assigner = threads.ThreadAssigner(session, grant_id)
    await assigner.preload(m for m, _ in fresh.values())
    rows: list[tuple[str, str, NewMessage, Placement]] = []
    placements: list[dict[str, object]] = []
    for mid, (m, labels) in fresh.items():
        thread_id = assigner.assign(m, m.provider_thread_id or mid)
        rows.append((mid, thread_id, m, Placement(uid_of(mid), flags_of(labels))))
        placements.extend(_placements(grant_id, mid, labels, folder_ids, m.received_at))
    await assigner.flush()
    rows = [(mid, assigner.resolve(tid), m, p) for mid, tid, m, p in rows]
    placed: dict[str, list[str]] = {}
    for p in placements:
        placed.setdefault(str(p["message_id"]), []).append(str(p["folder_id"]))
    await messages.insert_new(session, grant_id, rows, now, placed)  # attachments, search docs
    await upsert(session, MessageFolder, placements, ["folder_id", "uid"])
    created = list(fresh)
    await changes.record_many(session, grant_id, "message", "created", created)
    touched = {thread_id for _, thread_id, _, _ in rows}
    await threads.recompute(session, grant_id, touched, self_email=self_email)
    return created


async def set_labels(
    session: AsyncSession,
    grant_id: str,
    updates: Mapping[str, Iterable[str]],
    folder_ids: Mapping[str, str],
    *,
    self_email: str = "",
) -> list[str]:
    """Make each message's placements and flags match its label set; returns the ids that changed."""
    ids = list(updates)
    changed: dict[str, set[str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await session.execute(
            select(
                MessageFolder.message_id,
                MessageFolder.folder_id,
                MessageFolder.uid,
                MessageFolder.flags,
                MessageFolder.received_at,
            ).where(MessageFolder.message_id.in_(chunk), MessageFolder.grant_id == grant_id)
        )
        current: dict[str, list[tuple[str, int, list[str], int]]] = {}
        for mid, fid, uid, flags, received in rows.tuples():
            current.setdefault(mid, []).append((fid, uid, flags, received))
        drop: list[tuple[str, int]] = []
        want: list[dict[str, object]] = []
        for mid in chunk:
            have = current.get(mid)
            if not have:
                continue  # not stored (or not placed): nothing to relabel
            target = _placements(grant_id, mid, updates[mid], folder_ids, have[0][3])
            target_keys = {(str(p["folder_id"]), int(str(p["uid"]))) for p in target}
            have_keys = {(fid, uid) for fid, uid, _, _ in have}
            flags = sorted(flags_of(updates[mid]))
            fields: set[str] = set()
            if target_keys != have_keys:
                fields.add("folders")
            if any(sorted(f) != flags for _, _, f, _ in have):
                fields.update(("unread", "starred"))
            if fields:
                changed[mid] = fields
                drop.extend(k for k in have_keys if k not in target_keys)
                want.extend(target)
        for start_drop in range(0, len(drop), _CHUNK):
            keys = drop[start_drop : start_drop + _CHUNK]
            await session.execute(
                delete(MessageFolder).where(
                    tuple_(MessageFolder.folder_id, MessageFolder.uid).in_(keys)
                )
            )
        await upsert(session, MessageFolder, want, ["folder_id", "uid"])
    if not changed:
        return []
    mids = list(changed)
    await messages.refresh_flags(session, grant_id, mids)
    for mid, fields in changed.items():
        changes.record(session, grant_id, "message", mid, "updated", sorted(fields))
    await messages.recompute_threads_of(session, grant_id, mids, self_email)
    orphaned = [mid for mid in mids if not folders_of(updates[mid], folder_ids)]
    await messages.delete_orphans(session, grant_id, orphaned, self_email=self_email)
    return mids


async def delete_messages(
    session: AsyncSession, grant_id: str, ids: Iterable[str], *, self_email: str = ""
) -> list[str]:
    """Gmail deleted these messages (for good): drop them; returns the ids that were stored."""
    wanted = list(dict.fromkeys(ids))
    for local in (await local_drafts(session, grant_id, wanted)).values():  # deleted in Gmail
        await sending.discard(session, grant_id, local, self_email=self_email)
    for start in range(0, len(wanted), _CHUNK):
        await session.execute(
            delete(MessageFolder).where(
                MessageFolder.grant_id == grant_id,
                MessageFolder.message_id.in_(wanted[start : start + _CHUNK]),
            )
        )
    return await messages.delete_orphans(session, grant_id, wanted, self_email=self_email)


def label_id_of(folder: Folder) -> str:
    """The Gmail label of a folder: kept in its cursor, as a local rename changes its path."""
    return str(folder.cursor.get("label_id") or folder.path)


async def folder_map(session: AsyncSession, grant_id: str) -> dict[str, str]:
    """label id -> folder id."""
    rows = await session.scalars(select(Folder).where(Folder.grant_id == grant_id))
    return {label_id_of(f): f.id for f in rows}


async def pending_folder_creations(session: AsyncSession, grant_id: str) -> set[str]:
    """Folders created through the API whose label the outbox has not made yet (keep them)."""
    rows = await session.execute(
        select(Action.object_id).where(
            Action.grant_id == grant_id,
            Action.kind == "create_folder",
            Action.state.notin_(["done", "failed", "cancelled"]),
        )
    )
    return {r for r in rows.scalars() if r}


async def google_grant(session: AsyncSession, email: str) -> Grant | None:
    """The Google grant of an address (one at most: Gmail ids are the API's ids)."""
    query = select(Grant).where(
        Grant.provider == "google", func.lower(Grant.email) == email.lower()
    )
    return (await session.scalars(query.limit(1))).first()
