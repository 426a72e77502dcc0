"""UIDVALIDITY changed: give the folder's known messages their new UIDs without downloading them.

The server's messages are matched to ours by Message-ID and size (what the raw bytes we keep would
hash to); duplicates of one Message-ID pair up in UID order; messages without a Message-ID are not
matched (size alone could swap two of them) but downloaded again, which costs bytes, not correctness. Known messages that no longer match are
removed from the folder; server messages that match nothing are left for the normal download.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select

from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.responses import Fetch
from inboxsync.store import messages
from inboxsync.store.models import Folder, Message
from inboxsync.sync.imap.context import SyncContext

log = logging.getLogger(__name__)

HEADER = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


def _message_id(header: bytes | None) -> str | None:
    from inboxsync.mime import parse  # a re-map is rare: the MIME layer is loaded when needed

    if not header:
        return None
    return parse(header + b"\r\n").message_id


async def remap_folder(
    client: ImapClient,
    ctx: SyncContext,
    folder: Folder,
    local: dict[int, tuple[str, list[str], int | None]],
) -> None:
    info = await client.select(folder.path)
    server: dict[tuple[str | None, int], list[int]] = defaultdict(list)
    async for item in client.uid_fetch("1:*", ["RFC822.SIZE", HEADER]):
        if isinstance(item, Fetch) and item.uid is not None:
            raw = next((v for k, v in item.bodies.items() if k.startswith("BODY[HEADER")), None)
            key = (_message_id(raw if isinstance(raw, bytes) else None), item.rfc822_size or 0)
            server[key].append(item.uid)

    mids = list({mid for mid, _, _ in local.values()})
    async with ctx.db.session() as session:
        rows = await session.execute(
            select(Message.id, Message.message_id_header, Message.size).where(Message.id.in_(mids))
        )
        identity = {mid: (msgid, size) for mid, msgid, size in rows.tuples()}

    remap: dict[int, int] = {}
    for old_uid in sorted(local):
        known = identity.get(local[old_uid][0])
        # Without a Message-ID, size alone could swap two messages: those are downloaded again.
        candidates = server.get(known) if known and known[0] else None
        if candidates:
            remap[old_uid] = candidates.pop(0)
    gone = [uid for uid in local if uid not in remap and local[uid][0] not in ctx.protected]
    log.info(
        "folder %s: UIDVALIDITY %s -> %s, %d kept, %d gone",
        folder.path,
        folder.uidvalidity,
        info.uidvalidity,
        len(remap),
        len(gone),
    )
    async with ctx.db.transaction() as session:
        if gone:
            _, orphans = await messages.remove_placements(
                session, ctx.grant_id, folder.id, gone, self_email=ctx.email, defer_orphans=True
            )
            ctx.orphans.update(orphans)
        await messages.move_placements(session, folder.id, remap)
        row = await session.get(Folder, folder.id)
        if row is not None:
            row.uidvalidity = info.uidvalidity
            row.uidnext = None
            row.highestmodseq = None
            row.cursor = {k: v for k, v in row.cursor.items() if k != "failed"}  # old UIDs
    folder.uidvalidity, folder.uidnext, folder.highestmodseq = info.uidvalidity, None, None
    folder.cursor = {k: v for k, v in folder.cursor.items() if k != "failed"}
