"""``ImapAdmin``: "another mail client" that changes a test mailbox behind the back of the code under test.

Built on stdlib ``imaplib``, synchronous. From async tests call it through ``asyncio.to_thread``; one
``ImapAdmin`` must not be used from two threads at once (open one per thread instead).

Folder names are plain ``str`` (any Unicode); they are encoded to modified UTF-7 here, independently of
the product's own encoder, so that the tests check the product against a second implementation.
"""

from __future__ import annotations

import base64
import imaplib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

MULTIAPPEND_BATCH = 500


class ImapAdminError(Exception):
    """An IMAP command sent by the test helper did not complete with OK."""


def encode_mutf7(name: str) -> str:
    """Encode a folder name as modified UTF-7 (RFC 3501 section 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{b64}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_mutf7(name: str) -> str:
    """Decode a modified UTF-7 folder name."""

    def one(match: re.Match[str]) -> str:
        chunk = match.group(1)
        if not chunk:
            return "&"
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", one, name)


def quote(value: str) -> str:
    """Quote an ASCII string for an IMAP command (imaplib does not quote arguments)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_uid_set(text: str) -> list[int]:
    """``"1:3,7"`` -> ``[1, 2, 3, 7]``."""
    uids: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


@dataclass
class StoredMessage:
    """A message as the server stores it."""

    uid: int
    flags: set[str]
    internal_date: datetime | None
    raw: bytes


@dataclass
class FolderInfo:
    name: str
    attributes: set[str] = field(default_factory=set)
    delimiter: str | None = "/"


_LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) ([\d:,]+)\]")
_FETCH_ITEMS_RE = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]+)\"")


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", "surrogateescape")
    if text.startswith('"') and text.endswith('"'):
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _flag_list(flags: Iterable[str]) -> str:
    return "(" + " ".join(flags) + ")"


class ImapAdmin:
    """A plain IMAP client logged in as one user; every method selects what it needs."""

    def __init__(self, host: str, port: int, user: str, password: str, timeout: float = 10.0):
        self.user = user
        self.conn = imaplib.IMAP4(host, port, timeout=timeout)
        self.prelogin_capabilities = {cap.upper() for cap in self.conn.capabilities}
        self._check(self.conn.login(user, password), "LOGIN")
        data = self._check(self.conn.capability(), "CAPABILITY")
        self.conn.capabilities = tuple(data[0].decode().upper().split())

    # --- plumbing -------------------------------------------------------------------------------

    def __enter__(self) -> ImapAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    @staticmethod
    def _check(result: tuple[str, Any], what: str) -> list[Any]:
        typ, data = result
        if typ != "OK":
            raise ImapAdminError(f"{what} failed: {typ} {data!r}")
        return list(data)

    def _name(self, folder: str) -> str:
        return quote(encode_mutf7(folder))

    def select(self, folder: str, readonly: bool = False) -> int:
        """SELECT (or EXAMINE) ``folder``; returns the message count."""
        data = self._check(self.conn.select(self._name(folder), readonly), f"SELECT {folder}")
        return int(data[0])

    @property
    def capabilities(self) -> set[str]:
        """Capabilities after login (asked with CAPABILITY)."""
        return set(self.conn.capabilities)

    def raw_command(self, line: str) -> tuple[str, list[bytes]]:
        """Send one command line (without tag) and return (status, [tagged text, *untagged lines])."""
        tag = self.conn._new_tag()
        self.conn.send(tag + b" " + line.encode() + b"\r\n")
        lines: list[bytes] = []
        while True:
            resp: bytes = self.conn._get_line()
            if resp.startswith(tag + b" "):
                status = resp[len(tag) + 1 :].split(b" ", 1)
                return status[0].decode(), [resp, *lines]
            lines.append(resp)

    # --- messages -------------------------------------------------------------------------------

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND one message; returns its UID (from APPENDUID)."""
        date = imaplib.Time2Internaldate(internal_date) if internal_date else None
        flag_arg = _flag_list(flags) if flags else None
        data = self._check(self.conn.append(self._name(folder), flag_arg, date, raw), "APPEND")
        match = _APPENDUID_RE.search(data[0])
        if not match:
            raise ImapAdminError(f"no APPENDUID in {data!r}")
        return int(match.group(2))

    def append_many(
        self, folder: str, messages: Sequence[bytes], flags: Sequence[str] = ()
    ) -> list[int]:
        """APPEND many messages with MULTIAPPEND + LITERAL+ (one round trip per 500); returns UIDs."""
        uids: list[int] = []
        for start in range(0, len(messages), MULTIAPPEND_BATCH):
            batch = messages[start : start + MULTIAPPEND_BATCH]
            tag: bytes = self.conn._new_tag()
            parts = [tag, b" APPEND ", self._name(folder).encode()]
            for raw in batch:
                parts += [b" ", _flag_list(flags).encode(), b" {%d+}\r\n" % len(raw), raw]
            parts.append(b"\r\n")
            self.conn.send(b"".join(parts))
            typ, data = self.conn._command_complete("APPEND", tag)
            if typ != "OK":
                raise ImapAdminError(f"MULTIAPPEND failed: {typ} {data!r}")
            match = _APPENDUID_RE.search(data[0])
            if not match:
                raise ImapAdminError(f"no APPENDUID in {data!r}")
            uids += parse_uid_set(match.group(2).decode())
        return uids

    def uids(self, folder: str) -> list[int]:
        self.select(folder, readonly=True)
        data = self._check(self.conn.uid("SEARCH", "ALL"), "UID SEARCH")
        return [int(x) for x in data[0].split()]

    def fetch_all(self, folder: str, uids: str = "1:*") -> list[StoredMessage]:
        """UID FETCH flags, internal date and the raw message for a UID set (default: all)."""
        if self.select(folder, readonly=True) == 0:
            return []
        data = self._check(
            self.conn.uid("FETCH", uids, "(UID FLAGS INTERNALDATE BODY.PEEK[])"), "UID FETCH"
        )
        out: list[StoredMessage] = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head, body = item
            uid, flags, date = 0, set[str](), None
            for m in _FETCH_ITEMS_RE.finditer(head):
                if m.group(1):
                    uid = int(m.group(1))
                elif m.group(2) is not None:
                    flags = set(m.group(2).decode().split())
                elif m.group(3):
                    date = datetime.strptime(m.group(3).decode(), "%d-%b-%Y %H:%M:%S %z")
            out.append(StoredMessage(uid, flags, date, body))
        return out

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        found = self.fetch_all(folder, str(uid))
        if not found:
            raise ImapAdminError(f"no UID {uid} in {folder}")
        return found[0].raw

    def flags(self, folder: str, uid: int) -> set[str]:
        self.select(folder, readonly=True)
        data = self._check(self.conn.uid("FETCH", str(uid), "(FLAGS)"), "UID FETCH FLAGS")
        if not data or data[0] is None:
            raise ImapAdminError(f"no UID {uid} in {folder}")
        return {f.decode() for f in imaplib.ParseFlags(data[0])}

    def _store(self, folder: str, uid: int, op: str, flags: Sequence[str]) -> None:
        self.select(folder)
        self._check(self.conn.uid("STORE", str(uid), op, _flag_list(flags)), f"UID STORE {op}")

    def set_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        self._store(folder, uid, "FLAGS.SILENT", flags)

    def add_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        self._store(folder, uid, "+FLAGS.SILENT", flags)

    def remove_flags(self, folder: str, uid: int, flags: Sequence[str]) -> None:
        self._store(folder, uid, "-FLAGS.SILENT", flags)

    def _copyuid(self, command: str, folder: str, uid: int, dest: str) -> int:
        self.select(folder)
        self.conn.untagged_responses.pop("COPYUID", None)
        self._check(self.conn.uid(command, str(uid), self._name(dest)), f"UID {command}")
        copyuid = self.conn.untagged_responses.pop("COPYUID", [None])[-1]
        if not isinstance(copyuid, bytes):
            raise ImapAdminError(f"no COPYUID after UID {command}")
        return int(copyuid.split()[2])

    def copy(self, folder: str, uid: int, dest: str) -> int:
        """UID COPY; returns the UID in ``dest`` (from COPYUID)."""
        return self._copyuid("COPY", folder, uid, dest)

    def move(self, folder: str, uid: int, dest: str) -> int:
        """Move one message; returns its UID in ``dest``.

        UID MOVE when the server advertises MOVE, else UID COPY + \\Deleted + UID EXPUNGE (so the
        helper stays well-behaved on a legacy server whose command log is checked).
        """
        if "MOVE" not in self.capabilities:
            new_uid = self.copy(folder, uid, dest)
            self.delete_message(folder, uid)
            return new_uid
        return self._copyuid("MOVE", folder, uid, dest)

    def expunge(self, folder: str, uid: int) -> None:
        """UID EXPUNGE one UID (removes it only if it already has \\Deleted)."""
        self.select(folder)
        self._check(self.conn.uid("EXPUNGE", str(uid)), "UID EXPUNGE")

    def delete_message(self, folder: str, uid: int) -> None:
        """Flag \\Deleted and UID EXPUNGE: the message is gone for every client."""
        self.add_flags(folder, uid, ["\\Deleted"])
        self._check(self.conn.uid("EXPUNGE", str(uid)), "UID EXPUNGE")

    # --- folders --------------------------------------------------------------------------------

    def create_folder(self, name: str, subscribe: bool = True) -> None:
        self._check(self.conn.create(self._name(name)), f"CREATE {name}")
        if subscribe:
            self._check(self.conn.subscribe(self._name(name)), f"SUBSCRIBE {name}")

    def _leave_selected(self) -> None:
        """Deselect without expunging (UNSELECT only when advertised: legacy servers hide it)."""
        if self.conn.state != "SELECTED":
            return
        if "UNSELECT" in self.capabilities:
            self.conn.unselect()
        else:
            self.select("INBOX", readonly=True)

    def rename_folder(self, old: str, new: str) -> None:
        self._leave_selected()
        self._check(self.conn.rename(self._name(old), self._name(new)), f"RENAME {old}")
        self.conn.subscribe(self._name(new))

    def delete_folder(self, name: str) -> None:
        self._leave_selected()
        self.conn.unsubscribe(self._name(name))
        self._check(self.conn.delete(self._name(name)), f"DELETE {name}")

    def list_folders_detail(self, pattern: str = "*") -> list[FolderInfo]:
        data = self._check(self.conn.list('""', quote(pattern)), "LIST")
        out: list[FolderInfo] = []
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # name sent as a literal
                head, name_raw = item
                match = _LIST_RE.match(head.rsplit(b" ", 1)[0] + b" x")
                name = name_raw.decode("utf-8", "surrogateescape")
            else:
                match = _LIST_RE.match(item)
                name = _unquote(match.group("name")) if match else ""
            if not match:
                raise ImapAdminError(f"cannot parse LIST line {item!r}")
            delim = match.group("delim")
            out.append(
                FolderInfo(
                    name=decode_mutf7(name),
                    attributes=set(match.group("attrs").decode().split()),
                    delimiter=None if delim == b"NIL" else _unquote(delim),
                )
            )
        return out

    def list_folders(self, pattern: str = "*") -> list[str]:
        return [info.name for info in self.list_folders_detail(pattern)]

    def status(self, folder: str, items: str = "MESSAGES UIDNEXT UIDVALIDITY") -> dict[str, int]:
        data = self._check(self.conn.status(self._name(folder), f"({items})"), "STATUS")
        inner = data[0].rsplit(b"(", 1)[1].rstrip(b")").split()
        return {inner[i].decode(): int(inner[i + 1]) for i in range(0, len(inner), 2)}

    def uidvalidity(self, folder: str) -> int:
        return self.status(folder, "UIDVALIDITY")["UIDVALIDITY"]
