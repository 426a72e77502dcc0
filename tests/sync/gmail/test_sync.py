"""Gmail sync against the fake: first sync, then changes of every kind through history."""

from __future__ import annotations

from pathlib import Path

from tests.sync.gmail.helpers import gmail_grant, raw_message


async def test_first_sync_then_every_kind_of_change(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        box = rig.box
        work = box.create_label(
            {"name": "Work", "color": {"backgroundColor": "#fb4c2f", "textColor": "#ffffff"}}
        )
        sub = box.create_label({"name": "Work/Reports"})
        first = [
            box.insert(
                raw_message(i), ["INBOX", "UNREAD"], internal_date=1_700_000_000_000 + i * 1000
            )
            for i in range(120)
        ]
        box.modify(first[0].id, [work["id"], "STARRED"], [])
        box.insert(raw_message(500), ["SPAM", "UNREAD"])
        box.insert(raw_message(501), ["SENT"])
        reply = box.insert(raw_message(502, reply_to="<m3@example.com>"), ["INBOX"])
        assert reply.thread_id == first[3].thread_id

        summary = await rig.sync().run_once()
        assert summary.kind == "full" and summary.new == 123
        assert await rig.stored() == rig.expected()
        folders = await rig.folders()
        assert folders["INBOX"].role == "inbox" and folders["[all]"].role == "all"
        assert folders[sub["id"]].parent_id == folders[work["id"]].id
        assert folders[work["id"]].background_color == "#fb4c2f"
        assert "UNREAD" not in folders
        stored = await rig.messages()
        assert stored[first[0].id]["starred"] is True and stored[first[0].id]["unread"] is True
        assert stored[reply.id]["thread_id"] == first[3].thread_id == first[3].id

        # Changes of every kind.
        new = box.insert(raw_message(600), ["INBOX", "UNREAD"])
        box.modify(first[1].id, [], ["UNREAD"])  # read
        box.modify(first[2].id, ["STARRED", sub["id"]], ["INBOX"])  # starred, labelled, archived
        box.trash(first[4].id)
        box.delete(first[5].id)
        box.modify(new.id, [work["id"]], [])
        gone = box.insert(raw_message(601), ["INBOX"])
        box.delete(gone.id)  # added and deleted between two passes: never fetched
        box.patch_label(work["id"], {"name": "Job"})
        box.delete_label(sub["id"])

        summary = await rig.sync().run_once()
        assert summary.kind == "history"
        assert summary.new == 1
        assert await rig.stored() == rig.expected()
        folders = await rig.folders()
        assert folders[work["id"]].name == "Job" and sub["id"] not in folders
        assert rig.fake.requests.count(f"GET /gmail/v1/users/me/messages/{gone.id}") == 0

        # Nothing changed: a pass costs a labels.list and a history.list.
        before = len(rig.fake.requests)
        await rig.sync().run_once()
        assert rig.fake.requests[before:] == [
            "GET /gmail/v1/users/me/labels",
            "GET /gmail/v1/users/me/history",
        ]


async def test_gmail_messages_are_searchable(tmp_path: Path) -> None:
    from inboxsync.search import service
    from inboxsync.store.queries import MessageFilter

    async with gmail_grant(tmp_path) as rig:
        wanted = rig.box.insert(raw_message(7), ["INBOX"])
        rig.box.insert(raw_message(8), ["INBOX"])
        await rig.sync().run_once()
        async with rig.runtime.db.session() as session:
            rows, _ = await service.messages(
                session, rig.grant_id, "from:s7@example.com", MessageFilter(), 10, None
            )
        assert [row.id for row in rows] == [wanted.id]
