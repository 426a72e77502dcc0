"""The write-back loop of one grant: apply its due actions in order, retry, fail, roll back.

Transient failures (the connection dropped, the server throttled) keep the action pending with an
exponential backoff and stop the run there, so later actions never overtake it. A permanent failure
(the folder or message is gone) fails the action (its error shows in the grant's sync status), and marks
the folders
it touched for a full comparison, so the next pass rolls the local copy back to what the server has
(with change rows, so the application hears about it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping

from inboxsync.errors import ConnectionLost, InboxsyncError, ProviderError, StorageError
from inboxsync.store import outbox
from inboxsync.store.db import Database
from inboxsync.store.models import Action

log = logging.getLogger(__name__)

Handler = Callable[[Action], Awaitable[None]]
MAX_DELAY = 600.0
MAX_ATTEMPTS = 20  # a "transient" failure this often (about 2.5 h of backoff) is not transient


def retry_delay(attempts: int) -> float:
    return min(MAX_DELAY, 2.0 ** min(attempts, 10)) * (0.5 + random.random() / 2)


def touched_folders(action: Action) -> list[str]:
    payload = action.payload
    ids = [p["folder_id"] for p in payload.get("placements", []) if "folder_id" in p]
    ids += list(payload.get("folders", []))
    if action.kind.endswith("_folder") and action.object_id:
        ids.append(action.object_id)
    return list(dict.fromkeys(ids))


class ActionRunner:
    """``await runner.run_due()`` applies what is due; ``handlers`` map an action kind to a coroutine."""

    def __init__(
        self,
        db: Database,
        grant_id: str,
        handlers: Mapping[str, Handler] | Callable[[], Mapping[str, Handler]],
    ) -> None:
        """``handlers`` may be a factory: called once, when the first due action shows up (a pass
        with nothing to write back never imports the sending machinery)."""
        self.db = db
        self.grant_id = grant_id
        self._handlers = handlers

    @property
    def handlers(self) -> Mapping[str, Handler]:
        if callable(self._handlers):
            self._handlers = self._handlers()
        return self._handlers

    async def run_due(self) -> int:
        """Apply due actions; returns how many were settled (done or failed). ConnectionLost
        propagates (after the action is marked for retry) so the caller reconnects."""
        settled = 0
        while True:
            async with self.db.session() as session:
                batch = await outbox.due(session, self.grant_id)
            if not batch:
                return settled
            for action in batch:
                handler = self.handlers.get(action.kind)
                if handler is None:
                    continue  # another part of the worker owns this kind (e.g. sending)
                try:
                    await handler(action)
                except ProviderError as exc:
                    if exc.transient and action.attempts + 1 < MAX_ATTEMPTS:
                        await self._retry(action, exc)
                        if isinstance(exc, ConnectionLost):
                            raise
                        return settled
                    await self._fail(action, exc)  # permanent, or transient for too long
                    settled += 1
                    continue
                except StorageError as exc:  # our database hiccuped: the action itself is fine
                    await self._retry(action, exc)
                    return settled
                except InboxsyncError as exc:
                    await self._fail(action, exc)
                    settled += 1
                    continue
                async with self.db.transaction() as session:
                    row = await session.get(Action, action.id)
                    if row is not None:
                        outbox.mark_done(row)
                settled += 1
            if all(a.kind not in self.handlers for a in batch):
                return settled

    async def _retry(self, action: Action, exc: InboxsyncError) -> None:
        log.info("action %s (%s) will be retried: %s", action.id, action.kind, exc)
        async with self.db.transaction() as session:
            row = await session.get(Action, action.id)
            if row is not None:
                outbox.mark_retry(row, str(exc), retry_delay(row.attempts))

    async def _fail(self, action: Action, exc: InboxsyncError) -> None:
        log.warning("action %s (%s) failed: %s", action.id, action.kind, exc)
        async with self.db.transaction() as session:
            row = await session.get(Action, action.id)
            if row is not None:
                outbox.mark_failed(row, str(exc))
            await outbox.mark_folders_dirty(session, touched_folders(action))
