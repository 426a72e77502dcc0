"""Messages per second of ``inboxsync.mime.parse`` over the SpamAssassin corpus, against ``mail-parser``.

Run: ``.venv/bin/python bench/mime_parse.py`` (one core, both parsers in the same run, same bytes in
memory). The baseline does comparable work: parse the message and read the fields the API serves
(subject, addresses, date, message id, bodies, attachment list). Best of ``--rounds`` runs each.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "src"))

from inboxsync.mime import parse  # noqa: E402
from tests.support.corpus import corpus_paths  # noqa: E402


def ours(raw: bytes) -> object:
    message = parse(raw)
    return (message.subject, message.from_, message.to, message.date, message.snippet)


def baseline(raw: bytes) -> object:
    import mailparser

    try:
        mail = mailparser.parse_from_bytes(raw)
        return (
            mail.subject,
            mail.from_,
            mail.to,
            mail.cc,
            mail.date,
            mail.message_id,
            mail.text_plain,
            mail.text_html,
            mail.attachments,
        )
    except Exception as exc:  # count, do not stop: the baseline fails on some real mail
        return exc


def run(name: str, func: Callable[[bytes], object], messages: list[bytes], rounds: int) -> float:
    best = float("inf")
    failures = 0
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        results = [func(raw) for raw in messages]
        best = min(best, time.perf_counter() - started)
        failures = sum(isinstance(result, Exception) for result in results)
    rate = len(messages) / best
    print(
        f"{name:<12} {len(messages)} messages in {best:6.2f} s  {rate:8.0f} msg/s  "
        f"{best / len(messages) * 1e6:7.0f} µs/msg  failures={failures}"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N messages")
    args = parser.parse_args()
    paths = corpus_paths()
    if args.limit:
        paths = paths[: args.limit]
    messages = [path.read_bytes() for path in paths]
    print(
        f"corpus: {len(messages)} messages, {sum(map(len, messages)) / 1e6:.1f} MB, Python {sys.version.split()[0]}"
    )
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.CRITICAL)
    rate_ours = run("inboxsync", ours, messages, args.rounds)
    rate_base = run("mail-parser", baseline, messages, args.rounds)
    print(
        f"ratio: {rate_ours / rate_base:.2f}x (inboxsync / mail-parser; must be >= 1.0, goal >= 2.0)"
    )


if __name__ == "__main__":
    main()
