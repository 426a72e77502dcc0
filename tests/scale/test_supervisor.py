"""The supervisor in-process on SQLite (the ``serve`` path): it claims in batches without waiting a
round, runs a task per held grant, and gives every lease back when stopped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants, leases, outbox
from inboxsync.store.migrate import upgrade
from inboxsync.store.models import Action
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.parsing import Parser
from inboxsync.sync.supervisor import LeaseConfig, Supervisor


async def refusing_grants(tmp_path: Path, count: int) -> tuple[Runtime, list[str]]:
    """A SQLite runtime with ``count`` IMAP grants whose server port refuses connections."""
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path / "data", durable_writes=False))
    await upgrade(runtime.db)
    ids = []
    async with runtime.db.transaction() as session:
        for n in range(count):
            grant = await grants.create(
                session,
                provider="imap",
                email=f"u{n}@example.com",
                settings={"imap_host": "127.0.0.1", "imap_port": 9, "imap_security": "none"},
                sealed_credentials=runtime.sealer.seal({"imap_password": "x"}),
                api_key_id=None,
            )
            ids.append(grant.id)
    return runtime, ids


def deps_for(runtime: Runtime, *, action_poll: float = 10.0) -> SyncDeps:
    """One parse worker; a long backoff: the port refuses, each grant waits in its backoff."""
    return SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        backoff_base=30.0,
        action_poll=action_poll,
    )


async def test_claims_every_grant_in_batches_and_releases_on_stop(tmp_path: Path) -> None:
    runtime, _ = await refusing_grants(tmp_path, 5)
    deps = deps_for(runtime)
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


async def test_one_query_finds_due_actions_and_wakes_only_their_grants(tmp_path: Path) -> None:
    """Actions written by another process (``inboxsync api``): the supervisor looks for those of all
    its grants at once each ``action_poll`` and wakes the grants that have one due."""
    runtime, ids = await refusing_grants(tmp_path, 3)
    async with runtime.db.transaction() as session:
        now = time.time()
        session.add_all(
            [
                Action(grant_id=ids[0], kind="update_message", created_at=now, updated_at=now),
                Action(  # waiting for its retry: not due yet
                    grant_id=ids[1],
                    kind="update_message",
                    next_attempt_at=now + 3600,
                    created_at=now,
                    updated_at=now,
                ),
                Action(  # done long ago
                    grant_id=ids[2], kind="update_message", state="done", created_at=0, updated_at=0
                ),
            ]
        )
    async with runtime.db.session() as session:
        assert await outbox.grants_with_due(session, ids, chunk=2) == {ids[0]}
    deps = deps_for(runtime, action_poll=0.2)
    supervisor = Supervisor(deps, refresh=60.0, worker_id="serve")
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sync = supervisor.syncs.get(ids[0])
            if sync is not None and sync.wake.is_set():
                break
            await asyncio.sleep(0.05)
        assert supervisor.syncs[ids[0]].wake.is_set()
        assert all(s.deps.actions_watched for s in supervisor.syncs.values())
        assert not supervisor.syncs[ids[1]].wake.is_set()
        assert not supervisor.syncs[ids[2]].wake.is_set()
    finally:
        stop.set()
        await task
        deps.parser.close()
        await runtime.close()
