"""Fixtures of the observability tests: a uniquely named JetStream stream on the real NATS server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

NATS_URL = os.environ.get("INBOXSYNC_TEST_NATS", "nats://127.0.0.1:4222")


@dataclass
class NatsStream:
    url: str
    name: str
    prefix: str
    nc: Client
    js: JetStreamContext


@pytest.fixture
async def nats_stream() -> AsyncIterator[NatsStream]:
    """A stream name (and subject prefix) no other test uses; the stream is deleted afterwards."""
    try:
        nc = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"NATS is required in CI: {exc}")
        pytest.skip(f"no NATS server at {NATS_URL}: {exc}")
    token = uuid.uuid4().hex[:10]
    stream = NatsStream(NATS_URL, f"TEST_{token}", f"t{token}", nc, nc.jetstream())
    try:
        yield stream
    finally:
        try:
            await stream.js.delete_stream(stream.name)
        except Exception:
            pass
        await nc.close()
