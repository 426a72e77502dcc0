"""Sans-IO IMAP response parser, in the manner of h11.

    parser = ResponseParser()
    parser.receive_data(chunk)
    while (event := parser.next_event()) is not NEED_DATA:
        ...

Bytes accumulate in one ``bytearray`` read from an offset (compacted when half consumed), so a response
is copied once from the buffer and lines are found with ``bytearray.find``. A ``BODY[...]``, ``BINARY[...]``
or ``RFC822`` literal of at least ``stream_threshold`` bytes in a FETCH response is not buffered: it goes out
as :class:`BodyStart` + :class:`BodyChunk` events as the bytes arrive, and the final :class:`Fetch` holds
:class:`Streamed` in its place. Smaller literals are returned inside the response as ``bytes``.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Literal

from inboxsync.errors import ProtocolError
from inboxsync.providers.imap.build import build_response
from inboxsync.providers.imap.responses import (
    NEED_DATA,
    BodyChunk,
    BodyStart,
    Event,
    NeedData,
    Streamed,
)

__all__ = ["NEED_DATA", "ResponseParser"]

_LITERAL_TAIL = re.compile(rb"\{(\d+)\+?\} *\Z")
_STATUS_HEAD = re.compile(rb"[^ ]+ +(?:OK|NO|BAD|BYE|PREAUTH)(?![^ \[])", re.I)
_FETCH_HEAD = re.compile(rb"\* +(\d+) +FETCH\b", re.I)
_BODY_TAIL = re.compile(
    rb"((?:BODY|BINARY)\[[^\]]*\](?:<\d+>)?|RFC822(?:\.HEADER|\.TEXT)?) *\{\d+\+?\} *\Z", re.I
)
_UID_ITEM = re.compile(rb"[ (]UID +(\d+)", re.I)

_LINE, _LITERAL, _STREAM = 0, 1, 2
_COMPACT_AT = 1 << 16


class ResponseParser:
    """Feed it bytes with :meth:`receive_data`; take events with :meth:`next_event`.

    ``max_buffered`` bounds a single line or a buffered (non-streamed) literal; more raises
    :class:`ProtocolError` rather than eating memory.
    """

    def __init__(
        self, *, stream_threshold: int = 128 * 1024, max_buffered: int = 256 * 1024 * 1024
    ) -> None:
        self.stream_threshold = stream_threshold
        self.max_buffered = max_buffered
        self.utf8_names = False  # set after ENABLE UTF8=ACCEPT: names are UTF-8, not mUTF-7
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed bytes
        self._scan = 0  # where to resume looking for LF
        self._state = _LINE
        self._need = 0  # bytes still wanted by the current literal
        self._parts: list[bytes | Streamed] = []
        self._stream_seq = 0
        self._events: deque[Event] = deque()

    # -- input ------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            return
        buf = self._buf
        if self._pos == len(buf):
            if buf:
                buf.clear()
                self._pos = self._scan = 0
            if self._state == _STREAM:
                # Fast path: a streamed body arriving into an empty buffer goes out without a copy.
                n = min(len(data), self._need)
                self._emit_chunk(data[:n] if n < len(data) else data)
                data = data[n:]
                if not data:
                    return
        elif self._pos >= _COMPACT_AT and self._pos * 2 >= len(buf):
            del buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events (for flow control and tests)."""
        return len(self._buf) - self._pos

    @property
    def idle(self) -> bool:
        """True between responses: nothing half-parsed (e.g. before STARTTLS or COMPRESS)."""
        return self._state == _LINE and not self._parts and self.buffered == 0 and not self._events

    # -- output -----------------------------------------------------------------------------------

    def next_event(self) -> Event | Literal[NeedData.NEED_DATA]:
        while True:
            if self._events:
                return self._events.popleft()
            state = self._state
            if state == _STREAM:
                avail = len(self._buf) - self._pos
                if not avail:
                    return NEED_DATA
                n = min(avail, self._need)
                chunk = bytes(self._buf[self._pos : self._pos + n])
                self._pos += n
                self._scan = self._pos
                self._emit_chunk(chunk)
            elif state == _LITERAL:
                end = self._pos + self._need
                if len(self._buf) < end:
                    return NEED_DATA
                self._parts.append(bytes(self._buf[self._pos : end]))
                self._pos = self._scan = end
                self._state = _LINE
            else:
                event = self._line()
                if event is not None:
                    return event

    def _emit_chunk(self, chunk: bytes) -> None:
        self._need -= len(chunk)
        last = self._need == 0
        self._events.append(BodyChunk(self._stream_seq, chunk, last))
        if last:
            self._state = _LINE

    def _line(self) -> Event | Literal[NeedData.NEED_DATA] | None:
        """Consume one line if complete; return an event, NEED_DATA, or None to keep going."""
        buf = self._buf
        nl = buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(buf)
            if len(buf) - self._pos > self.max_buffered:
                raise ProtocolError(f"response line longer than {self.max_buffered} bytes")
            return NEED_DATA
        end = nl - 1 if nl > self._pos and buf[nl - 1] == 13 else nl
        segment = bytes(buf[self._pos : end])
        self._pos = self._scan = nl + 1
        parts = self._parts
        parts.append(segment)
        if segment[-1:] in (b"}", b" "):
            m = _LITERAL_TAIL.search(segment, max(0, len(segment) - 30))
            if m is not None and not self._is_text_line(parts[0]):
                size = int(m.group(1))
                if size >= self.stream_threshold and self._start_stream(segment, size):
                    return None
                if size > self.max_buffered:
                    raise ProtocolError(f"literal of {size} bytes is more than max_buffered")
                self._state = _LITERAL
                self._need = size
                return None
        self._parts = []
        return build_response(parts, self.utf8_names)

    @staticmethod
    def _is_text_line(first: bytes | Streamed) -> bool:
        """Continuations and status responses carry text, never literals."""
        assert isinstance(first, bytes)
        return first[:1] == b"+" or _STATUS_HEAD.match(first) is not None

    def _start_stream(self, segment: bytes, size: int) -> bool:
        first = self._parts[0]
        assert isinstance(first, bytes)
        head = _FETCH_HEAD.match(first)
        if head is None:
            return False
        body = _BODY_TAIL.search(segment, max(0, len(segment) - 400))
        if body is None:
            return False
        uid = None
        for part in self._parts:
            if isinstance(part, bytes):
                m = _UID_ITEM.search(part)
                if m is not None:
                    uid = int(m.group(1))
        self._stream_seq = int(head.group(1))
        self._events.append(BodyStart(self._stream_seq, body.group(1).upper().decode(), size, uid))
        self._parts.append(Streamed(size))
        self._state = _STREAM
        self._need = size
        if size == 0:  # pragma: no cover - a zero threshold is the only way here
            self._events.append(BodyChunk(self._stream_seq, b"", True))
            self._state = _LINE
        return True
