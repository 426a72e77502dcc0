"""Gmail first-sync benchmark: inboxsync against the fastest any client could go within Google's limits.

    .venv/bin/python bench/gmail.py [--messages 10000] [--latency 0.05]

Fills the in-process Gmail fake (tests/support/gmail_fake) with --messages messages (the SpamAssassin
corpus, cycled; synthetic ones if it is not cached) under INBOX, a user label, SENT, SPAM and TRASH, with
--latency seconds added to every HTTP request and Google's quota enforced (15,000 units per user per
minute, documented unit costs). Then runs one first sync of a grant (download, parse, store, listable)
and prints its time against the lower bound:

  units  = getProfile (1) + labels.list (1) + ceil(N / 500) messages.list pages (5 each)
           + N messages.get (5 each, whatever the batch size: a batch costs the sum of its parts)
  bound  = (units - 15,000) / 250 s   (a fresh user's full minute of quota spent at once,
           then the refill rate) + 3 round trips (profile, labels, first page, before any download)

Batching changes the request count (N / 50 batch requests of 50 gets, the most Google advises), not
the units; so with these numbers the quota, not the latency, sets the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inboxsync.providers.gmail.quota import PER_MINUTE, UNITS  # noqa: E402
from inboxsync.sync.parsing import Parser  # noqa: E402
from tests.support.gmail_fake import GmailFake  # noqa: E402
from tests.sync.gmail.helpers import gmail_grant, raw_message  # noqa: E402


def messages(count: int) -> list[bytes]:
    try:
        from tests.support.corpus import corpus_dir

        paths = sorted(corpus_dir().glob("*.eml"))
    except Exception:  # no cached corpus (and no network): synthetic messages instead
        paths = []
    if paths:
        return [paths[i % len(paths)].read_bytes() for i in range(count)]
    return [raw_message(i, size=2000 + (i * 37) % 6000) for i in range(count)]


def lower_bound(count: int, latency: float) -> tuple[int, float]:
    units = (
        UNITS["getProfile"]
        + UNITS["labels.list"]
        + math.ceil(count / 500) * UNITS["messages.list"]
        + count * UNITS["messages.get"]
    )
    return units, max(0.0, (units - PER_MINUTE) / (PER_MINUTE / 60)) + 3 * latency


async def run(count: int, latency: float) -> None:
    fake = GmailFake(latency=latency)
    with tempfile.TemporaryDirectory() as tmp:
        async with gmail_grant(Path(tmp), fake=fake) as rig:
            rig.deps.parser = Parser()
            label = rig.box.create_label({"name": "Projects"})
            mix = [["INBOX", "UNREAD"], ["INBOX"], [label["id"]], ["SENT"], ["SPAM"], ["TRASH"]]
            base = 1_700_000_000_000
            for i, raw in enumerate(messages(count)):
                rig.box.insert(raw, mix[i % 7 % len(mix)], internal_date=base + i * 1000)
            fake.latency = latency
            started = time.monotonic()
            summary = await rig.sync().run_once()
            elapsed = time.monotonic() - started
            stored = len(await rig.stored())
            rig.deps.parser.close()
    units, bound = lower_bound(count, latency)
    print(f"messages            {count} (stored {stored}, new {summary.new})")
    print(
        f"HTTP requests       {fake.http_requests} (API calls {len(fake.requests)}), throttled {fake.throttled}"
    )
    print(
        f"quota units         {units} at {PER_MINUTE}/min, latency {latency * 1000:.0f} ms a request"
    )
    print(f"lower bound         {bound:.1f} s")
    print(
        f"inboxsync           {elapsed:.1f} s  ({elapsed / bound:.2f}x the bound, {stored / elapsed:.0f} msg/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.latency))


if __name__ == "__main__":
    main()
