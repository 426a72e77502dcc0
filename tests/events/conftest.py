"""Fixtures of the events tests: a loopback receiver and a store with one grant and one webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from inboxsync.events import payload
from inboxsync.events.deliver import Policy
from inboxsync.events.service import ServiceConfig
from inboxsync.store import folders, grants, webhooks
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database
from tests.events.receiver import Hit, Receiver

FAST = ServiceConfig(
    allow_private=True,
    poll=0.01,
    timeout=0.5,
    policy=Policy(retry_base=0.05, retry_cap=0.2, retry_window=3600.0),
)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@dataclass
class Setup:
    db: Database
    sealer: Sealer
    grant_id: str
    webhook_id: str
    secret: str


async def make_setup(
    db: Database,
    url: str,
    triggers: list[str] | None = None,
    grants_count: int = 1,
    sealer: Sealer | None = None,
) -> Setup:
    sealer = sealer or Sealer(b"k" * 32)
    secret = payload.new_secret()
    async with db.transaction() as session:
        hook = await webhooks.create(
            session,
            api_key_id=None,
            webhook_url=url,
            trigger_types=triggers or ["grant.updated", "grant.created", "grant.expired"],
            description="test",
            notification_email_addresses=[],
            sealed_secret=sealer.seal({"secret": secret}),
        )
        hook.created_at -= 10  # changes made in this second count
        grant_id = ""
        for n in range(grants_count):
            grant = await grants.create(
                session,
                provider="imap",
                email=f"user{n}@example.com",
                settings={},
                sealed_credentials=b"x",
                api_key_id=None,
            )
            grant_id = grant_id or grant.id
    return Setup(db, sealer, grant_id, hook.id, secret)


async def add_folders(db: Database, grant_id: str, names: list[str]) -> None:
    """One transaction (and one ``folder.created`` change) per folder, in order."""
    for name in names:
        async with db.transaction() as session:
            folders.create(
                session, grant_id, path=name, name=name, delimiter="/", role=None, attributes=[]
            )


def first_seen(hits: list[Hit]) -> list[dict[str, Any]]:
    """Notifications in arrival order without repeats; a repeat must be the same notification."""
    seen: dict[str, dict[str, Any]] = {}
    order = []
    for hit in hits:
        body = hit.json
        if body["id"] in seen:
            assert seen[body["id"]]["data"] == body["data"], "a duplicate differs from its original"
            continue
        seen[body["id"]] = body
        order.append(body)
    return order
