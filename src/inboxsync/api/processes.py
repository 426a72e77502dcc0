"""Several API processes on one port, each with a listening socket of its own (``SO_REUSEPORT``).

uvicorn's ``--workers`` shares one listening socket among its processes, and the kernel hands each
new connection to whichever process is waiting in ``accept``: under keep-alive traffic mostly the
same one (36 of 40 connections on one of two processes, measured with ``bench/api.py``), so one
process queues requests while the other idles. Here every process binds its own socket with
``SO_REUSEPORT`` and the kernel spreads connections over them by a hash of their addresses
(docs/adr/0012).

The parent binds the port first without listening: a port in use fails at once, port 0 becomes a
real one shared by every process, and the port stays reserved while a process is replaced. It
restarts a process that dies, stops when one fails to start (uvicorn's exit code 3: the same
failure would repeat), and on SIGINT/SIGTERM stops them all (each finishes its requests in flight).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

STARTUP_FAILURE = 3  # uvicorn.config.STARTUP_FAILURE
BACKLOG = 2048


def _socket(host: str, port: int, *, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _serve(app: str, host: str, port: int, options: dict[str, Any], app_dir: str | None) -> None:
    """One process (the target of a spawned child): its own socket, one uvicorn server."""
    import uvicorn

    if app_dir is not None:
        sys.path.insert(0, app_dir)
    sock = _socket(host, port, listen=True)
    config = uvicorn.Config(app, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


class Workers:
    """``count`` processes serving ``app`` (an import string, as uvicorn takes) on ``host:port``."""

    def __init__(
        self,
        app: str,
        *,
        host: str,
        port: int,
        count: int,
        app_dir: str | None = None,
        **options: Any,
    ) -> None:
        self.app, self.host, self.count = app, host, count
        self.app_dir, self.options = app_dir, options
        self._reserved = _socket(host, port, listen=False)  # OSError when the port is taken
        self.port: int = self._reserved.getsockname()[1]
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()

    def _start_one(self) -> BaseProcess:
        process = self._context.Process(
            target=_serve,
            args=(self.app, self.host, self.port, self.options, self.app_dir),
            name="inboxsync-api",
        )
        process.start()
        return process

    def stop(self) -> None:
        """Ask :meth:`run` to stop every process and return (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> int:
        """Serve until :meth:`stop` or a signal; 0, or 1 when a process failed to start."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())
        self._processes = [self._start_one() for _ in range(self.count)]
        failed = False
        try:
            while not self._stop.wait(0.5):
                for i, process in enumerate(self._processes):
                    if process.is_alive() or self._stop.is_set():
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        failed = True
                        self.stop()
                        break
                    print(
                        f"inboxsync api: process {process.pid} ended ({process.exitcode}), "
                        "starting another",
                        file=sys.stderr,
                    )
                    time.sleep(0.5)  # no hot loop when something outside kills them
                    self._processes[i] = self._start_one()
        finally:
            self._terminate()
            self._reserved.close()
        return 1 if failed else 0

    def _terminate(self, grace: float = 30) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + grace
        for process in self._processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
