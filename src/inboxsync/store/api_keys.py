"""API key repository. Keys are shown once at creation; only their SHA-256 is kept."""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.store.crypto import hash_api_key, new_api_key
from inboxsync.store.db import Database
from inboxsync.store.models import ApiKey


async def create(session: AsyncSession, name: str) -> tuple[ApiKey, str]:
    """A new key row and the key itself (the only time it is visible)."""
    key = new_api_key()
    row = ApiKey(
        id=new_id(),
        name=name,
        key_hash=hash_api_key(key),
        prefix=key[:8],
        created_at=int(time.time()),
    )
    session.add(row)
    return row, key


async def id_of(db: Database, key: str) -> str | None:
    """The id of the stored key ``key``, read outside any session (None: no such key)."""
    rows = await db.read(select(ApiKey.id).where(ApiKey.key_hash == hash_api_key(key)))
    return str(rows[0][0]) if rows else None


async def lookup(session: AsyncSession, key: str) -> ApiKey | None:
    return (
        await session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    ).first()


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)
