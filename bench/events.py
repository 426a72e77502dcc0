"""Webhook benchmark: APPEND -> webhook received, against Dovecot's IDLE to a bare client; throughput.

    .venv/bin/python bench/events.py [--appends 200] [--throughput 3000]

One process runs what ``inboxsync serve`` runs for this: the IMAP sync of one grant (IDLE on INBOX)
and the webhook service (fan-out + sender), on SQLite in a temp dir, delivering to a loopback
receiver. Per APPEND: (seconds until the receiver got ``message.created`` for it) minus (seconds until
a bare IDLE client heard EXISTS), p50/p95. Then sustained throughput: that many ``message.updated``
changes of the synced messages (full objects) recorded at once, delivered to a receiver answering at
once; deliveries per second from the first record to the last notification received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INBOXSYNC_LOG_LEVEL", "WARNING")

from inboxsync.events import payload  # noqa: E402
from inboxsync.events.deliver import Policy  # noqa: E402
from inboxsync.events.service import ServiceConfig, WebhookService  # noqa: E402
from inboxsync.providers.imap.client import ImapClient  # noqa: E402
from inboxsync.providers.imap.responses import Exists  # noqa: E402
from inboxsync.store import changes, grants, webhooks  # noqa: E402
from inboxsync.sync.imap.account import ImapGrantSync  # noqa: E402
from tests.events.receiver import Receiver  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.sync.imap.helpers import Rig, imap_grant  # noqa: E402


class Remote:
    """The loopback receiver in its own process (as a real receiver would be); arrivals come back
    as (type, subject, perf_counter) through a queue (CLOCK_MONOTONIC is shared by processes)."""

    def __init__(self) -> None:
        self.arrivals: mp.Queue[tuple[str, str, float]] = mp.Queue()
        ready: mp.Queue[int] = mp.Queue()
        self.proc = mp.Process(target=_serve, args=(self.arrivals, ready), daemon=True)
        self.proc.start()
        self.url = f"http://127.0.0.1:{ready.get(timeout=10)}/hook"
        self.seen: list[tuple[str, str, float]] = []

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.arrivals.get_nowait())
            except queue.Empty:
                return

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


def _serve(arrivals: mp.Queue[tuple[str, str, float]], ready: mp.Queue[int]) -> None:
    async def main() -> None:
        receiver = Receiver()
        await receiver.start()
        ready.put(receiver.port)
        sent = 0
        while True:
            await asyncio.sleep(0.001)
            for hit in receiver.received[sent:]:
                body = json.loads(hit.body)
                arrivals.put((body["type"], body["data"]["object"].get("subject") or "", hit.at))
            sent = len(receiver.received)
            if sent > 10_000:
                receiver.received.clear()
                sent = 0

    asyncio.run(main())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]


async def add_webhook(rig: Rig, url: str, triggers: list[str]) -> None:
    async with rig.runtime.db.transaction() as session:
        await webhooks.create(
            session,
            api_key_id=None,
            webhook_url=url,
            trigger_types=triggers,
            description="bench",
            notification_email_addresses=[],
            sealed_secret=rig.runtime.sealer.seal({"secret": payload.new_secret()}),
        )


async def wait_idle(rig: Rig) -> None:
    for _ in range(600):
        async with rig.runtime.db.session() as session:
            if (await grants.get(session, rig.grant_id)).sync_state == "idle":
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the sync never went idle")


async def latency(server: Dovecot, rig: Rig, receiver: Remote, appends: int) -> list[float]:
    bare = await ImapClient.connect(server.host, server.port, "none")
    await bare.login(server.user, server.password)
    await bare.select("INBOX")
    admin = server.admin()
    overheads: list[float] = []
    try:
        for n in range(appends):
            subject = f"bench {n} {time.time()}"
            raw = (
                f"Message-ID: <ev{n}.{time.time()}@bench>\r\nSubject: {subject}\r\n"
                f"From: a@b.c\r\nTo: d@e.f\r\n\r\nbody {n}\r\n"
            ).encode()
            receiver.drain()
            before = len(receiver.seen)
            async with bare.idle() as idle:
                t0 = time.perf_counter()
                await asyncio.to_thread(admin.append, "INBOX", raw)
                heard = got = None
                while heard is None or got is None:
                    if heard is None:
                        events = await idle.wait(0.002)
                        if any(isinstance(e, Exists) for e in events):
                            heard = time.perf_counter() - t0
                    else:
                        await asyncio.sleep(0.001)
                    if got is None:
                        receiver.drain()
                        for type_, subj, at in receiver.seen[before:]:
                            if type_ == "message.created" and subj == subject:
                                got = at - t0
                    if time.perf_counter() - t0 > 15:
                        raise RuntimeError(f"append {n}: no webhook within 15 s")
            overheads.append(got - heard)
            await asyncio.sleep(0.05)
    finally:
        admin.close()
        bare.close()
    return overheads


async def throughput(rig: Rig, receiver: Remote, count: int) -> float:
    from sqlalchemy import select

    from inboxsync.store.models import Message

    async with rig.runtime.db.session() as session:
        ids = list((await session.scalars(select(Message.id))).all())
    wanted = [ids[i % len(ids)] for i in range(count)]
    receiver.drain()
    before = len(receiver.seen)
    started = time.perf_counter()
    async with rig.runtime.db.transaction() as session:
        await changes.record_many(session, rig.grant_id, "message", "updated", wanted, ["unread"])
    while len(receiver.seen) < before + count:
        if time.perf_counter() - started > 120:
            raise RuntimeError("throughput: deliveries missing after 120 s")
        await asyncio.sleep(0.01)
        receiver.drain()
    return count / (receiver.seen[before + count - 1][2] - started)


async def run(appends: int, count: int) -> None:
    server = Dovecot(compress=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with imap_grant(server, Path(tmp)) as rig:
                receiver = Remote()
                await add_webhook(rig, receiver.url, ["message.created", "message.updated"])
                config = ServiceConfig(allow_private=True, poll=0.01, policy=Policy())
                service = WebhookService(rig.runtime.db, rig.runtime.sealer, config)
                stop = asyncio.Event()
                tasks = [
                    asyncio.create_task(ImapGrantSync(rig.deps, rig.grant_id).run(stop)),
                    asyncio.create_task(service.run(stop)),
                ]
                try:
                    await wait_idle(rig)
                    await asyncio.sleep(0.5)
                    overheads = await latency(server, rig, receiver, appends)
                    rate = await throughput(rig, receiver, count)
                finally:
                    stop.set()
                    await asyncio.wait_for(asyncio.gather(*tasks), 20)
                    receiver.stop()
    finally:
        server.cleanup()
    ms = [o * 1000 for o in overheads]
    print(f"APPEND -> webhook, minus bare IDLE client ({len(ms)} appends): "
          f"p50 {statistics.median(ms):6.1f} ms, p95 {pct(ms, 0.95):6.1f} ms, max {max(ms):6.1f} ms")  # fmt: skip
    print(f"sustained throughput ({count} message.updated, one grant): {rate:7.0f} deliveries/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--throughput", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(run(args.appends, args.throughput))


if __name__ == "__main__":
    main()
