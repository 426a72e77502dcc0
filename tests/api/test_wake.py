"""A committed API change wakes the grant's worker at once (not at the next poll)."""

from __future__ import annotations

from inboxsync.api.app import create_app
from inboxsync.runtime import Runtime
from tests.compat.harness import AUTH, api_runtime, seeded
from tests.compat.seed import Seeded

__all__ = ["api_runtime", "seeded"]


class Recorder:
    def __init__(self) -> None:
        self.notified: list[str] = []

    def notify(self, grant_id: str) -> None:
        self.notified.append(grant_id)

    def wake(self) -> None:
        pass


async def test_update_and_delete_wake_the_worker(api_runtime: Runtime, seeded: Seeded) -> None:
    import httpx

    app = create_app(api_runtime)
    recorder = Recorder()
    app.state.supervisor = recorder
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=AUTH) as client:
        gid = seeded.grant_id
        page = (await client.get(f"/v3/grants/{gid}/messages", params={"limit": 2})).json()["data"]
        response = await client.put(
            f"/v3/grants/{gid}/messages/{page[0]['id']}", json={"unread": False}
        )
        assert response.status_code == 200
        assert recorder.notified == [gid]
        assert (
            await client.delete(f"/v3/grants/{gid}/messages/{page[1]['id']}")
        ).status_code == 200
        assert recorder.notified == [gid, gid]
        # A read changes nothing and wakes nobody.
        await client.get(f"/v3/grants/{gid}/messages/{page[0]['id']}")
        assert recorder.notified == [gid, gid]
