"""build(): OutgoingMessage → CRLF bytes that parse() reads back identically."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inboxsync.errors import InvalidRequest
from inboxsync.mime import Address, Header, extract_part, parse
from inboxsync.mime.build import (
    OutgoingAttachment,
    OutgoingMessage,
    build,
    envelope_recipients,
    make_message_id,
)

SENDER = Address("Jörg Müller", "joerg@bücher.example")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def full() -> OutgoingMessage:
    return OutgoingMessage(
        from_=SENDER,
        to=(Address("Doe, John", "john@example.com"),),
        cc=(Address("", "cc@example.com"),),
        bcc=(Address("", "hidden@example.com"),),
        reply_to=(Address("Replies", "replies@example.com"),),
        subject="Grüße – a subject long enough to be folded across more than one line of header",
        html='<p>Hello <b>Jörg</b> <img src="cid:logo"></p>',
        attachments=(
            OutgoingAttachment("logo.png", "image/png", PNG, content_id="logo", inline=True),
            OutgoingAttachment("Résumé.pdf", "application/pdf", b"%PDF-1.4\n" * 50),
        ),
        in_reply_to="parent@example.com",
        references=("<root@example.com>",),
        headers=(Header("X-Mailer", "inboxsync"),),
        date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_round_trip_through_parse() -> None:
    raw = build(full())
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.isascii()
    message = parse(raw)
    assert message.parse_errors == ()
    assert message.subject == full().subject
    assert message.from_ == (SENDER,)
    assert message.to == (Address("Doe, John", "john@example.com"),)
    assert message.cc == (Address("", "cc@example.com"),)
    assert message.bcc == ()
    assert message.reply_to == (Address("Replies", "replies@example.com"),)
    assert message.in_reply_to == "<parent@example.com>"
    assert message.references == ("<root@example.com>", "<parent@example.com>")
    assert message.message_id is not None and message.message_id.endswith("@xn--bcher-kva.example>")
    assert message.date == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert message.header("X-Mailer") == "inboxsync"
    assert "<b>Jörg</b>" in message.body
    logo, pdf = message.attachments
    assert (logo.content_id, logo.is_inline, logo.filename) == ("logo", True, "logo.png")
    assert (pdf.filename, pdf.is_inline) == ("Résumé.pdf", False)
    assert extract_part(raw, logo.part_id) == (PNG, "image/png")
    assert extract_part(raw, pdf.part_id)[0] == b"%PDF-1.4\n" * 50


def test_text_only_and_bcc_kept_for_sent_copy() -> None:
    message = OutgoingMessage(
        from_=Address("", "a@example.com"), bcc=(Address("", "b@example.com"),), text="hi"
    )
    raw = build(message, include_bcc=True)
    parsed = parse(raw)
    assert parsed.bcc == (Address("", "b@example.com"),)
    assert parsed.text.strip() == "hi"
    assert b"multipart" not in raw


def test_generated_message_ids_are_unique() -> None:
    assert make_message_id("example.com") != make_message_id("example.com")
    assert make_message_id("bücher.example").endswith("@xn--bcher-kva.example>")


def test_envelope_recipients() -> None:
    message = full()
    assert envelope_recipients(message) == [
        "john@example.com",
        "cc@example.com",
        "hidden@example.com",
    ]


@pytest.mark.parametrize(
    "message",
    [
        OutgoingMessage(from_=SENDER),
        OutgoingMessage(from_=Address("", "not-an-address"), text="x"),
        OutgoingMessage(from_=SENDER, subject="a\r\nBcc: evil@example.com", text="x"),
        OutgoingMessage(from_=SENDER, headers=(Header("From", "x@y.z"),), text="x"),
        OutgoingMessage(from_=SENDER, headers=(Header("X-A", "1\nX-B: 2"),), text="x"),
    ],
)
def test_invalid_requests(message: OutgoingMessage) -> None:
    with pytest.raises(InvalidRequest):
        build(message)
