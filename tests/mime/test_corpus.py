"""The whole SpamAssassin corpus (6,046 real messages) through parse(), and a sample against ``email``."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path

import pytest

from inboxsync.mime import ParsedMessage, extract_part, parse
from tests.support.corpus import EXPECTED_COUNT


@pytest.fixture(scope="module")
def parsed(corpus: list[Path]) -> list[tuple[bytes, ParsedMessage]]:
    out = []
    for path in corpus:
        raw = path.read_bytes()
        out.append((raw, parse(raw)))
    return out


def test_corpus_is_complete(corpus: list[Path]) -> None:
    assert len(corpus) == EXPECTED_COUNT
    assert corpus[0].name == "0000.eml"


def test_no_internal_failure(parsed: list[tuple[bytes, ParsedMessage]]) -> None:
    failures = [
        (message.message_id, error)
        for _, message in parsed
        for error in message.parse_errors
        if error.startswith("internal:")
    ]
    assert failures == []


def _present(message: Message, name: str) -> bool:
    return bool(str(message.get(name, "")).strip())


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.hidden += tag in {"script", "style", "title"}

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in {"script", "style", "title"} and self.hidden > 0

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.text.append(data)


def _has_visible_text(message: Message) -> bool:
    """Independent oracle (stdlib): any inline text/plain or text/html part with visible text."""
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        if part.get_content_subtype() == "html":
            visible = _Visible()
            visible.feed(text)
            text = "".join(visible.text)
        if part.get_content_subtype() in {"plain", "html"} and text.strip(" \t\r\n\xa0"):
            return True
    return False


def test_subject_sender_snippet_where_present(parsed: list[tuple[bytes, ParsedMessage]]) -> None:
    missing = []
    for raw, message in parsed:
        stdlib = email.message_from_bytes(raw, policy=email.policy.compat32)
        if _present(stdlib, "subject") and not message.subject:
            missing.append(("subject", message.message_id))
        sender = str(stdlib.get("from", ""))
        if "@" in sender and not any(a.email for a in message.from_):
            missing.append(("from", sender))
        if not message.snippet and _has_visible_text(stdlib):
            missing.append(("snippet", message.message_id))
    assert missing == []


def test_attachment_sizes_match_decoded_bytes(parsed: list[tuple[bytes, ParsedMessage]]) -> None:
    checked = 0
    for raw, message in parsed:
        for attachment in message.attachments:
            data, content_type = extract_part(raw, attachment.part_id)
            assert content_type == attachment.content_type
            assert len(data) == attachment.size, (message.message_id, attachment)
            checked += 1
    assert checked > 150


def _normal(text: str) -> str:
    return " ".join(text.split())


def _email_key(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if "xn--" in domain:
        domain = domain.encode("ascii").decode("idna")
    return f"{local}@{domain}".lower() if local else domain.lower()


def test_sample_agrees_with_email_package(parsed: list[tuple[bytes, ParsedMessage]]) -> None:
    """Every 10th message: the same decoded subject and addresses, where ``email`` does not fail."""
    compared = disagree = 0
    report: list[object] = []
    for raw, message in parsed[::10]:
        try:
            stdlib = email.message_from_bytes(raw, policy=email.policy.default)
            subject = stdlib["subject"]
            theirs_subject = None if subject is None or subject.defects else _normal(str(subject))
        except Exception:
            theirs_subject = None
        if theirs_subject is not None and "\ufffd" not in theirs_subject:
            compared += 1
            if theirs_subject != _normal(message.subject):
                disagree += 1
                report.append((theirs_subject, message.subject))
        for name, ours in (("from", message.from_), ("to", message.to), ("cc", message.cc)):
            try:
                header = stdlib[name]
                if header is None or header.defects or len(stdlib.get_all(name, [])) > 1:
                    continue  # email reads only the first of repeated headers; we join them
                theirs = [
                    (_normal(a.display_name), _email_key(a.addr_spec)) for a in header.addresses
                ]
            except Exception:
                continue
            if any(not email_ or "\ufffd" in name_ for name_, email_ in theirs):
                continue
            compared += 1
            # Where email has no name we may have one on purpose: from "addr (Comment)" or an
            # encoded word inside a word ("H=?iso-8859-1?b?9g==?=hn"), which email leaves encoded.
            mine = [
                (_normal(a.name) if their_name else "", _email_key(a.email))
                for a, (their_name, _) in zip(ours, theirs, strict=False)
            ]
            if len(ours) != len(theirs):
                mine.append(("count", str(len(ours))))
            theirs = [
                (n if "=?" not in n else m[0], e) for (n, e), m in zip(theirs, mine, strict=False)
            ]
            if theirs != mine:
                disagree += 1
                report.append((theirs, mine))
    assert compared > 1000
    assert report == []
    assert disagree == 0
