"""One asyncio task per grant this worker holds the lease of (``store/leases.py``).

Every ``refresh`` seconds (a third of the lease by default) the supervisor renews its leases in one
statement, stops at once the sync of any grant whose lease it lost, claims free or expired grants up
to its fair share and gives back what it holds above it. A worker that cannot renew (database
unreachable) stops every grant before its leases can have expired, and each grant's writes go through
a :class:`~inboxsync.store.leases.FencedDatabase`, so a worker that lost a lease writes nothing more for
that grant. ``inboxsync worker`` runs several of these against PostgreSQL; ``serve`` runs one on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from inboxsync.logging_setup import grant_context
from inboxsync.metrics import LEASES_CLAIMED, LEASES_HELD, LEASES_LOST
from inboxsync.store import grants, outbox
from inboxsync.store import leases as lease_repo
from inboxsync.store.leases import FencedDatabase, Lease
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail.account import GmailGrantSync
from inboxsync.sync.imap.account import ImapGrantSync

log = logging.getLogger(__name__)


@dataclass
class LeaseConfig:
    ttl: float = 30.0  # seconds a lease lasts without renewal (INBOXSYNC_LEASE_SECONDS)
    slack: int = 1  # grants a worker may hold above ceil(active / live workers)
    claim_batch: int = 50  # most grants claimed in one round (new workers ramp up gradually)
    drain: float = 10.0  # seconds a stopping grant gets to finish its batch and log out


def new_worker_id() -> str:
    """``host:pid:random``: unique per process, readable in the lease table."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Supervisor:
    """Holds leases and runs the sync of each leased grant in its own task."""

    def __init__(
        self,
        deps: SyncDeps,
        *,
        refresh: float | None = None,
        leases: LeaseConfig | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.deps = deps
        self.lease_config = leases or LeaseConfig()
        self.refresh = refresh if refresh is not None else self.lease_config.ttl / 3
        self.worker_id = worker_id or new_worker_id()
        self.tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.syncs: dict[str, ImapGrantSync | GmailGrantSync] = {}
        self.held: dict[str, Lease] = {}
        self.draining: set[str] = set()  # stopped, still leased until their tasks end
        self._renewed_at: float | None = None  # monotonic time of the last successful renewal
        self._next_forget = 0.0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the grants now (a grant was added or removed)."""
        self._wake.set()

    def notify(self, grant_id: str) -> None:
        """The application changed something of this grant: write it back now."""
        sync = self.syncs.get(grant_id)
        if sync is not None:
            sync.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        watchdog: asyncio.Task[None] | None = None
        actions: asyncio.Task[None] | None = None
        try:
            with contextlib.suppress(Exception):  # a restart under the same id (``serve``) takes
                async with self.deps.db.control_transaction() as session:  # its grants back at once
                    await lease_repo.release(session, self.worker_id)
            watchdog = asyncio.create_task(self._watchdog(stop), name="lease-watchdog")
            actions = asyncio.create_task(self._watch_actions(stop), name="action-watch")
            while not stop.is_set():
                self._wake.clear()  # a wake during the round runs the next one at once
                try:
                    await self._round()
                except Exception:  # a database hiccup must not end every grant's sync
                    log.exception("supervisor: could not renew or claim leases; trying again")
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                await asyncio.wait(
                    waiters, timeout=self.refresh, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            for task in (watchdog, actions):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self.stop_all()

    async def _watchdog(self, stop: asyncio.Event) -> None:
        """Looks at the last renewal a few times a second, apart from the rounds: a round stuck on
        an unreachable database (a connect that hangs) must not keep the grants running."""
        tick = min(0.25, self.lease_config.ttl / 20)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            await self._expire_locally()

    async def _watch_actions(self, stop: asyncio.Event) -> None:
        """Every ``action_poll`` seconds, one query for the actions of every grant running here
        (written by an ``inboxsync api`` process: this one's own are notified at once); the grants
        that have some are woken. It replaces a query (and an IDLE interruption) per grant."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.deps.action_poll)
            running = list(self.syncs)
            if stop.is_set() or not running:
                continue
            try:
                async with self.deps.db.session() as session:
                    due = await outbox.grants_with_due(session, running)
            except Exception:  # a database hiccup: the next look will do
                log.exception("supervisor: could not look for actions")
                continue
            for grant_id in due:
                self.notify(grant_id)

    async def _renew(self) -> None:
        """The heartbeat: extend every lease in one statement; stop at once what was lost."""
        started, now = time.monotonic(), time.time()
        async with self.deps.db.control_transaction() as session:
            renewed = await lease_repo.renew(session, self.worker_id, now, self.lease_config.ttl)
        self._renewed_at = started
        for grant_id, generation in renewed.items():
            if grant_id not in self.held and grant_id not in self.draining:
                # Still ours, same generation (nobody wrote since): the watchdog stopped it
                # during a slow spell. Run it again.
                self.held[grant_id] = Lease(grant_id, self.worker_id, generation)
        lost = [g for g, lease in self.held.items() if renewed.get(g) != lease.generation]
        if lost:
            log.warning("lost the leases of %d grant(s): stopping them", len(lost))
            LEASES_LOST.labels("taken").inc(len(lost))
            await self._stop_many(lost, drain=0.0)
            async with (
                self.deps.db.control_transaction() as session
            ):  # the stopped grants, if still ours
                await lease_repo.release(session, self.worker_id, lost)

    async def _round(self) -> None:
        config = self.lease_config
        await self._renew()
        self._reap()
        async with self.deps.db.control_transaction() as session:
            claimed = await lease_repo.claim(
                session,
                self.worker_id,
                time.time(),
                config.ttl,
                limit=config.claim_batch,
                slack=config.slack,
            )
            over = await lease_repo.excess(
                session, self.worker_id, time.time(), config.ttl, slack=config.slack
            )
            if time.monotonic() >= self._next_forget:
                await lease_repo.forget_workers(session, time.time(), 10 * config.ttl)
                self._next_forget = time.monotonic() + 10 * config.ttl
        for lease in claimed:
            self.held[lease.grant_id] = lease
        LEASES_CLAIMED.inc(len(claimed))
        if len(claimed) == config.claim_batch:
            self._wake.set()  # more may be free: claim again without waiting a round
        if over:  # a worker joined: give back the newest grants this one started
            shed = list(self.held)[-over:]
            log.info("holding %d grant(s) above the fair share: giving them back", over)
            await self._stop_many(shed, drain=config.drain)
            async with self.deps.db.control_transaction() as session:
                await lease_repo.release(session, self.worker_id, shed)
        await self._start_held()
        LEASES_HELD.set(len(self.held))

    async def _expire_locally(self) -> None:
        """No renewal for most of a lease (database unreachable): another worker may take these
        grants any moment, so stop them all now rather than race it."""
        if self._renewed_at is None or not self.held:
            return
        if time.monotonic() - self._renewed_at > 0.75 * self.lease_config.ttl:
            log.warning(
                "leases not renewed for %.1f s: stopping every grant",
                time.monotonic() - self._renewed_at,
            )
            LEASES_LOST.labels("unrenewed").inc(len(self.held))
            await self._stop_many(list(self.held), drain=0.0)
            LEASES_HELD.set(len(self.held))

    def _reap(self) -> None:
        for grant_id, (task, _) in list(self.tasks.items()):
            if task.done():
                del self.tasks[grant_id]  # started again below while the lease is held
                self.syncs.pop(grant_id, None)
                if not task.cancelled() and task.exception() is not None:
                    log.error("sync of grant %s crashed", grant_id, exc_info=task.exception())

    async def _start_held(self) -> None:
        missing = [g for g in self.held if g not in self.tasks]
        if not missing:
            return
        async with self.deps.db.control_transaction() as session:
            providers = {g.id: g.provider for g in await grants.all_active(session)}
        for grant_id in missing:
            provider = providers.get(grant_id)
            if provider not in ("imap", "google"):
                continue
            deps = dataclasses.replace(
                self.deps,
                db=FencedDatabase(self.deps.db, self.held[grant_id]),
                actions_watched=True,
            )
            stop = asyncio.Event()
            sync: ImapGrantSync | GmailGrantSync = (
                GmailGrantSync(deps, grant_id)
                if provider == "google"
                else ImapGrantSync(deps, grant_id)
            )
            task = asyncio.create_task(
                sync.run(stop), name=f"sync:{grant_id}", context=grant_context(grant_id)
            )
            self.tasks[grant_id] = (task, stop)
            self.syncs[grant_id] = sync

    async def _stop_many(self, grant_ids: list[str], *, drain: float) -> None:
        """Stop these grants' syncs together: ``drain`` seconds to finish the batch and log out,
        then cancelled (a cancelled transaction rolls back)."""
        stopping = []
        for grant_id in grant_ids:
            self.held.pop(grant_id, None)
            self.syncs.pop(grant_id, None)
            entry = self.tasks.pop(grant_id, None)
            if entry is not None:
                entry[1].set()
                stopping.append(entry[0])
        if not stopping:
            return
        deadline = time.monotonic() + drain
        pending = set(stopping)
        names = set(grant_ids) if drain > 0 else set()
        self.draining |= names
        try:
            while pending and time.monotonic() < deadline:  # heartbeats go on while they finish
                _, pending = await asyncio.wait(
                    pending, timeout=min(self.refresh, deadline - time.monotonic())
                )
                if pending:
                    try:
                        await self._renew()
                    except Exception:
                        log.exception("could not renew the leases while stopping grants")
        finally:
            self.draining -= names
        for task in stopping:
            task.cancel()
        for task in stopping:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop_all(self) -> None:
        """Drain every grant, then give every lease back so other workers take over at once."""
        await self._stop_many(list(self.tasks), drain=self.lease_config.drain)
        self.held.clear()
        LEASES_HELD.set(0)
        try:
            async with self.deps.db.control_transaction() as session:
                await lease_repo.release(session, self.worker_id)
        except Exception:  # unreachable database: the leases expire on their own
            log.exception(
                "could not release the leases; they expire in %.0f s", self.lease_config.ttl
            )
