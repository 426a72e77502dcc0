"""A loopback webhook receiver for tests and the benchmark: asyncio, HTTP/1.1 keep-alive.

``mode`` decides each answer: ``ok`` (200), ``error`` (500), ``hang`` (never answers), ``close``
(drops the connection). ``received`` keeps every POST answered 200 (raw body, headers, time);
``attempts`` counts every POST seen. GET ``?challenge=x`` echoes ``x``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    mode: str = "ok"
    delay: float = 0.0  # seconds before each 200
    received: list[Hit] = field(default_factory=list)
    attempts: int = 0
    challenges: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "GET":
                    self.challenges += 1
                    value = parse_qs(urlsplit(target).query).get("challenge", [""])[0]
                    self._answer(writer, 200, value.encode())
                    await writer.drain()
                    continue
                self.attempts += 1
                if self.mode == "close":
                    break
                if self.mode == "hang":
                    await asyncio.sleep(3600)
                if self.mode == "error":
                    self._answer(writer, 500, b"no")
                else:
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    self.received.append(Hit(body, headers, time.perf_counter()))
                    self.arrived.set()
                    self._answer(writer, 200, b"ok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    def _answer(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: text/plain\r\n\r\n".encode()
            + body
        )

    async def wait_for(self, count: int, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} notifications arrived")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 0.2)
            except TimeoutError:
                pass
