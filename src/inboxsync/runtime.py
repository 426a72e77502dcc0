"""What a process of inboxsync holds: settings, database, blob store and the credential sealer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from inboxsync.config import Settings
from inboxsync.store.blobs import FileBlobStore
from inboxsync.store.crypto import Sealer, load_or_create_key
from inboxsync.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: FileBlobStore
    sealer: Sealer

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls(
            settings=settings,
            db=Database(
                settings.resolved_database_url(),
                pool_size=settings.db_pool_size,
                read_connections=settings.db_read_connections,
                head_cache_bytes=settings.head_cache_mb << 20,
            ),
            blobs=FileBlobStore(settings.data_dir / "blobs", durable=settings.durable_writes),
            sealer=Sealer(load_or_create_key(secret, settings.data_dir)),
        )

    async def close(self) -> None:
        await self.db.close()
