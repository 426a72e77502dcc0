"""Loads the recorded IMAP sessions in ``tests/data/imap/``.

Format: ``S: `` lines are what the server sent, ``C: `` lines what the client sent, ``#`` lines comments.
Server lines are joined with CRLF (literal sizes in the files count those CRLFs).
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "imap"


def load(name: str) -> tuple[list[bytes], bytes]:
    """Return (client lines, server bytes) of ``tests/data/imap/<name>``."""
    client: list[bytes] = []
    server: list[bytes] = []
    for line in (DATA / name).read_bytes().split(b"\n"):
        if line.startswith(b"S: "):
            server.append(line[3:])
        elif line.startswith(b"C: "):
            client.append(line[3:])
    return client, b"".join(s + b"\r\n" for s in server)
