"""ImapClient against a real Dovecot 2.3 (fixtures from tests/support/dovecot.py)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from inboxsync.errors import AuthError, ObjectError
from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.responses import BodyStart, Exists, Fetch, Streamed, Vanished
from tests.support.dovecot import Dovecot, DovecotFactory

pytestmark = pytest.mark.dovecot


def message(n: int, size: int = 0) -> bytes:
    body = (b"line %d of the body\r\n" % n) * max(1, size // 20)
    return b"Subject: message %d\r\nMessage-ID: <%d@test>\r\n\r\n" % (n, n) + body


async def logged_in(server: Dovecot, **kwargs: object) -> ImapClient:
    client = await ImapClient.connect(server.host, server.port, "none", timeout=5, **kwargs)  # type: ignore[arg-type]  # keyword pass-through in tests
    await client.login(server.user, server.password)
    return client


class HashSink:
    def __init__(self, start: BodyStart, into: dict[int, tuple[int, str]]) -> None:
        self.start = start
        self.hash = hashlib.sha256()
        self.size = 0
        self.into = into
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)
        self.writes += 1

    def close(self) -> None:
        assert self.size == self.start.size
        self.into[self.start.seq] = (self.size, self.hash.hexdigest())


async def test_session_list_select_fetch_streaming(dovecot: Dovecot) -> None:
    big = message(0, 3_000_000)
    with dovecot.admin() as admin:
        admin.create_folder("Entwürfe")
        uids = [admin.append("INBOX", message(i)) for i in range(1, 6)]
        uids.append(admin.append("INBOX", big, ["\\Flagged"]))
    async with await logged_in(dovecot, stream_threshold=64 * 1024) as client:
        assert {"CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS"} <= client.capabilities
        folders = {f.name: f for f in await client.list_folders()}
        assert folders["Sent"].special_use == "\\Sent"
        assert "Entwürfe" in folders and folders["Entwürfe"].raw_name == "Entw&APw-rfe"
        info = await client.select("INBOX", condstore=True)
        assert info.exists == 6 and info.uidnext == uids[-1] + 1 and info.highestmodseq
        hashes: dict[int, tuple[int, str]] = {}
        sinks: list[HashSink] = []

        def sink(start: BodyStart) -> HashSink:
            sinks.append(HashSink(start, hashes))
            return sinks[-1]

        fetched = [
            f
            async for f in client.uid_fetch(uids, ["FLAGS", "MODSEQ", "BODY.PEEK[]"], sink=sink)
            if isinstance(f, Fetch)
        ]
        assert [f.uid for f in fetched] == uids
        last = fetched[-1]
        assert last.body == Streamed(len(big)) and "\\Flagged" in (last.flags or ())
        assert hashes[last.seq] == (len(big), hashlib.sha256(big).hexdigest())
        assert sinks[-1].writes > 1  # streamed in pieces
        assert fetched[0].body == message(1)
        assert hashes[fetched[0].seq] == (len(message(1)), hashlib.sha256(message(1)).hexdigest())
        # no sink: bodies come back as bytes, streamed or not
        whole = [f async for f in client.uid_fetch([uids[-1]], ["BODY.PEEK[]"])]
        assert isinstance(whole[0], Fetch) and whole[0].body == big
        assert await client.uid_search("ALL") == uids
        assert await client.uid_search("FLAGGED") == [uids[-1]]


async def test_fetch_many_pipelines_batches(dovecot: Dovecot) -> None:
    dovecot.seed_maildir(None, "INBOX", [message(i, 2000) for i in range(1, 1201)])
    async with await logged_in(dovecot) as client:
        await client.select("INBOX", readonly=True)
        uids = await client.uid_search()
        batches = [uids[i : i + 100] for i in range(0, len(uids), 100)]
        seen = [
            f.uid
            async for f in client.fetch_many(batches, ["BODY.PEEK[]"], window=4)
            if isinstance(f, Fetch) and isinstance(f.body, bytes)
        ]
        assert seen == uids


async def test_idle_delivers_exists_after_append(dovecot: Dovecot) -> None:
    async with await logged_in(dovecot) as client:
        await client.select("INBOX")
        async with client.idle() as idle:
            with dovecot.admin() as admin:
                await asyncio.to_thread(admin.append, "INBOX", message(1))
            events = await idle.wait(5)
        assert Exists(1) in events
        # after DONE, the connection works normally
        assert (await client.status("INBOX")).messages == 1


async def test_qresync_select_reports_vanished_and_changed(dovecot: Dovecot) -> None:
    with dovecot.admin() as admin:
        uids = [admin.append("INBOX", message(i)) for i in range(1, 5)]
    async with await logged_in(dovecot) as client:
        info = await client.select("INBOX", condstore=True)
        assert info.uidvalidity is not None and info.highestmodseq is not None
        state = (info.uidvalidity, info.highestmodseq)
        await client.logout()
    with dovecot.admin() as admin:
        admin.add_flags("INBOX", uids[0], ["\\Seen"])
        admin.delete_message("INBOX", uids[1])
    async with await logged_in(dovecot) as client:
        info = await client.select("INBOX", qresync=state)
        assert info.qresync and "QRESYNC" in client.enabled
        assert list(info.vanished) == [uids[1]]
        assert [f.uid for f in info.changed] == [uids[0]]
        assert "\\Seen" in (info.changed[0].flags or ())
        # and the same through FETCH (CHANGEDSINCE ... VANISHED)
        changed, gone = await client.fetch_flags("1:*", changedsince=state[1], vanished=True)
        assert [f.uid for f in changed] == [uids[0]] and list(gone) == [uids[1]]
        # an expunge seen by an idling client arrives as VANISHED
        async with client.idle() as idle:
            with dovecot.admin() as admin:
                await asyncio.to_thread(admin.delete_message, "INBOX", uids[2])
            events = await idle.wait(5)
        assert any(isinstance(e, Vanished) and uids[2] in e.uids for e in events)


async def test_compress_store_copy_move_expunge_append(dovecot: Dovecot) -> None:
    async with await logged_in(dovecot) as client:
        assert await client.compress() and client.compressed
        await client.create_folder("Archiv/2024 é")
        appended = await client.append("INBOX", message(1), ["\\Seen"])
        assert appended is not None
        uidvalidity, uid = appended
        info = await client.select("INBOX")
        assert info.uidvalidity == uidvalidity
        result = await client.uid_store([uid], ["\\Flagged"], silent=False)
        assert result.fetches and "\\Flagged" in (result.fetches[0].flags or ())
        copied = await client.uid_copy([uid], "Archiv/2024 é")
        assert copied is not None and list(copied.source) == [uid]
        moved = await client.uid_move([uid], "Trash")
        assert moved is not None and list(moved.source) == [uid]
        assert await client.uid_search("ALL") == []
        trash = await client.select("Trash")
        assert trash.exists == 1
        await client.uid_store(list(moved.destination), ["\\Deleted"])
        await client.uid_expunge(list(moved.destination))
        assert (await client.status("Trash")).messages == 0
        await client.rename_folder("Archiv/2024 é", "Archiv/2025 ü")
        assert (await client.status("Archiv/2025 ü")).messages == 1
        await client.delete_folder("Archiv/2025 ü")
        with pytest.raises(ObjectError):
            await client.select("Archiv/2025 ü")


async def test_auth_plain_and_failures(dovecot: Dovecot) -> None:
    client = await ImapClient.connect(dovecot.host, dovecot.port, "none", timeout=5)
    with pytest.raises(AuthError) as err:
        await client.login(dovecot.user, "wrong-password-123")
    assert "wrong-password-123" not in str(err.value) + repr(err.value)
    with pytest.raises(AuthError):
        await client.authenticate_plain(dovecot.user, "wrong-password-456")
    await client.authenticate_plain(dovecot.user, dovecot.password)
    assert "CONDSTORE" in client.capabilities
    await client.logout()


async def test_legacy_server_gets_only_what_it_offers(dovecot_factory: DovecotFactory) -> None:
    server = dovecot_factory(legacy=True, rawlog=True)
    with server.admin() as admin:
        uid = admin.append("INBOX", message(1))
        admin.create_folder("Old")
    async with await logged_in(server) as client:
        assert "MOVE" not in client.capabilities and "CONDSTORE" not in client.capabilities
        assert {f.name for f in await client.list_folders()} >= {"INBOX", "Old"}
        info = await client.select("INBOX", qresync=(1, 1))
        assert not info.qresync and info.highestmodseq is None
        assert await client.uid_search() == [uid]
        flags, gone = await client.fetch_flags("1:*")
        assert [f.uid for f in flags] == [uid] and not gone
        assert await client.uid_move([uid], "Old") is not None  # COPY + STORE + UID EXPUNGE
        assert await client.uid_search() == []
    assert server.legacy_violations() == []
