"""Grant repository."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.errors import NotFound
from inboxsync.store import changes
from inboxsync.store.db import Database
from inboxsync.store.models import Grant


async def create(
    session: AsyncSession,
    *,
    provider: str,
    email: str,
    settings: dict[str, Any],
    sealed_credentials: bytes,
    api_key_id: str | None,
) -> Grant:
    now = int(time.time())
    grant = Grant(
        id=new_id(),
        provider=provider,
        email=email,
        settings=settings,
        credentials=sealed_credentials,
        api_key_id=api_key_id,
        grant_status="valid",
        sync_state="running",
        initial_sync_complete=False,
        lease_generation=0,
        created_at=now,
        updated_at=now,
    )
    session.add(grant)
    await session.flush()  # rows that name the grant may follow in this transaction
    changes.record(session, grant.id, "grant", grant.id, "created")
    return grant


async def get(session: AsyncSession, grant_id: str, *, api_key_id: str | None = None) -> Grant:
    """The grant, if it exists and the key may see it (``api_key_id=None``: any grant)."""
    grant = await session.get(Grant, grant_id)
    if grant is None or (api_key_id is not None and grant.api_key_id != api_key_id):
        raise NotFound(f"grant {grant_id} not found")
    return grant


async def visible_id(db: Database, grant: str, *, api_key_id: str | None = None) -> str:
    """The id of the grant named by id or email address, if the key may see it (else NotFound);
    read outside any session (the API's hot reads need nothing else of the grant)."""
    if "@" in grant:
        query = select(Grant.id).where(func.lower(Grant.email) == grant.lower())
    else:
        query = select(Grant.id).where(Grant.id == grant)
    if api_key_id is not None:
        query = query.where(Grant.api_key_id == api_key_id)
    rows = await db.read(query.limit(1))
    if not rows:
        raise NotFound(f"grant {grant} not found")
    return str(rows[0][0])


async def find_by_email(
    session: AsyncSession, email: str, *, api_key_id: str | None = None
) -> Grant:
    query = select(Grant).where(func.lower(Grant.email) == email.lower())
    if api_key_id is not None:
        query = query.where(Grant.api_key_id == api_key_id)
    grant = (await session.scalars(query.limit(1))).first()
    if grant is None:
        raise NotFound(f"grant {email} not found")
    return grant


async def list_(
    session: AsyncSession,
    *,
    api_key_id: str | None = None,
    limit: int = 10,
    offset: int = 0,
    provider: str | None = None,
    email: str | None = None,
    grant_status: str | None = None,
) -> list[Grant]:
    query = select(Grant).order_by(Grant.created_at, Grant.id).limit(limit).offset(offset)
    if api_key_id is not None:
        query = query.where(Grant.api_key_id == api_key_id)
    if provider:
        query = query.where(Grant.provider == provider)
    if email:
        query = query.where(func.lower(Grant.email) == email.lower())
    if grant_status:
        query = query.where(Grant.grant_status == grant_status)
    return list((await session.scalars(query)).all())


async def all_active(session: AsyncSession) -> list[Grant]:
    """Grants a worker should sync."""
    query = select(Grant).where(Grant.grant_status == "valid", Grant.sync_state != "stopped")
    return list((await session.scalars(query.order_by(Grant.created_at))).all())


async def set_status(
    session: AsyncSession,
    grant: Grant,
    *,
    grant_status: str | None = None,
    sync_state: str | None = None,
    last_error: str | None = None,
) -> None:
    if grant_status is not None and grant_status != grant.grant_status:
        grant.grant_status = grant_status
        changes.record(
            session,
            grant.id,
            "grant",
            grant.id,
            "expired" if grant_status == "invalid" else "updated",
        )
    if sync_state is not None:
        grant.sync_state = sync_state
    grant.last_error = last_error
    grant.updated_at = int(time.time())


async def remove(session: AsyncSession, grant_id: str) -> None:
    """Delete the grant; its folders, messages, threads and actions go with it (cascades)."""
    from inboxsync.store.models import Attachment, Folder, Message, MessageFolder, Thread, ThreadRef

    for model in (MessageFolder, Attachment, ThreadRef):
        await session.execute(delete(model).where(model.grant_id == grant_id))
    for model2 in (Message, Thread, Folder):
        await session.execute(delete(model2).where(model2.grant_id == grant_id))
    await session.execute(delete(Grant).where(Grant.id == grant_id))
    changes.record(session, grant_id, "grant", grant_id, "deleted")


async def update_credentials(
    session: AsyncSession, grant: Grant, *, settings: dict[str, Any], sealed_credentials: bytes
) -> None:
    """Re-authentication: new settings and credentials, valid again, syncing again."""
    grant.settings = settings
    grant.credentials = sealed_credentials
    grant.last_error = None
    grant.sync_state = "running"
    grant.updated_at = int(time.time())
    if grant.grant_status != "valid":
        grant.grant_status = "valid"
    changes.record(session, grant.id, "grant", grant.id, "updated", ["settings"])
