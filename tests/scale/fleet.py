"""A fleet for the scale-out tests: one Dovecot with many users, grants for them in one PostgreSQL
database, ``inboxsync worker`` subprocesses, a TCP proxy to cut a worker off the database, and
readers of the lease table and the synced mail."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from tests.support.dovecot import Dovecot
from tests.support.ports import free_port

PASSWORD = "secret"
PG_HOST, PG_PORT = "127.0.0.1", 5432


def mail(tag: str) -> bytes:
    return (
        f"From: sender@example.com\r\nTo: user@example.com\r\nSubject: {tag}\r\n"
        f"Message-ID: <{tag}@fleet.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"body of {tag}\r\n"
    ).encode()


@contextlib.contextmanager
def many_users(count: int, seed: int) -> Iterator[Dovecot]:
    """One Dovecot with users ``u0`` … (users added before the start: no wait per user), each with
    ``seed`` messages in INBOX."""
    server = Dovecot(user="u0", password=PASSWORD, max_connections_per_user=20)
    try:
        for n in range(1, count):
            server.add_user(f"u{n}", PASSWORD)
        for n in range(count):
            server.seed_maildir(f"u{n}", "INBOX", [mail(f"seed-{n}-{i}") for i in range(seed)])
        server.start()
        yield server
    finally:
        server.cleanup()


async def add_grants(runtime: Runtime, server: Dovecot, count: int) -> dict[str, str]:
    """A grant per user; returns grant id -> user."""
    out = {}
    async with runtime.db.transaction() as session:
        for n in range(count):
            grant = await grants.create(
                session,
                provider="imap",
                email=f"u{n}@example.com",
                settings={
                    "imap_host": server.host,
                    "imap_port": server.port,
                    "imap_security": "none",
                    "imap_username": f"u{n}",
                },
                sealed_credentials=runtime.sealer.seal({"imap_password": PASSWORD}),
                api_key_id=None,
            )
            out[grant.id] = f"u{n}"
    return out


def runtime_for(url: str, data_dir: Path) -> Runtime:
    return Runtime.from_settings(
        Settings(database_url=url, data_dir=data_dir, durable_writes=False)
    )


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(name: str, url: str, data_dir: Path, lease: float) -> Worker:
    log = data_dir.parent / f"{name}.log"
    env = {
        **os.environ,
        "INBOXSYNC_DATABASE_URL": url,
        "INBOXSYNC_DATA_DIR": str(data_dir),
        "INBOXSYNC_LEASE_SECONDS": str(lease),
        "INBOXSYNC_DURABLE_WRITES": "false",
        "INBOXSYNC_LOG_LEVEL": "INFO",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inboxsync.cli", "worker", "--worker-id", name],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Worker(name, proc, log)


def stop_worker(worker: Worker, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if worker.proc.poll() is None:
        worker.proc.send_signal(sig)
    try:
        return worker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        return worker.proc.wait()


async def lease_table(runtime: Runtime) -> dict[str, tuple[str | None, float, int]]:
    async with runtime.db.session() as session:
        rows = await session.execute(
            text("SELECT grant_id, owner, expires_at, generation FROM grant_leases")
        )
        return {g: (o, e, n) for g, o, e, n in rows.tuples()}


async def inbox_mail(runtime: Runtime) -> dict[str, list[str]]:
    """grant id -> Message-ID headers of the messages placed in its INBOX (duplicates kept)."""
    async with runtime.db.session() as session:
        rows = await session.execute(
            text(
                "SELECT f.grant_id, m.message_id_header FROM message_folders mf "
                "JOIN folders f ON f.id = mf.folder_id JOIN messages m ON m.id = mf.message_id "
                "WHERE f.path = 'INBOX'"
            )
        )
        out: dict[str, list[str]] = {}
        for grant_id, header in rows.tuples():
            out.setdefault(grant_id, []).append(header)
        return out


@dataclass
class Appender:
    """Appends a message to a user's INBOX every ``pause`` seconds, round robin, in a thread."""

    server: Dovecot
    users: list[str]
    pause: float = 0.05
    sent: dict[str, list[str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        admins = {user: self.server.admin(user, PASSWORD) for user in self.users}
        try:
            n = 0
            while not self._stop.is_set():
                user = self.users[n % len(self.users)]
                tag = f"live-{user}-{n}"
                admins[user].append("INBOX", mail(tag))
                self.sent.setdefault(user, []).append(f"<{tag}@fleet.test>")
                n += 1
                time.sleep(self.pause)
        finally:
            for admin in admins.values():
                admin.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


class Proxy:
    """A TCP proxy to PostgreSQL; :meth:`cut` closes the listener and every connection."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
