"""Address lists (From, To, Cc, …): RFC 5322 with the obsolete forms and the garbage real mail holds.

A lenient tokenizer (quoted strings, nested comments, angle brackets) then a per-address reading:
``phrase <addr>``, ``addr (comment)``, groups ``name: a, b;`` (members kept, group name dropped),
source routes, quoted local parts, IDN domains (punycode shown as Unicode, domains lowercased).
Display names are RFC 2047 decoded after tokenizing, so encoded commas cannot split an address.
Anything unreadable is kept as best effort (``Address(name=text, email="")``) and reported.
"""

from __future__ import annotations

from inboxsync.mime.headers import decode_words
from inboxsync.mime.types import Address

MAX_ADDRESSES = 1000
"""Addresses kept from one header."""

_SPECIALS = frozenset('<>,;:"()')

# Token kinds: "a" atom (may hold @ and .), "q" quoted string, "c" comment, or the special char itself.
Token = tuple[str, str]


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    last_quote = text.rfind('"')
    while i < n:
        char = text[i]
        if char in " \t\r\n":
            i += 1
            if tokens and tokens[-1][0] != " ":
                tokens.append((" ", " "))
        elif char == '"' and i >= last_quote:
            i += 1  # an unterminated quote: ignore it
        elif char == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            tokens.append(("q", "".join(buf)))
            i = j + 1
        elif char == "(":
            depth, j, buf = 1, i + 1, []
            while j < n and depth:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    j += 1
                    c = text[j]
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if not depth:
                        break
                buf.append(c)
                j += 1
            tokens.append(("c", "".join(buf).strip()))
            i = j + 1
        elif char in _SPECIALS:
            tokens.append((char, char))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _SPECIALS and text[j] not in " \t\r\n":
                j += 1
            tokens.append(("a", text[i:j]))
            i = j
    return tokens


def parse_addresses(value: str | None, errors: list[str] | None = None) -> tuple[Address, ...]:
    """Read an address-list header value; never raises."""
    if not value or not value.strip():
        return ()
    out: list[Address] = []
    current: list[Token] = []
    depth = 0
    for token in _tokenize(value):
        kind = token[0]
        if kind == "<":
            depth += 1
        elif kind == ">":
            depth = max(0, depth - 1)
        elif depth == 0 and kind in ",;":
            _flush(current, out, errors)
            current = []
            continue
        elif depth == 0 and kind == ":" and not _has_angle(current):
            current = []  # a group name: members follow
            continue
        current.append(token)
        if len(out) >= MAX_ADDRESSES:
            break
    _flush(current, out, errors)
    return tuple(out[:MAX_ADDRESSES])


def _has_angle(tokens: list[Token]) -> bool:
    return any(kind == "<" for kind, _ in tokens)


def _flush(tokens: list[Token], out: list[Address], errors: list[str] | None) -> None:
    while tokens and tokens[-1][0] == " ":
        tokens.pop()
    while tokens and tokens[0][0] == " ":
        tokens.pop(0)
    if not tokens:
        return
    if _has_angle(tokens):
        first = next(i for i, (kind, _) in enumerate(tokens) if kind == "<")
        closing = next((i for i in range(first, len(tokens)) if tokens[i][0] == ">"), len(tokens))
        inside = tokens[first + 1 : closing]
        phrase = tokens[:first] + tokens[closing + 1 :]
        email = _addr_spec(inside)
        name = _phrase(phrase)
    else:
        comments = [value for kind, value in tokens if kind == "c"]
        spec = [token for token in tokens if token[0] != "c"]
        email = _addr_spec(spec)
        name = decode_words(comments[0]) if comments else ""
        if email and "@" not in email and any(kind == " " for kind, _ in spec):
            name, email = _phrase(tokens), ""  # "John Smith" with no address at all
    if not email and not name:
        return
    if "@" not in email and errors is not None:
        errors.append(f"address: no domain in {email or name!r:.60}")
    out.append(Address(name=name.strip(), email=email))


def _phrase(tokens: list[Token]) -> str:
    words: list[str] = []
    comments: list[str] = []
    for kind, value in tokens:
        if kind == "c":
            comments.append(value)
        elif kind == " ":
            words.append(" ")
        elif kind == "q" and "=?" in value:
            words.append(decode_words(value))
        elif kind not in "<>":
            words.append(value)
    text = "".join(words).strip()
    if not text and comments:
        text = comments[0]
    return " ".join(decode_words(text).split())


def _addr_spec(tokens: list[Token]) -> str:
    parts: list[str] = []
    for kind, value in tokens:
        if kind == "q":
            parts.append(_quote_local(value))
        elif kind in ("a", "@") or kind in ",;:":
            parts.append(value)
    spec = "".join(parts)
    if ":" in spec:  # source route "<@relay,@relay2:user@host>"
        spec = spec.rsplit(":", 1)[1]
    spec = spec.strip(",;")
    local, at, domain = spec.rpartition("@")
    if not at:
        return spec
    return f"{local}@{_domain(domain)}"


def _quote_local(value: str) -> str:
    dot_atom = all(c.isalnum() or c in "!#$%&'*+-/=?^_`{|}~." for c in value)
    if (
        value
        and dot_atom
        and not value.startswith(".")
        and not value.endswith(".")
        and ".." not in value
    ):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _domain(domain: str) -> str:
    domain = domain.strip("[] ").lower() if not domain.startswith("[") else domain.lower()
    if "xn--" not in domain:
        return domain
    labels = []
    for label in domain.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)
