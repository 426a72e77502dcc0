"""What the sync of one grant needs: the store, the blob store, the parser, who the account is."""

from __future__ import annotations

from dataclasses import dataclass, field

from inboxsync.store.blobs import BlobStore
from inboxsync.store.db import Database
from inboxsync.sync.parsing import Parser


@dataclass
class SyncContext:
    db: Database
    blobs: BlobStore
    parser: Parser
    grant_id: str
    email: str
    batch_size: int = 500
    first_batch: int = 50
    batch_bytes: int = 24 * 1024 * 1024
    orphans: set[str] = field(default_factory=set)  # left in no folder during this pass
    protected: set[str] = field(default_factory=set)  # messages with write-back not yet applied
    stats: dict[str, int] = field(
        default_factory=lambda: {"downloaded": 0, "bytes": 0, "skipped": 0}
    )
