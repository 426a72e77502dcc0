"""The official SDK sends (JSON, multipart over 3 MiB, raw MIME) and manages drafts against
``inboxsync serve`` with Dovecot and the SMTP sink."""

from __future__ import annotations

import base64
import email
import io
from email import policy
from pathlib import Path

import pytest
from nylas import Client
from nylas.models.errors import NylasApiError

from tests.actions.serve_proc import KEY, Serve, wait
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.dovecot]


def folder(server: Dovecot, name: str) -> list[bytes]:
    with server.admin() as admin:
        return [m.raw for m in admin.fetch_all(name)]


def test_sdk_sends_and_manages_drafts(
    dovecot: Dovecot, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    serve = Serve(tmp_path / "data")
    serve.start()
    try:
        grant = serve.connect(dovecot, smtp_sink)
        nylas = Client(api_key=KEY, api_uri=serve.url)

        small = nylas.messages.send(
            grant,
            {
                "to": [{"email": "ann@example.org", "name": "Ann"}],
                "subject": "From the SDK",
                "body": "<b>hello</b>",
                "attachments": [
                    {
                        "filename": "a.txt",
                        "content_type": "text/plain",
                        "content": base64.b64encode(b"abc").decode(),
                        "size": 3,
                    }
                ],
            },
        ).data
        assert small.subject == "From the SDK" and small.grant_id == grant
        big = bytes(range(256)) * (13 * 1024)  # 3.25 MiB: the SDK sends multipart
        large = nylas.messages.send(
            grant,
            {
                "to": [{"email": "bob@example.org"}],
                "subject": "Big",
                "body": "see file",
                "attachments": [
                    {
                        "filename": "big.bin",
                        "content_type": "application/octet-stream",
                        "content": io.BytesIO(big),
                        "size": len(big),
                    }
                ],
            },
        ).data
        assert large.attachments and large.attachments[0].size == len(big)
        raw = b"From: alice@example.com\r\nTo: cy@example.org\r\nSubject: raw\r\n\r\nraw\r\n"
        mime = nylas.messages.send_raw_mime(grant, {"mime": raw.decode()}).data
        assert mime.subject == "raw"
        assert len(smtp_sink.messages) == 3
        got = email.message_from_bytes(smtp_sink.messages[1].data, policy=policy.default)
        assert next(got.iter_attachments()).get_content() == big

        with pytest.raises(NylasApiError) as refused:
            smtp_sink.reject_rcpt["nobody@example.org"] = "550 5.1.1 No such user"
            nylas.messages.send(grant, {"to": [{"email": "nobody@example.org"}], "body": "x"})
        assert refused.value.status_code == 400 and "No such user" in str(refused.value)

        draft = nylas.drafts.create(
            grant, {"to": [{"email": "dee@example.org"}], "subject": "Draft 1", "body": "one"}
        ).data
        assert draft.object == "draft"
        updated = nylas.drafts.update(
            grant, draft.id, {"to": [{"email": "dee@example.org"}], "subject": "Draft 2"}
        ).data
        assert updated.id == draft.id and updated.subject == "Draft 2"
        assert [d.id for d in nylas.drafts.list(grant).data] == [draft.id]
        assert nylas.drafts.find(grant, draft.id).data.subject == "Draft 2"
        wait(lambda: [r for r in folder(dovecot, "Drafts") if b"Draft 2" in r], "draft filed")
        wait(lambda: len(folder(dovecot, "Drafts")) == 1, "one copy")
        sent = nylas.drafts.send(grant, draft.id).data
        assert sent.id == draft.id and sent.subject == "Draft 2"
        assert len(smtp_sink.messages) == 4
        wait(lambda: folder(dovecot, "Drafts") == [], "draft copy removed")
        wait(lambda: len(folder(dovecot, "Sent")) == 4, "four Sent copies")

        scrap = nylas.drafts.create(grant, {"subject": "scrap"}).data
        nylas.drafts.destroy(grant, scrap.id)
        assert nylas.drafts.list(grant).data == []
    finally:
        serve.stop()
