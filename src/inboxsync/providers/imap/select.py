"""What SELECT / EXAMINE told us, as one value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inboxsync.providers.imap.responses import (
    Code,
    Exists,
    Fetch,
    Flags,
    HighestModseq,
    PermanentFlags,
    Recent,
    Response,
    Tagged,
    UidNext,
    UidValidity,
    Unseen,
    UntaggedStatus,
    Vanished,
)
from inboxsync.providers.imap.uidset import UidSet

__all__ = ["SelectInfo", "select_info"]


@dataclass(frozen=True, slots=True)
class SelectInfo:
    """The selected mailbox. ``highestmodseq`` is None without CONDSTORE or with ``nomodseq``.

    With QRESYNC (``qresync=True``) ``vanished`` holds the UIDs expunged since the given modseq and
    ``changed`` the FETCH (UID FLAGS MODSEQ) of messages changed since.
    """

    name: str
    readonly: bool
    exists: int
    recent: int
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: int | None
    nomodseq: bool
    flags: tuple[str, ...]
    permanent_flags: tuple[str, ...]
    unseen: int | None
    qresync: bool
    vanished: UidSet
    changed: tuple[Fetch, ...]


def select_info(
    name: str, tagged: Tagged, untagged: Sequence[Response], qresync: bool
) -> SelectInfo:
    exists = recent = 0
    uidvalidity = uidnext = highestmodseq = unseen = None
    nomodseq = False
    flags: tuple[str, ...] = ()
    permanent: tuple[str, ...] = ()
    vanished = UidSet()
    changed: list[Fetch] = []
    for r in untagged:
        if isinstance(r, Exists):
            exists = r.count
        elif isinstance(r, Recent):
            recent = r.count
        elif isinstance(r, Flags):
            flags = r.flags
        elif isinstance(r, Vanished):
            vanished = vanished.union(r.uids)
        elif isinstance(r, Fetch):
            changed.append(r)
        elif isinstance(r, UntaggedStatus):
            code = r.code
            if isinstance(code, UidValidity):
                uidvalidity = code.value
            elif isinstance(code, UidNext):
                uidnext = code.value
            elif isinstance(code, HighestModseq):
                highestmodseq = code.value
            elif isinstance(code, Unseen):
                unseen = code.value
            elif isinstance(code, PermanentFlags):
                permanent = code.flags
            elif isinstance(code, Code) and code.name == "NOMODSEQ":
                nomodseq = True
    readonly = isinstance(tagged.code, Code) and tagged.code.name == "READ-ONLY"
    return SelectInfo(
        name=name,
        readonly=readonly,
        exists=exists,
        recent=recent,
        uidvalidity=uidvalidity,
        uidnext=uidnext,
        highestmodseq=None if nomodseq else highestmodseq,
        nomodseq=nomodseq,
        flags=flags,
        permanent_flags=permanent,
        unseen=unseen,
        qresync=qresync,
        vanished=vanished,
        changed=tuple(changed),
    )
