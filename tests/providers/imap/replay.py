"""A loopback server that replays a transcript (format of tests/data/imap/*.txt) to one client.

For every ``C:`` line it reads one command line from the client, checks that the command name matches
(tags differ: the transcript's tag is mapped to the client's in the following ``S:`` lines), and reads any
literal the client sends. ``S: !starttls`` upgrades the connection to TLS; ``S: !close`` hangs up;
``S: !silence`` stops answering.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

_LITERAL = re.compile(rb"\{(\d+)(\+?)\}$")


@dataclass
class Replay:
    host: str
    port: int
    received: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_script(text: str) -> list[tuple[str, bytes]]:
    steps = []
    for line in text.encode().split(b"\n"):
        if line.startswith((b"S: ", b"C: ")) or line in (b"C:", b"S:"):
            steps.append((line[:1].decode(), line[3:]))
    return steps


@asynccontextmanager
async def replay_server(
    script: str, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False
) -> AsyncIterator[Replay]:
    steps = parse_script(script)
    state: Replay | None = None
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert state is not None
        tags: dict[bytes, bytes] = {}
        try:
            for kind, data in steps:
                if kind == "S":
                    if data == b"!starttls":
                        await writer.drain()
                        assert tls is not None
                        await writer.start_tls(tls)
                        continue
                    if data == b"!close":
                        break
                    if data == b"!silence":
                        await asyncio.sleep(3600)
                    first, sep, rest = data.partition(b" ")
                    writer.write(tags.get(first, first) + sep + rest + b"\r\n")
                    continue
                await writer.drain()
                line = await _read_command(reader, writer)
                state.received.append(line)
                want_tag, _, want = data.partition(b" ")
                got_tag, _, got = line.partition(b" ")
                if _name(want if want else want_tag) != _name(got if got else got_tag):
                    state.errors.append(f"expected {data!r}, got {line!r}")
                if data and got_tag and want_tag != b"DONE":
                    tags[want_tag] = got_tag
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls if implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    state = Replay("127.0.0.1", port)
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()
    assert not state.errors, state.errors


def _name(command: bytes) -> list[bytes]:
    words = command.upper().split(b" ")
    return words[:2] if words[0] == b"UID" else words[:1]


async def _read_command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One command line; literal bytes are read and replaced by ``{N}`` markers."""
    out = b""
    while True:
        line = (await reader.readuntil(b"\r\n"))[:-2]
        out += line
        m = _LITERAL.search(line)
        if m is None:
            return out
        if not m.group(2):  # synchronising literal: invite it
            writer.write(b"+ go ahead\r\n")
            await writer.drain()
        await reader.readexactly(int(m.group(1)))
