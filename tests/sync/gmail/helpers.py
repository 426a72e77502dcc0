"""A Gmail grant over the in-process fake: runtime, deps, fake mailbox and snapshots of the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from inboxsync.config import Settings
from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.runtime import Runtime
from inboxsync.store import gmail as gstore
from inboxsync.store import grants
from inboxsync.store.migrate import upgrade
from inboxsync.store.models import Folder, Message, MessageFolder
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail.account import GmailGrantSync
from inboxsync.sync.parsing import Parser
from tests.support.gmail_fake import CLIENT_ID, CLIENT_SECRET, GmailFake, Mailbox

EMAIL = "user@gmail.example"


def raw_message(n: int, *, reply_to: str | None = None, size: int = 0) -> bytes:
    head = (
        f"From: Sender {n} <s{n}@example.com>\r\nTo: {EMAIL}\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\nDate: Tue, 1 Oct 2024 10:{n % 60:02d}:00 +0000\r\n"
    )
    if reply_to:
        head += f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n"
    body = f"Body of message {n}.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    return (head + "Content-Type: text/plain\r\n\r\n" + body).encode()


def google_config(fake: GmailFake) -> GoogleConfig:
    return GoogleConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url="http://google.test/token",
        api_url="http://google.test",
        transport=httpx.ASGITransport(app=fake.app),
    )


@dataclass
class Rig:
    runtime: Runtime
    deps: SyncDeps
    grant_id: str
    fake: GmailFake
    box: Mailbox

    def sync(self) -> GmailGrantSync:
        return GmailGrantSync(self.deps, self.grant_id)

    async def messages(self) -> dict[str, dict[str, object]]:
        """Gmail id -> {labels (from placements), thread_id, unread, starred, subject}."""
        async with self.runtime.db.session() as session:
            rows = (
                await session.scalars(select(Message).where(Message.grant_id == self.grant_id))
            ).all()
            labels = await gstore.labels_of(session, self.grant_id, [r.id for r in rows])
        return {
            r.id: {
                "labels": labels.get(r.id, set()),
                "thread_id": r.thread_id,
                "unread": r.unread,
                "starred": r.starred,
                "subject": r.subject,
            }
            for r in rows
        }

    async def folders(self) -> dict[str, Folder]:
        async with self.runtime.db.session() as session:
            rows = (
                await session.scalars(select(Folder).where(Folder.grant_id == self.grant_id))
            ).all()
        return {f.path: f for f in rows}

    async def placements(self) -> int:
        async with self.runtime.db.session() as session:
            rows = await session.execute(
                select(MessageFolder.uid).where(MessageFolder.grant_id == self.grant_id)
            )
            return len(rows.all())

    def expected(self) -> dict[str, set[str]]:
        """What the store should hold: the fake's messages with their labels (folders + UNREAD)."""
        return {m.id: set(m.labels) - {"CHAT"} for m in self.box.messages.values()}

    async def stored(self) -> dict[str, set[str]]:
        return {mid: set(v["labels"]) for mid, v in (await self.messages()).items()}  # type: ignore[call-overload]  # labels is a set


@asynccontextmanager
async def gmail_grant(
    tmp_path: Path,
    *,
    latency: float = 0.0,
    history_id: int = 1_000_000,
    fake: GmailFake | None = None,
) -> AsyncIterator[Rig]:
    fake = fake or GmailFake(latency=latency)
    box, refresh = fake.add_user(EMAIL, history_id=history_id)
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path / "data", durable_writes=False))
    await upgrade(runtime.db)
    async with runtime.db.transaction() as session:
        grant = await grants.create(
            session,
            provider="google",
            email=EMAIL,
            settings={},
            sealed_credentials=runtime.sealer.seal({"refresh_token": refresh}),
            api_key_id=None,
        )
    deps = SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        backoff_base=0.01,
        google=google_config(fake),
    )
    try:
        yield Rig(runtime, deps, grant.id, fake, box)
    finally:
        deps.parser.close()
        await runtime.close()
