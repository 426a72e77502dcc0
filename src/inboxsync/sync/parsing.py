"""Parse raw messages into store records, in a process pool for big batches.

Workers also write the raw bytes to a file blob store: hashing and writing them in the sync process
competed for its one interpreter lock with the IMAP reader and the inserts. MIME parsing is CPU-bound (about 0.1–0.5 ms a message); during first sync it runs beside the download
and the inserts on the other cores. Small batches (new mail from IDLE) are parsed inline: a round trip
to a worker process would cost more than the parse.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from inboxsync.store.blobs import FileBlobStore
from inboxsync.store.records import NewMessage

INLINE_BELOW = 16
CHUNK = 64  # messages per task sent to a worker


def parse_one(raw: bytes, received_at: float | None) -> NewMessage:
    """Parse one message; never raises (the MIME layer records what was wrong)."""
    # Imported on first use: a pass that finds no new mail never loads the MIME layer.
    from inboxsync.mime import parse
    from inboxsync.sync.convert import to_new_message

    when = datetime.fromtimestamp(received_at, UTC) if received_at is not None else None
    parsed = parse(raw, internal_date=when)
    return to_new_message(parsed, hashlib.sha256(raw).hexdigest(), received_at=when)


def parse_chunk(
    items: Sequence[tuple[bytes, float | None]], blob_root: str | None = None
) -> list[NewMessage]:
    """Parse messages; with ``blob_root``, also write their raw bytes into that file blob store
    (not yet durable: the caller syncs once for the batch before its rows commit)."""
    if blob_root is not None:
        FileBlobStore(Path(blob_root), durable=False).put_many(raw for raw, _ in items)
    return [parse_one(raw, when) for raw, when in items]


def _warm() -> None:
    from inboxsync.mime import parse

    parse(b"Subject: warm\r\n\r\nup\r\n")


def _start_worker(owner: int) -> None:
    """Initializer of a worker process: exit when ``owner`` (the sync process) does, then warm up.

    A pool worker waits on a pipe whose write end it holds itself, and the forkserver waits for its
    children: when the sync process is killed (SIGKILL, the OOM killer), neither ever noticed, and
    the forkserver and its workers (~50 MB each) stayed behind for good.
    """
    threading.Thread(target=_exit_with, args=(owner,), name="owner-watch", daemon=True).start()
    _warm()


def _exit_with(owner: int) -> None:
    try:
        fd = os.pidfd_open(owner)
    except OSError:  # no pidfd (an old kernel): poll
        while True:
            time.sleep(1.0)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    select.select([fd], [], [])  # readable once the process has exited
    os._exit(0)


class Parser:
    """Parses batches, in worker processes when the batch is large enough to pay for it."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else max(1, min(4, os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def prestart(self) -> None:
        """Start the worker processes now, in the background, so that their start-up (a new
        interpreter importing the MIME layer) overlaps the round trips before the first big batch."""
        if self.workers > 1 and self._pool is None:
            pool = self._executor()
            for _ in range(self.workers):
                pool.submit(_warm)

    async def parse(
        self, items: Sequence[tuple[bytes, float | None]], blob_root: str | None = None
    ) -> list[NewMessage]:
        """Parse (and with ``blob_root`` store, see :func:`parse_chunk`) where it is cheapest."""
        if len(items) < INLINE_BELOW or self.workers <= 1:
            return parse_chunk(items, blob_root)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        try:
            results = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, parse_chunk, list(chunk), blob_root)
                    for chunk in chunks
                )
            )
        except BrokenExecutor:
            # A worker died (out of memory on a monster message, a signal): start a new pool for
            # the next batch; this one is retried by the sync's backoff.
            self.close()
            raise
        return [record for chunk in results for record in chunk]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
