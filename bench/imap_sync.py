"""IMAP sync benchmark: inboxsync against the floor and mbsync, on one Dovecot, in one run.

    .venv/bin/python bench/imap_sync.py [--legacy] [--messages N]

Seeds the 6,046-message SpamAssassin corpus over four folders of a local Dovecot, then measures:
  floor      a bare imaplib client fetching every body in 500-message batches, storing nothing
  mbsync     isync pulling the account into a Maildir with `FSync no` (its fastest setting); its
             no-change run twice: right after the sync (it then sleeps ~1 s, its guard against
             Maildir mtime granularity) and 1.5 s later (its work alone, ~0.04 s here)
  inboxsync  `inboxsync sync --once` as a whole process: first full sync (parsed, stored, listable),
             then a no-change pass; peak RSS
  serve      `inboxsync serve` driven over HTTP: connect -> newest 50 listed, connect -> all synced
  latency    APPEND -> message.created on the change stream (long-poll) and the message read, minus Dovecot's IDLE notification to a bare client,
             for the same APPENDs (median and p95 over --appends)
and prints each against its baseline as a ratio. Times are wall-clock medians of --runs runs.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import imaplib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.corpus import corpus_dir  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

FOLDERS = [("INBOX", 0.5), ("Archive", 0.25), ("Sent", 0.15), ("Trash", 0.10)]
VENV_BIN = ROOT / ".venv" / "bin"


def seed(server: Dovecot, limit: int | None) -> dict[str, int]:
    paths = sorted(corpus_dir().glob("*.eml"))[:limit]
    messages = [p.read_bytes() for p in paths]
    counts: dict[str, int] = {}
    start = 0
    for i, (folder, share) in enumerate(FOLDERS):
        end = len(messages) if i == len(FOLDERS) - 1 else start + int(len(messages) * share)
        server.seed_maildir(
            None, folder, messages[start:end], flags="S" if folder != "INBOX" else ""
        )
        counts[folder] = end - start
        start = end
    with server.admin() as admin:  # let Dovecot assign UIDs now, not during a measured run
        for folder in counts:
            admin.select(folder)
    return counts


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the process, and its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd[0]} failed: {out.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss, out.decode(errors="replace")


def floor(server: Dovecot, counts: dict[str, int]) -> float:
    started = time.perf_counter()
    imap = imaplib.IMAP4(server.host, server.port)
    imap.login(server.user, server.password)
    total = 0
    for folder in counts:
        imap.select(folder, readonly=True)
        _, data = imap.uid("SEARCH", "ALL")
        uids = data[0].split()
        for i in range(0, len(uids), 500):
            batch = b",".join(uids[i : i + 500]).decode()
            _, fetched = imap.uid("FETCH", batch, "(BODY.PEEK[])")
            total += sum(1 for item in fetched if isinstance(item, tuple))
    imap.logout()
    assert total == sum(counts.values()), total
    return time.perf_counter() - started


def mbsync_config(server: Dovecot, where: Path) -> Path:
    (where / "mail").mkdir(parents=True, exist_ok=True)
    conf = where / "mbsyncrc"
    conf.write_text(
        f"""FSync no

IMAPAccount bench
Host {server.host}
Port {server.port}
User {server.user}
Pass {server.password}
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {where}/mail/
Inbox {where}/mail/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
"""
    )
    return conf


def inboxsync_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "INBOXSYNC_DATA_DIR": str(data_dir), "INBOXSYNC_LOG_LEVEL": "WARNING"}
    env.pop("INBOXSYNC_DATABASE_URL", None)
    return env


def add_grant(server: Dovecot, data_dir: Path) -> None:
    cmd = [
        str(VENV_BIN / "inboxsync"), "grants", "add", "imap",
        "--imap-host", server.host, "--imap-port", str(server.port), "--imap-security", "none",
        "--imap-username", server.user, "--imap-password", server.password,
    ]  # fmt: skip
    run_timed(cmd, inboxsync_env(data_dir))


def sync_once(data_dir: Path) -> tuple[float, int, str]:
    return run_timed([str(VENV_BIN / "inboxsync"), "sync", "--once"], inboxsync_env(data_dir))


class Serve:
    """`inboxsync serve` as a subprocess on a fresh data dir, driven over HTTP like an application."""

    KEY = "bench-key"

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**inboxsync_env(data_dir), "INBOXSYNC_API_KEY": self.KEY}
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "inboxsync"), "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.KEY}"}, timeout=30
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not start")
            time.sleep(0.05)

    def connect(self, server: Dovecot) -> str:
        settings = {
            "imap_host": server.host,
            "imap_port": server.port,
            "imap_security": "none",
            "imap_username": server.user,
            "imap_password": server.password,
        }
        response = self.http.post(
            "/v3/connect/custom", json={"provider": "imap", "settings": settings}
        )
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def listed(self, grant: str, limit: int) -> int:
        response = self.http.get(f"/v3/grants/{grant}/messages", params={"limit": limit})
        return len(response.json()["data"]) if response.status_code == 200 else 0

    def status(self, grant: str) -> dict[str, object]:
        return dict(self.http.get(f"/v3/grants/{grant}/sync").json()["data"])

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def close(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def _last_cursor(serve: Serve, grant: str, cursor: str) -> str:
    while True:
        page = serve.http.get(
            f"/v3/grants/{grant}/changes", params={"cursor": cursor, "limit": 500}
        ).json()
        if not page["data"]:
            return cursor
        cursor = page["next_cursor"]


def _wait_created(serve: Serve, grant: str, cursor: str, subject: str) -> str:
    """Long-poll the change stream until a message.created whose subject is ``subject``."""
    while True:
        page = serve.http.get(
            f"/v3/grants/{grant}/changes", params={"cursor": cursor, "wait": 10}
        ).json()
        cursor = page["next_cursor"]
        for change in page["data"]:
            if change["type"] == "message.created":
                message = serve.http.get(
                    f"/v3/grants/{grant}/messages/{change['object_id']}"
                ).json()["data"]
                if message["subject"] == subject:
                    return cursor


def connect_to_listable(server: Dovecot, total: int) -> tuple[float, float, int]:
    """Seconds from connect until the newest 50 are listed, until all are synced; peak RSS (KiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        serve = Serve(Path(tmp) / "data")
        try:
            started = time.perf_counter()
            grant = serve.connect(server)
            first_page = None
            while True:
                if first_page is None and serve.listed(grant, 50) == 50:
                    first_page = time.perf_counter() - started
                status = serve.status(grant)
                if status["initial_sync_complete"] and status["messages_synced"] == total:
                    break
                time.sleep(0.02)
            complete = time.perf_counter() - started
            return first_page or complete, complete, serve.peak_rss_kib()
        finally:
            serve.close()


async def latency(server: Dovecot, appends: int) -> list[float]:
    """Per APPEND: (seconds until the API lists it) - (seconds until a bare IDLE client heard)."""
    from inboxsync.providers.imap.client import ImapClient
    from inboxsync.providers.imap.responses import Exists

    with tempfile.TemporaryDirectory() as tmp:
        serve = Serve(Path(tmp) / "data")
        bare = await ImapClient.connect(server.host, server.port, "none")
        admin = server.admin()
        overheads: list[float] = []
        try:
            grant = serve.connect(server)
            for _ in range(600):
                if serve.status(grant)["initial_sync_complete"]:
                    break
                await asyncio.sleep(0.1)
            await bare.login(server.user, server.password)
            await bare.select("INBOX")
            await asyncio.sleep(1.0)
            cursor = serve.http.get(f"/v3/grants/{grant}/changes", params={"limit": 1}).json()
            position = _last_cursor(serve, grant, cursor["next_cursor"])
            for n in range(appends):
                subject = f"latency {n} {time.time()}"
                raw = (
                    f"Message-ID: <latency{n}.{time.time()}@bench>\r\nSubject: {subject}\r\n"
                    f"From: a@b.c\r\nDate: {email.utils.formatdate()}\r\n\r\nbody {n}\r\n"
                ).encode()
                async with bare.idle() as idle:
                    t0 = time.perf_counter()
                    # The application's view: a long-poll of the change stream (no busy polling
                    # that would compete with the sync for the server's CPU), then the message.
                    watch = asyncio.create_task(
                        asyncio.to_thread(_wait_created, serve, grant, position, subject)
                    )
                    await asyncio.to_thread(admin.append, "INBOX", raw)
                    heard = None
                    while heard is None:
                        events = await idle.wait(0.002)
                        if any(isinstance(e, Exists) for e in events):
                            heard = time.perf_counter() - t0
                        if time.perf_counter() - t0 > 10:
                            raise RuntimeError("no IDLE notification within 10 s")
                    position = await asyncio.wait_for(watch, 10)
                    seen = time.perf_counter() - t0
                overheads.append(seen - heard)
                await asyncio.sleep(0.3)
        finally:
            admin.close()
            bare.close()
            serve.close()
    return overheads


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--legacy", action="store_true", help="Dovecot without CONDSTORE/QRESYNC")
    parser.add_argument("--messages", type=int, default=None, help="use only the first N messages")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--appends", type=int, default=20)
    args = parser.parse_args()

    server = Dovecot(legacy=args.legacy, compress=False)
    server.start()
    try:
        counts = seed(server, args.messages)
        total = sum(counts.values())
        print(f"Dovecot {'legacy' if args.legacy else 'modern'}: {total} messages in {counts}")
        floors, mb_first, mb_again, ours_first, ours_again, rss = [], [], [], [], [], []
        mb_idle: list[float] = []
        for _ in range(args.runs):
            floors.append(floor(server, counts))
            with tempfile.TemporaryDirectory() as tmp:
                conf = mbsync_config(server, Path(tmp))
                mb_first.append(run_timed(["mbsync", "-q", "-c", str(conf), "-a"])[0])
                pulled = sum(1 for _ in Path(tmp, "mail").glob("**/cur/*")) + sum(
                    1 for _ in Path(tmp, "mail").glob("**/new/*")
                )
                assert pulled == total, f"mbsync pulled {pulled} of {total} messages"
                mb_again.append(run_timed(["mbsync", "-q", "-c", str(conf), "-a"])[0])
                # mbsync sleeps ~1 s when a Maildir directory changed within the last second (its
                # guard against mtime granularity): the run right after a sync includes that sleep,
                # a run after a pause is its work alone.
                time.sleep(1.5)
                mb_idle.append(run_timed(["mbsync", "-q", "-c", str(conf), "-a"])[0])
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "data"
                add_grant(server, data)
                seconds, peak, out = sync_once(data)
                assert f"{total} new" in out, out
                ours_first.append(seconds)
                rss.append(peak)
                seconds, _, out = sync_once(data)
                assert " 0 new" in out, out
                ours_again.append(seconds)
        first_page, complete, serve_rss = connect_to_listable(server, total)
        overheads = asyncio.run(latency(server, args.appends))
        p95 = sorted(overheads)[max(0, int(len(overheads) * 0.95) - 1)]
        print(f"floor (bare imaplib, 500/batch):   {med(floors):6.2f} s")
        print(f"mbsync first sync (FSync no):      {med(mb_first):6.2f} s")
        print(f"inboxsync first sync:              {med(ours_first):6.2f} s   "
              f"= {med(ours_first) / med(mb_first):.2f}x mbsync, {med(ours_first) / med(floors):.2f}x floor")  # fmt: skip
        print(f"mbsync no-change run:              {med(mb_again):6.2f} s   (right after its sync)")
        print(
            f"mbsync no-change run, 1.5 s later: {med(mb_idle):6.2f} s   (no Maildir guard sleep)"
        )
        print(f"inboxsync no-change pass:          {med(ours_again):6.2f} s   "
              f"= {med(ours_again) / med(mb_again):.2f}x mbsync, "
              f"{med(ours_again) / med(mb_idle):.2f}x its run without the sleep")  # fmt: skip
        print(f"new-mail latency overhead:         p50 {med(overheads) * 1000:5.1f} ms, "
              f"p95 {p95 * 1000:5.1f} ms over a bare IDLE client ({len(overheads)} appends)")  # fmt: skip
        print(f"inboxsync peak RSS (sync --once):  {max(rss) / 1024:6.1f} MiB")
        print(f"serve: connect -> newest 50 listed: {first_page:6.2f} s")
        print(f"serve: connect -> all {total} synced: {complete:6.2f} s   "
              f"= {complete / med(mb_first):.2f}x mbsync; peak RSS {serve_rss / 1024:.1f} MiB")  # fmt: skip
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
