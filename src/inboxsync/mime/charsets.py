"""Turning bytes into text when the declared charset is missing, unknown or lying.

Order: the declared label (through an alias table that follows the WHATWG Encoding Standard where mail
clients do: ``iso-8859-1`` → cp1252, ``gb2312`` → gb18030, ``ks_c_5601-1987`` → cp949), then detection
(charset-normalizer, on a bounded sample), then the declared or fallback codec with replacement characters.
A single-byte label on bytes that are valid UTF-8 is taken to be UTF-8 (a very common lie).
"""

from __future__ import annotations

import codecs
from functools import lru_cache

from charset_normalizer import from_bytes

DETECT_SAMPLE = 32 * 1024
"""Bytes given to the detector: bounded, so that detection costs bounded time."""

_ALIASES: dict[str, str] = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb_2312": "gb18030",
    "csgb2312": "gb18030",
    "x-gbk": "gb18030",
    "gbk": "gb18030",
    "chinese": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "ksc_5601": "cp949",
    "euc-kr": "cp949",
    "korean": "cp949",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "x-mac-roman": "mac-roman",
    "utf8mb4": "utf-8",
    # Windows font charset names that some mailers write as MIME labels
    "ansi_charset": "cp1252",
    "gb2312_charset": "gb18030",
    "chinesebig5": "big5hkscs",
    "chinesebig5_charset": "big5hkscs",
    "hangeul_charset": "cp949",
    "shiftjis_charset": "cp932",
    "russian_charset": "cp1251",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}

UNKNOWN_LABELS = frozenset(
    {"", "unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "charset", "none"}
    | {"default_charset", "x-unknown-8bit", "8bit", "binary", "us-ascii?"}
)
"""Labels that say nothing: the bytes go to detection."""

_NOT_TEXT = frozenset(
    {"base64", "hex", "zlib", "bz2", "rot-13", "uu", "quopri", "idna", "punycode", "undefined"}
    | {"unicode-escape", "raw-unicode-escape"}
)

_SINGLE_BYTE = frozenset(
    {"cp1252", "cp1250", "cp1251", "cp1254", "cp874", "koi8-r", "koi8-u", "mac-roman"}
    | {f"iso8859-{n}" for n in range(2, 17)}
)


@lru_cache(maxsize=256)
def codec_for(label: str) -> str | None:
    """The Python codec name for a MIME charset label, or None when unknown or meaningless."""
    name = label.strip().strip("\"'").lower()
    star = name.find("*")  # RFC 2231 language suffix: "utf-8*en"
    if star >= 0:
        name = name[:star]
    if name in UNKNOWN_LABELS:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    codec = info.name
    if codec in _NOT_TEXT or not getattr(info, "_is_text_encoding", True):
        return None
    return "cp1252" if codec in {"iso8859-1", "ascii"} else codec


_LATIN_GUESSES = ("cp125", "iso8859", "mac_", "mac-", "cp4", "cp8", "latin")
_WESTERN = frozenset({"cp1252", "iso8859_1", "iso8859_15", "latin_1"})


def detect(data: bytes) -> str | None:
    """The most likely codec for ``data`` (bounded sample), or None.

    Detectors are unsure between Latin code pages on short text; when the best guess is a Latin one
    and Western (cp1252, by far the most common undeclared charset in mail) is about as likely, take it.
    """
    if not data:
        return None
    try:
        matches = list(from_bytes(data[:DETECT_SAMPLE]))
    except Exception:  # the detector is a heuristic: its failure only means "no idea"
        return None
    if not matches:
        return None
    best = matches[0]
    if best.encoding.lower().startswith(_LATIN_GUESSES):
        for match in matches:
            western = _WESTERN.intersection(c.lower() for c in match.could_be_from_charset)
            if western and match.chaos <= best.chaos + 0.2:
                return "cp1252"
    return codec_for(best.encoding)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_bytes(data: bytes, label: str | None, errors: list[str] | None = None) -> str:
    """Decode ``data`` declared as ``label``; never raises. Problems are appended to ``errors``."""
    if data.isascii():
        return data.decode("ascii")
    codec = codec_for(label) if label else None
    if codec is not None:
        if codec in _SINGLE_BYTE and _is_utf8(data):
            return data.decode("utf-8")
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        except LookupError:  # pragma: no cover - codec_for checked the name
            codec = None
    elif label and label.strip().lower() not in UNKNOWN_LABELS and errors is not None:
        errors.append(f"charset: unknown label {label.strip()[:40]!r}")
    if codec != "utf-8" and _is_utf8(data):
        return data.decode("utf-8")
    guessed = detect(data)
    if errors is not None and codec is not None:
        errors.append(f"charset: bytes are not {label!s:.40}; detected {guessed or 'nothing'}")
    chosen = guessed or codec or "cp1252"
    try:
        return data.decode(chosen, errors="replace")
    except LookupError:  # pragma: no cover - names come from codec_for
        return data.decode("utf-8", errors="replace")
