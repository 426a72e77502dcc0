"""Write-back to Gmail: one outbox :class:`Action` -> Gmail API calls (:func:`apply_gmail_action`).

The API changed the local copy already (:mod:`inboxsync.store.actions`); this makes Google agree:

``update_message``  ``messages.modify`` with UNREAD/STARRED and the label difference; into or out of
                    TRASH through ``messages.trash``/``untrash``. SENT, DRAFT and CHAT cannot be set
                    or removed by a client (Google refuses them) and are left as they are.
``delete_message``  ``messages.trash`` (``to_trash``), else ``messages.delete`` (for good).
``create_folder``   ``labels.create`` named after the folder and its parents (``Parent/Child``); the
                    folder's path becomes the new label id.
``rename_folder``   ``labels.patch`` of the label and of its children (Gmail's API does not carry
                    ``Parent/…`` children along); the path goes back to the label id.
``delete_folder``   ``labels.delete``.
``send_message``    ``messages.send`` (multipart upload above 5 MB, 35 MB at most), ``threadId`` for
                    replies; payload ``{"mime": base64, "thread_id"?}``.
``save_draft``      a draft written through our API (``/v3/grants/{id}/drafts``): ``drafts.create`` the
                    first time, ``drafts.update`` after; the local draft keeps its id, remembers Gmail's
                    draft id (``provider_id``) and sits in the Drafts folder under the uid of Gmail's
                    current copy, which the sync then recognises instead of storing it twice.
``delete_draft``    ``drafts.delete`` (payload ``draft_id``, or ``provider_id`` from the API's delete).
``send_message`` of a draft also deletes its Gmail draft once the message is sent.
``create_draft`` / ``update_draft`` / ``send_draft``  the drafts API for raw payloads ``{"mime",
                    "thread_id"?, "draft_id"?}``; a draft keeps its id while its message id changes.

Something Google no longer has (404) makes the action moot: it succeeds. Other errors propagate for the
outbox worker to retry (``transient``) or give up on. The sync's next history pass replaces provisional
placements with what Google reports.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import InvalidRequest
from inboxsync.providers.gmail.client import GmailClient
from inboxsync.providers.gmail.failures import MessageGone
from inboxsync.store import folders as folder_repo
from inboxsync.store import gmail as store
from inboxsync.store import sending
from inboxsync.store.blobs import BlobStore
from inboxsync.store.db import Database
from inboxsync.store.models import Action, Folder, Message, Thread

NOT_SETTABLE = frozenset({"SENT", "DRAFT", "CHAT", store.ALL_PATH})
Result = dict[str, Any] | None


async def apply_gmail_action(
    client: GmailClient, db: Database, action: Action, blobs: BlobStore | None = None
) -> Result:
    """Carry out one outbox row against Gmail; returns what Google assigned (ids), if anything.
    ``blobs`` serves sends accepted by the API, whose payload names the raw message by its hash."""
    handler = _HANDLERS.get(action.kind)
    if handler is None:
        raise InvalidRequest(f"unknown action kind {action.kind!r}")
    if blobs is not None and "mime" not in action.payload and "sha256" in action.payload:
        raw = await asyncio.to_thread(blobs.get, str(action.payload["sha256"]))
        action.payload = {**action.payload, "mime": base64.b64encode(raw).decode()}
    try:
        return await handler(client, db, action)
    except MessageGone:
        return None  # deleted at Google meanwhile: nothing left to change


async def _labels(db: Database, folder_ids: list[str]) -> set[str]:
    async with db.session() as session:
        rows = await session.scalars(select(Folder).where(Folder.id.in_(folder_ids)))
        return {store.label_id_of(f) for f in rows}


async def update_message(client: GmailClient, db: Database, action: Action) -> Result:
    payload, mid = action.payload, str(action.object_id)
    add: set[str] = set()
    remove: set[str] = set()
    if "folders" in payload:
        placed = [str(p["folder_id"]) for p in payload.get("placements", [])]
        current = await _labels(db, placed) - NOT_SETTABLE
        target = await _labels(db, list(payload["folders"])) - NOT_SETTABLE
        if "TRASH" in target and "TRASH" not in current:
            await client.trash(mid)
        elif "TRASH" in current and "TRASH" not in target:
            await client.untrash(mid)
        add |= target - current - {"TRASH"}
        remove |= current - target - {"TRASH"}
    for key, label in (("unread", "UNREAD"), ("starred", "STARRED")):
        if key in payload:
            (add if payload[key] else remove).add(label)
            (remove if payload[key] else add).discard(label)
    if add or remove:
        await client.modify(mid, sorted(add), sorted(remove))
    return None


async def delete_message(client: GmailClient, db: Database, action: Action) -> Result:
    if action.payload.get("to_trash"):
        await client.trash(str(action.object_id))
    else:
        await client.delete(str(action.object_id))
    return None


async def _folder(db: Database, action: Action) -> tuple[Folder, str | None]:
    """The folder row and the full Gmail name of its parent (None at the top)."""
    async with db.session() as session:
        folder = await session.get(Folder, str(action.object_id))
        if folder is None:
            raise MessageGone(f"folder {action.object_id} is gone")
        parent = await session.get(Folder, folder.parent_id) if folder.parent_id else None
        return folder, parent.name if parent is not None else None


async def _settle(db: Database, folder_id: str, label_id: str, name: str) -> None:
    """The folder's path becomes the label id and its name the label's full name."""
    async with db.transaction() as session:
        folder = await session.get(Folder, folder_id)
        if folder is not None:
            folder.cursor = {**folder.cursor, "label_id": label_id}
            if (folder.path, folder.name) != (label_id, name):
                folder.path, folder.name = label_id, name
                folder_repo.touch(session, folder, ["name"])


def _leaf(folder: Folder) -> str:
    return folder.name.rsplit("/", 1)[-1]


async def create_folder(client: GmailClient, db: Database, action: Action) -> Result:
    folder, parent = await _folder(db, action)
    name = f"{parent}/{_leaf(folder)}" if parent else folder.name
    body: dict[str, Any] = {
        "name": name,
        "labelListVisibility": "labelShow",
        "messageListVisibility": "show",
    }
    if folder.background_color and folder.text_color:
        body["color"] = {"backgroundColor": folder.background_color, "textColor": folder.text_color}
    existing = {str(lab.get("name")): str(lab["id"]) for lab in await client.labels()}
    label_id = existing.get(name) or str((await client.create_label(body))["id"])
    await _settle(db, folder.id, label_id, name)
    return {"label_id": label_id}


async def rename_folder(client: GmailClient, db: Database, action: Action) -> Result:
    folder, parent = await _folder(db, action)
    labels = {str(lab["id"]): str(lab.get("name")) for lab in await client.labels()}
    label_id = store.label_id_of(folder)
    if label_id not in labels:
        raise MessageGone(f"no label {label_id!r} to rename")
    old_name, new_name = labels[label_id], f"{parent}/{_leaf(folder)}" if parent else _leaf(folder)
    body: dict[str, Any] = {"name": new_name}
    if folder.background_color and folder.text_color:
        body["color"] = {"backgroundColor": folder.background_color, "textColor": folder.text_color}
    await client.patch_label(label_id, body)
    for child_id, child_name in labels.items():
        if child_name.startswith(old_name + "/"):
            await client.patch_label(child_id, {"name": new_name + child_name[len(old_name) :]})
    await _settle(db, folder.id, label_id, new_name)
    return {"label_id": label_id}


async def delete_folder(client: GmailClient, db: Database, action: Action) -> Result:
    await client.delete_label(str(action.payload["path"]))
    return None


def _mime(action: Action) -> tuple[bytes, str | None]:
    mime = action.payload.get("mime")
    if not isinstance(mime, str):
        raise InvalidRequest("payload.mime (base64 of the message) is required")
    return base64.b64decode(mime), action.payload.get("thread_id")


async def send_message(client: GmailClient, db: Database, action: Action) -> Result:
    raw, thread_id = _mime(action)
    draft_id = None
    if action.payload.get("draft") and action.object_id:
        async with db.session() as session:
            row = await session.get(Message, str(action.object_id))
            draft_id = row.provider_id if row is not None else None
            if thread_id is None and row is not None:
                thread_id = await _gmail_thread(session, row)
    sent = await client.send_raw(raw, thread_id)
    if draft_id:  # the draft was saved to Gmail too: it is sent now
        await _forget_draft(client, draft_id)
    return {"id": sent.get("id"), "thread_id": sent.get("threadId")}


async def _gmail_thread(session: AsyncSession, row: Message) -> str | None:
    thread = await session.get(Thread, row.thread_id) if row.thread_id else None
    return thread.provider_thread_id if thread is not None else None


async def _forget_draft(client: GmailClient, draft_id: str) -> None:
    try:
        await client.delete_draft(draft_id)
    except MessageGone:
        pass  # deleted or sent in Gmail meanwhile


async def save_draft(client: GmailClient, db: Database, action: Action) -> Result:
    """Write the draft's current version to Gmail; a version replaced since is skipped."""
    payload, mid = action.payload, str(action.object_id)
    async with db.session() as session:
        row = await session.get(Message, mid)
        if row is None or not row.is_draft or row.sha256 != payload.get("sha256"):
            return None  # deleted, sent or replaced since: a later action has the final word
        draft_id, thread_id = row.provider_id, await _gmail_thread(session, row)
    raw, _ = _mime(action)
    draft: dict[str, Any] | None = None
    if draft_id:
        try:
            draft = await client.update_draft(draft_id, raw, thread_id)
        except MessageGone:
            draft = None  # deleted in Gmail meanwhile: write it again
    if draft is None:
        draft = await client.create_draft(raw, thread_id)
    draft_id, copy_id = str(draft["id"]), str(draft["message"]["id"])
    folder_id = str(payload["folder_id"])
    async with db.transaction() as session:
        fresh = await session.get(Message, mid)
        kept = fresh is not None and fresh.is_draft
        if fresh is not None and kept:
            fresh.provider_id = draft_id
            await sending.unplace(
                session, folder_id, await sending.placements_in(session, mid, folder_id)
            )
            await sending.place(
                session, fresh, folder_id, store.uid_of(copy_id), store.flags_of(["DRAFT"])
            )
            await sending.place_refresh(session, fresh)
    if not kept:  # deleted or sent while Google was writing it
        await _forget_draft(client, draft_id)
    return {"draft_id": draft_id, "id": copy_id}


async def create_draft(client: GmailClient, db: Database, action: Action) -> Result:
    raw, thread_id = _mime(action)
    draft = await client.create_draft(raw, thread_id)
    return {"draft_id": draft["id"], "id": draft["message"]["id"]}


async def update_draft(client: GmailClient, db: Database, action: Action) -> Result:
    raw, thread_id = _mime(action)
    draft = await client.update_draft(str(action.payload["draft_id"]), raw, thread_id)
    return {"draft_id": draft["id"], "id": draft["message"]["id"]}


async def send_draft(client: GmailClient, db: Database, action: Action) -> Result:
    sent = await client.send_draft(str(action.payload["draft_id"]))
    return {"id": sent.get("id"), "thread_id": sent.get("threadId")}


async def delete_draft(client: GmailClient, db: Database, action: Action) -> Result:
    draft_id = action.payload.get("draft_id") or action.payload.get("provider_id")
    if draft_id:  # else never written to Gmail: nothing to delete there
        await client.delete_draft(str(draft_id))
    return None


_HANDLERS = {
    "update_message": update_message,
    "delete_message": delete_message,
    "create_folder": create_folder,
    "rename_folder": rename_folder,
    "delete_folder": delete_folder,
    "send_message": send_message,
    "save_draft": save_draft,
    "create_draft": create_draft,
    "update_draft": update_draft,
    "send_draft": send_draft,
    "delete_draft": delete_draft,
}

GMAIL_KINDS = tuple(_HANDLERS)
