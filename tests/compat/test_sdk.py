"""The official ``nylas`` SDK (6.18.0) against a live inboxsync: it must work unchanged.

The grant comes from :func:`sdk_grant`, the seam for the connect flow: today it is seeded from ~300
corpus messages over INBOX/Archive/Trash; when ``POST /v3/connect/custom`` lands, a variant connects a
Dovecot account through ``nylas.auth.custom_authentication`` and yields that grant instead.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nylas import Client
from nylas.models.errors import NylasApiError

from inboxsync.store.migrate import upgrade
from tests.compat.harness import OPERATOR_KEY, make_runtime
from tests.compat.live import live_server
from tests.compat.seed import Seeded, seed_grant

pytestmark = pytest.mark.slow


@dataclass
class Live:
    url: str
    nylas: Client
    grant: Seeded


def _prepare(data_dir: Path) -> Seeded:
    async def run() -> Seeded:
        runtime = make_runtime(data_dir)
        try:
            await upgrade(runtime.db)
            return await seed_grant(runtime, count=300)
        finally:
            await runtime.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def sdk_grant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Seeded]]:
    """Seam: where the SDK suite's grant comes from (seeded corpus now; Dovecot via connect later)."""
    data_dir = tmp_path_factory.mktemp("sdk")
    yield data_dir, _prepare(data_dir)


@pytest.fixture(scope="module")
def live(sdk_grant: tuple[Path, Seeded]) -> Iterator[Live]:
    data_dir, seeded = sdk_grant
    with live_server(data_dir) as url:
        yield Live(url, Client(api_key=OPERATOR_KEY, api_uri=url), seeded)


def test_grant_find_and_list(live: Live) -> None:
    grant = live.nylas.grants.find(live.grant.grant_id).data
    assert grant.id == live.grant.grant_id and grant.provider == "imap"
    assert [g.id for g in live.nylas.grants.list().data] == [live.grant.grant_id]


def test_page_through_all_messages_and_threads(live: Live) -> None:
    gid = live.grant.grant_id
    ids: list[str] = []
    token = None
    while True:
        params = {"limit": 50, **({"page_token": token} if token else {})}
        page = live.nylas.messages.list(gid, query_params=params)  # type: ignore[arg-type]
        ids += [m.id for m in page.data]
        token = page.next_cursor
        if not token:
            break
    assert len(ids) == len(set(ids)) == live.grant.message_count
    thread_ids: list[str] = []
    members = 0
    token = None
    while True:
        params = {"limit": 40, **({"page_token": token} if token else {})}
        threads = live.nylas.threads.list(gid, query_params=params)  # type: ignore[arg-type]
        for t in threads.data:
            assert t.latest_draft_or_message.grant_id == gid
            members += len(t.message_ids)
        thread_ids += [t.id for t in threads.data]
        token = threads.next_cursor
        if not token:
            break
    assert members == live.grant.message_count and len(thread_ids) == len(set(thread_ids))
    thread = live.nylas.threads.find(gid, thread_ids[0]).data
    assert thread.id == thread_ids[0]


def test_filters_and_find(live: Live) -> None:
    gid = live.grant.grant_id
    unread = live.nylas.messages.list(gid, query_params={"unread": True, "limit": 200}).data
    assert unread and all(m.unread for m in unread)
    inbox = live.grant.folder_ids["inbox"]
    in_inbox = live.nylas.messages.list(gid, query_params={"in": inbox, "limit": 20}).data
    assert in_inbox and all(inbox in m.folders for m in in_inbox)
    sender = next(m.from_[0].get("email") for m in in_inbox if m.from_)
    by_sender = live.nylas.messages.list(gid, query_params={"from": [sender]}).data
    assert by_sender
    found = live.nylas.messages.find(gid, in_inbox[0].id).data
    assert found.id == in_inbox[0].id and found.grant_id == gid
    subset = live.nylas.messages.find(gid, in_inbox[0].id, query_params={"select": "subject"}).data
    assert subset.subject == found.subject
    folders = live.nylas.folders.list(gid).data
    assert {f.name for f in folders} == {"INBOX", "Archive", "Trash"}
    listed = next(f.total_count for f in folders if f.id == inbox)
    assert live.nylas.folders.find(gid, inbox).data.total_count == listed > 0


def test_update_and_delete(live: Live) -> None:
    gid = live.grant.grant_id
    message = live.nylas.messages.list(gid, query_params={"unread": True, "limit": 1}).data[0]
    updated = live.nylas.messages.update(
        gid, message.id, request_body={"unread": False, "starred": True}
    ).data
    assert updated.unread is False and updated.starred is True
    archive = live.grant.folder_ids["archive"]
    moved = live.nylas.messages.update(gid, message.id, request_body={"folders": [archive]}).data
    assert moved.folders == [archive]
    thread = live.nylas.threads.update(gid, message.thread_id, request_body={"starred": False}).data
    assert thread.starred is False
    made = live.nylas.folders.create(gid, request_body={"name": "SDK folder"}).data
    renamed = live.nylas.folders.update(gid, made.id, request_body={"name": "SDK renamed"}).data
    assert renamed.name == "SDK renamed"
    assert live.nylas.folders.destroy(gid, made.id).request_id
    assert live.nylas.messages.destroy(gid, message.id).request_id
    assert live.nylas.messages.find(gid, message.id).data.folders == [
        live.grant.folder_ids["trash"]
    ]


def test_attachment_download_and_raw_mime(live: Live) -> None:
    gid = live.grant.grant_id
    messages = live.nylas.messages.list(
        gid, query_params={"has_attachment": True, "limit": 50}
    ).data
    message = next(m for m in messages if m.attachments)
    attachment = message.attachments[0]
    meta = live.nylas.attachments.find(gid, attachment.id, {"message_id": message.id}).data
    assert meta.id == attachment.id and meta.filename == attachment.filename
    data = live.nylas.attachments.download_bytes(gid, attachment.id, {"message_id": message.id})
    assert isinstance(data, bytes) and len(data) > 0
    raw = live.nylas.messages.find(gid, message.id, query_params={"fields": "raw_mime"}).data
    assert base64.urlsafe_b64decode(raw.raw_mime) in live.grant.raw_by_sha.values()


def test_errors_surface_as_nylas_api_error(live: Live) -> None:
    bad = Client(api_key="wrong-key", api_uri=live.url)
    with pytest.raises(NylasApiError) as caught:
        bad.messages.list(live.grant.grant_id)
    assert caught.value.status_code == 401
    assert caught.value.type == "api.authentication_error" and "API key" in str(caught.value)
    with pytest.raises(NylasApiError) as unknown:
        live.nylas.messages.list("01j8x3m4c5d6e7f8g9h0jkmnpq")
    assert unknown.value.status_code == 404 and "not found" in str(unknown.value)
    with pytest.raises(NylasApiError) as missing:
        live.nylas.messages.find(live.grant.grant_id, "INBOX/42")
    assert missing.value.status_code == 404 and "INBOX/42" in str(missing.value)
    with pytest.raises(NylasApiError) as invalid:
        live.nylas.messages.list(live.grant.grant_id, query_params={"limit": 1000})
    assert invalid.value.status_code == 400 and invalid.value.type == "api.invalid_request_error"
