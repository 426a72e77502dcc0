"""A live inboxsync server on a free loopback port (uvicorn in a background thread).

The server builds its own :class:`Runtime` inside its thread's event loop over a data directory that the
caller prepared (and seeded) beforehand.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from inboxsync.api.app import create_app
from tests.compat.harness import make_runtime
from tests.support.ports import free_port


@contextmanager
def live_server(data_dir: Path, database_url: str | None = None) -> Iterator[str]:
    """Serve the API over ``data_dir``; yields the base URL and stops the server on exit."""
    port = free_port()
    runtime = make_runtime(data_dir, database_url)
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)

    def run() -> None:
        async def main() -> None:
            try:
                await server.serve()
            finally:
                await runtime.close()

        asyncio.run(main())

    thread = threading.Thread(target=run, name=f"inboxsync-api-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
