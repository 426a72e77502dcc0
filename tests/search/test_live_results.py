"""Search results follow a message's changes at once: flags, folders, moves and deletes, via the API.

Flags and folders are read from ``messages``/``message_folders`` at query time (never copied into the
text index), so an update is visible to the very next search; a deleted message's document goes with
it. Checked on SQLite and PostgreSQL, through HTTP, with the whole result list (every page) each time.
"""

from __future__ import annotations

import httpx

from inboxsync.runtime import Runtime
from inboxsync.store import fts
from tests.compat.harness import any_runtime, asgi_client
from tests.compat.seed import seed_grant

__all__ = ["any_runtime"]


async def found(
    c: httpx.AsyncClient, grant_id: str, query: str, kind: str = "messages"
) -> set[str]:
    """The ids of every result of ``query`` (all pages)."""
    ids: list[str] = []
    token = None
    while True:
        params = {"search_query_native": query, "limit": 20}
        if token:
            params["page_token"] = token
        response = await c.get(f"/v3/grants/{grant_id}/{kind}", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [item["id"] for item in body["data"]]
        token = body["next_cursor"]
        if token is None:
            assert len(ids) == len(set(ids))
            return set(ids)


async def test_update_move_delete_change_results_at_once(any_runtime: Runtime) -> None:
    seeded = await seed_grant(any_runtime, count=40)
    g = seeded.grant_id
    async with asgi_client(any_runtime) as c:
        url = f"/v3/grants/{g}/messages"
        params = {"in": "inbox", "unread": "true", "starred": "false", "limit": 200}
        candidates = (await c.get(url, params=params)).raise_for_status().json()["data"]
        message = next(m for m in candidates if len(fts.tokens(m["subject"] or "")) >= 1)
        mid, thread = message["id"], message["thread_id"]
        word = max(fts.tokens(message["subject"]), key=len)
        by_word = await found(c, g, word)
        assert mid in by_word
        assert mid in await found(c, g, "is:unread") and mid in await found(c, g, "in:inbox")
        assert mid not in await found(c, g, "is:starred")
        assert mid not in await found(c, g, f"{word} is:starred")

        # Read and starred: the next search sees it.
        response = await c.put(f"{url}/{mid}", json={"unread": False, "starred": True})
        assert response.status_code == 200, response.text
        assert mid not in await found(c, g, "is:unread")
        assert mid in await found(c, g, "is:read")
        assert mid in await found(c, g, "is:starred")
        assert mid in await found(c, g, f"{word} is:starred")
        assert mid not in await found(c, g, f"{word} is:unread")
        assert thread in await found(c, g, f"{word} is:starred", "threads")

        # Moved to the archive: out of in:inbox, into in:archive, still found by its words.
        response = await c.put(f"{url}/{mid}", json={"folders": [seeded.folder_ids["archive"]]})
        assert response.status_code == 200, response.text
        assert mid not in await found(c, g, "in:inbox")
        assert mid not in await found(c, g, f"in:inbox {word}")
        assert mid in await found(c, g, f"in:archive {word}")
        assert await found(c, g, word) == by_word

        # Deleted: first to the trash, then for good (gone from every query, text ones included).
        assert (await c.delete(f"{url}/{mid}")).status_code == 200
        assert mid in await found(c, g, "in:trash")
        assert mid not in await found(c, g, f"in:archive {word}")
        assert (await c.delete(f"{url}/{mid}")).status_code == 200
        assert await found(c, g, word) == by_word - {mid}
        assert mid not in await found(c, g, "is:starred")
        assert mid not in await found(c, g, "in:trash")
        assert (await c.get(f"{url}/{mid}")).status_code == 404
