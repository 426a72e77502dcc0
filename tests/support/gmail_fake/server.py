"""Serve a :class:`GmailFake` on a free loopback port (uvicorn in a thread), for end-to-end runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from tests.support.gmail_fake.app import GmailFake
from tests.support.ports import free_port


@contextmanager
def serve(fake: GmailFake) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:<port>``); the token endpoint is ``<url>/token``."""
    port = free_port()
    config = uvicorn.Config(
        fake.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        interface="asgi3",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.post(f"{url}/token", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the Gmail fake did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
