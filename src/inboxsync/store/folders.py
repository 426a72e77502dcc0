"""Folder repository."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.errors import NotFound
from inboxsync.store import changes, messages
from inboxsync.store.models import Folder


async def list_for_grant(session: AsyncSession, grant_id: str) -> list[Folder]:
    query = select(Folder).where(Folder.grant_id == grant_id).order_by(Folder.path)
    return list((await session.scalars(query)).all())


async def get(session: AsyncSession, grant_id: str, folder_id: str) -> Folder:
    folder = await session.get(Folder, folder_id)
    if folder is None or folder.grant_id != grant_id:
        raise NotFound(f"folder {folder_id} not found")
    return folder


async def by_path(session: AsyncSession, grant_id: str, path: str) -> Folder | None:
    query = select(Folder).where(Folder.grant_id == grant_id, Folder.path == path)
    return (await session.scalars(query)).first()


def create(
    session: AsyncSession,
    grant_id: str,
    *,
    path: str,
    name: str,
    delimiter: str | None,
    role: str | None,
    attributes: list[str],
    parent_id: str | None = None,
    **extra: Any,
) -> Folder:
    now = int(time.time())
    folder = Folder(
        id=new_id(),
        grant_id=grant_id,
        path=path,
        name=name,
        delimiter=delimiter,
        role=role,
        attributes=attributes,
        parent_id=parent_id,
        cursor={},
        total_count=0,
        unread_count=0,
        created_at=now,
        updated_at=now,
        **extra,
    )
    session.add(folder)
    changes.record(session, grant_id, "folder", folder.id, "created")
    return folder


def touch(session: AsyncSession, folder: Folder, fields: list[str]) -> None:
    """Log an update of ``fields`` (already set on the object)."""
    folder.updated_at = int(time.time())
    changes.record(session, folder.grant_id, "folder", folder.id, "updated", fields)


async def remove(
    session: AsyncSession, folder: Folder, *, self_email: str = "", defer_orphans: bool = False
) -> list[str]:
    """Delete a folder. Messages that were only there are deleted too, or with ``defer_orphans``
    returned for :func:`messages.delete_orphans` (they may turn up in another folder)."""
    uids = list(await messages.folder_placements(session, folder.id))
    _, orphans = await messages.remove_placements(
        session,
        folder.grant_id,
        folder.id,
        uids,
        self_email=self_email,
        defer_orphans=defer_orphans,
    )
    await session.delete(folder)
    changes.record(session, folder.grant_id, "folder", folder.id, "deleted")
    return orphans
