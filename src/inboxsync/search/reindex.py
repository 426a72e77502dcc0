"""Rebuild the full-text index from the stored messages (``inboxsync search reindex``).

The body text is extracted again from each raw message in the blob store (HTML stripped by the MIME
parser, as at ingest), so the index matches what ingest would have written. One transaction per batch
of messages: a reindex that stops half-way leaves every message either with its old or its new document.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from inboxsync.mime import parse
from inboxsync.store import fts
from inboxsync.store.db import Database
from inboxsync.store.models import Attachment, Message

BATCH = 500


async def reindex(
    db: Database, read_blob: Callable[[str], bytes], grant_id: str | None = None
) -> int:
    """Rewrite the document of every message (of one grant, or all); returns how many."""
    done = 0
    last = ""
    while True:
        async with db.transaction() as s:
            query = select(Message).where(Message.id > last).order_by(Message.id).limit(BATCH)
            if grant_id is not None:
                query = query.where(Message.grant_id == grant_id)
            rows = list((await s.scalars(query)).all())
            if not rows:
                return done
            ids = [m.id for m in rows]
            names: dict[str, list[str | None]] = {}
            for mid, name in (
                await s.execute(
                    select(Attachment.message_id, Attachment.filename).where(
                        Attachment.message_id.in_(ids)
                    )
                )
            ).tuples():
                names.setdefault(mid, []).append(name)
            docs = []
            for m in rows:
                try:
                    body = parse(read_blob(m.sha256)).text
                except (OSError, KeyError):
                    body = m.snippet  # the raw message is gone: keep what the row knows
                docs.append(
                    fts.document(
                        m.id,
                        m.grant_id,
                        m.received_at,
                        subject=m.subject,
                        from_=m.from_,
                        to=m.to,
                        cc=m.cc,
                        bcc=m.bcc,
                        filenames=names.get(m.id, []),
                        body=body,
                    )
                )
            await fts.forget(s, ids)
            await fts.index(s, docs)
            done += len(rows)
            last = ids[-1]
