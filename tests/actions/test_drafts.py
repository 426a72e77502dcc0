"""Drafts against a real Dovecot: stored with \\Draft in Drafts, one copy per draft, a stable id."""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from pathlib import Path

import pytest

from tests.actions.send_rig import SendRig, send_rig, until
from tests.actions.test_send import open_actions
from tests.support.dovecot import Dovecot
from tests.support.smtp import SmtpSink

pytestmark = [pytest.mark.dovecot]


@pytest.fixture(params=["normal", "legacy"])
def server(request: pytest.FixtureRequest, dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    legacy = request.param == "legacy"
    return dovecot_factory(legacy=legacy, rawlog=legacy)


def drafts_on_server(server: Dovecot) -> list[tuple[set[str], bytes]]:
    with server.admin() as admin:
        return [(m.flags, m.raw) for m in admin.fetch_all("Drafts")]


async def settled(rig: SendRig) -> bool:
    return not await open_actions(rig)


async def test_draft_lifecycle(server: Dovecot, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    async with send_rig(server, smtp_sink, tmp_path) as rig:
        created = await rig.api.post(
            rig.url("drafts"),
            json={"to": [{"email": "ann@example.org"}], "subject": "First", "body": "v1"},
        )
        assert created.status_code == 200, created.text
        draft = created.json()["data"]
        assert draft["object"] == "draft" and draft["subject"] == "First"
        await until(lambda: settled(rig), "draft saved")
        (copy,) = drafts_on_server(server)
        assert "\\Draft" in copy[0] and b"Subject: First" in copy[1]

        for version in ("Second", "Third"):
            updated = await rig.api.put(
                rig.url(f"drafts/{draft['id']}"),
                json={"to": [{"email": "ann@example.org"}], "subject": version, "body": version},
            )
            assert updated.status_code == 200, updated.text
            assert updated.json()["data"]["id"] == draft["id"]
        await until(lambda: settled(rig), "updates saved")
        (copy,) = drafts_on_server(server)
        assert b"Subject: Third" in copy[1] and "\\Draft" in copy[0]

        await rig.sync.run_once()  # a pass over the server changes nothing
        listed = (await rig.api.get(rig.url("drafts"))).json()["data"]
        assert [(d["id"], d["subject"], d["object"]) for d in listed] == [
            (draft["id"], "Third", "draft")
        ]
        found = (await rig.api.get(rig.url(f"drafts/{draft['id']}"))).json()["data"]
        assert found["subject"] == "Third" and len(found["folders"]) == 1

        # Send it: no body, no content type (as the SDK does).
        sent = await rig.api.post(rig.url(f"drafts/{draft['id']}"))
        assert sent.status_code == 200, sent.text
        assert sent.json()["data"]["object"] == "message"
        (got,) = smtp_sink.messages
        assert email.message_from_bytes(got.data, policy=policy.default)["Subject"] == "Third"
        await until(lambda: settled(rig), "sent draft filed")
        assert drafts_on_server(server) == []
        with server.admin() as admin:
            assert len(admin.fetch_all("Sent")) == 1
        await rig.sync.run_once()
        assert (await rig.api.get(rig.url("drafts"))).json()["data"] == []
        gone = await rig.api.get(rig.url(f"drafts/{draft['id']}"))
        assert gone.status_code == 404

        # Another draft, deleted.
        other = (await rig.api.post(rig.url("drafts"), json={"subject": "scrap"})).json()["data"]
        await until(lambda: settled(rig), "saved")
        assert len(drafts_on_server(server)) == 1
        deleted = await rig.api.delete(rig.url(f"drafts/{other['id']}"))
        assert deleted.status_code == 200 and "request_id" in deleted.json()
        await until(lambda: settled(rig), "deleted")
        assert drafts_on_server(server) == []
    if server.legacy:
        assert server.legacy_violations() == []
