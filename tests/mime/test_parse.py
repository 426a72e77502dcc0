"""parse() on the hand-made fixtures in tests/data/mime/: one file per case of the issue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxsync.mime import Address, ParsedMessage, extract_part, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "mime"
INTERNAL = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)


def load(name: str) -> ParsedMessage:
    return parse((DATA / name).read_bytes(), internal_date=INTERNAL)


def test_subject_rfc2047_folded_and_split_multibyte() -> None:
    message = load("subject_rfc2047.eml")
    assert message.subject == "日本語の件名 and café crème"
    assert message.parse_errors == ()


def test_addresses_names_groups_comments_quoted_idn_garbage() -> None:
    message = load("addresses.eml")
    assert message.from_ == (Address("Jörg Müller", "Joerg@bücher.example"),)
    assert message.to == (
        Address("Doe, John", "john@example.com"),
        Address("Jane Roe", "jane@example.org"),
        Address("", "ann@example.net"),
        Address("Bob B.", "bob@example.net"),
    )
    assert message.cc == (
        Address("", '"john doe"@example.com'),
        Address("", "route@example.com"),
        Address("Just A Name", ""),
        Address("François", "francois@example.fr"),
    )
    assert message.bcc == (Address("", "hidden@example.com"),)
    assert message.reply_to == (Address("Replies", "replies@example.com"),)
    assert message.sender == (Address("", "list-owner@example.com"),)
    assert any(error.startswith("address:") for error in message.parse_errors)


def test_obsolete_date_form() -> None:
    message = load("date_obsolete.eml")
    assert message.date == datetime(2002, 8, 22, 16, 36, tzinfo=UTC)
    assert message.date_from_header


def test_missing_date_falls_back_to_internal_date_then_received() -> None:
    message = load("date_missing.eml")
    assert message.date == INTERNAL
    assert not message.date_from_header
    assert "date: missing" in message.parse_errors
    alone = parse((DATA / "date_missing.eml").read_bytes())
    assert alone.date == datetime(2002, 8, 23, 10, 0, tzinfo=UTC)
    assert parse(b"Subject: x\r\n\r\n").date == datetime(1970, 1, 1, tzinfo=UTC)


def test_naive_internal_date_is_taken_as_utc() -> None:
    message = parse(b"Subject: x\r\n\r\nbody", internal_date=datetime(2021, 5, 6, 7, 8, 9))
    assert message.date == datetime(2021, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_message_ids_normalised() -> None:
    message = load("message_ids.eml")
    assert message.message_id == "<no-brackets@example.com>"
    assert message.in_reply_to == "<parent@example.com>"
    assert message.references == (
        "<root@example.com>",
        "<mid@example.com>",
        "<parent@example.com>",
    )


def test_headers_kept_in_order_unfolded() -> None:
    message = load("message_ids.eml")
    names = [header.name for header in message.headers]
    assert names == ["From", "Subject", "Date", "Message-ID", "In-Reply-To", "References"]
    assert message.header("references") == (
        "<root@example.com> <mid@example.com>   <root@example.com>\t<parent@example.com>"
    )


def test_alternative_prefers_html_and_keeps_related_parts() -> None:
    message = load("alternative_related.eml")
    assert "<b>HTML</b> – news" in message.body
    assert message.snippet == "Hello HTML – news"
    assert "Hidden title" not in message.text
    assert "alert" not in message.text
    logo, report = message.attachments
    assert (logo.part_id, logo.content_id, logo.is_inline) == ("1.2.2", "logo@example", True)
    assert (report.part_id, report.filename, report.is_inline) == ("2", "report.pdf", False)
    assert report.disposition == "attachment"
    assert message.has_attachments
    raw = (DATA / "alternative_related.eml").read_bytes()
    data, content_type = extract_part(raw, logo.part_id)
    assert content_type == "image/png"
    assert data.startswith(b"\x89PNG") and len(data) == logo.size
    data, content_type = extract_part(raw, report.part_id)
    assert content_type == "application/pdf" and len(data) == report.size == 1009


def test_text_only_becomes_minimal_html() -> None:
    message = load("text_only.eml")
    assert message.body.startswith("<div")
    assert "Hello &lt;world&gt; &amp; friends," in message.body
    assert "\r" not in message.body
    assert message.snippet == "Hello <world> & friends, this is plain text."
    assert message.text.startswith("Hello <world> & friends,\n\nthis   is")


def test_attachment_filenames_rfc2231_rfc2047_name() -> None:
    message = load("attachment_names.eml")
    names = [(a.part_id, a.filename, a.size, a.is_inline) for a in message.attachments]
    assert names == [
        ("2", "日本語.txt", 11, False),
        ("3", "äöü.xls", 3, False),
        ("4", "pic.gif", 14, True),
    ]
    raw = (DATA / "attachment_names.eml").read_bytes()
    assert extract_part(raw, "2") == (b"hello world", "application/octet-stream")
    assert extract_part(raw, "3") == (b"a=b", "application/vnd.ms-excel")


def test_calendar_invitation_flagged() -> None:
    message = load("calendar.eml")
    assert message.has_calendar
    (invite,) = message.attachments
    assert invite.is_calendar and invite.content_type == "text/calendar"
    assert "<i>invited</i>" in message.body
    assert b"METHOD:REQUEST" in extract_part((DATA / "calendar.eml").read_bytes(), "3")[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("charset_unknown_8bit.eml", "Grüße aus Köln, schöne Straße."),
        (
            "charset_x_user_defined.eml",
            "Voilà le café à côté de l’hôtel, très élégant et déjà célèbre.",
        ),
        ("charset_ks_c_5601.eml", "안녕하세요, 반갑습니다. 똠방각하."),
        ("charset_gb2312_gbk.eml", "镕基说：中文邮件。"),
        ("charset_latin1_cp1252.eml", "He said “bonjour” – it costs 5€."),
        ("charset_lying_utf8.eml", "Déjà vu à Genève, près du théâtre, naïve façade."),
    ],
)
def test_unknown_and_lying_charsets(name: str, expected: str) -> None:
    message = load(name)
    assert message.text.strip() == expected
    assert message.snippet == expected


def test_ks_c_5601_subject() -> None:
    assert load("charset_ks_c_5601.eml").subject == "안녕하세요"


def test_8bit_header_bytes() -> None:
    message = load("headers_8bit.eml")
    assert message.subject == "Grüße"
    assert message.from_ == (Address("Jörg", "joerg@example.com"),)
    assert message.to == (Address("François", "francois@example.com"),)


def test_mixed_encodings_in_one_message() -> None:
    message = load("mixed_encodings.eml")
    assert message.text == "Привет, мир.\n\nZażółć gęślą jaźń.\n\n日本語 soft break."
    assert message.attachments == ()


def test_broken_multipart_kept_best_effort() -> None:
    message = load("broken_multipart.eml")
    assert "last part, no closing delimiter" in message.text
    assert "no boundary on this one" in message.text
    assert any("no closing boundary" in error for error in message.parse_errors)
    assert any("no boundary" in error for error in message.parse_errors)


def test_garbage_headers() -> None:
    message = load("garbage_headers.eml")
    assert message.subject == "garbage"
    assert message.from_ == (Address("", "a@example.com"),)
    assert message.date == INTERNAL and not message.date_from_header
    assert "visible body" in message.text
    assert len(message.parse_errors) == 3


def test_raw_bytes_kept_and_size() -> None:
    raw = (DATA / "addresses.eml").read_bytes()
    message = parse(raw)
    assert message.raw is raw
    assert message.size == len(raw)


def test_every_fixture_parses() -> None:
    for path in sorted(DATA.glob("*.eml")):
        message = parse(path.read_bytes())
        assert message.subject, path.name
        assert message.from_, path.name
        assert message.snippet, path.name


def test_extract_part_unknown_id() -> None:
    from inboxsync.errors import NotFound

    with pytest.raises(NotFound):
        extract_part((DATA / "text_only.eml").read_bytes(), "7")
    assert extract_part((DATA / "text_only.eml").read_bytes(), "1")[1] == "text/plain"
