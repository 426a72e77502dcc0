"""The sync of one IMAP grant: full passes, IDLE on INBOX between them, and recovery from errors.

Errors are handled by their class (see :mod:`inboxsync.errors`): credentials refused make the grant
``invalid`` (and log ``grant.expired``) and stop it, with no retry storm; anything transient
reconnects with exponential backoff and jitter; a message the server cannot deliver is skipped inside
the folder pass. One account's failure never touches another's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field

from inboxsync.actions.imap import ImapWriter
from inboxsync.actions.worker import ActionRunner
from inboxsync.core.accounts import ImapAccount
from inboxsync.errors import AuthError, InboxsyncError, LeaseLost, ObjectError, ProtocolError
from inboxsync.metrics import SYNC_PASSES, count_error
from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.idle import IdleSession
from inboxsync.store import grants, messages, outbox
from inboxsync.store.models import Folder, Grant
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.imap.context import SyncContext
from inboxsync.sync.imap.folder_list import sync_folder_list
from inboxsync.sync.imap.mailbox import FolderResult, sync_mailbox
from inboxsync.sync.imap.session import open_client

log = logging.getLogger(__name__)

IDLE_MAX = 25 * 60.0  # RFC 2177: re-issue IDLE within 29 minutes


@dataclass
class PassSummary:
    folders: int = 0
    new: int = 0
    gone: int = 0
    flags: int = 0
    skipped: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, result: FolderResult) -> None:
        self.folders += 1
        self.new += result.new
        self.gone += result.gone
        self.flags += result.flags
        self.skipped += result.skipped


class ImapGrantSync:
    """Keeps one grant current. ``run_once`` for ``sync --once``; ``run`` until ``stop`` is set."""

    def __init__(self, deps: SyncDeps, grant_id: str) -> None:
        self.deps = deps
        self.grant_id = grant_id
        self.poll_interval = deps.poll_interval
        self.idle_wait = 1.0  # how often IDLE looks at the stop flag; events wake it at once
        self._state: str | None = None
        self.wake = asyncio.Event()  # set by the API (through the supervisor) after a local change
        self._next_action_check = 0.0

    async def _load(self) -> tuple[Grant, ImapAccount, SyncContext]:
        async with self.deps.db.session() as session:
            grant = await grants.get(session, self.grant_id)
        secrets = self.deps.sealer.open(grant.credentials)
        account = ImapAccount.from_stored(grant.email, grant.settings, secrets)
        ctx = SyncContext(
            db=self.deps.db,
            blobs=self.deps.blobs,
            parser=self.deps.parser,
            grant_id=grant.id,
            email=account.email,
        )
        return grant, account, ctx

    async def _set_state(
        self, state: str, error: str | None = None, *, passed: bool = False
    ) -> None:
        if state == self._state and error is None and not passed:
            return
        self._state = state
        async with self.deps.db.transaction() as session:
            grant = await grants.get(session, self.grant_id)
            grant.sync_state = state
            grant.last_error = error
            grant.updated_at = int(time.time())
            if passed:
                grant.last_sync_at = int(time.time())
                grant.initial_sync_complete = True
            if grant.sync_started_at is None:
                grant.sync_started_at = int(time.time())

    async def _full_pass(
        self, client: ImapClient, ctx: SyncContext
    ) -> tuple[PassSummary, list[Folder]]:
        started = time.monotonic()
        summary = PassSummary()
        try:
            await self._writeback(client, ctx)
            folders = await sync_folder_list(client, ctx)
            for folder in folders:
                try:
                    summary.add(await sync_mailbox(client, ctx, folder))
                except (ObjectError, ProtocolError) as exc:
                    # One folder the server will not serve (no rights, gone since LIST, a name it
                    # rejects) must not stop the others; the next pass tries it again.
                    log.warning("grant %s: folder %r skipped: %s", self.grant_id, folder.path, exc)
                    count_error("imap", exc)
                    summary.errors.append(f"{folder.path}: {exc}")
        finally:
            # Even after a failure: a message left in no folder of the folders synced is gone (at
            # worst one moved to a folder not reached yet comes back under a new id next pass).
            await self._settle_orphans(ctx)
        summary.seconds = time.monotonic() - started
        SYNC_PASSES.labels("imap").inc()
        return summary, folders

    async def _settle_orphans(self, ctx: SyncContext) -> None:
        """After a pass over every folder: messages found in no folder were deleted on the server."""
        if ctx.orphans:
            async with ctx.db.transaction() as session:
                await messages.delete_orphans(
                    session, ctx.grant_id, ctx.orphans, self_email=ctx.email
                )
            ctx.orphans.clear()

    async def run_once(self) -> PassSummary:
        """Connect, sync every folder once, log out. Errors propagate (after marking the grant)."""
        _, account, ctx = await self._load()
        try:
            await self._set_state("running")
            async with await open_client(account) as client:
                summary, _ = await self._full_pass(client, ctx)
            await self._set_state("running", passed=True)
            return summary
        except AuthError as exc:
            await self._invalidate(str(exc))
            raise
        except InboxsyncError as exc:
            await self._set_state("error", str(exc))
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set or the credentials are refused."""
        failures = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                return
            except LeaseLost as exc:  # another worker holds the grant now: write nothing more
                log.warning("grant %s: %s; stopping", self.grant_id, exc)
                return
            except AuthError as exc:
                count_error("imap", exc)
                await self._invalidate(str(exc))
                return
            except (InboxsyncError, OSError, RuntimeError) as exc:
                count_error("imap", exc)
                # RuntimeError: a broken parse pool (replaced on its next use) or a bug; either way
                # back off instead of crashing into the supervisor's restart loop.
                failures += 1
                delay = min(300.0, self.deps.backoff_base * 2 ** min(failures - 1, 10))
                delay *= (
                    0.5 + random.random() / 2
                )  # jitter: accounts that failed together spread out
                log.warning("grant %s: %s; retrying in %.1f s", self.grant_id, exc, delay)
                await self._set_state("error", str(exc))
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        _, account, ctx = await self._load()
        async with await open_client(account) as client:
            # Each full pass waits for the process's pass gate (SyncDeps.pass_gate): a thousand
            # grants starting together take turns instead of starving the connection pool.
            async with self.deps.pass_gate:
                # "running" once connected: during an outage the state stays "error" between
                # attempts.
                await self._set_state("running")
                folders = await self._gated_pass(client, ctx)
            while not stop.is_set():
                inbox = next((f for f in folders if f.role == "inbox"), None)
                await self._wait_for_mail(client, ctx, inbox, stop)
                if stop.is_set():
                    break
                async with self.deps.pass_gate:
                    folders = await self._gated_pass(client, ctx)

    async def _gated_pass(self, client: ImapClient, ctx: SyncContext) -> list[Folder]:
        """A full pass, the caller holding the pass gate."""
        _, folders = await self._full_pass(client, ctx)
        await self._set_state("idle", passed=True)
        return folders

    async def _wait_for_mail(
        self, client: ImapClient, ctx: SyncContext, inbox: Folder | None, stop: asyncio.Event
    ) -> None:
        """Until the next full pass is due: IDLE on INBOX, sync it whenever the server speaks, and
        write back local changes as soon as the API wakes us."""
        deadline = time.monotonic() + self.poll_interval
        idle_ok = inbox is not None and "IDLE" in client.capabilities
        if inbox is not None:
            await sync_mailbox(client, ctx, inbox)  # selects INBOX and catches up
        while not stop.is_set() and time.monotonic() < deadline:
            if self.wake.is_set() or self._actions_check_due():
                self.wake.clear()
                await self._writeback(client, ctx)
                if inbox is not None:
                    await sync_mailbox(client, ctx, inbox)
                if ctx.orphans:
                    return
                continue
            remaining = deadline - time.monotonic()
            if not idle_ok:
                if await self._woken(stop, min(self.deps.legacy_poll, remaining)) is None and inbox:
                    await sync_mailbox(client, ctx, inbox)
                continue
            async with client.idle() as idle:
                events = await self._idle_until(idle, stop, remaining)
            if events and inbox is not None:
                await sync_mailbox(client, ctx, inbox)
                if ctx.orphans:  # moved out of INBOX, or deleted: the other folders tell which
                    return

    async def _woken(self, stop: asyncio.Event, timeout: float) -> str | None:  # noqa: ASYNC109
        """Wait for stop or wake, at most ``timeout`` seconds; which one, or None."""
        waiters = {
            asyncio.ensure_future(stop.wait()): "stop",
            asyncio.ensure_future(self.wake.wait()): "wake",
        }
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in waiters:  # also when this wait is cancelled itself (an IDLE event came)
                task.cancel()
        return waiters[next(iter(done))] if done else None

    async def _idle_until(
        self,
        idle: IdleSession,
        stop: asyncio.Event,
        timeout: float,  # noqa: ASYNC109
    ) -> list[object]:
        """The server's untagged responses, or [] when woken, stopped or out of time."""
        reading = asyncio.ensure_future(idle.wait(max(0.0, min(timeout, IDLE_MAX))))
        woken = asyncio.ensure_future(self._woken(stop, timeout))
        try:
            done, _ = await asyncio.wait({reading, woken}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the supervisor stopped this grant: leave no orphan
            for waiter in (reading, woken):
                waiter.cancel()
                if waiter.done() and not waiter.cancelled():
                    waiter.exception()  # retrieved: the connection is closing anyway
            raise
        if reading in done:
            woken.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await woken  # let it cancel its own waiters
            return list(reading.result())
        reading.cancel()  # safe: IDLE only waits on a socket read, which loses nothing when cancelled
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        return []

    def _actions_check_due(self) -> bool:
        """Actions written by another process (``inboxsync api``) are looked for now and then
        (by the supervisor for all its grants at once, when there is one)."""
        if self.deps.actions_watched or time.monotonic() < self._next_action_check:
            return False
        self._next_action_check = time.monotonic() + self.deps.action_poll
        return True

    async def _writeback(self, client: ImapClient, ctx: SyncContext) -> int:
        writer = ImapWriter(client, ctx.db, ctx.grant_id)
        runner = ActionRunner(ctx.db, ctx.grant_id, lambda: self.deps.handlers_for(writer))
        settled = await runner.run_due()
        async with ctx.db.session() as session:
            ctx.protected = await outbox.protected_messages(session, ctx.grant_id)
        return settled

    async def _invalidate(self, error: str) -> None:
        log.warning("grant %s: credentials refused: %s", self.grant_id, error)
        self._state = "invalid"
        async with self.deps.db.transaction() as session:
            grant = await grants.get(session, self.grant_id)
            await grants.set_status(
                session, grant, grant_status="invalid", sync_state="invalid", last_error=error
            )
