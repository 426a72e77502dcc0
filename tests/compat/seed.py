"""Seed a grant with corpus messages the way sync would: parse, blobs.put, ingest.

Used by the API tests, the SDK suite and ``bench/api.py``. Messages are spread over INBOX, Archive and
Trash; every tenth one also sits in Archive (one message, two folders); received times come in pairs
with equal timestamps so that keyset pages meet ties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inboxsync.mime import parse
from inboxsync.runtime import Runtime
from inboxsync.store import folders, grants, messages
from inboxsync.store.models import Folder
from inboxsync.store.records import NewMessage, Placement
from inboxsync.sync.convert import to_new_message
from tests.support.corpus import corpus_paths

BASE_TIME = 1_600_000_000
FOLDERS = (
    ("INBOX", "inbox", ["\\Inbox"]),
    ("Archive", "archive", ["\\Archive"]),
    ("Trash", "trash", ["\\Trash"]),
)


@dataclass
class Seeded:
    grant_id: str
    email: str
    folder_ids: dict[str, str]  # role -> id
    message_count: int = 0
    raw_by_sha: dict[str, bytes] = field(default_factory=dict)


def corpus_messages(count: int, start: int = 0) -> list[tuple[bytes, NewMessage]]:
    """``count`` corpus messages, parsed and converted, received at paired timestamps."""
    out: list[tuple[bytes, NewMessage]] = []
    for i, path in enumerate(corpus_paths()[start : start + count]):
        raw = Path(path).read_bytes()
        from datetime import UTC, datetime

        received = datetime.fromtimestamp(BASE_TIME + (i // 2) * 3600, UTC)
        import hashlib

        sha = hashlib.sha256(raw).hexdigest()
        out.append((raw, to_new_message(parse(raw), sha, received_at=received)))
    return out


async def seed_grant(
    runtime: Runtime,
    *,
    email: str = "alice@example.com",
    api_key_id: str | None = None,
    count: int = 300,
    start: int = 0,
) -> Seeded:
    batch = corpus_messages(count, start)
    runtime.blobs.put_many(raw for raw, _ in batch)
    async with runtime.db.transaction() as session:
        grant = await grants.create(
            session,
            provider="imap",
            email=email,
            settings={"imap_host": "127.0.0.1"},
            sealed_credentials=b"sealed",
            api_key_id=api_key_id,
        )
        made: dict[str, Folder] = {}
        for path, role, attributes in FOLDERS:
            made[role] = folders.create(
                session,
                grant.id,
                path=path,
                name=path,
                delimiter="/",
                role=role,
                attributes=attributes,
            )
        await session.flush()
        per_folder: dict[str, list[tuple[NewMessage, Placement]]] = {r: [] for r in made}
        for i, (_, m) in enumerate(batch):
            role = ("inbox", "inbox", "archive", "trash")[i % 4] if i % 7 else "inbox"
            flags = tuple(f for f, on in (("\\Seen", i % 3 == 0), ("\\Flagged", i % 5 == 0)) if on)
            per_folder[role].append((m, Placement(uid=i + 1, flags=flags)))
            if i % 10 == 0 and role != "archive":
                per_folder["archive"].append((m, Placement(uid=10_000 + i, flags=flags)))
        for role, items in per_folder.items():
            if items:
                await messages.ingest(session, grant.id, made[role].id, items, self_email=email)
    return Seeded(
        grant_id=grant.id,
        email=email,
        folder_ids={r: f.id for r, f in made.items()},
        message_count=len({m.sha256 for _, m in batch}),
        raw_by_sha={m.sha256: raw for raw, m in batch},
    )
