"""Sync the content of one folder: what changed on the server since the last pass, then new mail.

One pass:
1. SELECT, with QRESYNC (changes and VANISHED since our HIGHESTMODSEQ) or CONDSTORE where offered.
2. A changed UIDVALIDITY re-maps the folder by content (:mod:`.remap`) before anything else.
3. Work out the difference (:mod:`.plan`): QRESYNC reports it; CONDSTORE skips an unchanged folder and
   fetches only changed flags; a legacy server answers one ``UID FETCH 1:* (FLAGS)``.
4. Apply flag changes and removals, then download new UIDs newest first, in batches bounded by count
   and bytes, pipelined: the next batch downloads while the last one is parsed and stored.
5. Only then store UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ: a pass killed half-way repeats what it missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from inboxsync.errors import ObjectError
from inboxsync.metrics import count_synced
from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.responses import Fetch
from inboxsync.providers.imap.select import SelectInfo
from inboxsync.store import folders as folder_repo
from inboxsync.store import messages
from inboxsync.store.blobs import FileBlobStore
from inboxsync.store.models import Folder
from inboxsync.store.records import NewMessage, Placement
from inboxsync.sync.imap.context import SyncContext
from inboxsync.sync.imap.plan import FolderDiff, diff_changes, diff_full, normal_flags
from inboxsync.sync.imap.remap import remap_folder
from inboxsync.sync.parsing import INLINE_BELOW

log = logging.getLogger(__name__)

PARTIAL_MAX = 5000  # VANISHED UIDs up to which a QRESYNC pass reads only the placements it names
SMALL_DOWNLOAD = 20  # at most this many new messages are fetched without asking their sizes first
BODY_ITEMS = ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"]


@dataclass
class FolderResult:
    new: int = 0
    gone: int = 0
    flags: int = 0
    skipped: int = 0
    remapped: bool = False


async def sync_mailbox(client: ImapClient, ctx: SyncContext, folder: Folder) -> FolderResult:
    """One pass over one folder (see the module docstring)."""
    result = FolderResult()
    async with ctx.db.session() as session:
        # The row, not the object the caller holds: a failed action's rollback may have reset its
        # HIGHESTMODSEQ to force a full comparison since the caller loaded it.
        fresh = await session.get(Folder, folder.id)
    if fresh is not None:
        folder.highestmodseq = fresh.highestmodseq
    condstore = "CONDSTORE" in client.capabilities
    qresync = None
    if folder.uidvalidity is not None and folder.highestmodseq and "QRESYNC" in client.capabilities:
        qresync = (folder.uidvalidity, folder.highestmodseq)
    info = await client.select(folder.path, condstore=condstore, qresync=qresync)
    if _unchanged(folder, info):
        return result
    if (
        info.qresync
        and info.uidvalidity == folder.uidvalidity
        and len(info.vanished) <= PARTIAL_MAX
    ):
        # New mail from IDLE and the like: read only the placements QRESYNC talks about.
        found, local = await _qresync_difference(client, ctx, folder, info)
    else:
        async with ctx.db.session() as session:
            local = await messages.folder_placements(session, folder.id)
        if folder.uidvalidity is not None and info.uidvalidity != folder.uidvalidity and local:
            await remap_folder(client, ctx, folder, local)
            result.remapped = True
            async with ctx.db.session() as session:
                local = await messages.folder_placements(session, folder.id)
            info = await client.select(folder.path, condstore=condstore)
        found = await _difference(client, folder, info, local)

    diff = _unprotected(found, local, ctx.protected)
    if diff.flag_updates or diff.gone_uids:
        async with ctx.db.transaction() as session:
            if diff.flag_updates:
                changed = await messages.set_flags(
                    session, ctx.grant_id, folder.id, diff.flag_updates, self_email=ctx.email
                )
                result.flags = len(changed)
            if diff.gone_uids:
                _, orphans = await messages.remove_placements(
                    session,
                    ctx.grant_id,
                    folder.id,
                    diff.gone_uids,
                    self_email=ctx.email,
                    defer_orphans=True,
                )
                ctx.orphans.update(orphans)
                result.gone = len(diff.gone_uids)
    if folder.uidvalidity is not None and info.uidvalidity != folder.uidvalidity:
        folder.cursor = {k: v for k, v in folder.cursor.items() if k != "failed"}  # old UIDs
    failed = set(folder.cursor.get("failed", ()))
    wanted = [uid for uid in diff.new_uids if uid not in failed]
    if wanted:
        new, skipped = await download(client, ctx, folder, wanted, condstore=condstore)
        result.new, result.skipped = new, skipped

    async with ctx.db.transaction() as session:
        row = await session.get(Folder, folder.id)
        if row is not None:
            row.uidvalidity = info.uidvalidity
            row.uidnext = info.uidnext
            row.highestmodseq = info.highestmodseq if not info.nomodseq else None
            row.cursor = {**row.cursor, "exists": info.exists}
            await messages.update_folder_counts(session, row)
            if result.new or result.gone or result.flags:
                folder_repo.touch(session, row, ["total_count", "unread_count"])
            folder.uidvalidity, folder.uidnext = row.uidvalidity, row.uidnext
            folder.highestmodseq, folder.cursor = row.highestmodseq, row.cursor
    return result


def _unchanged(folder: Folder, info: SelectInfo) -> bool:
    """CONDSTORE says nothing happened: same UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT and EXISTS as after
    the last pass (an expunge or a flag change moves HIGHESTMODSEQ, an arrival moves UIDNEXT)."""
    return (
        folder.highestmodseq is not None
        and not info.nomodseq
        and info.uidvalidity == folder.uidvalidity
        and info.highestmodseq == folder.highestmodseq
        and info.uidnext == folder.uidnext
        and info.exists == folder.cursor.get("exists")
        and not info.vanished
        and not info.changed
    )


async def _qresync_difference(
    client: ImapClient, ctx: SyncContext, folder: Folder, info: SelectInfo
) -> tuple[FolderDiff, dict[int, tuple[str, list[str], int | None]]]:
    """The QRESYNC difference reading only the placements of the UIDs it names (plus a count), so
    new mail in a 100,000-message INBOX does not load 100,000 rows."""
    changed = _flags_of(info.changed)
    if folder.uidnext and info.uidnext and info.uidnext > folder.uidnext:
        fetches, _ = await client.fetch_flags(f"{folder.uidnext}:*")
        changed.update(_flags_of(fetches))
    async with ctx.db.session() as session:
        local = await messages.folder_placements(
            session, folder.id, set(changed) | set(info.vanished)
        )
        total = await messages.placement_count(session, folder.id)
    diff = diff_changes(local, changed, info.vanished)
    if info.exists == total - len(diff.gone_uids) + len(diff.new_uids):
        return diff, local
    # Counts disagree (a server that trimmed VANISHED, a provisional placement): every UID decides.
    async with ctx.db.session() as session:
        local = await messages.folder_placements(session, folder.id)
    return diff_changes(local, changed, info.vanished, await client.uid_search("ALL")), local


async def _difference(
    client: ImapClient,
    folder: Folder,
    info: SelectInfo,
    local: dict[int, tuple[str, list[str], int | None]],
) -> FolderDiff:
    if info.exists == 0:
        return FolderDiff(gone_uids=sorted(local))
    if not local:
        return FolderDiff(new_uids=sorted(await client.uid_search("ALL"), reverse=True))
    if info.qresync:
        changed = _flags_of(info.changed)
        if folder.uidnext and info.uidnext and info.uidnext > folder.uidnext:
            fetches, _ = await client.fetch_flags(f"{folder.uidnext}:*")
            changed.update(_flags_of(fetches))
        diff = diff_changes(local, changed, info.vanished)
        if info.exists != len(local) - len(diff.gone_uids) + len(diff.new_uids):
            # Counts disagree (a server that trimmed VANISHED): fall back to the full list of UIDs.
            diff = diff_changes(local, changed, info.vanished, await client.uid_search("ALL"))
        return diff
    if info.highestmodseq is not None and folder.highestmodseq is not None and not info.nomodseq:
        if (
            info.highestmodseq == folder.highestmodseq
            and info.uidnext == folder.uidnext
            and info.exists == len(local)
        ):
            return FolderDiff()
        fetches, _ = await client.fetch_flags("1:*", changedsince=folder.highestmodseq)
        changed = _flags_of(fetches)
        new_count = sum(1 for uid in changed if uid not in local)
        server_uids = None
        if info.exists != len(local) + new_count:
            server_uids = await client.uid_search("ALL")
        return diff_changes(local, changed, (), server_uids)
    fetches, _ = await client.fetch_flags("1:*")
    return diff_full(local, _flags_of(fetches))


def _unprotected(
    diff: FolderDiff, local: dict[int, tuple[str, list[str], int | None]], protected: set[str]
) -> FolderDiff:
    """Leave alone what the application changed and the server has not been told yet."""
    if not protected:
        return diff
    return FolderDiff(
        new_uids=diff.new_uids,
        gone_uids=[u for u in diff.gone_uids if local[u][0] not in protected],
        flag_updates=[f for f in diff.flag_updates if local[f[0]][0] not in protected],
    )


def _flags_of(fetches: Sequence[Fetch]) -> dict[int, tuple[Sequence[str], int | None]]:
    return {f.uid: (f.flags or (), f.modseq) for f in fetches if f.uid is not None}


# --- download ------------------------------------------------------------------------------------


async def _sizes(client: ImapClient, uids: Sequence[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    async for item in client.uid_fetch(uids, ["RFC822.SIZE"]):
        if isinstance(item, Fetch) and item.uid is not None:
            sizes[item.uid] = item.rfc822_size or 0
    return sizes


def plan_batches(
    uids_newest_first: Sequence[int],
    sizes: dict[int, int],
    *,
    first: int,
    count: int,
    max_bytes: int,
) -> list[list[int]]:
    """Batches of at most ``count`` messages and ``max_bytes`` bytes (a bigger message goes alone);
    the first batch is small so that the newest mail is listable within a moment."""
    out: list[list[int]] = []
    current: list[int] = []
    weight = 0
    limit = first
    for uid in uids_newest_first:
        size = sizes.get(uid, 0)
        if current and (len(current) >= limit or weight + size > max_bytes):
            out.append(current)
            current, weight, limit = [], 0, count
        current.append(uid)
        weight += size
    if current:
        out.append(current)
    return out


Downloaded = list[tuple[int, bytes, float | None, tuple[str, ...], int | None]]


async def download(
    client: ImapClient,
    ctx: SyncContext,
    folder: Folder,
    uids_newest_first: Sequence[int],
    *,
    condstore: bool,
) -> tuple[int, int]:
    """Fetch, parse and store these UIDs; returns (stored, skipped)."""
    if (
        len(uids_newest_first) <= SMALL_DOWNLOAD
    ):  # new mail from IDLE: skip the round trip for sizes
        sizes = dict.fromkeys(uids_newest_first, 0)
    else:
        ctx.parser.prestart()  # workers start while the sizes come
        sizes = await _sizes(client, uids_newest_first)
    wanted = [uid for uid in uids_newest_first if uid in sizes]  # others vanished meanwhile
    batches = plan_batches(
        wanted, sizes, first=ctx.first_batch, count=ctx.batch_size, max_bytes=ctx.batch_bytes
    )
    items = BODY_ITEMS + (["MODSEQ"] if condstore else [])
    # Three stages, each bounded to two batches in hand: download -> (parse || write blobs) -> insert.
    fetched: asyncio.Queue[Downloaded | None] = asyncio.Queue(maxsize=2)
    prepared: asyncio.Queue[Prepared | None] = asyncio.Queue(maxsize=1)
    stored = skipped = 0

    async def download_stage() -> None:
        nonlocal skipped
        try:
            for batch in batches:
                got, missing = await _fetch_batch(client, batch, items)
                skipped += len(missing)
                if missing:
                    await _record_skipped(ctx, folder, missing)
                await fetched.put(got)
        finally:
            await fetched.put(None)

    async def prepare_stage() -> None:
        try:
            while (got := await fetched.get()) is not None:
                await prepared.put(await prepare_batch(ctx, got))
        finally:
            await prepared.put(None)

    async def insert_stage() -> None:
        nonlocal stored
        while (ready := await prepared.get()) is not None:
            stored += await insert_batch(ctx, folder, ready)

    async with asyncio.TaskGroup() as stages:  # one stage failing cancels the others
        stages.create_task(download_stage())
        stages.create_task(prepare_stage())
        stages.create_task(insert_stage())
    return stored, skipped


async def _fetch_batch(
    client: ImapClient, batch: Sequence[int], items: Sequence[str]
) -> tuple[Downloaded, list[int]]:
    """One batch; a NO for the batch falls back to one message at a time, skipping the bad ones."""
    try:
        got = await _collect(client, batch, items)
    except ObjectError:
        got = []
        for uid in batch:
            try:
                got.extend(await _collect(client, [uid], items))
            except ObjectError as exc:
                log.warning("skipping UID %s: %s", uid, exc)
    have = {g[0] for g in got}
    return got, [uid for uid in batch if uid not in have]


async def _collect(client: ImapClient, uids: Sequence[int], items: Sequence[str]) -> Downloaded:
    out: Downloaded = []
    async for item in client.uid_fetch(uids, items):
        if not isinstance(item, Fetch) or item.uid is None:
            continue
        body = item.body
        if not isinstance(body, bytes):
            continue
        when = item.internaldate.timestamp() if item.internaldate else None
        out.append((item.uid, body, when, normal_flags(item.flags or ()), item.modseq))
    return out


Prepared = list[tuple[NewMessage, Placement, int]]


async def prepare_batch(ctx: SyncContext, got: Downloaded) -> Prepared:
    """Parse in worker processes and store the raw bytes; both are durable when this returns."""
    if not got:
        return []
    items = [(raw, when) for _, raw, when, _, _ in got]
    if isinstance(ctx.blobs, FileBlobStore) and len(items) >= INLINE_BELOW:
        # Big batches: the parse workers write the files too, then one syncfs makes them durable.
        records = await ctx.parser.parse(items, str(ctx.blobs.root))
        await asyncio.to_thread(ctx.blobs.sync)
    else:
        records, _ = await asyncio.gather(
            ctx.parser.parse(items),
            asyncio.to_thread(ctx.blobs.put_many, [raw for raw, _ in items]),
        )
    return [
        (record, Placement(uid, flags, modseq), len(raw))
        for record, (uid, raw, _, flags, modseq) in zip(records, got, strict=True)
    ]


async def insert_batch(ctx: SyncContext, folder: Folder, ready: Prepared) -> int:
    """One transaction a batch: the messages, their placements, threads and change rows."""
    if not ready:
        return 0
    async with ctx.db.transaction() as session:
        await messages.ingest(
            session, ctx.grant_id, folder.id, [(r, p) for r, p, _ in ready], self_email=ctx.email
        )
    ctx.stats["downloaded"] += len(ready)
    ctx.stats["bytes"] += sum(size for _, _, size in ready)
    count_synced("imap", len(ready), sum(size for _, _, size in ready))
    return len(ready)


async def _record_skipped(ctx: SyncContext, folder: Folder, uids: list[int]) -> None:
    ctx.stats["skipped"] += len(uids)
    async with ctx.db.transaction() as session:
        row = await session.get(Folder, folder.id)
        if row is not None:
            failed = sorted(set(row.cursor.get("failed", [])) | set(uids))[-1000:]
            row.cursor = {**row.cursor, "failed": failed}
