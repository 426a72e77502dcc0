"""Push: a Pub/Sub notification wakes the grant's sync for an immediate history pass.

Gmail's ``users.watch`` publishes ``{"emailAddress", "historyId"}`` to a Cloud Pub/Sub topic; a push
subscription POSTs ``{"message": {"data": base64(json), "messageId", ...}, "subscription"}`` to our
endpoint (https://developers.google.com/gmail/api/guides/push). The notification only says "something
changed": the pass that follows reads history as a poll would. Events live in this process, so the
endpoint must be served by the process that syncs (``inboxsync serve``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

_events: dict[str, asyncio.Event] = {}


def event_for(grant_id: str) -> asyncio.Event:
    event = _events.get(grant_id)
    if event is None:
        event = _events[grant_id] = asyncio.Event()
    return event


def notify(grant_id: str) -> None:
    event_for(grant_id).set()


def decode(body: dict[str, Any]) -> tuple[str, int] | None:
    """(email address, history id) of a Pub/Sub push body, or None if it is not one."""
    try:
        data = json.loads(base64.b64decode(body["message"]["data"]))
        return str(data["emailAddress"]), int(str(data["historyId"]))
    except (KeyError, TypeError, ValueError):
        return None


async def wait(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Until ``stop`` or ``wake`` is set, or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
