"""Key rotation: re-seal every sealed value (grant credentials, webhook secrets) under a new key."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store.crypto import Sealer
from inboxsync.store.models import Grant, Webhook


async def reseal_all(session: AsyncSession, old: Sealer, new: Sealer) -> tuple[int, int]:
    """Open each sealed value with ``old`` and seal it with ``new`` in the caller's transaction;
    returns (grants, webhooks). A value ``old`` cannot open raises (ConfigError) and nothing moves."""
    grants = 0
    for grant_id, sealed in (await session.execute(select(Grant.id, Grant.credentials))).tuples():
        await session.execute(
            update(Grant)
            .where(Grant.id == grant_id)
            .values(credentials=new.seal(old.open(sealed))),
            execution_options={"synchronize_session": False},
        )
        grants += 1
    hooks = 0
    for hook_id, sealed in (await session.execute(select(Webhook.id, Webhook.secret))).tuples():
        await session.execute(
            update(Webhook).where(Webhook.id == hook_id).values(secret=new.seal(old.open(sealed))),
            execution_options={"synchronize_session": False},
        )
        hooks += 1
    return grants, hooks
