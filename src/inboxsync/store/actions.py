"""Local changes made through the API, each with its outbox row for the write-back worker.

Every function here changes the local copy at once (so the next read shows it), records the change
rows in the same transaction, and enqueues an :class:`Action` describing what the provider must do:

``update_message``  payload ``{unread?, starred?, folders?, placements}``
``delete_message``  payload ``{to_trash, placements}``
``create_folder`` / ``rename_folder`` / ``delete_folder``  payload with ``path`` (and ``old_path``)

``placements`` are the message's ``{folder_id, path, uid}`` before the change, so the worker knows
which UIDs to act on. A message moved into a folder locally gets a *provisional* placement with a
negative UID until the worker learns the real one (COPYUID) or the next sync sees it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import Conflict, InvalidRequest, NotFound
from inboxsync.store import changes, folders, threads
from inboxsync.store.models import Action, Attachment, Folder, Message, MessageFolder, table_of

_SEEN, _FLAGGED = "\\Seen", "\\Flagged"


def enqueue(
    session: AsyncSession, grant_id: str, kind: str, object_id: str, payload: dict[str, Any]
) -> Action:
    """Add an outbox row to the caller's transaction."""
    now = time.time()
    action = Action(
        grant_id=grant_id,
        kind=kind,
        object_id=object_id,
        payload=payload,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    session.info.setdefault("enqueued_for", set()).add(grant_id)  # the API wakes the worker
    return action


def provisional_uid() -> int:
    """A negative UID that stands for "placed locally, real UID not known yet"."""
    return -(int.from_bytes(os.urandom(6), "big") + 1)


async def _message(session: AsyncSession, grant_id: str, message_id: str) -> Message:
    message = await session.get(Message, message_id)
    if message is None or message.grant_id != grant_id:
        raise NotFound(f"message {message_id} not found")
    return message


async def _placements(session: AsyncSession, message_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(MessageFolder.folder_id, Folder.path, MessageFolder.uid, MessageFolder.flags)
        .join(Folder, Folder.id == MessageFolder.folder_id)
        .where(MessageFolder.message_id == message_id)
        .order_by(Folder.path, MessageFolder.uid)
    )
    return [
        {"folder_id": fid, "path": path, "uid": uid, "flags": list(flags)}
        for fid, path, uid, flags in rows.tuples()
    ]


def _with_flag(flags: list[str], flag: str, present: bool) -> list[str]:
    kept = [f for f in flags if f.lower() != flag.lower()]
    return [*kept, flag] if present else kept


async def _check_folders(session: AsyncSession, grant_id: str, folder_ids: Sequence[str]) -> None:
    if not folder_ids:
        raise InvalidRequest("folders must name at least one folder")
    found = set(
        (
            await session.execute(
                select(Folder.id).where(Folder.grant_id == grant_id, Folder.id.in_(folder_ids))
            )
        ).scalars()
    )
    missing = [f for f in folder_ids if f not in found]
    if missing:
        raise InvalidRequest(f"unknown folder id(s): {', '.join(missing[:5])}")


async def _move(
    session: AsyncSession, message: Message, before: list[dict[str, Any]], target: list[str]
) -> None:
    """Make ``target`` the message's folders: provisional placements in, dropped ones out."""
    current = {p["folder_id"] for p in before}
    flags = before[0]["flags"] if before else ([] if message.unread else [_SEEN])
    new_rows = [
        {
            "folder_id": fid,
            "uid": provisional_uid(),
            "message_id": message.id,
            "grant_id": message.grant_id,
            "flags": [f for f in flags if f.lower() != "\\deleted"],
            "modseq": None,
            "received_at": message.received_at,
        }
        for fid in dict.fromkeys(target)
        if fid not in current
    ]
    if new_rows:
        await session.execute(table_of(MessageFolder).insert(), new_rows)
    dropped = [p for p in before if p["folder_id"] not in set(target)]
    for p in dropped:
        await session.execute(
            delete(MessageFolder).where(
                MessageFolder.folder_id == p["folder_id"], MessageFolder.uid == p["uid"]
            )
        )


async def update_message(
    session: AsyncSession,
    grant_id: str,
    message_id: str,
    *,
    unread: bool | None = None,
    starred: bool | None = None,
    folder_ids: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    self_email: str = "",
) -> None:
    """Change flags, folders or metadata of one message locally and enqueue the write-back."""
    message = await _message(session, grant_id, message_id)
    before = await _placements(session, message_id)
    fields: list[str] = []
    payload: dict[str, Any] = {}
    if unread is not None or starred is not None:
        for p in before:
            flags = p["flags"]
            if unread is not None:
                flags = _with_flag(flags, _SEEN, not unread)
            if starred is not None:
                flags = _with_flag(flags, _FLAGGED, starred)
            if flags != p["flags"]:
                await session.execute(
                    update(MessageFolder)
                    .where(MessageFolder.folder_id == p["folder_id"], MessageFolder.uid == p["uid"])
                    .values(flags=flags)
                )
    if unread is not None:
        payload["unread"] = unread
        if message.unread != unread:
            message.unread = unread
            fields.append("unread")
    if starred is not None:
        payload["starred"] = starred
        if message.starred != starred:
            message.starred = starred
            fields.append("starred")
    if folder_ids is not None:
        await _check_folders(session, grant_id, folder_ids)
        payload["folders"] = list(dict.fromkeys(folder_ids))
        if set(folder_ids) != {p["folder_id"] for p in before}:
            await _move(session, message, before, list(folder_ids))
            fields.append("folders")
    if metadata is not None and metadata != message.metadata_:
        message.metadata_ = dict(metadata)
        fields.append("metadata")
    if fields:
        message.updated_at = int(time.time())
        changes.record(session, grant_id, "message", message_id, "updated", fields)
        await session.flush()
        if message.thread_id:
            await threads.recompute(session, grant_id, [message.thread_id], self_email=self_email)
    if {"unread", "starred", "folders"} & set(payload):
        enqueue(
            session,
            grant_id,
            "update_message",
            message_id,
            {**payload, "placements": [_public(p) for p in before]},
        )


def _public(placement: dict[str, Any]) -> dict[str, Any]:
    return {k: placement[k] for k in ("folder_id", "path", "uid")}


async def delete_message(
    session: AsyncSession, grant_id: str, message_id: str, *, self_email: str = ""
) -> None:
    """Move to the trash folder when there is one (and it is not there already), else delete."""
    message = await _message(session, grant_id, message_id)
    before = await _placements(session, message_id)
    trash = (
        await session.scalars(
            select(Folder.id).where(Folder.grant_id == grant_id, Folder.role == "trash").limit(1)
        )
    ).first()
    to_trash = trash is not None and any(p["folder_id"] != trash for p in before)
    if to_trash and trash is not None:
        await _move(session, message, before, [trash])
        message.updated_at = int(time.time())
        changes.record(session, grant_id, "message", message_id, "updated", ["folders"])
    else:
        await session.execute(delete(MessageFolder).where(MessageFolder.message_id == message_id))
        await session.execute(delete(Attachment).where(Attachment.message_id == message_id))
        await session.execute(delete(Message).where(Message.id == message_id))
        changes.record(session, grant_id, "message", message_id, "deleted")
    await session.flush()
    if message.thread_id:
        await threads.recompute(session, grant_id, [message.thread_id], self_email=self_email)
    enqueue(
        session,
        grant_id,
        "delete_message",
        message_id,
        {"to_trash": to_trash, "placements": [_public(p) for p in before]},
    )


async def _path_taken(session: AsyncSession, grant_id: str, path: str, but: str = "") -> bool:
    found = await session.scalar(
        select(Folder.id).where(Folder.grant_id == grant_id, Folder.path == path, Folder.id != but)
    )
    return found is not None


async def _placement_of(
    session: AsyncSession, grant_id: str, name: str, parent_id: str | None
) -> tuple[str, str | None]:
    """(path, delimiter) of a folder called ``name`` under ``parent_id``."""
    if not name or len(name) > 255:
        raise InvalidRequest("name must be 1 to 255 characters")
    if parent_id is None:
        delimiter = await session.scalar(
            select(Folder.delimiter)
            .where(Folder.grant_id == grant_id, Folder.delimiter.is_not(None))
            .limit(1)
        )
        return name, delimiter or "/"
    parent = await session.get(Folder, parent_id)
    if parent is None or parent.grant_id != grant_id:
        raise InvalidRequest(f"unknown parent_id {parent_id}")
    delimiter = parent.delimiter or "/"
    return f"{parent.path}{delimiter}{name}", delimiter


async def create_folder(
    session: AsyncSession,
    grant_id: str,
    *,
    name: str,
    parent_id: str | None = None,
    background_color: str | None = None,
    text_color: str | None = None,
) -> Folder:
    path, delimiter = await _placement_of(session, grant_id, name, parent_id)
    if await _path_taken(session, grant_id, path):
        raise Conflict(f"a folder named {path!r} exists already")
    folder = folders.create(
        session,
        grant_id,
        path=path,
        name=name,
        delimiter=delimiter,
        role=None,
        attributes=[],
        parent_id=parent_id,
        background_color=background_color,
        text_color=text_color,
    )
    await session.flush()
    enqueue(session, grant_id, "create_folder", folder.id, {"path": path})
    return folder


async def update_folder(session: AsyncSession, folder: Folder, values: dict[str, Any]) -> None:
    """Rename or re-parent (with its descendants), or change colours; ``values`` holds given keys."""
    fields: list[str] = [k for k in ("background_color", "text_color") if k in values]
    for key in fields:
        setattr(folder, key, values[key])
    name = values.get("name") or folder.name
    parent_id = values.get("parent_id", folder.parent_id)
    if parent_id == folder.id:
        raise InvalidRequest("a folder cannot be its own parent")
    if name != folder.name or parent_id != folder.parent_id:
        path, _ = await _placement_of(session, folder.grant_id, name, parent_id)
        if await _path_taken(session, folder.grant_id, path, but=folder.id):
            raise Conflict(f"a folder named {path!r} exists already")
        old_path = folder.path
        prefix = old_path + (folder.delimiter or "/")
        parent = await session.get(Folder, parent_id) if parent_id is not None else None
        if parent is not None and parent.path.startswith(prefix):
            raise InvalidRequest("a folder cannot move under its own descendant")
        descendants = (
            await session.scalars(
                select(Folder).where(
                    Folder.grant_id == folder.grant_id, Folder.path.startswith(prefix)
                )
            )
        ).all()
        for child in descendants:
            child.path = path + child.path[len(old_path) :]
            folders.touch(session, child, ["path"])
        folder.name, folder.parent_id, folder.path = name, parent_id, path
        fields += ["name", "parent_id"]
        enqueue(
            session,
            folder.grant_id,
            "rename_folder",
            folder.id,
            {"old_path": old_path, "path": path},
        )
    if fields:
        folders.touch(session, folder, fields)


async def delete_folder(session: AsyncSession, folder: Folder, *, self_email: str = "") -> None:
    if folder.role == "inbox":
        raise InvalidRequest("the inbox cannot be deleted")
    path = folder.path
    await folders.remove(session, folder, self_email=self_email)
    enqueue(session, folder.grant_id, "delete_folder", folder.id, {"path": path})
