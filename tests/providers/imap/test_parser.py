from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxsync.errors import ProtocolError
from inboxsync.providers.imap.parser import NEED_DATA, ResponseParser
from inboxsync.providers.imap.responses import (
    AppendUid,
    BodyChunk,
    BodyStart,
    Capability,
    Code,
    Continuation,
    CopyUid,
    Enabled,
    ESearch,
    Event,
    Exists,
    Expunge,
    Fetch,
    Flags,
    HighestModseq,
    ListEntry,
    MailboxStatus,
    Modified,
    Other,
    PermanentFlags,
    Recent,
    Search,
    Streamed,
    Tagged,
    UidValidity,
    UntaggedStatus,
    Vanished,
)
from inboxsync.providers.imap.uidset import UidSet
from tests.providers.imap.transcripts import load


def parse(data: bytes, *, chunk: int = 0, threshold: int = 1 << 20) -> list[Event]:
    parser = ResponseParser(stream_threshold=threshold)
    events: list[Event] = []
    pieces = [data] if chunk <= 0 else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        parser.receive_data(piece)
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    assert parser.idle
    return events


def one(line: bytes) -> Event:
    (event,) = parse(line)
    return event


@pytest.mark.parametrize("name", ["courier.txt", "gmail.txt", "quirks.txt"])
@pytest.mark.parametrize("chunk", [0, 1, 7, 4096])
def test_transcripts_parse_the_same_in_any_chunking(name: str, chunk: int) -> None:
    _, server = load(name)
    assert parse(server, chunk=chunk) == parse(server)


def test_courier_session() -> None:
    events = parse(load("courier.txt")[1])
    greeting = events[0]
    assert isinstance(greeting, UntaggedStatus) and greeting.status == "OK"
    assert isinstance(greeting.code, Capability) and "IDLE" in greeting.code.capabilities
    lists = [e for e in events if isinstance(e, ListEntry)]
    assert [e.name for e in lists] == [
        "INBOX",
        "INBOX.Sent",
        "INBOX.Entwürfe",
        "INBOX.Apple Mail To Do",
    ]
    assert lists[2].raw_name == "INBOX.Entw&APw-rfe" and lists[2].delimiter == "."
    codes = [e.code for e in events if isinstance(e, UntaggedStatus)]
    assert (
        PermanentFlags(("\\*", "\\Draft", "\\Answered", "\\Flagged", "\\Deleted", "\\Seen"))
        in codes
    )
    assert UidValidity(1384939580) in codes
    assert Code("MYRIGHTS", '"acdilrsw"') in codes
    fetches = [e for e in events if isinstance(e, Fetch)]
    assert fetches[0].uid == 7 and fetches[0].flags == ("\\Seen",)
    assert fetches[0].body == b"Subject: one\r\n\r\nbody one\r\n"
    assert fetches[1].uid == 9 and fetches[1].flags == ("\\Seen", "\\Recent")  # UID after BODY[]
    assert Search(()) in events
    assert fetches[2] == Fetch(1, flags=("\\Answered", "\\Seen"))
    assert Continuation(b"entering idle mode") in events
    assert Exists(4) in events
    assert UntaggedStatus("BYE", None, "Courier-IMAP server shutting down") in events
    assert events[-1] == Tagged("a8", "OK", None, "LOGOUT completed")


def test_gmail_session() -> None:
    events = parse(load("gmail.txt")[1])
    caps = events[1]
    assert isinstance(caps, Capability) and "X-GM-EXT-1" in caps.capabilities
    cont = next(e for e in events if isinstance(e, Continuation))
    assert cont.text.startswith(b"eyJzdGF0dXMiOiI0MDAi")
    assert (
        Tagged("a2", "NO", Code("AUTHENTICATIONFAILED"), "Invalid credentials (Failure)") in events
    )
    lists = {e.name: e for e in events if isinstance(e, ListEntry)}
    assert lists["[Gmail]/Sent Mail"].special_use == "\\Sent"
    assert not lists["[Gmail]"].selectable
    assert "Été" in lists
    f1, f2, f3 = (e for e in events if isinstance(e, Fetch))
    assert f1.uid == 3000 and f1.gm_msgid == 1382927258807439521 == f1.gm_thrid
    assert f1.gm_labels == ("\\Important", "\\Inbox", "[Mailbox]", "+IMNews", "(foobar)", "Été")
    assert f1.body == b"Subject: hi\r\n\r\nx\r\n"
    assert f2.gm_labels == () and f2.uid == 3001 and f2.flags == ()
    assert f3.gm_labels == ("\\Sent", "CustomLabel")
    assert f3.bodies == {"BODY[1.1.TEXT]": None} and f3.modseq == 8133044
    assert UntaggedStatus("OK", Code("UNAVAILABLE"), "Temporary System Error") in events
    assert events[-1] == UntaggedStatus("BYE", Code("UNAVAILABLE"), "Temporary System Error")
    assert any(isinstance(e, Tagged) and e.code == Code("READ-ONLY") for e in events)


def test_quirks() -> None:
    events = parse(load("quirks.txt")[1])
    it = iter(events)
    assert next(it) == Fetch(11487, uid=19436)
    assert next(it) == Search((169654, 169655))
    assert next(it) == MailboxStatus("INBOX", messages=0)
    assert next(it) == Capability(frozenset({"IMAP4REV1"}))
    assert next(it) == ListEntry(("\\NoInferiors",), None, "INBOX", "INBOX")
    assert next(it) == ListEntry(("\\HasChildren", "\\"), ".", "Archive", "Archive")
    domino = next(it)
    assert isinstance(domino, Fetch) and domino.uid == 14935
    assert set(domino.extra) == {"ENVELOPE", "BODYSTRUCTURE"}
    assert next(it) == Fetch(126015, uid=585599, bodies={"BODY[1.2]": b"", "BODY[1.1]": b""})
    lower = next(it)
    assert isinstance(lower, Fetch)
    assert (lower.seq, lower.uid, lower.flags, lower.rfc822_size) == (5, 12, ("\\seen",), 44)
    assert lower.internaldate == datetime(2024, 1, 1, tzinfo=UTC)
    assert lower.bodies == {"BODY[HEADER.FIELDS (SUBJECT)]": None}
    assert next(it) == ListEntry((), "/", 'café "quoted"', 'café "quoted"')
    assert next(it) == Fetch(6, uid=13, bodies={"BODY[TEXT]": b"hello"})
    assert next(it) == Fetch(7, uid=14, flags=("\\Seen", "$Forwarded]", "Junk"))
    assert next(it) == Expunge(8)
    assert next(it) == Enabled(frozenset({"QRESYNC"}))
    assert next(it) == Vanished(UidSet.parse("405,407,410:412"), earlier=False)
    assert next(it) == Fetch(9, uid=15, modseq=65402, flags=("\\Seen",))
    assert next(it) == ESearch("a9", True, 1, 9, 3, UidSet.parse("1,4:5,9"))
    namespace = next(it)
    assert isinstance(namespace, Other) and namespace.name == "NAMESPACE"
    assert namespace.values == [[[b"", b"/"]], None, None]
    assert next(it) == UntaggedStatus("OK", HighestModseq(715194045007), "")
    assert next(it) == UntaggedStatus(
        "OK", Code("NOMODSEQ"), "Sorry, this mailbox format doesn't support modsequences"
    )
    copy = next(it)
    assert isinstance(copy, UntaggedStatus) and isinstance(copy.code, CopyUid)
    assert copy.code.mapping() == {304: 3956, 319: 3957, 320: 3958}
    assert next(it) == Tagged("a9", "NO", Modified(UidSet.parse("7,9")), "Conditional STORE failed")
    assert next(it) == Tagged("a10", "OK", None, "")
    assert next(it) == Tagged("a11", "BAD", None, "Error in IMAP command: Unknown command")
    assert next(it, None) is None


def test_simple_untagged() -> None:
    assert one(b"* 23 EXISTS\r\n") == Exists(23)
    assert one(b"* 1 RECENT\r\n") == Recent(1)
    assert one(b"* FLAGS (\\Answered \\Seen $Junk)\r\n") == Flags(("\\Answered", "\\Seen", "$Junk"))
    assert one(b"* VANISHED (EARLIER) 1:5\r\n") == Vanished(UidSet.parse("1:5"), True)
    assert one(b"* SEARCH 2 84 (MODSEQ 917162500)\r\n") == Search((2, 84), 917162500)
    assert one(b"+\r\n") == Continuation(b"")
    assert one(b"+ \r\n") == Continuation(b"")
    assert one(b"A1 OK [APPENDUID 38505 3955] APPEND completed\r\n") == Tagged(
        "A1", "OK", AppendUid(38505, UidSet.of([3955])), "APPEND completed"
    )
    assert one(b"* PREAUTH IMAP4rev1 server logged in\r\n") == UntaggedStatus(
        "PREAUTH", None, "IMAP4rev1 server logged in"
    )


def test_lf_only_line_ends_and_trailing_spaces_after_literal() -> None:
    events = parse(b"* 1 FETCH (UID 3 BODY[] {2} \r\nhi)\n* 2 EXISTS\n")
    assert events == [Fetch(1, uid=3, bodies={"BODY[]": b"hi"}), Exists(2)]


def test_status_text_is_never_tokenised() -> None:
    # Unbalanced quotes and parentheses, and a brace at the end, are free text in a status response.
    assert one(b'* OK "unbalanced ( text {5}\r\n') == UntaggedStatus(
        "OK", None, '"unbalanced ( text {5}'
    )


def test_body_streams_in_chunks_above_threshold() -> None:
    body = bytes(range(256)) * 400  # 102,400 bytes
    data = b"* 3 FETCH (UID 42 FLAGS (\\Seen) BODY[] {%d}\r\n%s)\r\nA1 OK done\r\n" % (
        len(body),
        body,
    )
    parser = ResponseParser(stream_threshold=1000)
    events: list[Event] = []
    high_water = 0
    for i in range(0, len(data), 8192):
        parser.receive_data(data[i : i + 8192])
        high_water = max(high_water, parser.buffered)
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
    assert high_water <= 8192  # never the whole body
    assert events[0] == BodyStart(3, "BODY[]", len(body), 42)
    chunks = [e for e in events if isinstance(e, BodyChunk)]
    assert b"".join(c.data for c in chunks) == body
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len(chunks) > 10
    fetch = events[-2]
    assert isinstance(fetch, Fetch)
    assert fetch.uid == 42 and fetch.flags == ("\\Seen",) and fetch.body == Streamed(len(body))
    assert events[-1] == Tagged("A1", "OK", None, "done")


def test_streamed_body_with_uid_after_it() -> None:
    events = parse(b"* 3 FETCH (BODY[] {10}\r\n0123456789 UID 8)\r\n", threshold=5)
    assert events[0] == BodyStart(3, "BODY[]", 10, None)
    assert events[-1] == Fetch(3, uid=8, bodies={"BODY[]": Streamed(10)})


def test_small_literal_elsewhere_is_not_streamed() -> None:
    events = parse(b'* LIST () "/" {10}\r\nabcdefghij\r\n', threshold=5)
    assert events == [ListEntry((), "/", "abcdefghij", "abcdefghij")]


@pytest.mark.parametrize(
    "line",
    [b"garbage\r\n", b"* 1 FETCH (UID \x01)\r\n", b'* 1 FETCH (UID "1)\r\n', b"A1 BYE no\r\n"],
)
def test_unparseable_raises_and_parser_recovers(line: bytes) -> None:
    parser = ResponseParser()
    parser.receive_data(line + b"* 5 EXISTS\r\n")
    with pytest.raises(ProtocolError):
        parser.next_event()
    assert parser.next_event() == Exists(5)


def test_line_too_long() -> None:
    parser = ResponseParser(max_buffered=100)
    parser.receive_data(b"* SEARCH " + b"1 " * 100)
    with pytest.raises(ProtocolError):
        parser.next_event()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=30))
def test_random_chunking_with_streaming(cuts: list[int]) -> None:
    _, server = load("gmail.txt")
    server += b"* 9 FETCH (UID 1 BODY[] {600}\r\n" + b"x" * 600 + b")\r\n"
    expected = parse(server, threshold=100)
    parser = ResponseParser(stream_threshold=100)
    events: list[Event] = []
    pos = 0
    for cut in cuts * 20:
        parser.receive_data(server[pos : pos + cut])
        pos += cut
        while (event := parser.next_event()) is not NEED_DATA:
            events.append(event)
        if pos >= len(server):
            break
    parser.receive_data(server[pos:])
    while (event := parser.next_event()) is not NEED_DATA:
        events.append(event)
    merged = _merge_chunks(events)
    assert merged == _merge_chunks(expected)


def _merge_chunks(events: list[Event]) -> list[object]:
    out: list[object] = []
    for e in events:
        if isinstance(e, BodyChunk) and out and isinstance(out[-1], bytes):
            out[-1] += e.data
        elif isinstance(e, BodyChunk):
            out.append(e.data)
        else:
            out.append(e)
    return out
