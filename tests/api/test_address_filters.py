"""List filters by address (``from=``, ``to=``, ``cc=``, ``bcc=``, ``any_email=``) against an
oracle computed from the messages themselves, on SQLite and PostgreSQL.

They read the address index (``store/addresses.py``): pages walk one address's range of it, and
further address filters are probes of it. The oracle is the whole mailbox filtered in Python:
same messages, same order (newest first), across pages of 2; addresses match whatever their case;
drafts written through the API follow their new recipients; the index of messages stored before
migration 0009 is what the migration fills.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text

from inboxsync.runtime import Runtime
from inboxsync.store.migrate import downgrade, upgrade
from tests.compat.harness import all_pages, any_runtime, seeded_client
from tests.compat.seed import Seeded, seed_grant

__all__ = ["any_runtime", "seeded_client"]

Message = dict[str, Any]


def _emails(m: Message, *fields: str) -> set[str]:
    return {p["email"].strip().lower() for f in fields for p in m[f] or [] if p.get("email")}


def _in(fields: tuple[str, ...], *emails: str) -> Callable[[Message], bool]:
    wanted = {e.lower() for e in emails}
    return lambda m: bool(_emails(m, *fields) & wanted)


ANY = ("from", "to", "cc", "bcc")


async def test_address_filters_match_the_oracle(
    seeded_client: tuple[httpx.AsyncClient, Seeded],
) -> None:
    client, seeded = seeded_client
    base = f"/v3/grants/{seeded.grant_id}/messages"
    everything = await all_pages(client, base, {"limit": 200})
    senders = Counter(p["email"] for m in everything for p in m["from"])
    common, rare = senders.most_common(1)[0][0], senders.most_common()[-1][0]
    recipients = Counter(p["email"] for m in everything for p in m["to"])
    to = recipients.most_common(1)[0][0]
    copied = Counter(p["email"] for m in everything for p in m["cc"])
    cc = copied.most_common(1)[0][0] if copied else to
    inbox = seeded.folder_ids["inbox"]
    cases: list[tuple[dict[str, str], Callable[[Message], bool]]] = [
        ({"from": common}, _in(("from",), common)),
        ({"from": common.upper()}, _in(("from",), common)),
        ({"from": rare}, _in(("from",), rare)),
        ({"to": to}, _in(("to",), to)),
        ({"cc": cc}, _in(("cc",), cc)),
        ({"any_email": to}, _in(ANY, to)),
        ({"any_email": f"{common},{rare}"}, _in(ANY, common, rare)),
        ({"from": common, "to": to}, lambda m: _in(("from",), common)(m) and _in(("to",), to)(m)),
        (
            {"from": common, "in": "inbox"},
            lambda m: _in(("from",), common)(m) and inbox in m["folders"],
        ),
        ({"any_email": to, "unread": "true"}, lambda m: _in(ANY, to)(m) and m["unread"]),
        ({"from": "nobody@nowhere.example"}, lambda m: False),
    ]
    assert senders[common] > 2  # pages of 2 meet more than one page
    for params, wanted in cases:
        expected = [m["id"] for m in everything if wanted(m)]
        got = [m["id"] for m in await all_pages(client, base, {"limit": 2, **params})]
        assert got == expected, params
        if expected:  # the row path (select=) reads the same index
            rows = await all_pages(client, base, {"limit": 50, **params, "select": "id,from"})
            assert [m["id"] for m in rows] == expected, params


async def test_drafts_follow_their_recipients(
    seeded_client: tuple[httpx.AsyncClient, Seeded],
) -> None:
    client, seeded = seeded_client
    g = f"/v3/grants/{seeded.grant_id}"
    made = await client.post(
        f"{g}/drafts", json={"subject": "d", "to": [{"email": "Carol@Example.com"}], "body": "x"}
    )
    assert made.status_code == 200, made.text
    draft_id = made.json()["data"]["id"]

    async def found(address: str) -> list[str]:
        page = await client.get(f"{g}/messages", params={"to": address})
        return [m["id"] for m in page.json()["data"]]

    assert await found("carol@example.com") == [draft_id]
    changed = await client.put(
        f"{g}/drafts/{draft_id}", json={"to": [{"email": "dan@example.com"}]}
    )
    assert changed.status_code == 200, changed.text
    assert await found("carol@example.com") == []
    assert await found("DAN@example.com") == [draft_id]
    assert (await client.delete(f"{g}/drafts/{draft_id}")).status_code == 200
    assert await found("dan@example.com") == []


async def test_migration_fills_the_index_of_stored_messages(any_runtime: Runtime) -> None:
    await seed_grant(any_runtime, count=60)
    rows = text("SELECT grant_id, address, received_at, message_id, roles FROM message_addresses")
    async with any_runtime.db.transaction() as s:
        ingested = set((await s.execute(rows)).tuples().all())
    await downgrade(any_runtime.db, "0008")
    await upgrade(any_runtime.db)
    async with any_runtime.db.transaction() as s:
        filled = set((await s.execute(rows)).tuples().all())
    assert len(ingested) > 60 and filled == ingested
