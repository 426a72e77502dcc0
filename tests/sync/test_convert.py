"""Parsed mail becomes rows every database accepts, whatever bytes the message carried."""

from __future__ import annotations

import hashlib

from inboxsync.mime import parse
from inboxsync.store import folders, grants, messages
from inboxsync.store.db import Database
from inboxsync.store.records import Placement
from inboxsync.sync.convert import to_new_message

RAW = (
    b"From: Nul\x00Name <a@example.com>\r\nSubject: nul \x00 here\r\nMessage-ID: <nul@x>\r\n"
    b"Content-Type: text/plain\r\n\r\nbody with \x00 a NUL byte\r\n"
)


async def test_nul_bytes_are_stored_on_every_database(database: Database) -> None:
    record = to_new_message(parse(RAW), hashlib.sha256(RAW).hexdigest())
    assert "\x00" not in (record.subject or "") + record.body + record.snippet + record.search_text
    async with database.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email="a@example.com",
            settings={},
            sealed_credentials=b"x",
            api_key_id=None,
        )
        inbox = folders.create(
            session,
            grant.id,
            path="INBOX",
            name="INBOX",
            delimiter="/",
            role="inbox",
            attributes=[],
        )
        await session.flush()
        result = await messages.ingest(session, grant.id, inbox.id, [(record, Placement(1))])
    assert len(result.created) == 1
