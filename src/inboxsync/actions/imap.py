"""Apply outbox actions to an IMAP mailbox: flags, moves, deletes, folder create/rename/delete.

Rules kept here:
- Flags are stored where the message was before the action, then it moves (flags travel with it).
- MOVE where offered, else COPY + STORE \\Deleted + UID EXPUNGE with UIDPLUS; without UIDPLUS the
  source is only marked \\Deleted: a plain EXPUNGE would also remove what other clients marked.
- The UID a message gets in its new folder comes from COPYUID, else from a search by Message-ID, so
  the provisional placement made by the API turns into the real one and sync has nothing to echo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from inboxsync.errors import ObjectError, ProtocolError, ProviderError
from inboxsync.providers.imap.client import ImapClient
from inboxsync.store import outbox
from inboxsync.store.db import Database
from inboxsync.store.models import Action, Folder, Message

log = logging.getLogger(__name__)

_SEEN, _FLAGGED, _DELETED = "\\Seen", "\\Flagged", "\\Deleted"


def _search_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapWriter:
    """Applies one action at a time over an authenticated client; raises ProviderError on failure
    (``transient`` tells the worker whether to retry)."""

    def __init__(self, client: ImapClient, db: Database, grant_id: str) -> None:
        self.client = client
        self.db = db
        self.grant_id = grant_id

    async def apply(self, action: Action) -> None:
        handler = {
            "update_message": self._update_message,
            "delete_message": self._delete_message,
            "create_folder": self._create_folder,
            "rename_folder": self._rename_folder,
            "delete_folder": self._delete_folder,
        }.get(action.kind)
        if handler is None:
            raise ObjectError(f"unknown action kind {action.kind!r}")
        await handler(action)

    # --- lookups ---------------------------------------------------------------------------------

    async def _folders(self) -> dict[str, Folder]:
        async with self.db.session() as session:
            rows = await session.scalars(select(Folder).where(Folder.grant_id == self.grant_id))
            return {f.id: f for f in rows.all()}

    async def _message_id_header(self, message_id: str) -> str | None:
        async with self.db.session() as session:
            message = await session.get(Message, message_id)
            return message.message_id_header if message is not None else None

    async def _resolve(
        self, message_id: str, placements: Sequence[dict[str, Any]], folders: dict[str, Folder]
    ) -> list[tuple[Folder, int]]:
        """(folder, uid) for each placement; provisional UIDs looked up again (the server's now)."""
        out: list[tuple[Folder, int]] = []
        known: dict[str, list[int]] | None = None
        for p in placements:
            folder = folders.get(p["folder_id"])
            if folder is None:
                continue
            uid = int(p["uid"])
            if uid > 0:
                out.append((folder, uid))
                continue
            if known is None:
                async with self.db.session() as session:
                    known = await outbox.current_uids(session, message_id)
            found = known.get(folder.id) or await self._search(folder, message_id)
            out.extend((folder, u) for u in found)
        return out

    async def _search(self, folder: Folder, message_id: str) -> list[int]:
        header = await self._message_id_header(message_id)
        if not header:
            return []
        await self.client.select(folder.path)
        return await self.client.uid_search(f"HEADER Message-ID {_search_quote(header)}")

    # --- messages --------------------------------------------------------------------------------

    async def _update_message(self, action: Action) -> None:
        payload = action.payload
        message_id = str(action.object_id)
        folders = await self._folders()
        sources = await self._resolve(message_id, payload.get("placements", []), folders)
        add_flags: list[str] = []
        remove_flags: list[str] = []
        if "unread" in payload:
            (remove_flags if payload["unread"] else add_flags).append(_SEEN)
        if "starred" in payload:
            (add_flags if payload["starred"] else remove_flags).append(_FLAGGED)
        for folder, uid in sources:
            if not add_flags and not remove_flags:
                break
            await self.client.select(folder.path)
            if add_flags:
                await self.client.uid_store([uid], add_flags, mode="+")
            if remove_flags:
                await self.client.uid_store([uid], remove_flags, mode="-")
        if "folders" in payload:
            target = [fid for fid in payload["folders"] if fid in folders]
            await self._place(message_id, sources, [folders[f] for f in target], folders)

    async def _place(
        self,
        message_id: str,
        sources: list[tuple[Folder, int]],
        target: list[Folder],
        folders: dict[str, Folder],
    ) -> None:
        """Make ``target`` the folders holding the message on the server."""
        have = {folder.id for folder, _ in sources}
        adding = [f for f in target if f.id not in have]
        dropping = [(f, uid) for f, uid in sources if f.id not in {t.id for t in target}]
        if not sources:
            if adding:
                raise ObjectError(f"message {message_id} is on no folder of the server")
            return
        origin_folder, origin_uid = sources[0]
        moved_by = dropping[0] if len(dropping) == 1 and adding else None
        for destination in adding:
            if moved_by is not None and destination is adding[-1]:
                await self.client.select(moved_by[0].path)
                copyuid = await self.client.uid_move([moved_by[1]], destination.path)
            else:
                await self.client.select(origin_folder.path)
                copyuid = await self.client.uid_copy([origin_uid], destination.path)
            await self._settle(message_id, destination, copyuid.mapping() if copyuid else {})
        for folder, uid in dropping:
            if moved_by is not None and (folder, uid) == moved_by:
                continue
            await self._expunge(folder, uid)

    async def _settle(self, message_id: str, destination: Folder, mapping: dict[int, int]) -> None:
        if mapping:
            uid = max(mapping.values())
        else:
            found = await self._search(destination, message_id)
            if len(found) != 1:  # none yet, or copies sharing a Message-ID: sync will place it
                log.info(
                    "no single UID for %s in %s; sync will place it", message_id, destination.path
                )
                return
            uid = found[0]
        async with self.db.transaction() as session:
            await outbox.settle_placement(session, destination.id, message_id, uid)

    async def _expunge(self, folder: Folder, uid: int) -> None:
        await self.client.select(folder.path)
        await self.client.uid_store([uid], [_DELETED], mode="+")
        if "UIDPLUS" in self.client.capabilities:
            await self.client.uid_expunge([uid])

    async def _delete_message(self, action: Action) -> None:
        payload = action.payload
        message_id = str(action.object_id)
        folders = await self._folders()
        sources = await self._resolve(message_id, payload.get("placements", []), folders)
        trash = next((f for f in folders.values() if f.role == "trash"), None)
        if payload.get("to_trash") and trash is not None:
            await self._place(message_id, sources, [trash], folders)
            return
        for folder, uid in sources:
            await self._expunge(folder, uid)

    # --- folders ---------------------------------------------------------------------------------

    async def _create_folder(self, action: Action) -> None:
        path = str(action.payload["path"])
        try:
            await self.client.create_folder(path)
        except ProviderError as exc:
            if not _already(exc, "ALREADYEXISTS", "exists"):
                raise
        try:
            await self.client.subscribe(path)
        except ProviderError as exc:  # subscribing is a courtesy, not the action
            log.info("SUBSCRIBE %r: %s", path, exc)

    async def _rename_folder(self, action: Action) -> None:
        await self.client.rename_folder(
            str(action.payload["old_path"]), str(action.payload["path"])
        )

    async def _delete_folder(self, action: Action) -> None:
        try:
            await self.client.delete_folder(str(action.payload["path"]))
        except ProviderError as exc:
            if not _already(exc, "NONEXISTENT", "not exist", "doesn't exist"):
                raise


def _already(exc: ProviderError, code: str, *words: str) -> bool:
    if isinstance(exc, ProtocolError):
        return False
    detail = exc.provider_error or {}
    text = f"{detail.get('code') or ''} {detail.get('text') or exc.message}".lower()
    return code.lower() in text or any(w in text for w in words)
