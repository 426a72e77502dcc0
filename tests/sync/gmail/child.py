"""Run one Gmail sync pass in its own process (killed with SIGKILL by the crash test).

``python -m tests.sync.gmail.child DATA_DIR FAKE_URL GRANT_ID``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from inboxsync.config import Settings
from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.runtime import Runtime
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.gmail.account import GmailGrantSync
from inboxsync.sync.parsing import Parser
from tests.support.gmail_fake import CLIENT_ID, CLIENT_SECRET


async def main(data_dir: Path, url: str, grant_id: str) -> None:
    runtime = Runtime.from_settings(Settings(data_dir=data_dir, durable_writes=True))
    config = GoogleConfig(CLIENT_ID, CLIENT_SECRET, token_url=f"{url}/token", api_url=url)
    deps = SyncDeps(
        db=runtime.db,
        blobs=runtime.blobs,
        sealer=runtime.sealer,
        parser=Parser(workers=1),
        google=config,
    )
    try:
        await GmailGrantSync(deps, grant_id).run_once()
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
