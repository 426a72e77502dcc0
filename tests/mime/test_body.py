"""HTML to text, text to HTML, snippet."""

from __future__ import annotations

from inboxsync.mime.body import html_to_text, snippet, text_to_html


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><p>Hi&nbsp;<b>there</b></p>"
        "<script>x()</script><!-- hidden --><div>second</div></body></html>"
    )
    assert html_to_text(html) == "Hi there\n\nsecond"
    assert html_to_text("a <!-- unclosed comment b") == "a unclosed comment b"
    assert html_to_text("a <script> never closed") == "a"


def test_text_to_html_escapes() -> None:
    assert text_to_html("a < b & c") == '<div style="white-space: pre-wrap">a &lt; b &amp; c</div>'


def test_snippet() -> None:
    assert snippet("  a \n\n b  ") == "a b"
    long = "word " * 100
    assert len(snippet(long)) <= 200 and snippet(long).endswith("word")
    assert snippet("\n" * 5000 + "late text") == "late text"


def test_format_flowed() -> None:
    from inboxsync.mime import parse
    from inboxsync.mime.body import unflow

    assert unflow("Hello this is \nflowed.\n> quoted \n> more\n\n-- \nsig", False) == (
        "Hello this is flowed.\n> quoted more\n\n-- \nsig"
    )
    assert unflow("ab \ncd", True) == "abcd"
    raw = b"Content-Type: text/plain; format=flowed\r\n\r\nsoft \r\nwrapped\r\n"
    assert parse(raw).text == "soft wrapped\n"
