"""One asyncio task per active grant, started and stopped as grants come and go."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from inboxsync.logging_setup import grant_context
from inboxsync.store import grants
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail.account import GmailGrantSync
from inboxsync.sync.imap.account import ImapGrantSync

log = logging.getLogger(__name__)


class Supervisor:
    """Watches the grants table; each grant runs in its own task so one failure never stalls another."""

    def __init__(self, deps: SyncDeps, *, refresh: float = 5.0) -> None:
        self.deps = deps
        self.refresh = refresh
        self.tasks: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.syncs: dict[str, ImapGrantSync | GmailGrantSync] = {}
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
        try:
            while not stop.is_set():
                try:
                    await self._reconcile()
                except Exception:  # a database hiccup must not end every grant's sync
                    log.exception("supervisor: could not look at the grants; trying again")
                self._wake.clear()
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
            await self.stop_all()

    async def _reconcile(self) -> None:
        async with self.deps.db.session() as session:
            active = {g.id: g.provider for g in await grants.all_active(session)}
        for grant_id in [g for g in self.tasks if g not in active]:
            await self._stop(grant_id)
        for grant_id, (task, _) in list(self.tasks.items()):
            if task.done():
                del self.tasks[
                    grant_id
                ]  # ended (credentials refused): restarted only if valid again
                if not task.cancelled() and task.exception() is not None:
                    log.error("sync of grant %s crashed", grant_id, exc_info=task.exception())
        for grant_id, provider in active.items():
            if grant_id in self.tasks or provider not in ("imap", "google"):
                continue
            stop = asyncio.Event()
            sync: ImapGrantSync | GmailGrantSync = (
                GmailGrantSync(self.deps, grant_id)
                if provider == "google"
                else ImapGrantSync(self.deps, grant_id)
            )
            task = asyncio.create_task(
                sync.run(stop), name=f"sync:{grant_id}", context=grant_context(grant_id)
            )
            self.tasks[grant_id] = (task, stop)
            self.syncs[grant_id] = sync

    async def _stop(self, grant_id: str) -> None:
        task, stop = self.tasks.pop(grant_id)
        self.syncs.pop(grant_id, None)
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except (TimeoutError, Exception):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop_all(self) -> None:
        for grant_id in list(self.tasks):
            await self._stop(grant_id)
