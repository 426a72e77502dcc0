"""IDLE (RFC 2177): untagged responses as they come, until DONE."""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING

from inboxsync.errors import ProtocolError
from inboxsync.providers.imap.failures import error_for
from inboxsync.providers.imap.responses import Response

if TYPE_CHECKING:
    from inboxsync.providers.imap.connection import ImapConnection

__all__ = ["IdleSession"]


class IdleSession:
    """``async with client.idle() as idle:`` — ``await idle.wait(timeout)`` returns the untagged responses
    (Exists, Expunge, Vanished, Fetch...) as soon as there is one, or ``[]`` after ``timeout`` seconds;
    ``async for r in idle`` yields them one by one. Leaving the block (or :meth:`done`) sends DONE.
    Responses left over from earlier commands come first. Re-IDLE within 29 minutes (RFC 2177)."""

    def __init__(self, conn: ImapConnection) -> None:
        self._conn = conn
        self._tag: str | None = None
        self._finished = False
        self._buffer: deque[Response] = deque()

    async def __aenter__(self) -> IdleSession:
        conn = self._conn
        if "IDLE" not in conn.capabilities:
            raise ProtocolError("server does not offer IDLE")
        self._buffer.extend(conn.unsolicited)
        conn.unsolicited.clear()
        tag = await conn._send("IDLE", [])
        while not conn._continuations and tag not in conn._done:
            await conn._step()
        if tag in conn._done:
            self._finished = True
            raise error_for("IDLE", conn._done.pop(tag))
        conn._continuations.popleft()
        self._tag = tag
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, asyncio.CancelledError):
            self._conn._abort("cancelled during IDLE")
            return
        if not self._finished and self._conn._broken is None:
            self._conn.unsolicited.extend(await self.done())

    async def wait(self, timeout: float | None) -> list[Response]:  # noqa: ASYNC109 - returns [] on timeout, not an error
        """Wait up to ``timeout`` seconds (None: forever) for untagged responses."""
        conn = self._conn
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._buffer and not conn._untagged and not self._finished:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            try:
                await conn._step(remaining, idle=True)
            except TimeoutError:
                break
            if self._tag in conn._done:  # the server ended IDLE by itself
                self._finished = True
                tagged = conn._done.pop(self._tag)
                if tagged.status != "OK":
                    raise error_for("IDLE", tagged)
        out = list(self._buffer) + conn._take_untagged()
        self._buffer.clear()
        return out

    def __aiter__(self) -> IdleSession:
        return self

    async def __anext__(self) -> Response:
        while not self._buffer:
            if self._finished:
                raise StopAsyncIteration
            self._buffer.extend(await self.wait(None))
        return self._buffer.popleft()

    async def done(self) -> list[Response]:
        """Send DONE, wait for the completion; return the responses that came meanwhile."""
        if self._finished or self._tag is None:
            return []
        self._finished = True
        conn = self._conn
        await conn._write(b"DONE\r\n")
        async with asyncio.timeout(conn.timeout):
            await conn._wait(self._tag, "IDLE")
        out = list(self._buffer) + conn._take_untagged()
        self._buffer.clear()
        return out
