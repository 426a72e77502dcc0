"""Sending against a real Dovecot and the aiosmtpd sink, in normal and legacy mode."""

from __future__ import annotations

import base64
import email
import hashlib
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxsync.actions import worker
from inboxsync.store.models import Action, Folder, MessageFolder
from tests.actions.send_rig import SendRig, send_rig, until
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpSink, SmtpSinkFactory

pytestmark = [pytest.mark.dovecot]

PDF = bytes(range(256)) * 700  # 179 KB of every byte value
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\xff" * 5000


@pytest.fixture(params=["normal", "legacy"])
def server(request: pytest.FixtureRequest, dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    return dovecot_factory(legacy=request.param == "legacy")


@pytest.fixture
def sink(smtp_sink_factory: SmtpSinkFactory) -> SmtpSink:
    return smtp_sink_factory(username="smtp-user", password="smtp-pass")


def sent_copies(server: Dovecot, message_id: str) -> list[bytes]:
    with server.admin() as admin:
        return [m.raw for m in admin.fetch_all("Sent") if message_id.encode() in m.raw]


async def open_actions(rig: SendRig) -> list[Action]:
    async with rig.runtime.db.session() as session:
        rows = await session.scalars(
            select(Action).where(Action.state.in_(("pending", "in_flight")))
        )
        return list(rows.all())


async def test_send_with_attachments_arrives_and_is_filed(
    server: Dovecot, sink: SmtpSink, tmp_path: Path
) -> None:
    async with send_rig(server, sink, tmp_path) as rig:
        body = {
            "to": [{"email": "ann@example.org", "name": "Ann"}],
            "bcc": [{"email": "hidden@example.org"}],
            "subject": "Quarterly — report",
            "body": "<p>See attached.</p>",
            "attachments": [
                {
                    "filename": "report.pdf",
                    "content_type": "application/pdf",
                    "content": base64.b64encode(PDF).decode(),
                    "size": len(PDF),
                },
                {
                    "filename": "logo.png",
                    "content_type": "image/png",
                    "content": base64.b64encode(PNG).decode(),
                    "size": len(PNG),
                },
            ],
        }
        answer = await rig.api.post(rig.url("messages/send"), json=body)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["object"] == "message" and data["subject"] == "Quarterly — report"
        assert [a["filename"] for a in data["attachments"]] == ["report.pdf", "logo.png"]

        (got,) = sink.messages
        assert sorted(got.rcpt_tos) == ["ann@example.org", "hidden@example.org"]
        assert got.auth_user == "smtp-user" and b"hidden@example.org" not in got.data
        parsed = email.message_from_bytes(got.data, policy=policy.default)
        files = {p.get_filename(): p.get_content() for p in parsed.iter_attachments()}
        assert hashlib.sha256(files["report.pdf"]).digest() == hashlib.sha256(PDF).digest()
        assert files["logo.png"] == PNG
        message_id = parsed["Message-ID"]

        await until(lambda: sent_copies(server, message_id), "Sent copy")
        await until(lambda: _no_open(rig), "action settled")
        (copy,) = sent_copies(server, message_id)
        assert b"Bcc: hidden@example.org" in copy
        assert copy.replace(b"Bcc: hidden@example.org\r\n", b"") == got.data  # same bytes
        async with rig.runtime.db.session() as session:
            sent = await session.scalar(select(Folder).where(Folder.role == "sent"))
            assert sent is not None
            uids = (
                await session.scalars(
                    select(MessageFolder.uid).where(MessageFolder.message_id == data["id"])
                )
            ).all()
        assert len(uids) == 1 and uids[0] > 0
        await rig.sync.run_once()
        found = (await rig.api.get(rig.url(f"messages/{data['id']}"))).json()["data"]
        assert found["folders"] == [sent.id] and not found["unread"]
        listed = (await rig.api.get(rig.url("messages"), params={"in": sent.id})).json()["data"]
        assert [m["id"] for m in listed] == [data["id"]]  # no second copy after sync


async def _no_open(rig: SendRig) -> bool:
    return not await open_actions(rig)


async def test_reply_threads(server: Dovecot, sink: SmtpSink, tmp_path: Path) -> None:
    with server.admin() as admin:
        admin.append(
            "INBOX",
            b"Message-ID: <root@example.org>\r\nFrom: Ann <ann@example.org>\r\n"
            b"To: me@example.com\r\nSubject: Plans\r\n\r\nShall we?\r\n",
        )
    async with send_rig(server, sink, tmp_path) as rig:
        parent = (await rig.api.get(rig.url("messages"))).json()["data"][0]
        answer = await rig.api.post(
            rig.url("messages/send"),
            json={
                "to": [{"email": "ann@example.org"}],
                "subject": "Re: Plans",
                "body": "Yes.",
                "reply_to_message_id": parent["id"],
            },
        )
        assert answer.status_code == 200, answer.text
        reply = answer.json()["data"]
        assert reply["thread_id"] == parent["thread_id"]
        head = email.message_from_bytes(sink.messages[0].data, policy=policy.default)
        assert head["In-Reply-To"] == "<root@example.org>"
        assert head["References"] == "<root@example.org>"
        await until(lambda: _no_open(rig), "Sent copy filed")
        await rig.sync.run_once()
        thread = (await rig.api.get(rig.url(f"threads/{parent['thread_id']}"))).json()["data"]
        assert set(thread["message_ids"]) == {parent["id"], reply["id"]}


async def test_refusals_and_retries(
    server: Dovecot, sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "retry_delay", lambda attempts: 0.2)
    monkeypatch.setattr("inboxsync.actions.send.retry_delay", lambda attempts: 0.2)
    async with send_rig(server, sink, tmp_path) as rig:
        msg = {"to": [{"email": "gone@example.org"}], "subject": "x", "body": "x"}
        sink.reject_rcpt["gone@example.org"] = "550 5.1.1 No such user here"
        refused = await rig.api.post(rig.url("messages/send"), json=msg)
        assert refused.status_code == 400
        assert "No such user here" in refused.json()["error"]["message"]
        assert refused.json()["error"]["provider_error"]["code"] == 550
        assert (await rig.api.get(rig.url("messages"))).json()["data"] == []

        sink.fail_next("DATA", "552 5.3.4 Message size exceeds fixed limit")
        big = await rig.api.post(
            rig.url("messages/send"), json={**msg, "to": [{"email": "b@x.org"}]}
        )
        assert big.status_code == 400 and "exceeds" in big.json()["error"]["message"]

        # A transient refusal: answered with the message, delivered later by the worker, once.
        sink.fail_next("DATA", "451 4.3.0 Try again later")
        later = await rig.api.post(
            rig.url("messages/send"), json={**msg, "to": [{"email": "c@x.org"}]}
        )
        assert later.status_code == 200, later.text
        await until(lambda: len(sink.messages) == 1, "retried")
        await until(lambda: _no_open(rig), "settled")

        # The server is down for a while (every attempt fails), then back: delivered once.
        sink.stop()
        down = await rig.api.post(
            rig.url("messages/send"), json={**msg, "to": [{"email": "d@x.org"}]}
        )
        assert down.status_code == 200
        await until(lambda: _attempts(rig, 4), "several failed attempts while down")
        sink.start()
        await until(lambda: len(sink.messages) == 2, "delivered after the outage")
        await until(lambda: _no_open(rig), "settled")
        assert [m.rcpt_tos for m in sink.messages] == [["c@x.org"], ["d@x.org"]]

        # Bad credentials: a 401 with the server's words, nothing sent.
        async with rig.runtime.db.transaction() as session:
            from inboxsync.store import grants

            grant = await grants.get(session, rig.grant_id)
            grant.credentials = rig.runtime.sealer.seal(
                {"imap_password": server.password, "smtp_password": "wrong"}
            )
        auth = await rig.api.post(
            rig.url("messages/send"), json={**msg, "to": [{"email": "e@x.org"}]}
        )
        assert auth.status_code == 401 and "535" in auth.json()["error"]["message"]
        assert len(sink.messages) == 2


async def _attempts(rig: SendRig, n: int) -> bool:
    return any(a.attempts >= n for a in await open_actions(rig))


async def test_idempotency_multipart_and_raw_mime(
    server: Dovecot, sink: SmtpSink, tmp_path: Path
) -> None:
    async with send_rig(server, sink, tmp_path) as rig:
        msg = {"to": [{"email": "ann@example.org"}], "subject": "once", "body": "x"}
        headers = {"Idempotency-Key": "k-1"}
        first = await rig.api.post(rig.url("messages/send"), json=msg, headers=headers)
        again = await rig.api.post(rig.url("messages/send"), json=msg, headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json()["data"]["id"] == again.json()["data"]["id"]
        assert len(sink.messages) == 1

        big = bytes(range(256)) * 16384  # 4 MiB: the SDK switches to multipart at 3 MiB
        form = await rig.api.post(
            rig.url("messages/send"),
            files=[
                (
                    "message",
                    (
                        "",
                        '{"to":[{"email":"b@x.org"}],"subject":"big","body":"hi"}',
                        "application/json",
                    ),
                ),
                ("file0", ("big.bin", big, "application/octet-stream")),
            ],
        )
        assert form.status_code == 200, form.text
        parsed = email.message_from_bytes(sink.messages[-1].data, policy=policy.default)
        (part,) = list(parsed.iter_attachments())
        assert part.get_filename() == "big.bin" and part.get_content() == big

        raw = b"From: me@example.com\r\nTo: c@x.org\r\nSubject: raw\r\n\r\nraw body\r\n"
        mime = await rig.api.post(
            rig.url("messages/send"),
            params={"type": "mime"},
            files={"mime": ("message.eml", raw, "message/rfc822")},
        )
        assert mime.status_code == 200, mime.text
        assert mime.json()["data"]["subject"] == "raw"
        assert sink.messages[-1].data.endswith(raw) and b"Message-ID: <" in sink.messages[-1].data
        await until(lambda: _no_open(rig), "settled")
        with server.admin() as admin:
            assert len(admin.fetch_all("Sent")) == 3
