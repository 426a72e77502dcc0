"""Property tests: random bytes and mutated real messages never raise, stay fast, keep the raw bytes."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inboxsync.mime import ParsedMessage, extract_part, parse
from tests.mime.work import CallCounter

DATA = Path(__file__).resolve().parents[1] / "data" / "mime"
SEEDS = [path.read_bytes() for path in sorted(DATA.glob("*.eml"))]
LABELS = [
    b"unknown-8bit",
    b"x-user-defined",
    b"ks_c_5601-1987",
    b"gb2312",
    b"iso-8859-1",
    b"utf-16",
    b"base64",
    b"rot13",
    b"",
    b'"',
    b"utf-8*en",
    b"\xff\xfe",
]
PROFILE = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# Bounded time, counted in calls (the same on a loaded machine): a typical message takes a few
# thousand; the budget leaves room for the largest corpus message mutated.
WORK_BUDGET = 2_000_000


def check(raw: bytes) -> ParsedMessage:
    with CallCounter() as work:
        message = parse(raw)
    assert work.calls < WORK_BUDGET, f"{work.calls} calls"
    assert message.raw == raw
    assert message.size == len(raw)
    assert message.date.tzinfo is not None
    assert not any(error.startswith("internal:") for error in message.parse_errors), (
        message.parse_errors
    )
    for attachment in message.attachments:
        data, _ = extract_part(raw, attachment.part_id)
        assert attachment.size >= 0 and isinstance(data, bytes)
    return message


@PROFILE
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@PROFILE
@given(
    st.lists(
        st.sampled_from([b"\r\n", b"\n", b":", b" ", b"--b", b"=?", b"?=", b"<", b">"]),
        max_size=200,
    )
)
def test_random_syntax_soup(pieces: list[bytes]) -> None:
    check(b"Content-Type: multipart/mixed; boundary=b\r\n" + b"".join(pieces))


@PROFILE
@given(st.sampled_from(SEEDS), st.data())
def test_truncated_real_messages(seed: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(seed)))
    check(seed[:cut])


@PROFILE
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=20),
)
def test_flipped_bytes(seed: bytes, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(seed)
    for position, value in flips:
        raw[position % len(raw)] = value
    check(bytes(raw))


@PROFILE
@given(st.sampled_from(SEEDS), st.sampled_from(LABELS))
def test_wrong_charset_labels(seed: bytes, label: bytes) -> None:
    raw = re.sub(rb"(?i)(charset=)\"?[\w.:-]+\"?", rb"\g<1>" + label, seed)
    raw = re.sub(rb"=\?[\w.:-]+\?", b"=?" + label + b"?", raw)
    check(raw)


@PROFILE
@given(st.sampled_from(SEEDS), st.integers(min_value=0), st.binary(min_size=1, max_size=64))
def test_inserted_garbage(seed: bytes, position: int, garbage: bytes) -> None:
    position %= len(seed) + 1
    check(seed[:position] + garbage + seed[position:])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    index=st.integers(min_value=0),
    cut=st.floats(min_value=0.0, max_value=1.0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=10),
    label=st.sampled_from(LABELS),
)
def test_mutated_corpus_messages(
    corpus: list[Path], index: int, cut: float, flips: list[tuple[int, int]], label: bytes
) -> None:
    raw = bytearray(corpus[index % len(corpus)].read_bytes())
    del raw[max(1, int(len(raw) * cut)) :]
    for position, value in flips:
        raw[position % len(raw)] = value
    check(re.sub(rb"(?i)(charset=)\"?[\w.:-]+\"?", rb"\g<1>" + label, bytes(raw)))
