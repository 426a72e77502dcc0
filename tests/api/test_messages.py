"""Messages over HTTP: keyset pages, filters, find, update, delete, raw MIME, headers, %2F ids."""

from __future__ import annotations

import base64
from dataclasses import replace
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import select

from inboxsync.runtime import Runtime
from inboxsync.store import messages
from inboxsync.store.models import Action, Change, MessageFolder
from inboxsync.store.records import Placement
from tests.compat.harness import any_runtime, api_runtime, asgi_client, client, seeded
from tests.compat.seed import Seeded, corpus_messages, seed_grant

__all__ = ["any_runtime", "api_runtime", "client", "seeded"]


async def all_pages(c: httpx.AsyncClient, url: str, **params: object) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        body = (await c.get(url, params=query)).raise_for_status().json()
        items += body["data"]
        token = body["next_cursor"]
        if token is None:
            return items


async def test_pages_cover_everything_once_on_both_databases(any_runtime: Runtime) -> None:
    seeded = await seed_grant(any_runtime, count=60)
    async with asgi_client(any_runtime) as c:
        url = f"/v3/grants/{seeded.grant_id}/messages"
        items = await all_pages(c, url, limit=7)
        assert len(items) == len({i["id"] for i in items}) == seeded.message_count
        keys = [(i["date"], i["id"]) for i in items]
        assert len(keys) == seeded.message_count
        inbox = await all_pages(c, url, limit=5, **{"in": "inbox"})
        assert inbox and all(seeded.folder_ids["inbox"] in i["folders"] for i in inbox)
        unread = await all_pages(c, url, limit=9, unread="True")
        assert unread and all(i["unread"] is True for i in unread)
        threads = await all_pages(c, f"/v3/grants/{seeded.grant_id}/threads", limit=6)
        assert sum(len(t["message_ids"]) for t in threads) == seeded.message_count


async def test_cursor_is_stable_while_mail_arrives(
    api_runtime: Runtime, client: httpx.AsyncClient
) -> None:
    seeded = await seed_grant(api_runtime, count=40)
    url = f"/v3/grants/{seeded.grant_id}/messages"
    first = (await client.get(url, params={"limit": 10})).json()
    newer = [
        (replace(m, received_at=2_000_000_000), Placement(uid=50_000 + i))
        for i, (_, m) in enumerate(corpus_messages(5, 40))
    ]
    async with api_runtime.db.transaction() as s:
        await messages.ingest(s, seeded.grant_id, seeded.folder_ids["inbox"], newer)
    rest = await all_pages(client, url, limit=10, page_token=first["next_cursor"])
    ids = [m["id"] for m in first["data"]] + [m["id"] for m in rest]
    assert len(ids) == len(set(ids)) == seeded.message_count


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
        {"unread": "maybe"},
        {"page_token": "not-a-token"},
        {"page_token": "dC4xLjAxajh4"},
        {"received_before": "-1"},
        {"fields": "everything"},
    ],
)
async def test_bad_query_values_are_400(
    client: httpx.AsyncClient, seeded: Seeded, params: dict[str, str]
) -> None:
    response = await client.get(f"/v3/grants/{seeded.grant_id}/messages", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "api.invalid_request_error"


async def test_filters(client: httpx.AsyncClient, seeded: Seeded) -> None:
    url = f"/v3/grants/{seeded.grant_id}/messages"
    sample = (await client.get(url, params={"limit": 30})).json()["data"]
    sender = next(m["from"][0]["email"] for m in sample if m["from"])
    by_from = await all_pages(client, url, **{"from": sender.upper()})
    assert by_from and all(
        any(p["email"].lower() == sender.lower() for p in m["from"]) for m in by_from
    )
    other = next(
        m["from"][0]["email"] for m in sample if m["from"] and m["from"][0]["email"] != sender
    )
    union = await all_pages(client, url, any_email=f"{sender},{other}")
    repeated = await all_pages(client, url, any_email=[sender, other])
    assert {m["id"] for m in union} == {m["id"] for m in repeated}
    assert len(union) > len(by_from)
    subject = sample[0]["subject"]
    assert any(m["id"] == sample[0]["id"] for m in await all_pages(client, url, subject=subject))
    thread = await all_pages(client, url, thread_id=sample[0]["thread_id"])
    assert {m["thread_id"] for m in thread} == {sample[0]["thread_id"]}
    with_files = await all_pages(client, url, has_attachment="true")
    assert all(m["attachments"] for m in with_files)
    starred = await all_pages(client, url, starred="False")
    assert all(not m["starred"] for m in starred)
    window = await all_pages(
        client,
        url,
        received_after=1_600_000_000 + 3600 * 5,
        received_before=1_600_000_000 + 3600 * 10,
    )
    assert window and len(window) <= 10
    assert (await client.get(url, params={"in": "no-such-folder"})).json()["data"] == []
    by_name = await all_pages(client, url, **{"in": "Archive"})
    by_id = await all_pages(client, url, **{"in": seeded.folder_ids["archive"]})
    assert [m["id"] for m in by_name] == [m["id"] for m in by_id]


async def test_find_select_raw_and_headers(client: httpx.AsyncClient, seeded: Seeded) -> None:
    url = f"/v3/grants/{seeded.grant_id}/messages"
    message = (await client.get(url, params={"limit": 1})).json()["data"][0]
    found = (await client.get(f"{url}/{message['id']}", params={"select": "subject"})).json()[
        "data"
    ]
    assert found == {
        "object": "message",
        "id": message["id"],
        "grant_id": seeded.grant_id,
        "subject": message["subject"],
    }
    raw = (await client.get(f"{url}/{message['id']}", params={"fields": "raw_mime"})).json()["data"]
    decoded = base64.urlsafe_b64decode(raw["raw_mime"])
    assert decoded in seeded.raw_by_sha.values()
    headers = (
        await client.get(f"{url}/{message['id']}", params={"fields": "include_headers"})
    ).json()["data"]["headers"]
    assert any(h["name"].lower() == "subject" for h in headers)


async def test_update_records_change_and_action(
    client: httpx.AsyncClient, seeded: Seeded, api_runtime: Runtime
) -> None:
    url = f"/v3/grants/{seeded.grant_id}/messages"
    message = (await client.get(url, params={"limit": 1, "unread": "true"})).json()["data"][0]
    archive = seeded.folder_ids["archive"]
    response = await client.put(
        f"{url}/{message['id']}", json={"unread": False, "starred": True, "folders": [archive]}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["unread"], data["starred"], data["folders"]) == (False, True, [archive])
    async with api_runtime.db.session() as s:
        action = (await s.scalars(select(Action).where(Action.object_id == message["id"]))).one()
        assert action.kind == "update_message"
        assert action.payload["unread"] is False and action.payload["folders"] == [archive]
        assert action.payload["placements"]
        change = (
            await s.scalars(
                select(Change).where(Change.object_id == message["id"], Change.event == "updated")
            )
        ).all()
        assert change and set(change[-1].fields) == {"unread", "starred", "folders"}
        uids = (
            await s.scalars(
                select(MessageFolder.uid).where(MessageFolder.message_id == message["id"])
            )
        ).all()
        assert len(uids) == 1 and uids[0] < 0
    bad = await client.put(f"{url}/{message['id']}", json={"folders": ["nope"]})
    assert bad.status_code == 400
    assert (
        await client.put(
            f"{url}/{message['id']}", content=b"{", headers={"content-type": "application/json"}
        )
    ).status_code == 400
    assert (
        await client.put(
            f"{url}/{message['id']}", content=b"unread", headers={"content-type": "text/plain"}
        )
    ).status_code == 415
    assert (
        await client.put(
            f"{url}/{message['id']}",
            content=b"x" * (2 << 20),
            headers={"content-type": "application/json"},
        )
    ).status_code == 413


async def test_delete_moves_to_trash_then_deletes(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    url = f"/v3/grants/{seeded.grant_id}/messages"
    message = (await client.get(url, params={"limit": 1, "in": "inbox"})).json()["data"][0]
    assert (await client.delete(f"{url}/{message['id']}")).json()["data"] == {"status": "success"}
    moved = (await client.get(f"{url}/{message['id']}")).json()["data"]
    assert moved["folders"] == [seeded.folder_ids["trash"]]
    assert (await client.delete(f"{url}/{message['id']}")).status_code == 200
    gone = await client.get(f"{url}/{message['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "api.not_found_error"


@pytest.mark.parametrize("raw_id", ["a%2Fb", "INBOX%2F123", "a%252Fb"])
async def test_percent_encoded_ids_are_decoded_once(
    client: httpx.AsyncClient, seeded: Seeded, raw_id: str
) -> None:
    response = await client.get(f"/v3/grants/{seeded.grant_id}/messages/{raw_id}")
    assert response.status_code == 404
    assert unquote(raw_id) in response.json()["error"]["message"]
    thread = await client.get(f"/v3/grants/{seeded.grant_id}/threads/{raw_id}")
    assert thread.status_code == 404


async def test_grant_by_email_and_unknown_grant(client: httpx.AsyncClient, seeded: Seeded) -> None:
    by_email = await client.get(f"/v3/grants/{seeded.email}/messages", params={"limit": 2})
    assert by_email.status_code == 200 and len(by_email.json()["data"]) == 2
    for grant in ("01j8x3m4c5d6e7f8g9h0jkmnpq", "nobody@example.com", "bad$id"):
        response = await client.get(f"/v3/grants/{grant}/messages")
        assert response.status_code == 404, grant


async def test_address_filters_find_every_match_on_both_databases(any_runtime: Runtime) -> None:
    """``from=``/``to=``/``cc=``/``any_email=`` are read through the search index: every message
    with the address, none without, across pages, whatever the case of the address."""
    seeded = await seed_grant(any_runtime, count=60)
    async with asgi_client(any_runtime) as c:
        url = f"/v3/grants/{seeded.grant_id}/messages"
        everything = await all_pages(c, url, limit=200)

        def having(email: str, *roles: str) -> set[object]:
            return {
                m["id"]
                for m in everything
                if any(
                    p["email"].lower() == email.lower()
                    for role in roles
                    for p in m[role]  # type: ignore[attr-defined]
                )
            }

        roles = ("from", "to", "cc", "bcc")
        senders = sorted({m["from"][0]["email"] for m in everything if m["from"]})  # type: ignore[index]
        recipients = sorted({p["email"] for m in everything for p in m["to"]})  # type: ignore[attr-defined]
        assert len(senders) > 3 and recipients
        checked = 0
        for email in senders[:4]:
            got = await all_pages(c, url, limit=3, **{"from": email.upper()})
            assert {m["id"] for m in got} == having(email, "from") and len(got) == len(
                set(m["id"] for m in got)
            )
            checked += len(got)
        for email in recipients[:2]:
            got = await all_pages(c, url, limit=3, to=email)
            assert {m["id"] for m in got} == having(email, "to")
        pair = senders[:2]
        got = await all_pages(c, url, limit=3, any_email=",".join(pair))
        assert {m["id"] for m in got} == having(pair[0], *roles) | having(pair[1], *roles)
        assert checked > 4


async def test_hand_read_parameters_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    lists = {
        "/v3/grants/{grant_id}/messages": {"fields", "received_after", "sort"},
        "/v3/grants/{grant_id}/threads": {"latest_message_before", "earliest_message_date"},
        "/v3/grants/{grant_id}/drafts": {"received_before"},
    }
    for path, own in lists.items():
        names = [p["name"] for p in paths[path]["get"]["parameters"]]
        assert len(names) == len(set(names)), path
        common = {"grant_id", "limit", "page_token", "select", "from", "in", "unread", "subject"}
        assert common | own <= set(names), path


async def test_bad_thread_query_values_are_400(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for params in ({"limit": "0"}, {"latest_message_before": "soon"}, {"starred": "2"}):
        response = await client.get(f"/v3/grants/{seeded.grant_id}/threads", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith(next(iter(params))), response.text
