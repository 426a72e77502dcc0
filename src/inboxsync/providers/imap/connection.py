"""The asyncio side of the IMAP client: socket, TLS, COMPRESS, tags, waiting, error mapping.

There is no background reader task: whoever waits for a command's completion pulls bytes from the socket
and feeds the sans-IO parser (so a slow consumer of a FETCH slows the socket down, never fills memory).
Events are dispatched by :meth:`ImapConnection._step`: tagged completions into ``_done``, untagged
responses into ``_untagged``, body literals into the sink of the running fetch.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Literal as TypingLiteral
from typing import Protocol, TypeAlias

from inboxsync.core import netguard
from inboxsync.errors import (
    ConnectionLost,
    ProtocolError,
)
from inboxsync.metrics import IMAP_CONNECTIONS
from inboxsync.providers.imap.commands import Arg, LiteralMode, encode_command
from inboxsync.providers.imap.failures import error_for
from inboxsync.providers.imap.parser import NEED_DATA, ResponseParser
from inboxsync.providers.imap.responses import (
    BodyChunk,
    BodyStart,
    Capability,
    Continuation,
    Enabled,
    Event,
    Fetch,
    Response,
    Tagged,
    UntaggedStatus,
)

log = logging.getLogger("inboxsync.providers.imap")

Security: TypeAlias = TypingLiteral["ssl", "starttls", "none"]

_READ_SIZE = 256 * 1024
_INFLATE_STEP = 1024 * 1024  # bound on decompressed bytes per feed (a deflate bomb stays small)


class BodySink(Protocol):
    """Receives one body literal: ``write`` any number of times, then ``close`` once."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SinkFactory(Protocol):
    def __call__(self, start: BodyStart, /) -> BodySink: ...


class _Collect:
    """The sink used when the caller gave none: the body ends up as ``bytes`` in the Fetch."""

    def __init__(self, into: dict[tuple[int, str], bytes], key: tuple[int, str]) -> None:
        self.parts: list[bytes] = []
        self.into = into
        self.key = key

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.into[self.key] = b"".join(self.parts)


class ImapConnection:
    """Transport and dispatch. :class:`~inboxsync.providers.imap.client.ImapClient` adds the commands."""

    def __init__(self, *, timeout: float = 30.0, stream_threshold: int = 128 * 1024) -> None:
        self.timeout = timeout
        self.host = ""
        self.port = 0
        self.greeting: UntaggedStatus | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.enabled: frozenset[str] = frozenset()
        self.compressed = False
        self._parser = ResponseParser(stream_threshold=stream_threshold)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        self._counter = 0
        self._done: dict[str, Tagged] = {}
        self._abandoned: set[str] = set()
        self._untagged: deque[Response] = deque()
        self._continuations: deque[Continuation] = deque()
        self._bye: UntaggedStatus | None = None
        self._broken: str | None = None
        # the fetch in progress: where body literals go
        self._fetching = False
        self._fetch_inflight: deque[str] | None = (
            None  # tags of the running fetch; identity = owner
        )
        self._sink_factory: SinkFactory | None = None
        self._sink: BodySink | None = None
        self._collected: dict[tuple[int, str], bytes] = {}
        self.unsolicited: deque[Response] = deque()
        """Untagged responses no command consumed (EXISTS, EXPUNGE, flag changes...), oldest first."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port}{' broken' if self._broken else ''}>"

    # --- opening --------------------------------------------------------------------------------

    async def _open(
        self,
        host: str,
        port: int,
        security: Security,
        ssl_context: ssl.SSLContext | None,
        public_only: bool = False,
    ) -> None:
        self.host, self.port = host, port
        context = ssl_context
        if context is None and security != "none":
            context = ssl.create_default_context()  # 20 ms: only when TLS is wanted
        tls_context = context if security == "ssl" else None
        tls_name = host if security == "ssl" else None
        try:
            async with asyncio.timeout(self.timeout):
                if public_only:
                    sock = await netguard.connect_public(host, port, self.timeout)
                    self._reader, self._writer = await asyncio.open_connection(
                        sock=sock, ssl=tls_context, server_hostname=tls_name, limit=_READ_SIZE
                    )
                else:
                    self._reader, self._writer = await asyncio.open_connection(
                        host, port, ssl=tls_context, server_hostname=tls_name, limit=_READ_SIZE
                    )
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot connect to {host}:{port}: {exc!r}") from exc
        IMAP_CONNECTIONS.inc()  # _abort, which every close goes through, takes it back once
        greeting = await self._next_untagged()
        if not isinstance(greeting, UntaggedStatus) or greeting.status not in ("OK", "PREAUTH"):
            self._abort("bad greeting")
            raise ConnectionLost(f"server refused the connection: {greeting!r}")
        self.greeting = greeting
        if isinstance(greeting.code, Capability):
            self.capabilities = greeting.code.capabilities
        elif not self.capabilities:
            await self._simple("CAPABILITY", [])
        if security == "starttls":
            assert context is not None
            await self._starttls(context, host)

    async def _next_untagged(self) -> Response:
        while not self._untagged:
            await self._step(self.timeout)
        return self._untagged.popleft()

    async def _starttls(self, context: ssl.SSLContext, host: str) -> None:
        if not self.capabilities:
            await self._simple("CAPABILITY", [])
        if "STARTTLS" not in self.capabilities:
            self._abort("no STARTTLS")
            raise ProtocolError("server does not offer STARTTLS")
        await self._simple("STARTTLS", [])
        if not self._parser.idle:  # bytes after the OK were sent in the clear: possible injection
            self._abort("data after STARTTLS")
            raise ProtocolError("server sent data after STARTTLS OK")
        assert self._writer is not None
        try:
            async with asyncio.timeout(self.timeout):
                await self._writer.start_tls(context, server_hostname=host)
        except (OSError, TimeoutError) as exc:
            self._abort("TLS failed")
            raise ConnectionLost(f"TLS handshake with {host} failed: {exc!r}") from exc
        self.capabilities = frozenset()
        await self._simple("CAPABILITY", [])

    def _start_compression(self) -> None:
        if not self._parser.idle:
            self._abort("data after COMPRESS")
            raise ProtocolError("server sent data after COMPRESS OK")
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self.compressed = True

    # --- bytes in and out -----------------------------------------------------------------------

    def _abort(self, reason: str) -> None:
        if self._broken is None:
            self._broken = reason
            if self._writer is not None:
                IMAP_CONNECTIONS.dec()
        if self._writer is not None:
            self._writer.transport.abort()

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise ConnectionLost(f"connection to {self.host} is closed ({self._broken})")

    async def _write(self, data: bytes) -> None:
        self._check_usable()
        assert self._writer is not None
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        try:
            self._writer.write(data)
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
        except (OSError, TimeoutError) as exc:
            self._abort("write failed")
            raise ConnectionLost(f"writing to {self.host} failed: {exc!r}") from exc

    async def _fill(self, limit: float | None) -> None:
        """Feed the parser at least one more byte (or raise ConnectionLost / TimeoutError)."""
        self._check_usable()
        inflate = self._inflate
        if inflate is not None and inflate.unconsumed_tail:
            self._parser.receive_data(inflate.decompress(inflate.unconsumed_tail, _INFLATE_STEP))
            return
        assert self._reader is not None
        try:
            async with asyncio.timeout(limit):
                raw = await self._reader.read(_READ_SIZE)
        except TimeoutError:
            raise
        except (OSError, ssl.SSLError) as exc:
            self._abort("read failed")
            raise ConnectionLost(f"reading from {self.host} failed: {exc!r}") from exc
        if not raw:
            bye = f": {self._bye.text}" if self._bye is not None else ""
            self._abort("closed by server")
            raise ConnectionLost(f"{self.host} closed the connection{bye}")
        if inflate is not None:
            try:
                raw = inflate.decompress(raw, _INFLATE_STEP)
            except zlib.error as exc:
                self._abort("bad deflate stream")
                raise ProtocolError(f"bad COMPRESS stream from {self.host}") from exc
        self._parser.receive_data(raw)

    async def _step(self, wait: float | None = None, *, idle: bool = False) -> None:
        """Read and dispatch one event.

        Normally a silence of ``timeout`` seconds is fatal (ConnectionLost). With ``idle=True`` the
        silence allowed is ``wait`` (None: forever) and TimeoutError is raised as is.
        """
        limit = wait if idle else self.timeout
        while True:
            try:
                event = self._parser.next_event()
            except ProtocolError:
                self._abort("unparseable response")
                raise
            if event is not NEED_DATA:
                self._dispatch(event)
                return
            try:
                await self._fill(limit)
            except TimeoutError as exc:
                if idle:
                    raise
                self._abort("timeout")
                raise ConnectionLost(f"{self.host} sent nothing for {limit} s") from exc

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, BodyChunk):
            if self._sink is not None:
                self._sink.write(event.data)
                if event.last:
                    self._sink.close()
                    self._sink = None
        elif isinstance(event, BodyStart):
            self._begin_body(event)
        elif isinstance(event, Tagged):
            if isinstance(event.code, Capability):
                self.capabilities = event.code.capabilities
            if event.tag in self._abandoned:
                self._abandoned.discard(event.tag)
            else:
                self._done[event.tag] = event
        elif isinstance(event, Continuation):
            self._continuations.append(event)
        else:
            if isinstance(event, Capability):
                self.capabilities = event.capabilities
            elif isinstance(event, UntaggedStatus):
                if isinstance(event.code, Capability):
                    self.capabilities = event.code.capabilities
                if event.status == "BYE":
                    self._bye = event
            elif isinstance(event, Enabled):
                self.enabled |= event.capabilities
            elif isinstance(event, Fetch) and not self._fetching and event.bodies:
                return  # the rest of an abandoned fetch
            self._untagged.append(event)

    def _begin_body(self, start: BodyStart) -> None:
        if self._sink_factory is not None:
            self._sink = self._sink_factory(start)
        elif self._fetching:
            self._sink = _Collect(self._collected, (start.seq, start.section))
        else:
            self._sink = None

    # --- commands -------------------------------------------------------------------------------

    def _literal_mode(self) -> LiteralMode:
        if "LITERAL+" in self.capabilities:
            return "plus"
        return "minus" if "LITERAL-" in self.capabilities else "sync"

    def _next_tag(self) -> str:
        self._counter += 1
        return f"A{self._counter:04d}"

    def _abandon_fetch(self) -> None:
        """Forget a fetch its caller left (``break``): its remaining responses will be discarded."""
        if self._fetch_inflight is not None:
            self._abandoned.update(self._fetch_inflight)
            self._fetch_inflight = None
        self._fetching = False
        self._sink_factory = None
        self._sink = None
        self._collected.clear()
        kept = [r for r in self._untagged if not (isinstance(r, Fetch) and r.bodies)]
        self._untagged.clear()
        self._untagged.extend(kept)

    async def _send(
        self,
        name: str,
        words: Sequence[Arg],
        *,
        sensitive: bool = False,
        in_fetch: bool = False,
    ) -> str:
        """Send a command (waiting for ``+`` before synchronising literals); return its tag."""
        self._check_usable()
        if not in_fetch and self._fetching:
            self._abandon_fetch()
        tag = self._next_tag()
        pieces = encode_command(tag, [name, *words], self._literal_mode())
        if log.isEnabledFor(logging.DEBUG):
            log.debug("C: %s %s%s", tag, name, " <redacted>" if sensitive else "")
        self._continuations.clear()
        for i, piece in enumerate(pieces):
            if i:
                while not self._continuations and tag not in self._done:
                    await self._step()
                if tag in self._done:
                    return tag  # refused before the literal (NO/BAD)
                self._continuations.popleft()
            await self._write(piece)
        return tag

    async def _wait(self, tag: str, command: str, *, check: bool = True) -> Tagged:
        while tag not in self._done:
            await self._step()
        tagged = self._done.pop(tag)
        if check and tagged.status != "OK":
            raise error_for(command, tagged)
        return tagged

    def _take_untagged(self) -> list[Response]:
        items = list(self._untagged)
        self._untagged.clear()
        return items

    async def _simple(
        self, name: str, words: Sequence[Arg], *, sensitive: bool = False
    ) -> tuple[Tagged, list[Response]]:
        """Run one command to completion within ``timeout``; return its completion and untagged data."""
        command = name.split()[-1] if name.startswith("UID ") else name.split()[0]
        try:
            async with asyncio.timeout(self.timeout):
                tag = await self._send(name, words, sensitive=sensitive)
                tagged = await self._wait(tag, command, check=False)
        except TimeoutError as exc:
            self._abort("timeout")
            raise ConnectionLost(f"{name} timed out after {self.timeout} s") from exc
        except asyncio.CancelledError:
            self._abort("cancelled mid-command")
            raise
        untagged = self._take_untagged()
        if tagged.status != "OK":
            self.unsolicited.extend(untagged)
            raise error_for(command, tagged)
        return tagged, untagged

    def _keep_unsolicited(self, responses: Sequence[Response]) -> None:
        self.unsolicited.extend(responses)
