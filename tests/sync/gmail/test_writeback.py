"""Write-back through the outbox: API-side changes (store.actions) applied by apply_gmail_action."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import select

from inboxsync.actions.gmail import apply_gmail_action
from inboxsync.providers.gmail.client import GmailClient
from inboxsync.store import actions
from inboxsync.store.models import Action
from tests.sync.gmail.helpers import Rig, gmail_grant, raw_message


async def _drain(rig: Rig, client: GmailClient) -> list[object]:
    results = []
    async with rig.runtime.db.transaction() as session:
        pending = (
            await session.scalars(
                select(Action).where(Action.state == "pending").order_by(Action.id)
            )
        ).all()
        for action in pending:
            action.state = "done"
    for action in pending:
        results.append(await apply_gmail_action(client, rig.runtime.db, action))
    return results


def _client(rig: Rig, refresh: str) -> GmailClient:
    assert rig.deps.google is not None
    return GmailClient(rig.deps.google, refresh, user=rig.grant_id)


async def test_updates_deletes_and_folders_reach_gmail(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        box = rig.box
        msgs = [box.insert(raw_message(i), ["INBOX", "UNREAD"]) for i in range(6)]
        sent = box.insert(raw_message(50), ["SENT"])
        await rig.sync().run_once()
        refresh = next(iter(rig.fake.refresh_tokens))
        folders = await rig.folders()
        db = rig.runtime.db

        async with db.transaction() as session:
            await actions.update_message(
                session, rig.grant_id, msgs[0].id, unread=False, starred=True
            )
            await actions.update_message(
                session, rig.grant_id, msgs[1].id, folder_ids=[folders["[all]"].id]
            )  # archive
            await actions.update_message(
                session, rig.grant_id, sent.id, folder_ids=[folders["SENT"].id, folders["INBOX"].id]
            )
            await actions.delete_message(session, rig.grant_id, msgs[2].id)  # to trash
            await actions.update_message(
                session, rig.grant_id, msgs[4].id, folder_ids=[folders["TRASH"].id]
            )
            work = await actions.create_folder(
                session, rig.grant_id, name="Work", background_color="#fb4c2f", text_color="#ffffff"
            )
            await session.flush()
            child = await actions.create_folder(
                session, rig.grant_id, name="Reports", parent_id=work.id
            )
        async with _client(rig, refresh) as client:
            await _drain(rig, client)
            # Labels exist at Google; folder paths are now label ids.
            names = {lab["name"]: lid for lid, lab in box.labels.items()}
            assert {"Work", "Work/Reports"} <= set(names)
            assert box.labels[names["Work"]]["color"]["backgroundColor"] == "#fb4c2f"
            await rig.sync().run_once()
            folders = await rig.folders()
            assert folders[names["Work/Reports"]].parent_id == folders[names["Work"]].id == work.id

            async with db.transaction() as session:
                await actions.update_message(
                    session, rig.grant_id, msgs[3].id, folder_ids=[folders["INBOX"].id, work.id]
                )
                await actions.update_message(
                    session, rig.grant_id, msgs[4].id, folder_ids=[folders["INBOX"].id]
                )  # untrash
                await actions.delete_message(
                    session, rig.grant_id, msgs[2].id
                )  # in trash: for good
                row = await session.get(type(work), work.id)
                assert row is not None
                await actions.update_folder(session, row, {"name": "Job"})
            await _drain(rig, client)
            async with db.transaction() as session:
                row = await session.get(type(child), child.id)
                assert row is not None
                await actions.delete_folder(session, row)
            await _drain(rig, client)
        assert box.messages[msgs[0].id].labels == {"INBOX", "STARRED"}
        assert box.messages[msgs[1].id].labels == {"UNREAD"}
        assert box.messages[sent.id].labels == {"SENT", "INBOX"}
        assert msgs[2].id not in box.messages
        assert box.messages[msgs[3].id].labels == {"INBOX", "UNREAD", names["Work"]}
        assert box.messages[msgs[4].id].labels == {"INBOX", "UNREAD"}
        assert box.labels[names["Work"]]["name"] == "Job"
        assert names["Work/Reports"] not in box.labels
        await rig.sync().run_once()
        assert await rig.stored() == rig.expected()
        assert (await rig.folders())[names["Work"]].name == "Job"


async def test_send_and_drafts(tmp_path: Path) -> None:
    async with gmail_grant(tmp_path) as rig:
        box = rig.box
        first = box.insert(raw_message(1), ["INBOX"])
        await rig.sync().run_once()
        refresh = next(iter(rig.fake.refresh_tokens))

        def action(kind: str, **payload: object) -> Action:
            return Action(grant_id=rig.grant_id, kind=kind, object_id=None, payload=payload)

        def mime(raw: bytes) -> str:
            return base64.b64encode(raw).decode()

        async with _client(rig, refresh) as client:
            reply = raw_message(2, reply_to="<m1@example.com>")
            sent = await apply_gmail_action(
                client,
                rig.runtime.db,
                action("send_message", mime=mime(reply), thread_id=first.thread_id),
            )
            assert sent is not None and sent["thread_id"] == first.thread_id
            big = raw_message(3, size=6 * 1024 * 1024)  # above 5 MB: a multipart upload
            sent_big = await apply_gmail_action(
                client, rig.runtime.db, action("send_message", mime=mime(big))
            )
            assert sent_big is not None and box.messages[str(sent_big["id"])].raw == big
            assert any(r.startswith("POST /upload/gmail/v1/") for r in rig.fake.requests)

            draft = await apply_gmail_action(
                client, rig.runtime.db, action("create_draft", mime=mime(raw_message(4)))
            )
            assert draft is not None
            updated = await apply_gmail_action(
                client,
                rig.runtime.db,
                action("update_draft", mime=mime(raw_message(5)), draft_id=draft["draft_id"]),
            )
            assert (
                updated is not None
                and updated["draft_id"] == draft["draft_id"]
                and updated["id"] != draft["id"]
            )
            await apply_gmail_action(
                client, rig.runtime.db, action("send_draft", draft_id=draft["draft_id"])
            )
            assert box.messages[str(updated["id"])].labels == {"SENT"}
        await rig.sync().run_once()
        stored = await rig.messages()
        assert stored[str(sent["id"])]["thread_id"] == first.thread_id
        assert await rig.stored() == rig.expected()
