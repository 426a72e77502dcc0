"""Fan-out: changes below the horizon become queued notifications, one per matching destination.

One transaction reads a batch of changes after the ``dispatch`` cursor, loads their objects, inserts
the delivery rows and moves the cursor with a compare-and-set; a crash anywhere leaves the cursor
where it was, and a concurrent dispatcher that lost the race rolls back. A destination receives the
changes of the grants its key may see, for its trigger types, made after it was created.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from inboxsync.events import objects, payload
from inboxsync.events.horizon import Horizon
from inboxsync.events.types import source_of, trigger_of
from inboxsync.store import deliveries, webhooks
from inboxsync.store.db import Database
from inboxsync.store.models import Change, Webhook

log = logging.getLogger(__name__)


class _Raced(Exception):
    """Another dispatcher moved the cursor first."""


def _matches(hook: Webhook, change: Change, trigger: str, owner: str | None, known: bool) -> bool:
    if trigger not in (hook.trigger_types or ()):
        return False
    if change.created_at < hook.created_at:
        return False
    if hook.api_key_id is None:
        return True
    return known and owner == hook.api_key_id


class Dispatcher:
    def __init__(
        self, db: Database, horizon: Horizon, application_id: str, batch: int = 500
    ) -> None:
        self.db = db
        self.horizon = horizon
        self.application_id = application_id
        self.batch = batch

    async def step(self) -> int:
        """Fan out one batch; the number of changes consumed (0: nothing new)."""
        upto = await self.horizon.current()
        try:
            async with self.db.transaction() as session:
                start = await deliveries.position(session, deliveries.DISPATCH)
                hooks = await webhooks.live(session)
                if not hooks:
                    newest = await deliveries.newest_change(session, upto)
                    if newest > start and not await deliveries.move(
                        session, deliveries.DISPATCH, start, newest
                    ):
                        raise _Raced
                    return max(0, newest - start)
                batch = await deliveries.changes_between(session, start, upto, self.batch)
                if not batch:
                    return 0
                rows = await self._rows(session, hooks, batch)
                await deliveries.enqueue(session, rows)
                if not await deliveries.move(session, deliveries.DISPATCH, start, batch[-1].id):
                    raise _Raced
                return len(batch)
        except _Raced:
            return 0

    async def _rows(
        self, session: Any, hooks: Sequence[Webhook], batch: Sequence[Change]
    ) -> list[dict[str, Any]]:
        owners = await deliveries.grant_owners(session, sorted({c.grant_id for c in batch}))
        plan: list[tuple[Change, str, list[Webhook]]] = []
        for change in batch:
            trigger = trigger_of(change)
            if trigger is None:
                continue
            info = owners.get(change.grant_id)
            owner = info[0] if info else None
            targets = [h for h in hooks if _matches(h, change, trigger, owner, info is not None)]
            if targets:
                plan.append((change, trigger, targets))
        if not plan:
            return []
        objs = await objects.load(session, [c for c, _, _ in plan])
        rows: list[dict[str, Any]] = []
        for change, trigger, targets in plan:
            obj = objs[(change.grant_id, change.object_type, change.object_id)]
            type_, object_json = payload.encode_object(trigger, obj)
            info = owners.get(change.grant_id)
            source = source_of(trigger, info[1] if info else None)
            for hook in targets:
                rows.append(
                    {
                        "delivery_id": payload.new_delivery_id(),
                        "webhook_id": hook.id,
                        "grant_id": change.grant_id,
                        "change_id": change.id,
                        "type": type_,
                        "source": source,
                        "time": int(change.created_at),
                        "object_json": object_json,
                        "attempts": 0,
                        "next_attempt_at": 0.0,
                    }
                )
        return rows
