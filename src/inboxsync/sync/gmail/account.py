"""The sync of one Gmail grant: labels, then a first sync or a history pass; poll or wait for a push.

Errors by class (:mod:`inboxsync.errors`): ``invalid_grant`` (an :class:`AuthError`) makes the grant
``invalid`` and logs ``grant.expired``, once, and ends the task; throttling and server errors are
retried inside the client and then by this loop with exponential backoff and jitter, leaving the grant
valid; an expired history id starts a resync that reconciles with what is stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

from inboxsync.actions.gmail import GMAIL_KINDS, apply_gmail_action
from inboxsync.actions.worker import ActionRunner
from inboxsync.config import Settings
from inboxsync.errors import AuthError, InboxsyncError, LeaseLost
from inboxsync.metrics import SYNC_PASSES, count_error
from inboxsync.providers.gmail.client import GmailClient
from inboxsync.providers.gmail.failures import HistoryExpired
from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.store import grants, sending
from inboxsync.store import messages as message_repo
from inboxsync.store.models import Action, Folder
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail import push
from inboxsync.sync.gmail.context import GmailContext
from inboxsync.sync.gmail.labels import sync_labels
from inboxsync.sync.gmail.passes import PassResult, full_pass, history_pass

log = logging.getLogger(__name__)


def google_config(deps: SyncDeps) -> GoogleConfig:
    """The operator's Google settings: from the deps (tests), else from the environment."""
    if deps.google is not None:
        return deps.google
    return config_from_settings(Settings())


def config_from_settings(settings: Settings) -> GoogleConfig:
    secret = settings.google_client_secret
    return GoogleConfig(
        client_id=settings.google_client_id or "",
        client_secret=secret.get_secret_value() if secret else "",
        token_url=settings.google_token_url,
        api_url=settings.google_api_url,
    )


@dataclass
class GmailSummary:
    passes: int = 0
    kind: str = ""
    new: int = 0
    relabelled: int = 0
    deleted: int = 0
    skipped: int = 0
    seconds: float = 0.0


class GmailGrantSync:
    """Keeps one Gmail grant current. ``run_once`` for ``sync --once``; ``run`` until ``stop``."""

    def __init__(self, deps: SyncDeps, grant_id: str, config: GoogleConfig | None = None) -> None:
        self.deps = deps
        self.grant_id = grant_id
        self.config = config or google_config(deps)
        self.poll_interval = deps.poll_interval
        self.wake = push.event_for(grant_id)  # a Pub/Sub push, or the API after a local change

    async def _context(self) -> GmailContext:
        async with self.deps.db.session() as session:
            grant = await grants.get(session, self.grant_id)
        secrets = self.deps.sealer.open(grant.credentials)
        client = GmailClient(
            self.config,
            str(secrets.get("refresh_token", "")),
            user=grant.id,
            backoff=self.deps.backoff_base,
        )
        return GmailContext(
            db=self.deps.db,
            blobs=self.deps.blobs,
            parser=self.deps.parser,
            client=client,
            grant_id=grant.id,
            email=grant.email,
        )

    async def writeback(self, ctx: GmailContext) -> int:
        """Apply the grant's due outbox actions (:mod:`inboxsync.actions.gmail`)."""

        async def handler(action: Action) -> None:
            result = await apply_gmail_action(ctx.client, ctx.db, action, ctx.blobs)
            sent_id = (result or {}).get("id") if action.kind == "send_message" else None
            if sent_id and action.object_id and sent_id != action.object_id:
                # The API kept a local copy under our id until Google gave the message its own;
                # the history pass brings it back under Gmail's id, in SENT and its thread.
                # (A sent draft may still sit in the Drafts folder: it goes too.)
                async with ctx.db.transaction() as session:
                    await sending.discard(
                        session, ctx.grant_id, action.object_id, self_email=ctx.email
                    )

        handlers = dict.fromkeys(GMAIL_KINDS, handler)
        return await ActionRunner(ctx.db, ctx.grant_id, handlers).run_due()

    async def one_pass(self, ctx: GmailContext) -> PassResult:
        """Write-back, labels, then full sync (first time, or unfinished) or history (resync if it
        expired): local changes reach Google before its history is read back."""
        await self.writeback(ctx)
        await sync_labels(ctx, await ctx.client.labels())
        cursor = await ctx.cursor()
        if "history_id" not in cursor or "full_start" in cursor:
            result = await full_pass(ctx, reconcile="history_id" in cursor)
        else:
            try:
                result = await history_pass(ctx)
            except HistoryExpired as exc:
                log.info("grant %s: %s; full resync", self.grant_id, exc)
                result = await full_pass(ctx, reconcile=True)
        await self._counts(ctx)
        return result

    async def _counts(self, ctx: GmailContext) -> None:
        async with ctx.db.transaction() as session:
            for folder_id in ctx.folder_ids.values():
                folder = await session.get(Folder, folder_id)
                if folder is not None:
                    await message_repo.update_folder_counts(session, folder)

    async def run_once(self) -> GmailSummary:
        ctx = await self._context()
        started = time.monotonic()
        try:
            await self._set_state("running")
            result = await self.one_pass(ctx)
            await self._set_state("running", passed=True)
        except AuthError as exc:
            await self._invalidate(str(exc))
            raise
        except InboxsyncError as exc:
            await self._set_state("error", str(exc))
            raise
        finally:
            await ctx.client.close()
        return GmailSummary(
            1, result.kind, result.new, result.relabelled, result.deleted,
            ctx.stats["skipped"], time.monotonic() - started,
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` or the grant is refused; a push wakes it early."""
        failures = 0
        wake = self.wake
        ctx = await self._context()
        try:
            while not stop.is_set():
                try:
                    wake.clear()
                    async with self.deps.pass_gate:
                        await self._set_state("running")
                        await self.one_pass(ctx)
                        await self._set_state("idle", passed=True)
                    SYNC_PASSES.labels("google").inc()
                    failures = 0
                    delay = self.poll_interval
                except LeaseLost as exc:  # another worker holds the grant now: write nothing more
                    log.warning("grant %s: %s; stopping", self.grant_id, exc)
                    return
                except AuthError as exc:
                    count_error("google", exc)
                    await self._invalidate(str(exc))
                    return
                except (InboxsyncError, OSError) as exc:
                    count_error("google", exc)
                    failures += 1
                    delay = min(300.0, self.deps.backoff_base * 2 ** min(failures - 1, 10))
                    delay *= 0.5 + random.random() / 2
                    log.warning("grant %s: %s; retrying in %.1f s", self.grant_id, exc, delay)
                    await self._set_state("error", str(exc))
                await push.wait(stop, wake, delay)
        finally:
            await ctx.client.close()

    async def _set_state(
        self, state: str, error: str | None = None, *, passed: bool = False
    ) -> None:
        async with self.deps.db.transaction() as session:
            grant = await grants.get(session, self.grant_id)
            grant.sync_state = state
            grant.last_error = error
            now = int(time.time())
            grant.updated_at = now
            if passed:
                grant.last_sync_at = now
                grant.initial_sync_complete = True
            if grant.sync_started_at is None:
                grant.sync_started_at = now

    async def _invalidate(self, error: str) -> None:
        log.warning("grant %s: authorization lost: %s", self.grant_id, error)
        async with self.deps.db.transaction() as session:
            grant = await grants.get(session, self.grant_id)
            await grants.set_status(
                session, grant, grant_status="invalid", sync_state="invalid", last_error=error
            )
