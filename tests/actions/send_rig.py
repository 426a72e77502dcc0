"""A grant on Dovecot with SMTP to the sink, its sync loop running, and an API client on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from inboxsync.store.migrate import upgrade
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.imap.account import ImapGrantSync
from inboxsync.sync.parsing import Parser
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpSink

KEY = "send-key"


@dataclass
class SendRig:
    runtime: Runtime
    deps: SyncDeps
    grant_id: str
    sync: ImapGrantSync
    api: httpx.AsyncClient

    def url(self, tail: str) -> str:
        return f"/v3/grants/{self.grant_id}/{tail}"


class _Wake:
    def __init__(self, sync: ImapGrantSync) -> None:
        self.sync = sync

    def notify(self, grant_id: str) -> None:
        self.sync.wake.set()


async def until(probe: Callable[[], Any], what: str, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


@asynccontextmanager
async def send_rig(
    server: Dovecot, sink: SmtpSink, tmp_path: Path, *, run: bool = True, **settings: Any
) -> AsyncIterator[SendRig]:
    runtime = Runtime.from_settings(
        Settings(
            data_dir=tmp_path / "data",
            durable_writes=False,
            api_key=SecretStr(KEY),
            **settings,
        )
    )
    await upgrade(runtime.db)
    public = {
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": server.user,
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_security": "none",
        "smtp_username": sink.username or "anyone",
    }
    secrets = {"imap_password": server.password, "smtp_password": sink.password or "x"}
    async with runtime.db.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email=f"{server.user}@example.com",
            settings=public,
            sealed_credentials=runtime.sealer.seal(secrets),
            api_key_id=None,
        )
    deps = SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        backoff_base=0.05,
        action_poll=0.2,
        poll_interval=1.0,  # retries wait for a pass (or a wake): keep passes frequent
    )
    sync = ImapGrantSync(deps, grant.id)
    app = create_app(runtime)
    app.state.supervisor = _Wake(sync)
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop)) if run else None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    ) as api:
        rig = SendRig(runtime, deps, grant.id, sync, api)
        try:
            if task is not None:
                await until(lambda: _synced(rig), "first pass")
            yield rig
        finally:
            stop.set()
            if task is not None:
                await asyncio.wait_for(task, 15)
            deps.parser.close()
            await runtime.close()


async def _synced(rig: SendRig) -> bool:
    async with rig.runtime.db.session() as session:
        return (await grants.get(session, rig.grant_id)).initial_sync_complete
