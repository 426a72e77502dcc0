"""Drafts: compose and store (API side), and keep the Drafts folder in step (worker side).

``save_draft`` APPENDs the draft's current version with ``\\Draft \\Seen``, records its UID on the
same row (the draft id never changes), then removes every older copy of that row from the folder.
A version already replaced by a newer one is skipped: only the latest is worth a round trip.
Before a retried APPEND the folder is searched for the version's Message-ID, so a crash between
APPEND and recording it does not leave two copies.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from inboxsync.actions.compose import Composed
from inboxsync.actions.imap import ImapWriter
from inboxsync.actions.outgoing import Outgoing, crash_point, expunge_uids, find_by_message_id
from inboxsync.store import drafts, sending
from inboxsync.store.models import Action, Folder, Grant, Message
from inboxsync.sync.parsing import parse_one

DRAFT_FLAGS = ("\\Draft", "\\Seen")


class Drafts:
    """The API's side: each write stores the new version's blob and re-points the row."""

    def __init__(self, outgoing: Outgoing) -> None:
        self.out = outgoing

    async def _stored(self, composed: Composed) -> Any:
        await asyncio.to_thread(self.out.blobs.put, composed.raw)
        return await asyncio.to_thread(parse_one, composed.raw, time.time())

    async def create(
        self, grant: Grant, composed: Composed, metadata: dict[str, Any] | None
    ) -> str:
        record = await self._stored(composed)
        async with self.out.db.transaction() as session:
            row = await drafts.create(
                session, grant.id, record, metadata=metadata, self_email=grant.email
            )
            return row.id

    async def update(
        self, grant: Grant, draft_id: str, composed: Composed, metadata: dict[str, Any] | None
    ) -> None:
        record = await self._stored(composed)
        async with self.out.db.transaction() as session:
            await drafts.replace(
                session, grant.id, draft_id, record, metadata=metadata, self_email=grant.email
            )


async def drop_draft_copies(writer: ImapWriter, message_id: str, keep: int | None = None) -> None:
    """Remove the copies of a message from the Drafts folder (all but UID ``keep``)."""
    async with writer.db.session() as session:
        folder = await sending.folder_with_role(session, writer.grant_id, "drafts")
        if folder is None:
            return
        uids = [u for u in await sending.placements_in(session, message_id, folder.id) if u != keep]
    if not uids:
        return
    await expunge_uids(writer.client, folder, uids)
    async with writer.db.transaction() as session:
        await sending.unplace(session, folder.id, uids)
        row = await session.get(Message, message_id)
        if row is not None:
            await sending.place_refresh(session, row)


class DraftHandler:
    """The worker's side of ``save_draft`` and ``delete_draft``."""

    def __init__(self, writer: ImapWriter, outgoing: Outgoing) -> None:
        self.writer = writer
        self.out = outgoing

    async def save(self, action: Action) -> None:
        payload = action.payload
        mid = str(action.object_id)
        async with self.out.db.session() as session:
            row = await session.get(Message, mid)
            folder = await session.get(Folder, payload["folder_id"])
        if row is None or folder is None or not row.is_draft or row.sha256 != payload["sha256"]:
            return  # deleted, sent or replaced since: a later action has the final word
        client = self.writer.client
        header = payload.get("message_id_header")
        uid = await find_by_message_id(client, folder, header) if action.attempts else None
        if uid is None:
            raw = await asyncio.to_thread(self.out.blobs.get, row.sha256)
            result = await client.append(folder.path, raw, list(DRAFT_FLAGS))
            crash_point("draft.appended")
            if result is not None and result[0] == folder.uidvalidity:
                uid = result[1]
            elif result is None:
                uid = await find_by_message_id(client, folder, header)
        if uid is not None:
            async with self.out.db.transaction() as session:
                fresh = await session.get(Message, mid)
                if fresh is not None:
                    await sending.place(session, fresh, folder.id, uid, DRAFT_FLAGS)
        await drop_draft_copies(self.writer, mid, keep=uid)

    async def delete(self, action: Action) -> None:
        async with self.out.db.session() as session:
            folders = {
                p["folder_id"]: await session.get(Folder, p["folder_id"])
                for p in action.payload.get("placements", [])
            }
        for folder_id, folder in folders.items():
            if folder is None:
                continue
            uids = [
                int(p["uid"]) for p in action.payload["placements"] if p["folder_id"] == folder_id
            ]
            await expunge_uids(self.writer.client, folder, uids)
