"""Threads, folders, attachments and grants over HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from inboxsync.runtime import Runtime
from inboxsync.store.models import Action, Message
from tests.compat.harness import api_runtime, client, seeded
from tests.compat.seed import Seeded

__all__ = ["api_runtime", "client", "seeded"]


async def test_thread_fields_and_update(client: httpx.AsyncClient, seeded: Seeded) -> None:
    url = f"/v3/grants/{seeded.grant_id}/threads"
    threads = (await client.get(url, params={"limit": 200})).json()["data"]
    multi = max(threads, key=lambda t: len(t["message_ids"]))
    latest = multi["latest_draft_or_message"]
    assert latest["object"] == "message" and latest["grant_id"] == seeded.grant_id
    assert latest["id"] == multi["message_ids"][-1]
    assert multi["folders"] and multi["participants"]
    found = (await client.get(f"{url}/{multi['id']}")).json()["data"]
    assert found == multi
    updated = (
        await client.put(f"{url}/{multi['id']}", json={"unread": False, "starred": True})
    ).json()["data"]
    assert updated["unread"] is False and updated["starred"] is True
    members = (
        await client.get(
            f"/v3/grants/{seeded.grant_id}/messages", params={"thread_id": multi["id"]}
        )
    ).json()["data"]
    assert all(m["starred"] and not m["unread"] for m in members)
    starred = (await client.get(url, params={"starred": "True", "limit": 200})).json()["data"]
    assert multi["id"] in {t["id"] for t in starred}
    inbox = (await client.get(url, params={"in": "inbox", "limit": 200})).json()["data"]
    assert all(seeded.folder_ids["inbox"] in t["folders"] for t in inbox)
    assert (await client.delete(f"{url}/{multi['id']}")).status_code == 200
    moved = (await client.get(f"{url}/{multi['id']}")).json()["data"]
    assert moved["folders"] == [seeded.folder_ids["trash"]]


async def test_folder_crud_with_actions(
    client: httpx.AsyncClient, seeded: Seeded, api_runtime: Runtime
) -> None:
    url = f"/v3/grants/{seeded.grant_id}/folders"
    listed = (await client.get(url)).json()["data"]
    inbox = next(f for f in listed if f["name"] == "INBOX")
    assert (
        inbox["system_folder"] is True and inbox["total_count"] > 0 and inbox["unread_count"] >= 0
    )
    made = (await client.post(url, json={"name": "Receipts"})).json()["data"]
    assert made["system_folder"] is False and made["total_count"] == 0
    child = (await client.post(url, json={"name": "2024", "parent_id": made["id"]})).json()["data"]
    assert child["parent_id"] == made["id"]
    assert (await client.get(f"{url}/{made['id']}")).json()["data"]["child_count"] == 1
    assert (await client.post(url, json={"name": "Receipts"})).status_code == 409
    assert (await client.post(url, json={"name": ""})).status_code == 400
    renamed = (
        await client.put(f"{url}/{made['id']}", json={"name": "Bills", "text_color": "#000000"})
    ).json()["data"]
    assert renamed["name"] == "Bills" and renamed["text_color"] == "#000000"
    assert (await client.delete(f"{url}/{child['id']}")).status_code == 200
    assert (await client.get(f"{url}/{child['id']}")).status_code == 404
    assert (await client.delete(f"{url}/{inbox['id']}")).status_code == 400
    async with api_runtime.db.session() as s:
        kinds = [a.kind for a in (await s.scalars(select(Action).order_by(Action.id))).all()]
    assert kinds == ["create_folder", "create_folder", "rename_folder", "delete_folder"]
    paged = (await client.get(url, params={"limit": 2})).json()
    assert len(paged["data"]) == 2 and paged["next_cursor"]
    rest = (await client.get(url, params={"limit": 2, "page_token": paged["next_cursor"]})).json()
    assert {f["id"] for f in rest["data"]}.isdisjoint({f["id"] for f in paged["data"]})


async def test_attachment_metadata_and_download(client: httpx.AsyncClient, seeded: Seeded) -> None:
    url = f"/v3/grants/{seeded.grant_id}"
    msgs = (
        await client.get(f"{url}/messages", params={"has_attachment": "true", "limit": 50})
    ).json()["data"]
    message = next(m for m in msgs if m["attachments"])
    att = message["attachments"][0]
    meta = await client.get(f"{url}/attachments/{att['id']}", params={"message_id": message["id"]})
    assert meta.json()["data"]["id"] == att["id"]
    download = await client.get(
        f"{url}/attachments/{att['id']}/download", params={"message_id": message["id"]}
    )
    assert download.status_code == 200
    assert download.headers["content-type"].startswith(att["content_type"].split(";")[0])
    assert (
        "attachment" in download.headers["content-disposition"]
        or "inline" in download.headers["content-disposition"]
    )
    assert len(download.content) > 0
    missing = await client.get(f"{url}/attachments/{att['id']}")
    assert missing.status_code == 400
    wrong = await client.get(
        f"{url}/attachments/{att['id']}", params={"message_id": "01j8x3m9zq7r2s4t6v8w0yabcd"}
    )
    assert wrong.status_code == 404


async def test_grants_list_patch_delete(
    client: httpx.AsyncClient, seeded: Seeded, api_runtime: Runtime
) -> None:
    listed = (await client.get("/v3/grants", params={"provider": "imap", "limit": 5})).json()
    assert [g["id"] for g in listed["data"]] == [seeded.grant_id] and listed["next_cursor"] is None
    assert (await client.get("/v3/grants", params={"offset": 1})).json()["data"] == []
    assert (await client.get("/v3/grants", params={"order_by": "sideways"})).status_code == 400
    patched = await client.patch(
        f"/v3/grants/{seeded.grant_id}", json={"settings": {"imap_port": 993}}
    )
    assert patched.json()["data"]["settings"]["imap_port"] == 993
    assert (
        await client.patch(
            f"/v3/grants/{seeded.grant_id}", json={"settings": {"imap_password": "x"}}
        )
    ).status_code == 400
    blob = api_runtime.blobs.path(next(iter(seeded.raw_by_sha)))
    assert blob.exists()
    assert (await client.delete(f"/v3/grants/{seeded.grant_id}")).json()["data"] == {
        "status": "success"
    }
    assert (await client.get(f"/v3/grants/{seeded.grant_id}")).status_code == 404
    assert not blob.exists()
    async with api_runtime.db.session() as s:
        assert (await s.scalars(select(Message.id).limit(1))).first() is None
