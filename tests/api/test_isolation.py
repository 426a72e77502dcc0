"""Grant isolation: two stored keys, two grants; every route tried across them is a 404."""

from __future__ import annotations

import pytest

from inboxsync.runtime import Runtime
from inboxsync.store import api_keys, queries
from inboxsync.store.queries import MessageFilter
from tests.compat.harness import api_runtime, asgi_client
from tests.compat.seed import seed_grant

__all__ = ["api_runtime"]


@pytest.mark.slow
async def test_every_route_is_404_across_grants(api_runtime: Runtime) -> None:
    async with api_runtime.db.transaction() as s:
        key_a, secret_a = await api_keys.create(s, "a")
        key_b, secret_b = await api_keys.create(s, "b")
    a = await seed_grant(api_runtime, email="a@example.com", api_key_id=key_a.id, count=20)
    b = await seed_grant(
        api_runtime, email="b@example.com", api_key_id=key_b.id, count=20, start=20
    )
    async with asgi_client(api_runtime, secret_b) as cb:
        msg = (
            await cb.get(
                f"/v3/grants/{b.grant_id}/messages", params={"has_attachment": "true", "limit": 1}
            )
        ).json()["data"]
        if not msg:
            msg = (await cb.get(f"/v3/grants/{b.grant_id}/messages", params={"limit": 1})).json()[
                "data"
            ]
        b_msg = msg[0]
        b_thread = b_msg["thread_id"]
        b_folder = b.folder_ids["archive"]
        b_att = (
            b_msg["attachments"][0]["id"] if b_msg["attachments"] else "01j8x3ma0b1c2d3e4f5g6h7j8k"
        )
        # b sees b's grants only
        grants = (await cb.get("/v3/grants")).json()["data"]
        assert [g["id"] for g in grants] == [b.grant_id]
    async with asgi_client(api_runtime, secret_a) as ca:
        ga, gb = a.grant_id, b.grant_id
        attempts = [
            # b's objects through a's grant path
            ("GET", f"/v3/grants/{ga}/messages/{b_msg['id']}", None),
            ("PUT", f"/v3/grants/{ga}/messages/{b_msg['id']}", {"unread": False}),
            ("DELETE", f"/v3/grants/{ga}/messages/{b_msg['id']}", None),
            ("GET", f"/v3/grants/{ga}/threads/{b_thread}", None),
            ("PUT", f"/v3/grants/{ga}/threads/{b_thread}", {"starred": True}),
            ("DELETE", f"/v3/grants/{ga}/threads/{b_thread}", None),
            ("GET", f"/v3/grants/{ga}/folders/{b_folder}", None),
            ("PUT", f"/v3/grants/{ga}/folders/{b_folder}", {"name": "x"}),
            ("DELETE", f"/v3/grants/{ga}/folders/{b_folder}", None),
            ("GET", f"/v3/grants/{ga}/attachments/{b_att}?message_id={b_msg['id']}", None),
            ("GET", f"/v3/grants/{ga}/attachments/{b_att}/download?message_id={b_msg['id']}", None),
            # b's grant itself, with a's key
            ("GET", f"/v3/grants/{gb}", None),
            ("PATCH", f"/v3/grants/{gb}", {"settings": {}}),
            ("DELETE", f"/v3/grants/{gb}", None),
            ("GET", "/v3/grants/b@example.com/messages", None),
            ("GET", f"/v3/grants/{gb}/messages", None),
            ("GET", f"/v3/grants/{gb}/messages/{b_msg['id']}", None),
            ("PUT", f"/v3/grants/{gb}/messages/{b_msg['id']}", {"unread": False}),
            ("DELETE", f"/v3/grants/{gb}/messages/{b_msg['id']}", None),
            ("GET", f"/v3/grants/{gb}/threads", None),
            ("GET", f"/v3/grants/{gb}/threads/{b_thread}", None),
            ("PUT", f"/v3/grants/{gb}/threads/{b_thread}", {"unread": True}),
            ("DELETE", f"/v3/grants/{gb}/threads/{b_thread}", None),
            ("GET", f"/v3/grants/{gb}/folders", None),
            ("POST", f"/v3/grants/{gb}/folders", {"name": "Sneaky"}),
            ("GET", f"/v3/grants/{gb}/folders/{b_folder}", None),
            ("PUT", f"/v3/grants/{gb}/folders/{b_folder}", {"name": "x"}),
            ("DELETE", f"/v3/grants/{gb}/folders/{b_folder}", None),
            ("GET", f"/v3/grants/{gb}/attachments/{b_att}?message_id={b_msg['id']}", None),
            ("GET", f"/v3/grants/{gb}/attachments/{b_att}/download?message_id={b_msg['id']}", None),
        ]
        for method, url, body in attempts:
            response = await ca.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["error"]["type"] == "api.not_found_error"
        # b's folder as a's list filter: nothing, for threads too
        for kind in ("messages", "threads"):
            listed = await ca.get(f"/v3/grants/{ga}/{kind}", params={"in": b_folder})
            assert listed.status_code == 200 and listed.json()["data"] == [], kind
    # and the page's statement itself checks the folder's grant (the route resolves `in` first)
    for walk in (MessageFilter(folder_id=b_folder), MessageFilter(folder_id=b_folder, unread=True)):
        texts, _ = await queries.message_page_json(api_runtime.db, a.grant_id, walk, 50, None)
        assert texts == []
        async with api_runtime.db.read_session() as session:
            rows, _ = await queries.message_page(session, a.grant_id, walk, 50, None)
        assert rows == []
        # while through b's own grant the same walk finds b's messages
        texts, _ = await queries.message_page_json(api_runtime.db, b.grant_id, walk, 50, None)
        assert texts
    async with asgi_client(api_runtime, secret_b) as cb:
        still = (await cb.get(f"/v3/grants/{b.grant_id}/messages/{b_msg['id']}")).json()["data"]
        assert still["unread"] == b_msg["unread"] and still["folders"] == b_msg["folders"]
        folders = (await cb.get(f"/v3/grants/{b.grant_id}/folders")).json()["data"]
        assert {f["name"] for f in folders} == {"INBOX", "Archive", "Trash"}
