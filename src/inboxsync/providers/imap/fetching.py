"""UID FETCH, pipelined: several batches in flight, bodies streamed to a sink."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence

from inboxsync.providers.imap.commands import Arg, uid_set
from inboxsync.providers.imap.connection import ImapConnection, SinkFactory
from inboxsync.providers.imap.failures import error_for
from inboxsync.providers.imap.responses import BodyStart, Fetch, Streamed, Vanished
from inboxsync.providers.imap.uidset import UidSet

__all__ = ["FetchingConnection", "UidsArg"]

UidsArg = UidSet | str | Iterable[int]


class FetchingConnection(ImapConnection):
    def uid_fetch(
        self,
        uids: UidsArg,
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
        sink: SinkFactory | None = None,
    ) -> AsyncIterator[Fetch | Vanished]:
        """``UID FETCH uids (UID items...) [(CHANGEDSINCE n [VANISHED])]`` as an async iterator.

        Bodies (``BODY.PEEK[]``...) above the parser's ``stream_threshold`` never sit in memory whole
        when ``sink`` is given: ``sink(BodyStart)`` returns a :class:`BodySink` fed as bytes arrive
        (smaller bodies go to a sink too, in one write, just before their Fetch is yielded; their
        bytes also stay in ``Fetch.bodies``). Without a sink, bodies are ``bytes`` in ``Fetch.bodies``.
        ``BodyStart.uid`` is None when the server sends UID after the body: match on ``seq`` then.
        """
        return self.fetch_many(
            [uids], items, changedsince=changedsince, vanished=vanished, sink=sink, window=1
        )

    async def fetch_many(
        self,
        batches: Iterable[UidsArg],
        items: Sequence[str],
        *,
        changedsince: int | None = None,
        vanished: bool = False,
        sink: SinkFactory | None = None,
        window: int = 4,
    ) -> AsyncIterator[Fetch | Vanished]:
        """Like :meth:`uid_fetch` over several UID sets, with up to ``window`` commands in flight, so
        the server never waits for us between batches. Results come in server order. A NO on one
        batch raises (ObjectError) after the responses received before it."""
        self._abandon_fetch()  # a fetch left half-way by its caller
        wanted = ["UID", *(i for i in items if i.upper() != "UID")]
        tail: list[Arg] = ["(" + " ".join(wanted) + ")"]
        if changedsince is not None:
            tail.append(f"(CHANGEDSINCE {int(changedsince)}{' VANISHED' if vanished else ''})")
        pending = iter(batches)
        inflight: deque[str] = deque()
        self._fetch_inflight = inflight
        self._fetching = True
        self._sink_factory = sink
        try:
            while True:
                while len(inflight) < window:
                    batch = next(pending, None)
                    if batch is None:
                        break
                    words = [uid_set(batch), *tail]
                    inflight.append(await self._send("UID FETCH", words, in_fetch=True))
                if not inflight:
                    return
                await self._step()
                if self._fetch_inflight is not inflight:
                    raise RuntimeError("this fetch was abandoned: another command was sent")
                while self._untagged:
                    response = self._untagged.popleft()
                    if isinstance(response, Fetch):
                        yield self._complete(response, sink)
                    elif isinstance(response, Vanished):
                        yield response
                    else:
                        self.unsolicited.append(response)
                for tag in [t for t in inflight if t in self._done]:
                    inflight.remove(tag)
                    tagged = self._done.pop(tag)
                    if tagged.status != "OK":
                        raise error_for("FETCH", tagged)
        finally:
            if self._fetch_inflight is inflight:
                self._abandon_fetch()

    def _complete(self, fetch: Fetch, sink: SinkFactory | None) -> Fetch:
        """Put collected streamed bodies back in place; hand small bodies to the sink."""
        if not fetch.bodies:
            return fetch
        if sink is not None:
            for section, value in fetch.bodies.items():
                if isinstance(value, bytes):
                    out = sink(BodyStart(fetch.seq, section, len(value), fetch.uid))
                    out.write(value)
                    out.close()
            return fetch
        if any(isinstance(v, Streamed) for v in fetch.bodies.values()):
            bodies = {
                k: self._collected.pop((fetch.seq, k), None) if isinstance(v, Streamed) else v
                for k, v in fetch.bodies.items()
            }
            return dataclasses.replace(fetch, bodies=bodies)
        return fetch
