"""``ImapClient``: the IMAP commands inboxsync needs, over :class:`ImapConnection`.

client = await ImapClient.connect("imap.example.com", 993, "ssl")
await client.login(user, password)
info = await client.select("INBOX")
async for item in client.fetch_many(batches, ["FLAGS", "BODY.PEEK[]"], sink=blob_sink):
    ...
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType

from inboxsync.errors import ConfigError, ProtocolError
from inboxsync.providers.imap.auth import AuthConnection
from inboxsync.providers.imap.commands import (
    Arg,
    Literal,
    flag_list,
    imap_date,
    mailbox,
    quote,
    uid_set,
)
from inboxsync.providers.imap.connection import Security
from inboxsync.providers.imap.failures import is_loopback
from inboxsync.providers.imap.fetching import UidsArg
from inboxsync.providers.imap.idle import IdleSession
from inboxsync.providers.imap.responses import (
    AppendUid,
    CopyUid,
    Enabled,
    ESearch,
    Fetch,
    ListEntry,
    MailboxStatus,
    Modified,
    Response,
    Search,
    UntaggedStatus,
    Vanished,
)
from inboxsync.providers.imap.select import SelectInfo, select_info
from inboxsync.providers.imap.uidset import UidSet

__all__ = ["ImapClient", "StoreResult"]

STATUS_ITEMS = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


class StoreResult:
    """What a UID STORE told us: the FETCH responses it caused and, with UNCHANGEDSINCE, the UIDs it
    did not change (``modified``)."""

    __slots__ = ("fetches", "modified")

    def __init__(self, fetches: list[Fetch], modified: UidSet) -> None:
        self.fetches = fetches
        self.modified = modified


class ImapClient(AuthConnection):
    """An IMAP4rev1 client with CONDSTORE, QRESYNC, UIDPLUS, MOVE, SPECIAL-USE, LITERAL+, COMPRESS.

    One task uses a client at a time. ``timeout`` bounds every command (and every silence of the server
    during a long FETCH or APPEND); when it passes, the connection is dropped and ConnectionLost raised.
    """

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        security: Security = "ssl",
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - it configures the client, not this call alone
        allow_plaintext_remote: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        stream_threshold: int = 128 * 1024,
        public_only: bool = False,
    ) -> ImapClient:
        """Connect and read the greeting. ``security="none"`` is refused for a host that is not
        loopback unless ``allow_plaintext_remote`` (the operator's choice), with ConfigError;
        ``public_only`` refuses a host that resolves to a non-public address (``NotPublic``)."""
        if security not in ("ssl", "starttls", "none"):
            raise ConfigError(f"unknown IMAP security {security!r}")
        if security == "none" and not allow_plaintext_remote and not is_loopback(host):
            raise ConfigError(f"plaintext IMAP to {host} is not allowed (only to loopback)")
        client = cls(timeout=timeout, stream_threshold=stream_threshold)
        await client._open(host, port, security, ssl_context, public_only)
        return client

    async def __aenter__(self) -> ImapClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.logout()
        else:
            self.close()

    # --- session --------------------------------------------------------------------------------

    async def enable(self, *capabilities: str) -> frozenset[str]:
        """ENABLE (RFC 5161); returns what the server enabled. Sets ``utf8_names`` for UTF8=ACCEPT."""
        _, untagged = await self._simple("ENABLE", list(capabilities))
        got: frozenset[str] = frozenset()
        for r in untagged:
            if isinstance(r, Enabled):
                got |= r.capabilities
            else:
                self.unsolicited.append(r)
        if "UTF8=ACCEPT" in got:
            self._parser.utf8_names = True
        return got

    async def compress(self) -> bool:
        """Start COMPRESS=DEFLATE if offered; False if not."""
        if "COMPRESS=DEFLATE" not in self.capabilities or self.compressed:
            return False
        _, untagged = await self._simple("COMPRESS", ["DEFLATE"])
        self._keep_unsolicited(untagged)
        self._start_compression()
        return True

    async def noop(self) -> list[Response]:
        """NOOP; returns every untagged response received since the last command (EXISTS...)."""
        _, untagged = await self._simple("NOOP", [])
        out = list(self.unsolicited) + untagged
        self.unsolicited.clear()
        return out

    async def logout(self) -> None:
        """LOGOUT and close; never raises for a connection that is already gone."""
        if self._broken is None and self._writer is not None:
            try:
                await self._simple("LOGOUT", [])
            except Exception:
                pass
        self.close()

    def close(self) -> None:
        """Drop the connection at once."""
        self._abort("closed")

    # --- folders --------------------------------------------------------------------------------

    @property
    def utf8(self) -> bool:
        return self._parser.utf8_names

    def _mailbox(self, name: str) -> Arg:
        return mailbox(name, self.utf8)

    async def list_folders(self, pattern: str = "*", reference: str = "") -> list[ListEntry]:
        """LIST, with RETURN (SPECIAL-USE) where the server offers it; names decoded from mUTF-7."""
        words: list[Arg] = [quote(reference), quote(pattern)]
        if "SPECIAL-USE" in self.capabilities and "LIST-EXTENDED" in self.capabilities:
            words += ["RETURN", "(SPECIAL-USE)"]
        _, untagged = await self._simple("LIST", words)
        entries = [r for r in untagged if isinstance(r, ListEntry)]
        self._keep_unsolicited([r for r in untagged if not isinstance(r, ListEntry)])
        return entries

    async def create_folder(self, name: str) -> None:
        self._keep_unsolicited((await self._simple("CREATE", [self._mailbox(name)]))[1])

    async def rename_folder(self, old: str, new: str) -> None:
        words = [self._mailbox(old), self._mailbox(new)]
        self._keep_unsolicited((await self._simple("RENAME", words))[1])

    async def delete_folder(self, name: str) -> None:
        self._keep_unsolicited((await self._simple("DELETE", [self._mailbox(name)]))[1])

    async def subscribe(self, name: str) -> None:
        self._keep_unsolicited((await self._simple("SUBSCRIBE", [self._mailbox(name)]))[1])

    async def status(self, name: str, items: Sequence[str] = STATUS_ITEMS) -> MailboxStatus:
        _, untagged = await self._simple("STATUS", [self._mailbox(name), flag_list(items)])
        found = [r for r in untagged if isinstance(r, MailboxStatus)]
        self._keep_unsolicited([r for r in untagged if not isinstance(r, MailboxStatus)])
        if not found:
            raise ProtocolError(f"STATUS {name!r} returned no STATUS response")
        return found[-1]

    async def select(
        self,
        name: str,
        *,
        readonly: bool = False,
        condstore: bool = False,
        qresync: tuple[int, int] | None = None,
    ) -> SelectInfo:
        """SELECT (EXAMINE if ``readonly``). ``qresync=(uidvalidity, modseq)`` asks for the changes since
        (VANISHED (EARLIER) + FETCH) when the server offers QRESYNC (ENABLEd on first use); otherwise it
        falls back to CONDSTORE if offered. ``SelectInfo.qresync`` says whether it was used."""
        params: list[str] = []
        used_qresync = False
        if qresync is not None and "QRESYNC" in self.capabilities:
            if "QRESYNC" not in self.enabled:
                await self.enable("QRESYNC")
            params.append(f"QRESYNC ({int(qresync[0])} {int(qresync[1])})")
            used_qresync = True
        elif (condstore or qresync is not None) and "CONDSTORE" in self.capabilities:
            params.append("CONDSTORE")
        words: list[Arg] = [self._mailbox(name)]
        if params:
            words.append(flag_list(params))
        tagged, untagged = await self._simple("EXAMINE" if readonly else "SELECT", words)
        self.unsolicited.clear()  # they were about the previous mailbox
        return select_info(name, tagged, untagged, used_qresync)

    async def unselect(self) -> None:
        command = "UNSELECT" if "UNSELECT" in self.capabilities else "CLOSE"
        self._keep_unsolicited((await self._simple(command, []))[1])

    # --- messages -------------------------------------------------------------------------------

    async def uid_search(self, criteria: str = "ALL") -> list[int]:
        """UID SEARCH with raw ``criteria`` (the caller quotes); ESEARCH's compact answer if offered."""
        if "ESEARCH" in self.capabilities:
            _, untagged = await self._simple("UID SEARCH", ["RETURN (ALL)", criteria])
            for r in untagged:
                if isinstance(r, ESearch):
                    return list(r.all) if r.all is not None else []
            return []
        _, untagged = await self._simple("UID SEARCH", [criteria])
        uids: list[int] = []
        for r in untagged:
            if isinstance(r, Search):
                uids.extend(r.ids)
            else:
                self.unsolicited.append(r)
        return uids

    async def fetch_flags(
        self, uids: UidsArg, *, changedsince: int | None = None, vanished: bool = False
    ) -> tuple[list[Fetch], UidSet]:
        """UID FETCH (FLAGS [MODSEQ]) [CHANGEDSINCE n [VANISHED]] → (fetches, vanished UIDs)."""
        items = ["FLAGS"] + (["MODSEQ"] if "CONDSTORE" in self.capabilities else [])
        fetches: list[Fetch] = []
        gone = UidSet()
        async for item in self.uid_fetch(uids, items, changedsince=changedsince, vanished=vanished):
            if isinstance(item, Vanished):
                gone = gone.union(item.uids)
            else:
                fetches.append(item)
        return fetches, gone

    async def uid_store(
        self,
        uids: UidsArg,
        flags: Iterable[str],
        *,
        mode: str = "+",
        unchangedsince: int | None = None,
        silent: bool = True,
    ) -> StoreResult:
        """UID STORE ``mode`` (``+``, ``-`` or ``""`` to replace) FLAGS[.SILENT]."""
        if mode not in ("+", "-", ""):
            raise ValueError(f"mode must be '+', '-' or '': {mode!r}")
        words: list[Arg] = [uid_set(uids)]
        if unchangedsince is not None:
            words.append(f"(UNCHANGEDSINCE {int(unchangedsince)})")
        words += [f"{mode}FLAGS{'.SILENT' if silent else ''}", flag_list(flags)]
        tagged, untagged = await self._simple("UID STORE", words)
        fetches = [r for r in untagged if isinstance(r, Fetch)]
        self._keep_unsolicited([r for r in untagged if not isinstance(r, Fetch)])
        modified = tagged.code.uids if isinstance(tagged.code, Modified) else UidSet()
        return StoreResult(fetches, modified)

    async def uid_copy(self, uids: UidsArg, destination: str) -> CopyUid | None:
        tagged, untagged = await self._simple(
            "UID COPY", [uid_set(uids), self._mailbox(destination)]
        )
        self._keep_unsolicited(untagged)
        return tagged.code if isinstance(tagged.code, CopyUid) else None

    async def uid_move(self, uids: UidsArg, destination: str) -> CopyUid | None:
        """UID MOVE, or COPY + STORE \\Deleted + UID EXPUNGE where MOVE is not offered."""
        target = uid_set(uids)
        if "MOVE" not in self.capabilities:
            copied = await self.uid_copy(target, destination)
            await self.uid_store(target, ["\\Deleted"])
            await self.uid_expunge(target)
            return copied
        tagged, untagged = await self._simple("UID MOVE", [target, self._mailbox(destination)])
        copyuid: CopyUid | None = tagged.code if isinstance(tagged.code, CopyUid) else None
        for r in untagged:
            if isinstance(r, UntaggedStatus) and isinstance(r.code, CopyUid):
                copyuid = copyuid or r.code
            else:
                self.unsolicited.append(r)
        return copyuid

    async def uid_expunge(self, uids: UidsArg) -> None:
        """UID EXPUNGE (UIDPLUS). Without UIDPLUS: ProtocolError (a plain EXPUNGE would remove every
        \\Deleted message, also those another client marked); call :meth:`expunge` for that."""
        if "UIDPLUS" not in self.capabilities:
            raise ProtocolError("server lacks UIDPLUS: UID EXPUNGE unavailable")
        self._keep_unsolicited((await self._simple("UID EXPUNGE", [uid_set(uids)]))[1])

    async def expunge(self) -> None:
        self._keep_unsolicited((await self._simple("EXPUNGE", []))[1])

    async def append(
        self,
        folder: str,
        data: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> tuple[int, int] | None:
        """APPEND; returns (uidvalidity, uid) when the server has UIDPLUS, else None."""
        words: list[Arg] = [self._mailbox(folder)]
        flags = list(flags)
        if flags:
            words.append(flag_list(flags))
        if internal_date is not None:
            words.append(imap_date(internal_date))
        words.append(Literal(data))
        tag = await self._send("APPEND", words)
        tagged = await self._wait(tag, "APPEND")
        self._keep_unsolicited(self._take_untagged())
        if isinstance(tagged.code, AppendUid):
            return tagged.code.uidvalidity, next(iter(tagged.code.uids))
        return None

    def idle(self) -> IdleSession:
        """``async with client.idle() as session:`` then ``await session.wait(timeout)``, or
        ``async for event in session``; leaving the block sends DONE."""
        return IdleSession(self)
