"""ImapClient against replayed transcripts (no real server): flows, quirks, errors, timeouts, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from inboxsync.errors import (
    AuthError,
    ConfigError,
    ConnectionLost,
    ObjectError,
    ProtocolError,
)
from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.responses import (
    Code,
    Exists,
    Fetch,
    UntaggedStatus,
)
from tests.providers.imap.replay import replay_server
from tests.providers.imap.transcripts import DATA

GREETING = "S: * OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE UIDPLUS] ready\n"


async def connect(port: int, **kwargs: object) -> ImapClient:
    return await ImapClient.connect("127.0.0.1", port, "none", timeout=2, **kwargs)  # type: ignore[arg-type]  # keyword pass-through in tests


async def test_courier_transcript() -> None:
    async with replay_server((DATA / "courier.txt").read_text()) as server:
        client = await connect(server.port)
        assert "LITERAL+" not in client.capabilities
        await client.login("user", "pass")
        assert "IDLE" in client.capabilities  # from the CAPABILITY the client asked for
        names = [f.name for f in await client.list_folders()]
        assert names == ["INBOX", "INBOX.Sent", "INBOX.Entwürfe", "INBOX.Apple Mail To Do"]
        info = await client.select("INBOX")
        assert (info.exists, info.uidvalidity, info.readonly) == (2, 1384939580, False)
        assert info.highestmodseq is None and "\\*" in info.permanent_flags
        fetched = [f async for f in client.uid_fetch("1:2", ["BODY[]"])]
        assert [(f.uid, f.flags) for f in fetched if isinstance(f, Fetch)] == [
            (7, ("\\Seen",)),
            (9, ("\\Seen", "\\Recent")),
        ]
        assert await client.uid_search("UNSEEN") == []
        events = await client.noop()
        assert Exists(3) in events and Fetch(1, flags=("\\Answered", "\\Seen")) in events
        async with client.idle() as idle:
            assert await idle.wait(2) == [Exists(4)]
        await client.logout()
    assert server.received[0] == b"A0001 LOGIN user pass"


async def test_gmail_transcript_xoauth2_failure_then_success() -> None:
    async with replay_server((DATA / "gmail.txt").read_text()) as server:
        client = await connect(server.port)
        assert "AUTH=XOAUTH2" in client.capabilities
        with pytest.raises(AuthError) as err:
            await client.authenticate_xoauth2("user@example.com", "expired-token")
        assert err.value.provider_error is not None
        assert err.value.provider_error["challenge"] == {
            "status": "400",
            "schemes": "Bearer",
            "scope": "https://mail.google.com/",
        }
        assert "expired-token" not in str(err.value)
        await client.authenticate_xoauth2("user@example.com", "good-token")
        assert {"X-GM-EXT-1", "MOVE", "SPECIAL-USE"} <= client.capabilities
        roles = {f.name: f.special_use for f in await client.list_folders()}
        assert roles["[Gmail]/Sent Mail"] == "\\Sent" and roles["Été"] is None
        info = await client.select("[Gmail]/All Mail", readonly=True)
        assert info.readonly and info.uidnext == 4001 and info.highestmodseq == 8133045
        fetched = [f async for f in client.uid_fetch("1:*", ["BODY.PEEK[]"])]
        assert [f.uid for f in fetched if isinstance(f, Fetch)] == [3000, 3001, 3002]
        events = await client.noop()
        assert UntaggedStatus("OK", Code("UNAVAILABLE"), "Temporary System Error") in events
        with pytest.raises(ConnectionLost, match="Temporary System Error"):
            await client.noop()
    assert server.received[1].startswith(b"A0002 AUTHENTICATE XOAUTH2 ")  # SASL-IR
    assert server.received[2] == b""  # the empty answer to the error challenge
    assert b"LIST" in server.received[4] and b"RETURN (SPECIAL-USE)" in server.received[4]


async def test_synchronising_literal_waits_for_continuation() -> None:
    script = """
S: * OK [CAPABILITY IMAP4rev1] ready
C: a1 APPEND INBOX {5}
S: a1 OK [APPENDUID 7 42] done
C: a2 LOGIN {8}
S: a2 NO [AUTHENTICATIONFAILED] nope
"""
    async with replay_server(script) as server:
        client = await connect(server.port)
        assert await client.append("INBOX", b"hello") == (7, 42)
        with pytest.raises(AuthError):
            await client.login("user\xe9", "p")  # 8-bit user name: sent as a literal
    assert server.received[0] == b"A0001 APPEND INBOX {5}"


async def test_errors_are_mapped() -> None:
    script = (
        GREETING
        + """
C: a1 SELECT Missing
S: a1 NO [NONEXISTENT] Mailbox doesn't exist
C: a2 FOO
S: a2 BAD Error in IMAP command
C: a3 UID FETCH 1:3 (UID BODY.PEEK[])
S: * 1 FETCH (UID 1 BODY[] {2}
S: hi)
S: a3 NO Some messages could not be FETCHed (Failure)
C: a4 NOOP
S: a4 OK
"""
    )
    async with replay_server(script) as server:
        client = await connect(server.port)
        with pytest.raises(ObjectError):
            await client.select("Missing")
        with pytest.raises(ProtocolError):
            await client._simple("FOO", [])
        got = []
        with pytest.raises(ObjectError):
            async for f in client.uid_fetch("1:3", ["BODY.PEEK[]"]):
                got.append(f)
        assert len(got) == 1
        await client.noop()  # still usable


async def test_silent_server_times_out() -> None:
    async with replay_server(GREETING + "C: a1 NOOP\nS: !silence\n") as server:
        client = await ImapClient.connect("127.0.0.1", server.port, "none", timeout=0.3)
        began = time.monotonic()
        with pytest.raises(ConnectionLost, match="timed out"):
            await client.noop()
        assert time.monotonic() - began < 1.5
        with pytest.raises(ConnectionLost):  # the connection is dropped, not reused
            await client.noop()


async def test_eof_mid_fetch_is_connection_lost() -> None:
    script = (
        GREETING
        + "C: a1 UID FETCH 1 (UID BODY.PEEK[])\nS: * 1 FETCH (UID 1 BODY[] {100}\nS: !close\n"
    )
    async with replay_server(script) as server:
        client = await connect(server.port)
        with pytest.raises(ConnectionLost):
            async for _ in client.uid_fetch([1], ["BODY.PEEK[]"]):
                pass


async def test_bye_greeting_and_refused_plaintext() -> None:
    async with replay_server("S: * BYE [UNAVAILABLE] too many connections\n") as server:
        with pytest.raises(ConnectionLost):
            await connect(server.port)
    with pytest.raises(ConfigError):
        await ImapClient.connect("192.0.2.1", 143, "none")
    with pytest.raises(ConnectionLost):
        await ImapClient.connect("127.0.0.1", 1, "none", timeout=1)


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_starttls_and_implicit_tls(tmp_path: Path) -> None:
    server_ctx, client_ctx = _self_signed(tmp_path)
    script = """
S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
C: a1 STARTTLS
S: a1 OK Begin TLS negotiation now
S: !starttls
C: a2 CAPABILITY
S: * CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR
S: a2 OK done
C: a3 AUTHENTICATE PLAIN AHVzZXIAcGFzcw==
S: a3 OK Logged in
C: a4 CAPABILITY
S: * CAPABILITY IMAP4rev1 IDLE
S: a4 OK done
"""
    async with replay_server(script, tls=server_ctx) as server:
        client = await ImapClient.connect(
            "localhost", server.port, "starttls", ssl_context=client_ctx, timeout=2
        )
        assert "LOGINDISABLED" not in client.capabilities
        await client.authenticate_plain("user", "pass")
        assert client.capabilities == frozenset({"IMAP4REV1", "IDLE"})
    async with replay_server(GREETING, tls=server_ctx, implicit_tls=True) as server:
        client = await ImapClient.connect(
            "localhost", server.port, "ssl", ssl_context=client_ctx, timeout=2
        )
        assert "UIDPLUS" in client.capabilities
        client.close()
        with pytest.raises(ConnectionLost):  # the default context does not trust the test cert
            await ImapClient.connect("localhost", server.port, "ssl", timeout=2)


async def test_starttls_refused_when_not_offered() -> None:
    async with replay_server(GREETING) as server:
        with pytest.raises(ProtocolError, match="STARTTLS"):
            await ImapClient.connect("127.0.0.1", server.port, "starttls", timeout=2)


async def test_idle_iterates_until_break_then_done() -> None:
    script = (
        GREETING
        + """
C: a1 IDLE
S: + idling
S: * 5 EXISTS
S: * 3 EXPUNGE
C: DONE
S: a1 OK Idle completed
"""
    )
    async with replay_server(script) as server:
        client = await connect(server.port)
        seen = []
        async with client.idle() as idle:
            async for event in idle:
                seen.append(event)
                if len(seen) == 2:
                    break
            assert await asyncio.wait_for(idle.wait(0.05), 1) == []
        assert [type(e).__name__ for e in seen] == ["Exists", "Expunge"]


async def test_fetch_many_sends_the_next_batch_before_the_first_completes() -> None:
    # The server reads both commands before it answers anything: only a pipelining client gets through.
    script = (
        GREETING
        + """
C: a1 UID FETCH 1:2 (UID FLAGS)
C: a2 UID FETCH 3 (UID FLAGS)
S: * 1 FETCH (UID 1 FLAGS ())
S: * 2 FETCH (UID 2 FLAGS (\\Seen))
S: a1 OK done
S: * 3 FETCH (UID 3 FLAGS ())
S: a2 OK done
C: a3 NOOP
S: a3 OK
"""
    )
    async with replay_server(script) as server:
        client = await connect(server.port)
        batches = client.fetch_many(["1:2", [3]], ["FLAGS"], window=2)
        uids = [f.uid async for f in batches if isinstance(f, Fetch)]
        assert uids == [1, 2, 3]
        await client.noop()


async def test_leaving_a_fetch_early_keeps_the_connection_usable() -> None:
    script = (
        GREETING
        + """
C: a1 UID FETCH 1:3 (UID BODY.PEEK[])
S: * 1 FETCH (UID 1 BODY[] {3}
S: one)
S: * 2 FETCH (UID 2 BODY[] {3}
S: two)
S: * 3 FETCH (UID 3 FLAGS (\\Seen))
S: a1 OK done
C: a2 NOOP
S: * 9 EXISTS
S: a2 OK
"""
    )
    async with replay_server(script) as server:
        client = await connect(server.port)
        async for _ in client.uid_fetch("1:3", ["BODY.PEEK[]"]):
            break
        events = await client.noop()
        assert Exists(9) in events
        assert not any(isinstance(e, Fetch) and e.bodies for e in events)
