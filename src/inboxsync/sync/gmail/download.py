"""Download Gmail messages by id: batches of 50 ``format=raw`` gets, parse, blobs, one insert a group.

Three stages run side by side, as for IMAP: ``concurrency`` batch requests in flight (the user's quota
bucket paces them), parsing (worker processes) beside the blob writes, and inserts of
``insert_every`` messages a transaction. A message Google no longer has (404) is passed over; one that
fails for good is recorded in the cursor's ``failed`` list and skipped; a transient failure that
outlives the client's retries ends the pass (what was stored stays stored).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from inboxsync.errors import ProviderError
from inboxsync.metrics import count_synced
from inboxsync.providers.gmail.batch import MAX_BATCH
from inboxsync.providers.gmail.failures import MessageGone
from inboxsync.store import gmail as store
from inboxsync.store.records import NewMessage
from inboxsync.sync.gmail.context import GmailContext

log = logging.getLogger(__name__)

Fetched = list[tuple[dict[str, object], bytes]]
Ready = list[tuple[NewMessage, frozenset[str]]]


def _raw(message: dict[str, object]) -> bytes:
    text = str(message.get("raw", ""))
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _fetch(ctx: GmailContext, ids: Sequence[str]) -> tuple[Fetched, list[str]]:
    """One batch: (messages with their bytes, ids that failed for good)."""
    got: Fetched = []
    failed: list[str] = []
    for mid, answer in zip(ids, await ctx.client.get_many(ids), strict=True):
        if isinstance(answer, MessageGone):
            ctx.stats["gone"] += 1
        elif isinstance(answer, ProviderError):
            if answer.transient:
                raise answer
            log.warning("grant %s: skipping message %s: %s", ctx.grant_id, mid, answer)
            failed.append(mid)
        else:
            try:
                got.append((answer, _raw(answer)))
            except ValueError:
                failed.append(mid)
    return got, failed


async def _prepare(ctx: GmailContext, got: Fetched) -> Ready:
    items = [(raw, int(str(m.get("internalDate", "0"))) / 1000 or None) for m, raw in got]
    records, _ = await asyncio.gather(
        ctx.parser.parse(items), asyncio.to_thread(ctx.blobs.put_many, [raw for _, raw in got])
    )
    out: Ready = []
    for record, (message, _) in zip(records, got, strict=True):
        labels = message.get("labelIds") or []
        assert isinstance(labels, list)
        full = dataclasses.replace(
            record, provider_id=str(message["id"]), provider_thread_id=str(message["threadId"])
        )
        out.append((full, frozenset(str(label) for label in labels)))
    return out


async def download(ctx: GmailContext, ids: Sequence[str]) -> int:
    """Fetch, parse and store these messages (newest first, as given); returns how many were stored."""
    batches = [list(ids[i : i + MAX_BATCH]) for i in range(0, len(ids), MAX_BATCH)]
    if not batches:
        return 0
    todo: asyncio.Queue[list[str]] = asyncio.Queue()
    for chunk in batches:
        todo.put_nowait(chunk)
    fetched: asyncio.Queue[Fetched | None] = asyncio.Queue(maxsize=ctx.concurrency * 2)
    stored = 0
    failed: list[str] = []

    async def fetcher() -> None:
        while not todo.empty():
            got, bad = await _fetch(ctx, todo.get_nowait())
            failed.extend(bad)
            await fetched.put(got)

    async def fetch_all() -> None:
        try:
            await asyncio.gather(*(fetcher() for _ in range(min(ctx.concurrency, len(batches)))))
        finally:
            await fetched.put(None)

    async def store_all() -> None:
        nonlocal stored
        pending: Ready = []
        while (got := await fetched.get()) is not None:
            pending.extend(await _prepare(ctx, got))
            if len(pending) >= ctx.insert_every:
                stored += await _insert(ctx, pending)
                pending = []
        stored += await _insert(ctx, pending)

    try:
        await together(fetch_all(), store_all())
    finally:
        if failed:
            await _record_failed(ctx, failed)
    return stored


async def together(*coros: Coroutine[Any, Any, None]) -> None:
    """Run side by side; the first failure cancels the others and is raised as itself."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _insert(ctx: GmailContext, ready: Ready) -> int:
    if not ready:
        return 0
    async with ctx.db.transaction() as session:
        created = await store.ingest(
            session, ctx.grant_id, ready, ctx.folder_ids, self_email=ctx.email
        )
    ctx.stats["downloaded"] += len(created)
    count_synced("google", len(created), sum(record.size for record, _ in ready))
    return len(created)


async def _record_failed(ctx: GmailContext, ids: list[str]) -> None:
    ctx.stats["skipped"] += len(ids)
    cursor = await ctx.cursor()
    failed = list(dict.fromkeys([*cursor.get("failed", []), *ids]))[-1000:]
    await ctx.save_cursor(failed=failed)
