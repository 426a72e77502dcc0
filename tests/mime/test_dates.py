"""Dates and message ids."""

from __future__ import annotations

from datetime import UTC, datetime

from inboxsync.mime.dates import first_id, message_ids, parse_date, received_date


def test_dates() -> None:
    assert parse_date("Thu, 22 Aug 2002 12:36:23 +0100") == datetime(
        2002, 8, 22, 11, 36, 23, tzinfo=UTC
    )
    assert parse_date("22 Aug 02 12:36 EDT") == datetime(2002, 8, 22, 16, 36, tzinfo=UTC)
    assert parse_date("Thu, 22 Aug 2002 12:36:23 -0000 (GMT)") == datetime(
        2002, 8, 22, 12, 36, 23, tzinfo=UTC
    )
    assert parse_date("2002/09/14 Sat 02:03:04 +0900") == datetime(
        2002, 9, 13, 17, 3, 4, tzinfo=UTC
    )
    assert parse_date("2002-08-22T12:36:23Z") == datetime(2002, 8, 22, 12, 36, 23, tzinfo=UTC)
    assert parse_date("Mon, 31 Feb 2002 10:00:00 +0000") is None
    assert parse_date("garbage") is None
    assert parse_date(None) is None


def test_received() -> None:
    values = ["from x by y; garbage", "from a by b; Fri, 23 Aug 2002 10:00:00 +0000"]
    assert received_date(values) == datetime(2002, 8, 23, 10, tzinfo=UTC)


def test_ids() -> None:
    assert message_ids("<a@b> <c@d>\r\n <a@b>") == ("<a@b>", "<c@d>")
    assert message_ids("a@b c@d") == ("<a@b>", "<c@d>")
    assert message_ids("<a @b>") == ("<a@b>",)
    assert first_id("Your message of Tue <x@y>") == "<x@y>"
    assert first_id("") is None
