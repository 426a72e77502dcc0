"""The supervisor in-process on SQLite (the ``serve`` path): it claims in batches without waiting a
round, runs a task per held grant, and gives every lease back when stopped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants, leases
from inboxsync.store.migrate import upgrade
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.parsing import Parser
from inboxsync.sync.supervisor import LeaseConfig, Supervisor


async def test_claims_every_grant_in_batches_and_releases_on_stop(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path / "data", durable_writes=False))
    await upgrade(runtime.db)
    async with runtime.db.transaction() as session:
        for n in range(5):
            await grants.create(
                session,
                provider="imap",
                email=f"u{n}@example.com",
                settings={"imap_host": "127.0.0.1", "imap_port": 9, "imap_security": "none"},
                sealed_credentials=runtime.sealer.seal({"imap_password": "x"}),
                api_key_id=None,
            )
    deps = SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        backoff_base=30.0,  # the port refuses: each grant waits in its backoff
    )
    # One round a minute: only the batches' own wake-ups can claim five grants two at a time.
    supervisor = Supervisor(
        deps, refresh=60.0, leases=LeaseConfig(ttl=30.0, claim_batch=2), worker_id="serve"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    try:
        deadline = time.monotonic() + 20
        for _ in range(1000):
            if len(supervisor.tasks) == 5 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert len(supervisor.tasks) == 5 and len(supervisor.held) == 5
        async with runtime.db.session() as session:
            table = await leases.owners(session)
        assert {owner for owner, _, _ in table.values()} == {"serve"}
        assert {generation for _, _, generation in table.values()} == {1}
    finally:
        stop.set()
        await task
        deps.parser.close()
    async with runtime.db.session() as session:
        table = await leases.owners(session)
    await runtime.close()
    assert supervisor.tasks == {}
    assert {owner for owner, _, _ in table.values()} == {None}
