"""Sending one destination's queue: in order per grant, grants side by side, retries with backoff.

A round takes the oldest queued notifications of the destination, groups them by grant (keeping
their order) and sends each grant's run one request at a time; different grants go concurrently. A
failure (non-2xx, timeout, refused or dropped connection) stops that grant's run for this round and
schedules its retry with exponential backoff and jitter; later notifications of the grant wait
behind it, so a receiver sees each grant's changes in order. Delivered rows are deleted at the end
of the round: a crash before that resends them, with the same ``id`` (at least once).

A destination with a notification failing for ``retry_window`` is marked ``failed`` and no longer
sent to; while any notification is failing it is ``failing``; otherwise ``active``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from inboxsync.events import payload
from inboxsync.metrics import WEBHOOK_DELIVERIES, count_delivered
from inboxsync.store import deliveries, webhooks
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database
from inboxsync.store.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    retry_base: float = 10.0  # seconds before the first retry
    retry_cap: float = 3600.0  # longest wait between two attempts
    retry_window: float = 72 * 3600.0  # failing this long: the destination is marked failed
    batch: int = 500
    parallel_grants: int = 32

    def backoff(self, attempts: int) -> float:
        """Exponential, capped, with jitter (between half and all of the step)."""
        step = min(self.retry_cap, self.retry_base * 2.0 ** max(0, attempts - 1))
        return step * random.uniform(0.5, 1.0)


@dataclass
class _Round:
    done: list[int] = field(default_factory=list)
    failures: list[tuple[WebhookDelivery, str]] = field(default_factory=list)


class Sender:
    """Delivers the queue of one destination; :meth:`round` returns when to look again."""

    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        http: httpx.AsyncClient,
        webhook_id: str,
        application_id: str,
        policy: Policy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.http = http
        self.webhook_id = webhook_id
        self.application_id = application_id
        self.policy = policy
        self.clock = clock

    async def round(self) -> float | None:
        """Send what is due; seconds until the next retry is due (0: more queued; None: idle/stop)."""
        async with self.db.session() as session:
            hook = await session.get(Webhook, self.webhook_id)
            if hook is None or hook.status not in webhooks.LIVE_STATUSES:
                return None
            secret = str(self.sealer.open(hook.secret)["secret"])
            url = hook.webhook_url
            queue = await deliveries.pending(session, self.webhook_id, self.policy.batch)
        if not queue:
            return None
        now = self.clock()
        runs: dict[str, list[WebhookDelivery]] = {}
        for item in queue:
            runs.setdefault(item.grant_id, []).append(item)
        due = {g: run for g, run in runs.items() if run[0].next_attempt_at <= now}
        result = _Round()
        gate = asyncio.Semaphore(self.policy.parallel_grants)

        async def send_run(run: list[WebhookDelivery]) -> None:
            async with gate:
                for item in run:
                    error = await self._post(url, secret, item)
                    if error is not None:
                        result.failures.append((item, error))
                        return
                    result.done.append(item.id)
                    count_delivered(item.time)

        if due:
            await asyncio.gather(*(send_run(run) for run in due.values()))
        await self._record(result)
        if result.done and len(queue) >= self.policy.batch:
            return 0.0
        async with self.db.session() as session:
            nxt = await deliveries.next_due(session, self.webhook_id)
        return None if nxt is None else max(0.0, nxt - self.clock())

    async def _post(self, url: str, secret: str, item: WebhookDelivery) -> str | None:
        raw = payload.body(
            type_=item.type,
            source=item.source,
            delivery_id=item.delivery_id,
            time=item.time,
            attempt=item.attempts + 1,
            application_id=self.application_id,
            grant_id=item.grant_id,
            object_json=item.object_json,
        )
        headers = {
            "Content-Type": "application/json",
            payload.SIGNATURE_HEADER: payload.sign(secret, raw),
        }
        try:
            response = await self.http.post(url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return f"{exc.__class__.__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _record(self, result: _Round) -> None:
        now = self.clock()
        async with self.db.transaction() as session:
            await deliveries.delivered(session, result.done)
            WEBHOOK_DELIVERIES.labels("failed").inc(len(result.failures))
            for item, error in result.failures:
                attempts = item.attempts + 1
                await deliveries.failed(
                    session,
                    item.id,
                    attempts=attempts,
                    next_at=now + self.policy.backoff(attempts),
                    error=error,
                    now=now,
                )
                log.info(
                    "webhook %s: delivery %s failed (attempt %d): %s",
                    self.webhook_id,
                    item.delivery_id,
                    attempts,
                    error,
                )
            hook = await session.get(Webhook, self.webhook_id)
            if hook is None or hook.status not in webhooks.LIVE_STATUSES:
                return
            since = await deliveries.oldest_failure(session, self.webhook_id)
            if since is None:
                if hook.status != "active":
                    webhooks.set_status(hook, "active")
            elif now - since >= self.policy.retry_window:
                log.warning("webhook %s: failing for %.0f s, marked failed", hook.id, now - since)
                webhooks.set_status(hook, "failed", failing_since=since)
            elif hook.status != "failing" or hook.failing_since != since:
                webhooks.set_status(hook, "failing", failing_since=since)
