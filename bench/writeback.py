"""Write-back benchmark: from an API change to what a second IMAP client sees, against a bare client.

    .venv/bin/python bench/writeback.py                 # 100 trials each, 200 sends
    .venv/bin/python bench/writeback.py --trials 50 --sends 100 --legacy

``inboxsync serve`` runs as a subprocess over a fresh data directory, connected to a Dovecot started
for the run (and an aiosmtpd sink for sending). For each trial the clock starts before the request
(API: ``PUT /v3/grants/{id}/messages/{id}``; bare: ``UID STORE`` / ``UID MOVE`` from an imaplib client
of its own) and stops when an observer connection (imaplib, polling ``UID FETCH FLAGS`` or
``STATUS MESSAGES``) sees the change. Overhead = API percentile minus bare percentile.
Sends: ``POST messages/send`` at concurrency 8 (SMTP happens inside the request), then the time until
every Sent copy is filed.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.actions.serve_proc import AUTH, Serve  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.smtp import SmtpSink  # noqa: E402


def mail(n: int) -> bytes:
    return (
        f"Message-ID: <bench{n}@example.org>\r\nFrom: Bob <bob@example.org>\r\n"
        f"To: alice@example.com\r\nSubject: bench {n}\r\n\r\nbody {n}\r\n"
    ).encode()


def login(server: Dovecot) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(server.user, server.password)
    return conn


def poll(probe: Callable[[], bool], within: float = 10.0) -> float:
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if probe():
            return time.perf_counter()
        time.sleep(0.001)
    raise TimeoutError("change not seen")


class Observer:
    def __init__(self, server: Dovecot) -> None:
        self.conn = login(server)
        self.conn.select("INBOX")

    def seen(self, uid: int) -> bool:
        _, data = self.conn.uid("FETCH", str(uid), "(FLAGS)")
        return b"\\Seen" in (data[0] or b"")

    def count(self, folder: str) -> int:
        _, data = self.conn.status(folder, "(MESSAGES)")
        return int(data[0].split(b"MESSAGES ")[1].split(b")")[0])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def row(name: str, api: list[float], bare: list[float]) -> str:
    a50, a95, b50, b95 = pct(api, 50), pct(api, 95), pct(bare, 50), pct(bare, 95)
    return (
        f"{name:<10} api p50 {a50:7.1f} ms  p95 {a95:7.1f} ms | bare p50 {b50:6.1f} ms  "
        f"p95 {b95:6.1f} ms | overhead p50 {a50 - b50:6.1f} ms  p95 {a95 - b95:6.1f} ms"
    )


def run(trials: int, sends: int, legacy: bool) -> None:
    server = Dovecot(legacy=legacy, compress=False)
    server.start()
    sink = SmtpSink()
    sink.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-writeback-"))
    serve = Serve(workdir / "data")
    try:
        with server.admin() as admin:
            admin.append_many("INBOX", [mail(i) for i in range(2 * trials)])
            uids = admin.uids("INBOX")
        serve.start()
        grant = serve.connect(server, sink)
        api = httpx.Client(base_url=serve.url, headers=AUTH, timeout=30)
        ids: dict[str, str] = {}
        token = None
        while True:
            page = api.get(
                f"/v3/grants/{grant}/messages", params={"limit": 200, "page_token": token}
            ).json()
            ids.update({m["subject"]: m["id"] for m in page["data"]})
            token = page.get("next_cursor")
            if not token:
                break
        archive = next(
            f["id"]
            for f in api.get(f"/v3/grants/{grant}/folders").json()["data"]
            if f["name"] == "Archive"
        )
        observer = Observer(server)
        bare = login(server)
        bare.select("INBOX")

        http_times: list[float] = []  # the PUT's own answer time, part of the API figure
        read_api: list[float] = []
        read_bare: list[float] = []
        for i in range(trials):  # messages 0..trials-1 by API, the same number bare
            uid_api, uid_bare = uids[i], uids[trials + i]
            start = time.perf_counter()
            answer = api.put(
                f"/v3/grants/{grant}/messages/{ids[f'bench {i}']}", json={"unread": False}
            )
            assert answer.status_code == 200, answer.text
            http_times.append(answer.elapsed.total_seconds())
            read_api.append(poll(lambda u=uid_api: observer.seen(u)) - start)
            start = time.perf_counter()
            bare.uid("STORE", str(uid_bare), "+FLAGS", "(\\Seen)")
            read_bare.append(poll(lambda u=uid_bare: observer.seen(u)) - start)

        move_api: list[float] = []
        move_bare: list[float] = []
        for i in range(trials):
            before = observer.count("Archive")
            start = time.perf_counter()
            api.put(f"/v3/grants/{grant}/messages/{ids[f'bench {i}']}", json={"folders": [archive]})
            move_api.append(poll(lambda b=before: observer.count("Archive") > b) - start)
            before = observer.count("Archive")
            start = time.perf_counter()
            if legacy:
                bare.uid("COPY", str(uids[trials + i]), "Archive")
                bare.uid("STORE", str(uids[trials + i]), "+FLAGS", "(\\Deleted)")
                bare.uid("EXPUNGE", str(uids[trials + i]))
            else:
                bare.uid("MOVE", str(uids[trials + i]), "Archive")
            move_bare.append(poll(lambda b=before: observer.count("Archive") > b) - start)

        started = time.perf_counter()
        answered = asyncio.run(send_many(serve.url, grant, sends))
        took = time.perf_counter() - started
        poll(lambda: len(sink.messages) >= sends, 60)
        poll(lambda: observer.count("Sent") >= sends, 120)
        filed = time.perf_counter() - started

        mode = "legacy (no MOVE/CONDSTORE/QRESYNC)" if legacy else "normal"
        print(f"Dovecot {mode}, {trials} trials each, inboxsync serve over HTTP")
        print(row("mark read", read_api, read_bare))
        print(row("move", move_api, move_bare))
        print(
            f"sends      {sends} at c=8: {answered} answered 200 in {took:.2f} s = "
            f"{sends / took:.1f} sends/s (SMTP inside the request); all {sends} in Sent "
            f"after {filed:.2f} s; sink received {len(sink.messages)}"
        )
        worst = max(pct(read_api, 95) - pct(read_bare, 95), pct(move_api, 95) - pct(move_bare, 95))
        print(f"p95 overhead {worst:.1f} ms: {'OK' if worst <= 200 else 'OVER'} (limit 200 ms)")
        print(
            f"of which the PUT answered in p50 {statistics.median(http_times) * 1000:.1f} ms "
            f"(local change committed; the worker is woken after that)"
        )
    finally:
        serve.stop()
        sink.stop()
        server.cleanup()


async def send_many(url: str, grant: str, total: int) -> int:
    ok = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal ok
        while not queue.empty():
            i = queue.get_nowait()
            answer = await client.post(
                f"/v3/grants/{grant}/messages/send",
                json={"to": [{"email": f"r{i}@example.org"}], "subject": f"s{i}", "body": "x"},
            )
            ok += answer.status_code == 200

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(8)))
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--legacy", action="store_true")
    args = parser.parse_args()
    run(args.trials, args.sends, args.legacy)


if __name__ == "__main__":
    main()
