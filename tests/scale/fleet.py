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

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from tests.support.dovecot import Dovecot
from tests.support.imap_admin import ImapAdmin
from tests.support.ports import free_port

PASSWORD = "secret"
PG_HOST, PG_PORT = "127.0.0.1", 5432


def mail(tag: str) -> bytes:
    return (
        f"From: sender@example.com\r\nTo: user@example.com\r\nSubject: {tag}\r\n"
        f"Message-ID: <{tag}@fleet.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"body of {tag}\r\n"
    ).encode()


# An imap process per connection (Dovecot's default): room for a worker's and an appender's
# connection per user at 300 users. Dovecot pushes new mail to IDLE through an inotify instance per
# process; past the kernel's per-user limit (128 by default) it looks every
# mailbox_idle_check_interval (30 s by default) instead.
MANY_USERS_CONFIG = """\
default_process_limit = 1000
default_client_limit = 3000
mailbox_idle_check_interval = 1 secs
"""


@contextlib.contextmanager
def many_users(count: int, seed: int) -> Iterator[Dovecot]:
    """One Dovecot with users ``u0`` … (users added before the start: no wait per user), each with
    ``seed`` messages in INBOX."""
    server = Dovecot(
        user="u0", password=PASSWORD, max_connections_per_user=20, extra_config=MANY_USERS_CONFIG
    )
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
    metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """This worker's ``/metrics`` (``--metrics-port``), parsed: (name, labels) -> value.
        A worker just started may not listen yet: refused connections are retried for 20 s."""
        deadline = time.monotonic() + 20
        while True:
            try:
                url = f"http://127.0.0.1:{self.metrics_port}/metrics"
                text = httpx.get(url, timeout=10).text
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.2)
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float:
        """One sample of :meth:`metrics` (0 when absent)."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)


def start_worker(name: str, url: str, data_dir: Path, lease: float, pool_size: int = 5) -> Worker:
    """An ``inboxsync worker`` process. Its database pool is smaller than the default (up to 3×5
    connections and 2 for leases): three of them beside the rest of the suite stay under
    PostgreSQL's 100 connections."""
    log = data_dir.parent / f"{name}.log"
    port = free_port()
    env = {
        **os.environ,
        "INBOXSYNC_DATABASE_URL": url,
        "INBOXSYNC_DATA_DIR": str(data_dir),
        "INBOXSYNC_LEASE_SECONDS": str(lease),
        "INBOXSYNC_DURABLE_WRITES": "false",
        "INBOXSYNC_DB_POOL_SIZE": str(pool_size),
        "INBOXSYNC_LOG_LEVEL": "INFO",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "inboxsync.cli", "worker", "--worker-id", name),
                *("--metrics-port", str(port)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Worker(name, proc, log, port)


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
        # A connection per user, opened when the user's turn first comes and kept (300 logins in
        # one burst beside the workers' own timed out on a loaded machine); a refused or timed-out
        # login is tried again on the user's next turn, so no message is counted that was not sent.
        admins: dict[str, ImapAdmin] = {}
        try:
            n = 0
            while not self._stop.is_set():
                user = self.users[n % len(self.users)]
                n += 1
                try:
                    admin = admins.get(user) or self.server.admin(user, PASSWORD)
                except OSError:
                    time.sleep(self.pause)
                    continue
                admins[user] = admin
                tag = f"live-{user}-{n}"
                admin.append("INBOX", mail(tag))
                self.sent.setdefault(user, []).append(f"<{tag}@fleet.test>")
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
