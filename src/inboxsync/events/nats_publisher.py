"""Publish the change log to NATS JetStream (``INBOXSYNC_NATS_URL``; ``inboxsync events nats``).

Each change becomes one message on ``<prefix>.<grant>.<object>.<event>`` (``inboxsync.g1.message.
created``) whose body is the change as the HTTP change stream renders it, in change-id order.

At least once, resumable, never reordered:

- The stream itself holds the position. Each message carries ``Inboxsync-Change-Id``; on (re)start
  the publisher reads the stream's last message and continues after that change id. A process killed
  mid-batch therefore resumes exactly after what the stream stored: the unacknowledged tail is sent
  again, nothing acknowledged is repeated, nothing is skipped.
- ``Nats-Msg-Id`` is the change id, so JetStream drops a re-send inside its duplicate window.
- Every message carries ``Nats-Expected-Last-Sequence``: the stream stores it only if it directly
  follows the message before it. Batches are pipelined (no round trip per message), yet a message
  the stream refused makes every later one of the batch fail too, so there are no gaps and order per
  grant (indeed over all grants) is the change-id order. A second publisher on the same stream is
  fenced the same way (it fails, re-reads the position, goes on), so two are safe, if wasteful.
- Changes are read up to the visibility horizon (:mod:`inboxsync.events.horizon`), as the webhook
  dispatcher does, so a change committed late under a lower id is never passed over.
- The position is also kept in ``event_cursors`` (``nats:<stream>``), for when the stream's last
  message is gone (expired by ``max_age`` or purged) while its sequence numbers remain.

The stream must hold only this publisher's messages (its subjects: ``<prefix>.>``); it is created
with those subjects when missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from inboxsync.config import Settings
from inboxsync.events.horizon import Horizon
from inboxsync.events.stream import item
from inboxsync.metrics import NATS_ERRORS, NATS_POSITION, NATS_PUBLISHED
from inboxsync.store import deliveries
from inboxsync.store.db import Database
from inboxsync.store.models import Change

if TYPE_CHECKING:  # nats-py is imported only when the publisher runs
    from nats.aio.client import Client as NatsClient
    from nats.js import JetStreamContext

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANGE_ID_HEADER = "Inboxsync-Change-Id"
MSG_ID_HEADER = "Nats-Msg-Id"
EXPECTED_LAST_SEQ_HEADER = "Nats-Expected-Last-Sequence"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class NatsConfig:
    url: str
    stream: str = "INBOXSYNC"
    prefix: str = "inboxsync"
    batch: int = 256  # changes per pipelined round
    poll: float = 0.5  # seconds between looks for changes other processes commit
    ack_timeout: float = 10.0  # seconds a round may wait for the stream's acknowledgements
    max_age: float = 7 * 86400.0  # retention of a stream this publisher creates
    duplicate_window: float = 120.0  # seconds JetStream remembers Nats-Msg-Id (stream creation)
    retry: float = 2.0  # seconds before reconnecting after a failure (doubles, up to a minute)


class PublishFailed(Exception):
    """A round was not fully acknowledged; the session starts over from the stream's position."""


def subject_of(prefix: str, change: Change) -> str:
    """``<prefix>.<grant>.<object>.<event>``; characters a subject token may not hold become ``_``."""
    tokens = (change.grant_id, change.object_type, change.event)
    return ".".join([prefix, *(_UNSAFE.sub("_", t) or "_" for t in tokens)])


def cursor_name(stream: str) -> str:
    return f"nats:{stream}"[:32]


class NatsPublisher:
    """Publishes every change after the stream's position; ``run`` until ``stop`` is set."""

    def __init__(self, db: Database, config: NatsConfig) -> None:
        self.db = db
        self.config = config
        self.horizon = Horizon(db)
        self.position = 0  # the last change id the stream acknowledged
        self._last_seq = 0  # the stream's last sequence number, as far as we know

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, publish, reconnect after any failure (with backoff) until ``stop``."""
        import nats

        delay = self.config.retry
        while not stop.is_set():
            nc: NatsClient | None = None
            try:
                nc = await _unless_stopped(
                    nats.connect(
                        self.config.url,
                        connect_timeout=5,
                        max_reconnect_attempts=3,
                        allow_reconnect=True,
                        error_cb=_nats_error,
                    ),
                    stop,
                )
                if nc is None:
                    return
                await self.session(nc.jetstream(), stop)
                delay = self.config.retry
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                NATS_ERRORS.inc()
                log.warning(
                    "nats publisher: %s: %s; again in %.0f s", type(exc).__name__, exc, delay
                )
                await _sleep(stop, delay)
                delay = min(60.0, delay * 2)
            finally:
                if nc is not None:
                    with contextlib.suppress(Exception):
                        await nc.close()

    async def session(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """One connection's worth of publishing (raises on failure; ``run`` reconnects)."""
        await self.ensure_stream(js)
        await self.resume(js)
        log.info("nats publisher: stream %s from change %d", self.config.stream, self.position)
        while not stop.is_set():
            if not await self.step(js):
                await _first(self.db.wait_for_changes(self.config.poll), stop.wait())

    async def ensure_stream(self, js: JetStreamContext) -> None:
        from nats.js.errors import NotFoundError

        try:
            await js.stream_info(self.config.stream)
        except NotFoundError:
            await js.add_stream(
                name=self.config.stream,
                subjects=[f"{self.config.prefix}.>"],
                max_age=self.config.max_age,
                duplicate_window=self.config.duplicate_window,
            )
            log.info("nats publisher: created stream %s", self.config.stream)

    async def resume(self, js: JetStreamContext) -> None:
        """Read the position: the last stored message's change id (else the kept cursor)."""
        from nats.js.errors import NotFoundError

        info = await js.stream_info(self.config.stream)
        self._last_seq = int(info.state.last_seq or 0)
        from_stream: int | None = None
        if info.state.messages and self._last_seq:
            try:
                last = await js.get_msg(self.config.stream, seq=self._last_seq)
            except NotFoundError:
                last = None
            value = (last.headers or {}).get(CHANGE_ID_HEADER) if last is not None else None
            if value is not None and str(value).isdigit():
                from_stream = int(value)
        async with self.db.session() as session:
            kept = await deliveries.position(session, cursor_name(self.config.stream))
            pruned = await deliveries.position(session, deliveries.PRUNED)
        self.position = from_stream if from_stream is not None else kept
        if self.position < pruned:
            log.warning(
                "nats publisher: changes %d..%d were pruned before they were published",
                self.position + 1,
                pruned,
            )
            self.position = pruned
        NATS_POSITION.set(self.position)

    async def step(self, js: JetStreamContext) -> int:
        """Publish the next batch (pipelined); how many the stream acknowledged."""
        upto = await self.horizon.current()
        async with self.db.session() as session:
            rows = await deliveries.changes_between(session, self.position, upto, self.config.batch)
        if not rows:
            return 0
        futures = []
        for offset, change in enumerate(rows):
            headers = {
                MSG_ID_HEADER: str(change.id),
                CHANGE_ID_HEADER: str(change.id),
                EXPECTED_LAST_SEQ_HEADER: str(self._last_seq + offset),
            }
            body = json.dumps(item(change), separators=(",", ":")).encode()
            futures.append(
                await js.publish_async(
                    subject_of(self.config.prefix, change), body, headers=headers
                )
            )
        try:
            acks = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self.config.ack_timeout
            )
        except TimeoutError as exc:
            raise PublishFailed(f"no acknowledgement within {self.config.ack_timeout} s") from exc
        done = self._advance(rows, acks)
        if done:
            NATS_PUBLISHED.inc(done)
            NATS_POSITION.set(self.position)
            await self._keep_position()
        if done < len(rows):
            error = acks[done]
            raise PublishFailed(f"change {rows[done].id} refused: {error}")
        return done

    def _advance(self, rows: Sequence[Change], acks: Sequence[object]) -> int:
        """Move the position over the acknowledged prefix of the batch; its length."""
        done = 0
        for change, ack in zip(rows, acks, strict=True):
            seq = getattr(ack, "seq", None)
            if isinstance(ack, BaseException) or seq is None:
                break
            self.position = change.id
            self._last_seq = int(seq)
            done += 1
        return done

    async def _keep_position(self) -> None:
        name = cursor_name(self.config.stream)
        async with self.db.transaction() as session:
            old = await deliveries.position(session, name)
            if self.position > old:
                await deliveries.move(session, name, old, self.position)


def config_from(settings: Settings) -> NatsConfig | None:
    """The publisher's configuration, or None when ``INBOXSYNC_NATS_URL`` is not set."""
    if not settings.nats_url:
        return None
    return NatsConfig(
        url=settings.nats_url,
        stream=settings.nats_stream,
        prefix=settings.nats_subject_prefix,
        max_age=settings.change_retention_days * 86400.0,
    )


async def _nats_error(exc: Exception) -> None:
    log.debug("nats client: %s: %s", type(exc).__name__, exc)  # the round that failed says it too


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """``work``'s result, or None (``work`` cancelled) when ``stop`` is set first."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return None


async def _first(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
