"""The two kinds of pass over a Gmail mailbox: full (first sync, or resync) and history.

Full (https://developers.google.com/gmail/api/guides/sync#full): record ``getProfile().historyId``
*before* listing, list every id (``includeSpamTrash``, pages of 500, newest first) and download those not
stored, page by page, so that a killed worker resumes by listing again and skipping what it has (a
listing costs 5 units a page of 500; a download 5 units a message). Changes made while it runs are
replayed by the next history pass from the recorded id. A *resync* (history expired) also reconciles:
the label membership of stored messages is read back label by label (``messages.list?labelIds=``, far
cheaper than a get per message), stored messages Google no longer lists are deleted, and stored ids,
local metadata and threads stay as they are.

History (https://developers.google.com/gmail/api/guides/sync#partial): ``history.list`` from the stored
id, every page, folded by :mod:`.history`; a 404 raises :class:`HistoryExpired` for a resync.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from inboxsync.providers.gmail.failures import HistoryExpired, MessageGone
from inboxsync.store import gmail as store
from inboxsync.sync.gmail import history
from inboxsync.sync.gmail.context import GmailContext
from inboxsync.sync.gmail.download import download

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    kind: str = "history"
    new: int = 0
    relabelled: int = 0
    deleted: int = 0


async def full_pass(ctx: GmailContext, *, reconcile: bool) -> PassResult:
    result = PassResult(kind="resync" if reconcile else "full")
    cursor = await ctx.cursor()
    if "full_start" not in cursor:
        start = history.history_id((await ctx.client.profile())["historyId"])
        await ctx.save_cursor(full_start=str(start))
    else:
        start = history.history_id(cursor["full_start"])
    failed = set(cursor.get("failed", []))
    remote: set[str] = set()
    page: str | None = None
    while True:
        answer = await ctx.client.list_messages(page)
        ids = [str(m["id"]) for m in answer.get("messages", [])]
        remote.update(ids)
        async with ctx.db.session() as session:
            have = await store.existing(session, ctx.grant_id, ids)
        result.new += await download(ctx, [m for m in ids if m not in have and m not in failed])
        page = answer.get("nextPageToken")
        if not page:
            break
    if reconcile:
        result.relabelled, result.deleted = await _reconcile(ctx, remote)
    await ctx.save_cursor(history_id=str(start), full_start=None)
    return result


async def _reconcile(ctx: GmailContext, remote: set[str]) -> tuple[int, int]:
    """After a resync's listing: relabel stored messages from each label's listing; drop the gone."""
    async with ctx.db.session() as session:
        stored = await store.all_ids(session, ctx.grant_id)
    keep = stored & remote
    labels: dict[str, set[str]] = {mid: set() for mid in keep}
    for label in [lab for lab in ctx.folder_ids if lab != store.ALL_PATH] + ["UNREAD"]:
        page: str | None = None
        while True:
            answer = await ctx.client.list_messages(page, label=label)
            for m in answer.get("messages", []):
                if str(m["id"]) in labels:
                    labels[str(m["id"])].add(label)
            page = answer.get("nextPageToken")
            if not page:
                break
    async with ctx.db.transaction() as session:
        known = await store.labels_of(session, ctx.grant_id, keep)
        updates = {mid: labs for mid, labs in labels.items() if known.get(mid) != labs}
        changed = await store.set_labels(
            session, ctx.grant_id, updates, ctx.folder_ids, self_email=ctx.email
        )
        gone = await store.delete_messages(
            session, ctx.grant_id, stored - remote, self_email=ctx.email
        )
    return len(changed), len(gone)


async def history_pass(ctx: GmailContext) -> PassResult:
    result = PassResult()
    cursor = await ctx.cursor()
    start = history.history_id(cursor["history_id"])
    latest = start
    records: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        try:
            answer = await ctx.client.history(start, page)
        except MessageGone as exc:
            raise HistoryExpired(f"history id {start} expired: {exc}") from exc
        records.extend(answer.get("history", []))
        latest = max(latest, history.history_id(answer.get("historyId", start)))
        page = answer.get("nextPageToken")
        if not page:
            break
    if records:
        mentioned = history.involved(records)
        async with ctx.db.session() as session:
            known = await store.labels_of(session, ctx.grant_id, mentioned)
        plan = history.plan(records, known)
        failed = set(cursor.get("failed", []))
        result.new = await download(ctx, [m for m in plan.fetch if m not in failed])
        async with ctx.db.transaction() as session:
            changed = await store.set_labels(
                session, ctx.grant_id, plan.labels, ctx.folder_ids, self_email=ctx.email
            )
            gone = await store.delete_messages(
                session, ctx.grant_id, plan.deleted + plan.vanished, self_email=ctx.email
            )
        result.relabelled, result.deleted = len(changed), len(gone)
    if latest > start:  # uint64 compared as integers
        await ctx.save_cursor(history_id=str(latest))
    return result
