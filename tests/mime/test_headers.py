"""Header splitting, RFC 2047 words and RFC 2231 parameters."""

from __future__ import annotations

from inboxsync.mime.headers import decode_words, parse_content_type, parse_params, split_headers


def test_encoded_words() -> None:
    assert decode_words("=?utf-8?q?a_b?= =?utf-8?q?c?=") == "a bc"
    assert decode_words("x =?utf-8?b?w6Q=?= y") == "x ä y"
    assert decode_words("=?utf-8?b?w6Q?=") == "ä"  # missing padding
    assert decode_words("=?UTF-8?B?5pel?= =?UTF-8?B?5pys?=") == "日本"
    assert (
        decode_words("=?utf-8?q?=E6=97?= =?utf-8?q?=A5?=") == "日"
    )  # a character split across words
    assert decode_words("=?bogus-charset?q?abc?=") == "abc"
    assert decode_words("no words") == "no words"
    assert decode_words("=?utf-8?x?bad?=") == "=?utf-8?x?bad?="


def test_rfc2231_parameters() -> None:
    main, params = parse_params(
        'attachment; filename*0*=iso-8859-1\'fr\'caf%E9; filename*1=".txt"; size="3"'
    )
    assert main == "attachment"
    assert params == {"filename": "café.txt", "size": "3"}
    assert parse_params('text/plain; name="a;b.txt"')[1] == {"name": "a;b.txt"}


def test_content_type_defaults() -> None:
    assert parse_content_type(None) == ("text/plain", {}, True)
    assert parse_content_type("text")[0] == "text/plain"
    assert parse_content_type("TEXT/HTML; charset=UTF-8")[:2] == ("text/html", {"charset": "UTF-8"})
    assert parse_content_type("text/plain charset=utf-8")[1] == {"charset": "utf-8"}


def test_split_headers_lf_and_crlf() -> None:
    for raw in (b"A: 1\r\nB: 2\r\n x\r\n\r\nbody", b"A: 1\nB: 2\n x\n\nbody"):
        errors: list[str] = []
        block = split_headers(raw, 0, len(raw), errors)
        assert block.fields == [("A", "1"), ("B", "2 x")]
        assert raw[block.body_start :] == b"body"
        assert errors == []


def test_no_headers() -> None:
    raw = b"\r\nbody only"
    block = split_headers(raw, 0, len(raw), [])
    assert block.fields == [] and raw[block.body_start :] == b"body only"
