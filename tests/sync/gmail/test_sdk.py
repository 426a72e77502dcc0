"""The official ``nylas`` SDK on a Google grant, exactly as on an IMAP grant.

A live inboxsync API and the Gmail fake, each on a loopback port: the SDK connects the account through
``auth.custom_authentication`` (provider google, a refresh token), lists, finds and updates messages,
threads and folders, and sends; the sync (in this process) applies the updates and the send to the fake.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from nylas import Client
from nylas.models.errors import NylasApiError

from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.store.migrate import upgrade
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail.account import GmailGrantSync
from inboxsync.sync.parsing import Parser
from tests.compat.harness import OPERATOR_KEY, make_runtime
from tests.compat.live import live_server
from tests.support.gmail_fake import CLIENT_ID, CLIENT_SECRET, GmailFake, Mailbox
from tests.support.gmail_fake.mailbox import FakeMessage
from tests.support.gmail_fake.server import serve
from tests.sync.gmail.helpers import raw_message

pytestmark = pytest.mark.slow


def _sync(data_dir: Path, url: str, grant_id: str) -> None:
    async def run() -> None:
        runtime = make_runtime(data_dir)
        config = GoogleConfig(CLIENT_ID, CLIENT_SECRET, token_url=f"{url}/token", api_url=url)
        deps = SyncDeps(
            db=runtime.db,
            blobs=runtime.blobs,
            sealer=runtime.sealer,
            parser=Parser(workers=1),
            google=config,
        )
        try:
            await GmailGrantSync(deps, grant_id).run_once()
        finally:
            await runtime.close()

    asyncio.run(run())


@contextmanager
def google_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: GmailFake
) -> Iterator[tuple[Client, str]]:
    """A live API (the SDK's client) beside the fake on its own port (its URL)."""

    async def migrate() -> None:
        runtime = make_runtime(tmp_path)
        await upgrade(runtime.db)
        await runtime.close()

    asyncio.run(migrate())
    with serve(fake) as google:
        for key, value in {
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "TOKEN_URL": f"{google}/token",
            "API_URL": google,
        }.items():
            monkeypatch.setenv(f"INBOXSYNC_GOOGLE_{key}", value)
        with live_server(tmp_path) as url:
            yield Client(api_key=OPERATOR_KEY, api_uri=url), google


def test_sdk_lists_and_updates_a_google_grant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = GmailFake()
    box, refresh = fake.add_user("someone@gmail.example")
    work = box.create_label({"name": "Work"})
    msgs = [
        box.insert(raw_message(i), ["INBOX", "UNREAD"], internal_date=1_700_000_000_000 + i)
        for i in range(30)
    ]
    box.insert(
        raw_message(99, reply_to="<m1@example.com>"), ["INBOX"], internal_date=1_700_000_001_000
    )

    with google_api(tmp_path, monkeypatch, fake) as (nylas, google):
        grant = nylas.auth.custom_authentication(
            {"provider": "google", "settings": {"refresh_token": refresh}}
        ).data
        assert grant.provider == "google" and grant.email == "someone@gmail.example"
        with pytest.raises(NylasApiError) as refused:
            nylas.auth.custom_authentication(
                {"provider": "google", "settings": {"refresh_token": "1//revoked"}}
            )
        assert refused.value.status_code == 401
        _sync(tmp_path, google, grant.id)

        listed, cursor = [], None
        while True:
            page = nylas.messages.list(
                grant.id,
                query_params={"limit": 10, **({"page_token": cursor} if cursor else {})},
            )
            listed += page.data
            cursor = page.next_cursor
            if not cursor:
                break
        assert {m.id for m in listed} == set(box.messages)  # Gmail's ids are the API's ids
        found = nylas.messages.find(grant.id, msgs[1].id).data
        assert found.thread_id == msgs[1].thread_id and found.unread is True
        thread = nylas.threads.find(grant.id, msgs[1].thread_id).data
        assert len(thread.message_ids) == 2
        folders = {f.name: f for f in nylas.folders.list(grant.id).data}
        assert {"INBOX", "SENT", "TRASH", "Work"} <= set(folders)

        updated = nylas.messages.update(
            grant.id,
            msgs[0].id,
            {
                "unread": False,
                "starred": True,
                "folders": [folders["INBOX"].id, folders["Work"].id],
            },
        ).data
        assert updated.unread is False and updated.starred is True
        nylas.messages.destroy(grant.id, msgs[2].id)
        _sync(tmp_path, google, grant.id)  # write-back, then history
        assert box.messages[msgs[0].id].labels == {"INBOX", "STARRED", work["id"]}
        assert "TRASH" in box.messages[msgs[2].id].labels
        again = nylas.messages.find(grant.id, msgs[0].id).data
        assert again.starred is True and set(again.folders) >= {
            folders["INBOX"].id,
            folders["Work"].id,
        }

        sent = nylas.messages.send(
            grant.id,
            {
                "to": [{"email": "friend@example.com", "name": "Friend"}],
                "subject": "sent through the SDK",
                "body": "<p>hello from inboxsync</p>",
            },
        ).data
        assert sent.subject == "sent through the SDK"
        _sync(tmp_path, google, grant.id)  # the worker sends through Gmail, history brings it
        at_google = [m for m in box.messages.values() if "SENT" in m.labels and m.id not in msgs]
        assert len(at_google) == 1
        subjects = [
            m.subject
            for m in nylas.messages.list(grant.id, query_params={"limit": 200}).data
            if m.subject == "sent through the SDK"
        ]
        assert subjects == ["sent through the SDK"]  # one copy, under Gmail's id


def _subject(message: FakeMessage) -> str:
    return str(BytesParser(policy=policy.default).parsebytes(message.raw)["subject"])


def _drafts_at(box: Mailbox) -> dict[str, str]:
    """Gmail's drafts: draft id -> subject of its current message."""
    return {did: _subject(box.get(mid)) for did, mid in box.drafts.items()}


def test_sdk_drafts_on_a_google_grant_reach_gmail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = GmailFake()
    box, refresh = fake.add_user("someone@gmail.example")
    box.insert(raw_message(1), ["INBOX"], internal_date=1_700_000_000_000)
    with google_api(tmp_path, monkeypatch, fake) as (nylas, google):
        grant = nylas.auth.custom_authentication(
            {"provider": "google", "settings": {"refresh_token": refresh}}
        ).data
        _sync(tmp_path, google, grant.id)
        to = [{"email": "friend@example.com"}]
        draft = nylas.drafts.create(grant.id, {"to": to, "subject": "first", "body": "v1"}).data
        _sync(tmp_path, google, grant.id)  # drafts.create, then history names Gmail's copy
        assert list(_drafts_at(box).values()) == ["first"]
        listed = nylas.drafts.list(grant.id).data
        assert [(d.id, d.subject) for d in listed] == [(draft.id, "first")]  # not stored twice

        nylas.drafts.update(grant.id, draft.id, {"to": to, "subject": "second", "body": "v2"})
        _sync(tmp_path, google, grant.id)
        (gmail_draft,) = box.drafts
        assert _drafts_at(box) == {gmail_draft: "second"}
        listed = nylas.drafts.list(grant.id).data
        assert [(d.id, d.subject) for d in listed] == [(draft.id, "second")]  # same id
        all_subjects = [m.subject for m in nylas.messages.list(grant.id).data]
        assert sorted(all_subjects) == ["message 1", "second"]

        nylas.drafts.send(grant.id, draft.id)
        _sync(tmp_path, google, grant.id)  # messages.send, the Gmail draft deleted
        assert box.drafts == {}
        assert [_subject(m) for m in box.messages.values() if "SENT" in m.labels] == ["second"]
        assert nylas.drafts.list(grant.id).data == []
        subjects = sorted(m.subject for m in nylas.messages.list(grant.id).data)
        assert subjects == ["message 1", "second"]

        gone = nylas.drafts.create(grant.id, {"to": to, "subject": "doomed", "body": "x"}).data
        kept = nylas.drafts.create(grant.id, {"to": to, "subject": "kept", "body": "y"}).data
        _sync(tmp_path, google, grant.id)
        assert sorted(_drafts_at(box).values()) == ["doomed", "kept"]
        box.expire_history()
        _sync(tmp_path, google, grant.id)  # a resync neither drops nor doubles our drafts
        assert sorted(d.id for d in nylas.drafts.list(grant.id).data) == sorted([gone.id, kept.id])
        nylas.drafts.destroy(grant.id, gone.id)
        _sync(tmp_path, google, grant.id)
        assert list(_drafts_at(box).values()) == ["kept"]
        (kept_at_google,) = box.drafts
        box.delete(box.drafts[kept_at_google])  # deleted in Gmail itself
        _sync(tmp_path, google, grant.id)
        assert [d.id for d in nylas.drafts.list(grant.id).data] == []
        with pytest.raises(NylasApiError):
            nylas.drafts.find(grant.id, kept.id)
