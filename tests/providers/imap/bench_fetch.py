"""First-sync download benchmark: ImapClient vs a bare imaplib client, same Dovecot, same run.

    .venv/bin/python -m tests.providers.imap.bench_fetch [--rounds 5]

Seeds the 6,046-message corpus into 4 folders, then per round and per client downloads every body with
500-UID ``UID FETCH (BODY.PEEK[])`` batches and stores nothing (imaplib: one command at a time, the
floor of docs/test-servers.md; ImapClient: ``fetch_many`` with 4 batches in flight, COMPRESS off and on).
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import statistics
import time

from inboxsync.providers.imap.client import ImapClient
from inboxsync.providers.imap.responses import Fetch
from tests.support.corpus import corpus_paths
from tests.support.dovecot import Dovecot

FOLDERS = ["INBOX", "Archive", "Sent", "Trash"]
BATCH = 500


def seed(server: Dovecot) -> int:
    messages = [p.read_bytes() for p in corpus_paths()]
    for i, folder in enumerate(FOLDERS):
        server.seed_maildir(None, folder, messages[i :: len(FOLDERS)])
    return sum(len(m) for m in messages)


def imaplib_round(server: Dovecot) -> tuple[int, int]:
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(server.user, server.password)
    count = size = 0
    for folder in FOLDERS:
        conn.select(folder, readonly=True)
        uids = conn.uid("SEARCH", "ALL")[1][0].split()
        for i in range(0, len(uids), BATCH):
            batch = b",".join(uids[i : i + BATCH]).decode()
            for item in conn.uid("FETCH", batch, "(BODY.PEEK[])")[1]:
                if isinstance(item, tuple):
                    count += 1
                    size += len(item[1])
    conn.logout()
    return count, size


async def client_round(server: Dovecot, compress: bool) -> tuple[int, int]:
    client = await ImapClient.connect(server.host, server.port, "none")
    await client.login(server.user, server.password)
    if compress:
        await client.compress()
    count = size = 0
    for folder in FOLDERS:
        await client.select(folder, readonly=True)
        uids = await client.uid_search()
        batches = [uids[i : i + BATCH] for i in range(0, len(uids), BATCH)]
        async for item in client.fetch_many(batches, ["BODY.PEEK[]"]):
            if isinstance(item, Fetch) and isinstance(item.body, bytes):
                count += 1
                size += len(item.body)
    await client.logout()
    return count, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = Dovecot(compress=True)
    server.start()
    try:
        total = seed(server)
        imaplib_round(server)  # let Dovecot build its indexes before timing anything
        times: dict[str, list[float]] = {"imaplib": [], "ImapClient": [], "ImapClient+COMPRESS": []}
        results = {}
        for _ in range(args.rounds):
            for name in times:
                began = time.perf_counter()
                if name == "imaplib":
                    results[name] = imaplib_round(server)
                else:
                    results[name] = asyncio.run(client_round(server, name.endswith("COMPRESS")))
                times[name].append(time.perf_counter() - began)
        print(f"corpus: {total / 1e6:.1f} MB in {len(FOLDERS)} folders")
        for name, values in times.items():
            count, size = results[name]
            print(
                f"{name:22s} {count} messages {size / 1e6:.1f} MB  "
                f"median {statistics.median(values):.3f} s  min {min(values):.3f} s"
            )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
