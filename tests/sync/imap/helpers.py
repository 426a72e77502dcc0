"""Helpers for sync tests against a real Dovecot: a grant in a fresh store, and state snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from inboxsync.store.migrate import upgrade
from inboxsync.store.models import Folder, Message, MessageFolder
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.parsing import Parser
from tests.support.dovecot import Dovecot


@dataclass
class Rig:
    runtime: Runtime
    deps: SyncDeps
    grant_id: str


@asynccontextmanager
async def imap_grant(
    dovecot: Dovecot, tmp_path: Path, *, password: str | None = None, user: str | None = None
) -> AsyncIterator[Rig]:
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path / "data", durable_writes=False))
    await upgrade(runtime.db)
    name = user or dovecot.user
    secrets = {"imap_password": password or dovecot.password}
    settings = {
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_security": "none",
        "imap_username": name,
    }
    async with runtime.db.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email=f"{name}@example.com",
            settings=settings,
            sealed_credentials=runtime.sealer.seal(secrets),
            api_key_id=None,
        )
    deps = SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        backoff_base=0.05,
    )
    try:
        yield Rig(runtime, deps, grant.id)
    finally:
        deps.parser.close()
        await runtime.close()


async def snapshot(rig: Rig) -> dict[str, dict[int, tuple[str, str, tuple[str, ...]]]]:
    """folder path -> uid -> (message id, sha256, flags) as stored."""
    out: dict[str, dict[int, tuple[str, str, tuple[str, ...]]]] = {}
    async with rig.runtime.db.session() as session:
        rows = await session.execute(
            select(Folder.path, MessageFolder.uid, Message.id, Message.sha256, MessageFolder.flags)
            .join(MessageFolder, MessageFolder.folder_id == Folder.id)
            .join(Message, Message.id == MessageFolder.message_id)
            .where(Folder.grant_id == rig.grant_id)
        )
        for path, uid, mid, sha, flags in rows.tuples():
            out.setdefault(path, {})[uid] = (mid, sha, tuple(sorted(flags)))
        for (path,) in (
            await session.execute(select(Folder.path).where(Folder.grant_id == rig.grant_id))
        ).tuples():
            out.setdefault(path, {})
    return out


async def message_count(rig: Rig) -> int:
    async with rig.runtime.db.session() as session:
        return len(
            (
                await session.execute(select(Message.id).where(Message.grant_id == rig.grant_id))
            ).all()
        )
