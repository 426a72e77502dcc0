"""Typed IMAP responses: the events :class:`~inboxsync.providers.imap.parser.ResponseParser` emits.

Generic values inside responses (:data:`Value`) follow one rule so that NIL and ``""`` never mix up:
an atom is a ``str``, a quoted string or literal is ``bytes``, NIL is ``None``, a parenthesised list is a
``list``, and a body literal the parser streamed instead of buffering is a :class:`Streamed`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Final, Literal, TypeAlias

from inboxsync.providers.imap.uidset import UidSet


@dataclass(frozen=True, slots=True)
class Streamed:
    """Stands for a body literal of ``size`` bytes that went out as :class:`BodyChunk` events."""

    size: int


Value: TypeAlias = "str | bytes | Streamed | list[Value] | None"

StatusWord = Literal["OK", "NO", "BAD", "PREAUTH", "BYE"]


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by ``next_event()`` when the parser needs more bytes."""

# --- response codes (the ``[...]`` after OK/NO/BAD/BYE/PREAUTH) -----------------------------------


@dataclass(frozen=True, slots=True)
class Code:
    """A response code without a typed form: ALERT, TRYCREATE, UNAVAILABLE, READ-ONLY, NOMODSEQ, ..."""

    name: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class UidValidity:
    name: ClassVar[str] = "UIDVALIDITY"
    value: int


@dataclass(frozen=True, slots=True)
class UidNext:
    name: ClassVar[str] = "UIDNEXT"
    value: int


@dataclass(frozen=True, slots=True)
class HighestModseq:
    name: ClassVar[str] = "HIGHESTMODSEQ"
    value: int


@dataclass(frozen=True, slots=True)
class Unseen:
    name: ClassVar[str] = "UNSEEN"
    value: int


@dataclass(frozen=True, slots=True)
class PermanentFlags:
    name: ClassVar[str] = "PERMANENTFLAGS"
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppendUid:
    """UIDPLUS: the UID(s) an APPEND got."""

    name: ClassVar[str] = "APPENDUID"
    uidvalidity: int
    uids: UidSet


@dataclass(frozen=True, slots=True)
class CopyUid:
    """UIDPLUS: source UIDs and the UIDs their copies got, in the same order."""

    name: ClassVar[str] = "COPYUID"
    uidvalidity: int
    source: UidSet
    destination: UidSet

    def mapping(self) -> dict[int, int]:
        return dict(zip(self.source, self.destination, strict=False))


@dataclass(frozen=True, slots=True)
class Modified:
    """CONDSTORE: messages a ``STORE (UNCHANGEDSINCE n)`` left alone."""

    name: ClassVar[str] = "MODIFIED"
    uids: UidSet


@dataclass(frozen=True, slots=True)
class Capability:
    """``* CAPABILITY ...`` and the ``[CAPABILITY ...]`` response code. Names are upper-case."""

    name: ClassVar[str] = "CAPABILITY"
    capabilities: frozenset[str]


ResponseCode: TypeAlias = (
    Code
    | UidValidity
    | UidNext
    | HighestModseq
    | Unseen
    | PermanentFlags
    | AppendUid
    | CopyUid
    | Modified
    | Capability
)

# --- responses -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tagged:
    """The completion of a command."""

    tag: str
    status: Literal["OK", "NO", "BAD"]
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class UntaggedStatus:
    """``* OK/NO/BAD/PREAUTH/BYE [code] text``: the greeting, warnings, BYE before a disconnect."""

    status: StatusWord
    code: ResponseCode | None
    text: str


@dataclass(frozen=True, slots=True)
class Continuation:
    """``+ text``: the server waits for a literal, an AUTHENTICATE step, or is idling."""

    text: bytes


@dataclass(frozen=True, slots=True)
class Exists:
    count: int


@dataclass(frozen=True, slots=True)
class Recent:
    count: int


@dataclass(frozen=True, slots=True)
class Expunge:
    seq: int


@dataclass(frozen=True, slots=True)
class Vanished:
    """QRESYNC: UIDs gone; ``earlier`` when the answer to ``FETCH ... (VANISHED)`` or ``SELECT ... QRESYNC``."""

    uids: UidSet
    earlier: bool


@dataclass(frozen=True, slots=True)
class Flags:
    """``* FLAGS (...)``: the flags defined in the selected mailbox."""

    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Enabled:
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class ListEntry:
    """``* LIST`` / ``* LSUB``. ``name`` is decoded from modified UTF-7, ``raw_name`` as sent."""

    flags: tuple[str, ...]
    delimiter: str | None
    name: str
    raw_name: str
    lsub: bool = False

    SPECIAL_USE: ClassVar[frozenset[str]] = frozenset(
        {
            "\\ALL",
            "\\ARCHIVE",
            "\\DRAFTS",
            "\\FLAGGED",
            "\\JUNK",
            "\\SENT",
            "\\TRASH",
            "\\IMPORTANT",
        }
    )

    @property
    def special_use(self) -> str | None:
        """The RFC 6154 attribute (``\\Sent``, ``\\Trash``...) if the server gave one."""
        for flag in self.flags:
            if flag.upper() in self.SPECIAL_USE:
                return flag
        return None

    @property
    def selectable(self) -> bool:
        return not any(f.upper() in ("\\NOSELECT", "\\NONEXISTENT") for f in self.flags)


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """``* STATUS name (MESSAGES n UIDNEXT n ...)``."""

    name: str
    messages: int | None = None
    recent: int | None = None
    uidnext: int | None = None
    uidvalidity: int | None = None
    unseen: int | None = None
    highestmodseq: int | None = None


@dataclass(frozen=True, slots=True)
class Search:
    """``* SEARCH 1 2 3 (MODSEQ n)``."""

    ids: tuple[int, ...]
    modseq: int | None = None


@dataclass(frozen=True, slots=True)
class ESearch:
    """``* ESEARCH (TAG "x") UID MIN a MAX b COUNT c ALL set MODSEQ n`` (RFC 4731)."""

    tag: str | None
    uid: bool
    min: int | None = None
    max: int | None = None
    count: int | None = None
    all: UidSet | None = None
    modseq: int | None = None


@dataclass(frozen=True, slots=True)
class Fetch:
    """``* n FETCH (...)``. ``bodies`` maps ``BODY[]``, ``BODY[HEADER]``, ``RFC822``... to bytes, or to
    :class:`Streamed` when the literal went out as :class:`BodyChunk` events; NIL bodies are ``None``."""

    seq: int
    uid: int | None = None
    flags: tuple[str, ...] | None = None
    modseq: int | None = None
    internaldate: datetime | None = None
    rfc822_size: int | None = None
    bodies: Mapping[str, bytes | Streamed | None] = field(default_factory=dict)
    gm_msgid: int | None = None
    gm_thrid: int | None = None
    gm_labels: tuple[str, ...] | None = None
    extra: Mapping[str, Value] = field(default_factory=dict)

    @property
    def body(self) -> bytes | Streamed | None:
        """The whole message, whichever way it was asked for."""
        for key in ("BODY[]", "BINARY[]", "RFC822"):
            if key in self.bodies:
                return self.bodies[key]
        return None


@dataclass(frozen=True, slots=True)
class BodyStart:
    """A big body literal begins; ``uid`` is set if the server sent UID before the body."""

    seq: int
    section: str
    size: int
    uid: int | None


@dataclass(frozen=True, slots=True)
class BodyChunk:
    """Part of the body announced by the last :class:`BodyStart`; the last chunk has ``last=True``."""

    seq: int
    data: bytes
    last: bool


@dataclass(frozen=True, slots=True)
class Other:
    """An untagged response without a typed form (NAMESPACE, ID, METADATA, ...)."""

    name: str
    number: int | None
    values: list[Value]


Response: TypeAlias = (
    Tagged
    | UntaggedStatus
    | Continuation
    | Capability
    | Exists
    | Recent
    | Expunge
    | Vanished
    | Flags
    | Enabled
    | ListEntry
    | MailboxStatus
    | Search
    | ESearch
    | Fetch
    | Other
)
Event: TypeAlias = Response | BodyStart | BodyChunk
