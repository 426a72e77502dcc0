"""Webhook destinations: create, read, update, delete, rotate the secret, status, leases.

A destination belongs to the key that created it (``api_key_id``; ``None`` for the operator's key,
which sees every grant). Its secret is sealed by the caller (:class:`inboxsync.store.crypto.Sealer`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.core.ids import new_id
from inboxsync.errors import NotFound
from inboxsync.store.models import Webhook

LIVE_STATUSES = ("active", "failing")  # notifications are queued and sent
STATUSES = ("active", "failing", "failed", "pause")


async def create(
    session: AsyncSession,
    *,
    api_key_id: str | None,
    webhook_url: str,
    trigger_types: list[str],
    description: str | None,
    notification_email_addresses: list[str],
    sealed_secret: bytes,
) -> Webhook:
    now = int(time.time())
    hook = Webhook(
        id=new_id(),
        api_key_id=api_key_id,
        webhook_url=webhook_url,
        trigger_types=trigger_types,
        description=description,
        notification_email_addresses=notification_email_addresses,
        status="active",
        status_updated_at=now,
        secret=sealed_secret,
        created_at=now,
        updated_at=now,
    )
    session.add(hook)
    await session.flush()
    return hook


async def get(session: AsyncSession, webhook_id: str, *, api_key_id: str | None = None) -> Webhook:
    """The destination, if the key may see it (``api_key_id=None``: the operator sees all)."""
    hook = await session.get(Webhook, webhook_id)
    if hook is None or (api_key_id is not None and hook.api_key_id != api_key_id):
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


async def list_(session: AsyncSession, *, api_key_id: str | None = None) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    if api_key_id is not None:
        query = query.where(Webhook.api_key_id == api_key_id)
    return list((await session.scalars(query)).all())


async def live(session: AsyncSession) -> list[Webhook]:
    """Destinations that receive notifications now."""
    query = select(Webhook).where(Webhook.status.in_(LIVE_STATUSES)).order_by(Webhook.id)
    return list((await session.scalars(query)).all())


def update_fields(hook: Webhook, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(hook, key, value)
    hook.updated_at = int(time.time())


def set_status(hook: Webhook, status: str, *, failing_since: float | None = None) -> None:
    now = int(time.time())
    if status != hook.status:
        hook.status = status
        hook.status_updated_at = now
    hook.failing_since = failing_since
    hook.updated_at = now


async def delete(session: AsyncSession, hook: Webhook) -> None:
    await session.delete(hook)


async def claim(
    session: AsyncSession, owner: str, now: float, ttl: float, limit: int = 1000
) -> list[str]:
    """Take (or renew) the lease of every live destination that is free or already ours."""
    table = Webhook.__table__
    result = await session.execute(
        update(Webhook)
        .where(
            Webhook.status.in_(LIVE_STATUSES),
            or_(
                Webhook.lease_owner.is_(None),
                Webhook.lease_owner == owner,
                Webhook.lease_expires_at < now,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + ttl)
        .returning(table.c.id),
        execution_options={"synchronize_session": False},
    )
    return [row[0] for row in result.all()][:limit]


async def release(session: AsyncSession, owner: str) -> None:
    await session.execute(
        update(Webhook)
        .where(Webhook.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None),
        execution_options={"synchronize_session": False},
    )
