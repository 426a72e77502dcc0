"""The real-server test rig itself: Dovecot, the outside IMAP client (ImapAdmin) and the SMTP sink."""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import socket
from datetime import UTC, datetime

import pytest

from tests.support.dovecot import Dovecot, DovecotFactory
from tests.support.imap_admin import decode_mutf7, encode_mutf7
from tests.support.ports import free_port, port_is_open
from tests.support.smtp import SmtpSink, SmtpSinkFactory

MODERN = {"CONDSTORE", "QRESYNC", "MOVE", "ESEARCH", "SPECIAL-USE"}
SPECIAL = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}


def message(n: int, subject: str = "test") -> bytes:
    return (
        f"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <{n}@rig.test>\r\n"
        f"Subject: {subject} {n}\r\n\r\nBody {n}\r\n"
    ).encode()


# --- Dovecot ------------------------------------------------------------------------------------


@pytest.mark.dovecot
def test_dovecot_starts_and_logs_in(dovecot: Dovecot) -> None:
    print(f"dovecot start: {dovecot.start_seconds:.3f}s")
    assert port_is_open(dovecot.port)
    with dovecot.admin() as admin:
        assert set(admin.list_folders()) >= {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
        assert admin.uids("INBOX") == []


@pytest.mark.dovecot
def test_wrong_password_and_extra_users(dovecot: Dovecot) -> None:
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.admin(dovecot.user, "wrong")
    dovecot.add_user("bob", "hunter2")  # added while the server runs
    with dovecot.admin("bob", "hunter2") as bob:
        bob.append("INBOX", message(1))
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.admin("bob", dovecot.password)
    with dovecot.admin() as alice:
        assert alice.uids("INBOX") == []
    assert len(list((dovecot.maildir("bob") / "new").iterdir())) == 1


@pytest.mark.dovecot
def test_normal_mode_capabilities(dovecot: Dovecot) -> None:
    assert dovecot.capabilities >= MODERN | {"COMPRESS=DEFLATE", "IDLE", "UIDPLUS", "LITERAL+"}
    with dovecot.admin() as admin:
        attrs = {f.name: f.attributes for f in admin.list_folders_detail()}
        for name, use in {**SPECIAL, "Archive": "\\Archive"}.items():
            assert use in attrs[name]
        assert {f.delimiter for f in admin.list_folders_detail()} == {"/"}
        status, _ = admin.raw_command("COMPRESS DEFLATE")
        assert status == "OK"


@pytest.mark.dovecot
def test_legacy_mode_hides_extensions(dovecot_legacy: Dovecot) -> None:
    caps = dovecot_legacy.capabilities
    assert not caps & (MODERN | {"COMPRESS=DEFLATE"})
    assert {"IDLE", "UIDPLUS", "ENABLE", "LITERAL+", "NAMESPACE"} <= caps
    with dovecot_legacy.admin() as admin:
        folders = admin.list_folders_detail()
        assert {f.name for f in folders} >= {"INBOX", *SPECIAL, "Archive"}
        assert not any(f.attributes & {*SPECIAL.values(), "\\Archive"} for f in folders)
        status, _ = admin.raw_command("COMPRESS DEFLATE")
        assert status == "BAD"  # the plugin is not loaded, so this one really is refused


@pytest.mark.dovecot
def test_legacy_mode_only_hides_what_dovecot_still_executes(
    dovecot_factory: DovecotFactory,
) -> None:
    """Dovecot accepts hidden extensions when asked: use rawlog to catch a client that asks."""
    server = dovecot_factory(legacy=True, rawlog=True)
    with server.admin() as admin:
        uid = admin.append("INBOX", message(1))
        assert admin.move("INBOX", uid, "Archive") == 1  # falls back to COPY + EXPUNGE
        admin.create_folder("Tmp")
        admin.rename_folder("Tmp", "Tmp2")  # leaves the selected folder without UNSELECT
        admin.delete_folder("Tmp2")
        assert server.legacy_violations() == []
        status, lines = admin.raw_command("ENABLE CONDSTORE QRESYNC")
        assert status == "OK" and b"* ENABLED CONDSTORE QRESYNC" in lines
        status, _ = admin.raw_command('UID MOVE 1 "INBOX"')
        assert status == "OK"
    violations = server.legacy_violations()
    assert [v.split(" ", 1)[1] for v in violations] == [
        "ENABLE CONDSTORE QRESYNC",
        'UID MOVE 1 "INBOX"',
    ]


@pytest.mark.dovecot
def test_admin_round_trip(dovecot: Dovecot) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    with dovecot.admin() as admin:
        uid = admin.append("INBOX", message(1), flags=["\\Seen"], internal_date=when)
        assert admin.uids("INBOX") == [uid]
        assert admin.fetch_raw("INBOX", uid) == message(1)
        stored = admin.fetch_all("INBOX")[0]
        assert stored.internal_date == when and "\\Seen" in stored.flags
        admin.add_flags("INBOX", uid, ["\\Flagged", "$Label1"])
        assert {"\\Seen", "\\Flagged", "$Label1"} <= admin.flags("INBOX", uid)
        admin.remove_flags("INBOX", uid, ["\\Seen"])
        admin.set_flags("INBOX", uid, ["\\Answered"])
        assert admin.flags("INBOX", uid) - {"\\Recent"} == {"\\Answered"}
        copied = admin.copy("INBOX", uid, "Trash")
        moved = admin.move("INBOX", uid, "Archive")
        assert admin.uids("INBOX") == [] and admin.uids("Archive") == [moved]
        assert admin.fetch_raw("Trash", copied) == message(1)
        admin.expunge("Trash", copied)  # no \Deleted: UID EXPUNGE keeps it
        assert admin.uids("Trash") == [copied]
        admin.delete_message("Trash", copied)
        assert admin.uids("Trash") == []


@pytest.mark.dovecot
def test_append_many_and_seed_maildir(dovecot: Dovecot) -> None:
    batch = [message(n) for n in range(600)]
    with dovecot.admin() as admin:
        uids = admin.append_many("Archive", batch, flags=["\\Seen"])
        assert uids == list(range(1, 601))
        assert admin.fetch_raw("Archive", 600) == batch[599]
        dovecot.seed_maildir(None, "Seeded", batch[:50], flags="FS")  # new folder, server running
        dovecot.seed_maildir(dovecot.user, "INBOX", batch[50:60])
        assert "Seeded" in admin.list_folders()
        assert len(admin.uids("Seeded")) == 50
        assert admin.flags("Seeded", 1) >= {"\\Seen", "\\Flagged"}
        assert [m.raw for m in admin.fetch_all("INBOX")] == batch[50:60]  # UIDs in list order
    dovecot.stop()
    dovecot.seed_maildir(None, "Offline/Sub", batch[:5])  # made on disk while stopped
    dovecot.start()
    with dovecot.admin() as admin:
        assert "Offline/Sub" in admin.list_folders()
        assert [m.raw for m in admin.fetch_all("Offline/Sub")] == batch[:5]


@pytest.mark.dovecot
def test_non_ascii_folders(dovecot: Dovecot) -> None:
    name, renamed = "Entwürfe/Ünïcødé & Co", "日本語/Ordner"
    assert encode_mutf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501
    assert encode_mutf7("A & B") == "A &- B"
    assert decode_mutf7(encode_mutf7(name)) == name
    assert encode_mutf7("Entwürfe") == "Entw&APw-rfe"
    with dovecot.admin() as admin:
        admin.create_folder("Entwürfe")
        admin.create_folder(name)
        assert {"Entwürfe", name} <= set(admin.list_folders())
        uid = admin.append(name, message(1))
        assert dovecot.folder_path(name).is_dir()
        admin.rename_folder(name, renamed)
        assert renamed in admin.list_folders() and name not in admin.list_folders()
        assert admin.uids(renamed) == [uid]
        admin.delete_folder(renamed)
        assert renamed not in admin.list_folders()


@pytest.mark.dovecot
@pytest.mark.parametrize("folder", ["Archive", "INBOX"])
def test_force_uidvalidity_change(dovecot: Dovecot, folder: str) -> None:
    with dovecot.admin() as admin:
        admin.append(folder, message(1), flags=["\\Seen"])
        admin.append(folder, message(2))
    old, new = dovecot.force_uidvalidity_change(None, folder)
    assert old != new
    with dovecot.admin() as admin:
        assert admin.uidvalidity(folder) == new
        stored = admin.fetch_all(folder)
        assert [m.raw for m in stored] == [message(1), message(2)]
        assert "\\Seen" in stored[0].flags and "\\Seen" not in stored[1].flags


@pytest.mark.dovecot
def test_stop_and_start_keep_port_and_data(dovecot: Dovecot) -> None:
    port = dovecot.port
    with dovecot.admin() as admin:
        uid = admin.append("INBOX", message(1))
        validity = admin.uidvalidity("INBOX")
    dovecot.stop()
    assert not port_is_open(port)
    dovecot.start()
    assert dovecot.port == port
    with dovecot.admin() as admin:
        assert admin.uids("INBOX") == [uid]
        assert admin.uidvalidity("INBOX") == validity


@pytest.mark.dovecot
async def test_admin_from_async_code(dovecot: Dovecot) -> None:
    admin = await asyncio.to_thread(dovecot.admin)
    try:
        uid = await asyncio.to_thread(admin.append, "INBOX", message(1))
        assert await asyncio.to_thread(admin.uids, "INBOX") == [uid]
    finally:
        await asyncio.to_thread(admin.close)


# --- SMTP sink ----------------------------------------------------------------------------------


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_smtp_sink_records_envelope_and_bytes(smtp_sink: SmtpSink) -> None:
    raw = b"Subject: hi\r\n\r\n.leading dot\r\n8bit \xc3\xa9\r\n"
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as client:
        client.sendmail("a@example.org", ["b@example.org", "c@example.org"], raw)
    [got] = smtp_sink.wait_for(1)
    assert got.mail_from == "a@example.org"
    assert got.rcpt_tos == ["b@example.org", "c@example.org"]
    assert got.data == raw and got.auth_user is None


def test_smtp_sink_auth(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(username="mailer", password="s3cret")
    with smtplib.SMTP(sink.host, sink.port) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@example.org", ["b@example.org"], b"x\r\n")
        assert refused.value.smtp_code == 530
    with (
        smtplib.SMTP(sink.host, sink.port) as client,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        client.login("mailer", "wrong")
    with smtplib.SMTP(sink.host, sink.port) as client:
        client.login("mailer", "s3cret")
        client.sendmail("a@example.org", ["b@example.org"], b"x\r\n")
    assert [m.auth_user for m in sink.messages] == ["mailer"]


def test_smtp_sink_rejections(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_rcpt["nobody@example.org"] = "550 5.1.1 No such user"
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as client:
        refused = client.sendmail(
            "a@example.org", ["nobody@example.org", "b@example.org"], b"x\r\n"
        )
        assert refused == {"nobody@example.org": (550, b"5.1.1 No such user")}
        smtp_sink.reject_mail = "451 4.3.0 Try again later"
        with pytest.raises(smtplib.SMTPSenderRefused) as sender:
            client.sendmail("a@example.org", ["b@example.org"], b"x\r\n")
        assert sender.value.smtp_code == 451
    smtp_sink.reject_mail = None
    smtp_sink.fail_next("DATA", "452 4.3.1 Insufficient storage")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port) as client:
        with pytest.raises(smtplib.SMTPDataError) as data:
            client.sendmail("a@example.org", ["b@example.org"], b"x\r\n")
        assert data.value.smtp_code == 452
        client.sendmail("a@example.org", ["b@example.org"], b"y\r\n")  # only once
    assert [(m.rcpt_tos, m.data) for m in smtp_sink.messages] == [
        (["b@example.org"], b"x\r\n"),
        (["b@example.org"], b"y\r\n"),
    ]


def test_smtp_sink_stop_start_same_port(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    with smtplib.SMTP(smtp_sink.host, port) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"1\r\n")
    smtp_sink.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp_sink.host, port, timeout=2)
    smtp_sink.start()
    with smtplib.SMTP(smtp_sink.host, port) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"2\r\n")
    assert [m.data for m in smtp_sink.messages] == [b"1\r\n", b"2\r\n"]
