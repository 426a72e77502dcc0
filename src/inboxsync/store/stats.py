"""The fleet gauges of ``/metrics``, read from the database at scrape time (a handful of aggregates).

Each query is an aggregate over a small or indexed set: grants (one row per account), open actions,
queued webhook notifications. Nothing here runs outside a scrape.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from inboxsync.metrics import FleetStats
from inboxsync.store import deliveries
from inboxsync.store.db import Database
from inboxsync.store.models import Action, Change, Grant, GrantLease, WebhookDelivery
from inboxsync.store.outbox import OPEN_STATES


async def fleet_stats(db: Database) -> FleetStats:
    """Grants by state, sync lag per valid grant, open write-back actions, the webhook backlog."""
    now = time.time()
    stats = FleetStats()
    async with db.session() as session:
        rows = await session.execute(
            select(
                Grant.id,
                Grant.provider,
                Grant.grant_status,
                Grant.sync_state,
                Grant.last_sync_at,
                Grant.created_at,
            )
        )
        for grant_id, provider, status, sync_state, last_sync, created in rows.tuples():
            state = sync_state if status == "valid" else status
            key = (provider, state)
            stats.grants[key] = stats.grants.get(key, 0) + 1
            if status == "valid" and sync_state != "stopped":
                stats.lag[grant_id] = max(0.0, now - float(last_sync or created or now))
        # One row per grant, like the grants query above: counted here, not grouped in SQL.
        leases = await session.execute(select(GrantLease.owner, GrantLease.expires_at))
        stats.leases = {"held": 0, "expired": 0, "free": 0}
        for owner, expires_at in leases.tuples():
            if owner is None:
                stats.leases["free"] += 1
            elif expires_at <= now:
                stats.leases["expired"] += 1
            else:
                stats.leases["held"] += 1
                stats.leases_by_worker[owner] = stats.leases_by_worker.get(owner, 0) + 1
        open_actions = await session.execute(
            select(Action.state, func.count(), func.min(Action.created_at))
            .where(Action.state.in_([*OPEN_STATES, "failed"]))
            .group_by(Action.state)
        )
        oldest: float | None = None
        for state, count, first in open_actions.tuples():
            stats.actions[state] = int(count)
            if state in OPEN_STATES and first is not None:
                oldest = first if oldest is None else min(oldest, first)
        stats.actions_oldest_age = max(0.0, now - oldest) if oldest is not None else 0.0
        backlog, first_time = (
            await session.execute(select(func.count(), func.min(WebhookDelivery.time)))
        ).one()
        stats.webhook_backlog = int(backlog or 0)
        stats.webhook_oldest_age = max(0.0, now - first_time) if first_time is not None else 0.0
        newest = int(await session.scalar(select(func.max(Change.id))) or 0)
        dispatched = await deliveries.position(session, deliveries.DISPATCH)
        stats.changes_undispatched = max(0, newest - dispatched)
        stats.changes_newest_id = newest
    return stats
