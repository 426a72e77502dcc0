"""The webhook service (``inboxsync webhooks``, or a task inside ``serve``).

Three loops: the dispatcher fans changes out into the outbox; the lease loop claims destinations
(several processes share them: each destination is sent by one process at a time) and runs one
sender task per claimed destination, so a slow or dead endpoint only ever delays itself; the pruner
deletes changes older than the retention. None of them touches the sync, which only writes changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from inboxsync.config import Settings
from inboxsync.events import guard
from inboxsync.events.deliver import Policy, Sender
from inboxsync.events.dispatch import Dispatcher
from inboxsync.events.horizon import Horizon
from inboxsync.store import deliveries, webhooks
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database

log = logging.getLogger(__name__)

STOP_GRACE = 5.0  # seconds the loops get to finish their step when the service stops


@dataclass(frozen=True)
class ServiceConfig:
    application_id: str = "inboxsync"
    allow_private: bool = False
    retention: float = 7 * 86400.0  # seconds a change stays readable
    poll: float = (
        0.5  # seconds between looks for changes other processes commit (ours wake at once)
    )
    lease_ttl: float = 30.0
    timeout: float = guard.TIMEOUT  # seconds for every request
    policy: Policy = field(default_factory=Policy)


class WebhookService:
    def __init__(self, db: Database, sealer: Sealer, config: ServiceConfig) -> None:
        self.db = db
        self.sealer = sealer
        self.config = config
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.horizon = Horizon(db)
        self.dispatcher = Dispatcher(db, self.horizon, config.application_id)
        self._wake: dict[str, asyncio.Event] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        async with guard.client(self.config.allow_private, timeout=self.config.timeout) as http:
            loops = [
                asyncio.create_task(self._dispatch_loop(stop), name="webhooks-dispatch"),
                asyncio.create_task(self._lease_loop(stop, http), name="webhooks-lease"),
                asyncio.create_task(self._prune_loop(stop), name="webhooks-prune"),
            ]
            try:
                await stop.wait()
            finally:
                # The loops see ``stop`` and finish their step; cancelling one in the middle of a
                # database call would leave the connection to be reset by the pool (and logged).
                tasks = [*loops, *self._senders.values()]
                _, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
                for task in late:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._senders.clear()
                with contextlib.suppress(Exception):
                    async with self.db.transaction() as session:
                        await webhooks.release(session, self.owner)

    async def _until_changes(self, stop: asyncio.Event) -> None:
        """Until this process commits change rows, ``stop`` is set, or the poll interval passes."""
        await _first(self.db.wait_for_changes(self.config.poll), stop.wait())

    async def _dispatch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                moved = await self.dispatcher.step()
            except Exception:
                log.exception("webhook dispatch failed; retrying")
                moved = 0
                await _sleep(stop, 1.0)
            if moved:
                for event in self._wake.values():
                    event.set()
            else:
                await self._until_changes(stop)

    async def _lease_loop(self, stop: asyncio.Event, http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                async with self.db.transaction() as session:
                    mine = set(
                        await webhooks.claim(
                            session, self.owner, time.time(), self.config.lease_ttl
                        )
                    )
            except Exception:
                log.exception("webhook lease renewal failed")
                mine = set()
            for hook_id in mine - set(self._senders):
                self._wake[hook_id] = asyncio.Event()
                self._senders[hook_id] = asyncio.create_task(
                    self._send_loop(hook_id, http), name=f"webhook-{hook_id}"
                )
            for hook_id in set(self._senders) - mine:
                self._senders.pop(hook_id).cancel()
                self._wake.pop(hook_id, None)
            for hook_id, task in list(self._senders.items()):
                if task.done():
                    self._senders.pop(hook_id)
            await _sleep(stop, min(2.0, self.config.lease_ttl / 3))

    async def _send_loop(self, hook_id: str, http: httpx.AsyncClient) -> None:
        sender = Sender(
            self.db, self.sealer, http, hook_id, self.config.application_id, self.config.policy
        )
        wake = self._wake[hook_id]
        while True:
            wake.clear()
            try:
                delay = await sender.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook %s: round failed", hook_id)
                delay = 1.0
            if delay == 0.0:
                continue
            # Another process's dispatcher may queue too: look again within a second regardless.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(delay if delay else 1.0, 1.0))

    async def _prune_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.db.transaction() as session:
                    removed = await deliveries.prune(session, time.time() - self.config.retention)
                if removed:
                    log.info("pruned %d changes older than the retention", removed)
            except Exception:
                log.exception("pruning the change log failed")
            await _sleep(stop, 600.0)


async def _first(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def config_from(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        application_id=settings.application_id,
        allow_private=settings.webhook_allow_private,
        retention=settings.change_retention_days * 86400.0,
        lease_ttl=settings.webhook_lease_seconds,
        policy=Policy(
            retry_base=settings.webhook_retry_base,
            retry_cap=settings.webhook_retry_cap,
            retry_window=settings.webhook_retry_hours * 3600.0,
        ),
    )
