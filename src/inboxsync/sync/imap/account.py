"""The sync of one IMAP grant: full passes, IDLE on INBOX between them, and recovery from errors.

Errors are handled by their class (see :mod:`inboxsync.errors`): credentials refused make the grant
``invalid`` (and log ``grant.expired``) and stop it, with no retry storm; anything transient
reconnects with exponential backoff and jitter; a message the server cannot deliver is skipped inside
the folder pass. One account's failure never touches another's task.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from inboxsync.core.accounts import ImapAccount
from inboxsync.errors import AuthError, InboxsyncError
from inboxsync.providers.imap.client import ImapClient
from inboxsync.store import grants, messages
from inboxsync.store.models import Folder, Grant
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.imap.context import SyncContext
from inboxsync.sync.imap.folder_list import sync_folder_list
from inboxsync.sync.imap.mailbox import FolderResult, sync_mailbox
from inboxsync.sync.imap.session import open_client

log = logging.getLogger(__name__)


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
        folders = await sync_folder_list(client, ctx)
        for folder in folders:
            summary.add(await sync_mailbox(client, ctx, folder))
        await self._settle_orphans(ctx)
        summary.seconds = time.monotonic() - started
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
            except AuthError as exc:
                await self._invalidate(str(exc))
                return
            except (InboxsyncError, OSError) as exc:
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
        await self._set_state("running")
        async with await open_client(account) as client:
            while not stop.is_set():
                _, folders = await self._full_pass(client, ctx)
                await self._set_state("idle", passed=True)
                inbox = next((f for f in folders if f.role == "inbox"), None)
                await self._wait_for_mail(client, ctx, inbox, stop)

    async def _wait_for_mail(
        self, client: ImapClient, ctx: SyncContext, inbox: Folder | None, stop: asyncio.Event
    ) -> None:
        """Until the next full pass is due: IDLE on INBOX and sync it whenever the server speaks."""
        deadline = time.monotonic() + self.poll_interval
        if inbox is None or "IDLE" not in client.capabilities:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(
                        stop.wait(), min(self.deps.legacy_poll, deadline - time.monotonic())
                    )
                except TimeoutError:
                    if inbox is not None:
                        await sync_mailbox(client, ctx, inbox)
            return
        await sync_mailbox(client, ctx, inbox)  # selects INBOX and catches up
        while not stop.is_set() and time.monotonic() < deadline:
            async with client.idle() as idle:
                events: list[object] = []
                while not events and not stop.is_set() and time.monotonic() < deadline:
                    events = list(await idle.wait(self.idle_wait))
            if events:
                await sync_mailbox(client, ctx, inbox)
                if ctx.orphans:  # moved out of INBOX, or deleted: the other folders tell which
                    return

    async def _invalidate(self, error: str) -> None:
        log.warning("grant %s: credentials refused: %s", self.grant_id, error)
        self._state = "invalid"
        async with self.deps.db.transaction() as session:
            grant = await grants.get(session, self.grant_id)
            await grants.set_status(
                session, grant, grant_status="invalid", sync_state="invalid", last_error=error
            )
