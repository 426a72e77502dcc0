"""What every grant's sync shares inside one process."""

from __future__ import annotations

from dataclasses import dataclass, field

from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.store.blobs import BlobStore
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database
from inboxsync.sync.parsing import Parser


@dataclass
class SyncDeps:
    db: Database
    blobs: BlobStore
    sealer: Sealer
    parser: Parser = field(default_factory=Parser)
    poll_interval: float = 60.0  # seconds between full passes over every folder
    legacy_poll: float = 10.0  # how often INBOX is polled on a server without IDLE
    backoff_base: float = 1.0  # first retry delay after a transient failure
    google: GoogleConfig | None = None  # Gmail's endpoints; None: from the environment
