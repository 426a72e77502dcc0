"""Charset labels, lies and detection."""

from __future__ import annotations

from inboxsync.mime.charsets import codec_for, decode_bytes


def test_labels() -> None:
    assert codec_for("ISO-8859-1") == "cp1252"
    assert codec_for("us-ascii") == "cp1252"
    assert codec_for("gb2312") == "gb18030"
    assert codec_for("ks_c_5601-1987") == "cp949"
    assert codec_for('"utf-8"') == "utf-8"
    assert codec_for("utf-8*en") == "utf-8"
    for label in ("unknown-8bit", "x-user-defined", "base64", "rot13", "bogus", ""):
        assert codec_for(label) is None


def test_decoding() -> None:
    errors: list[str] = []
    assert decode_bytes("“x”".encode("cp1252"), "iso-8859-1") == "“x”"
    assert decode_bytes("é".encode(), "iso-8859-1") == "é"  # UTF-8 under a Latin-1 label
    assert decode_bytes("镕".encode("gbk"), "gb2312") == "镕"
    assert decode_bytes(b"\xff\xfe\xfd", "utf-8", errors) != ""
    assert decode_bytes(b"plain", "nonsense", errors) == "plain"
    assert decode_bytes("Grüße".encode(), "x-bogus", errors) == "Grüße"
    assert any("unknown label" in error for error in errors)
