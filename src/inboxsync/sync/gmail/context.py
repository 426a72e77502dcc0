"""What the sync of one Gmail grant needs, and where its progress is kept.

The grant's Gmail state lives in the cursor of its synthetic "all mail" folder (``store.gmail.ALL_PATH``):
``history_id`` (the last history id applied, a decimal string: it is an unsigned 64-bit number),
``full_start`` (the history id recorded before a first sync or resync began; present while it runs) and
``failed`` (ids of messages that failed permanently and are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inboxsync.providers.gmail.client import GmailClient
from inboxsync.store import gmail as store
from inboxsync.store.blobs import BlobStore
from inboxsync.store.db import Database
from inboxsync.store.models import Folder
from inboxsync.sync.parsing import Parser


@dataclass
class GmailContext:
    db: Database
    blobs: BlobStore
    parser: Parser
    client: GmailClient
    grant_id: str
    email: str
    folder_ids: dict[str, str] = field(default_factory=dict)  # label id -> folder id
    concurrency: int = 4  # batch requests in flight
    insert_every: int = 250  # messages a transaction
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "downloaded": 0,
            "skipped": 0,
            "gone": 0,
            "relabelled": 0,
            "deleted": 0,
        }
    )

    async def cursor(self) -> dict[str, Any]:
        async with self.db.session() as session:
            folder = await session.get(Folder, self.folder_ids[store.ALL_PATH])
            return dict(folder.cursor) if folder is not None else {}

    async def save_cursor(self, **values: Any) -> None:
        """Merge ``values`` into the cursor; a value of None removes the key."""
        async with self.db.transaction() as session:
            folder = await session.get(Folder, self.folder_ids[store.ALL_PATH])
            if folder is None:
                return
            cursor = {**folder.cursor, **values}
            folder.cursor = {k: v for k, v in cursor.items() if v is not None}
