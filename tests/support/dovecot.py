"""A real Dovecot 2.3 per test, unprivileged, on a loopback port (pytest plugin).

Fixtures: ``dovecot`` (normal: CONDSTORE, QRESYNC, MOVE, SPECIAL-USE, COMPRESS=DEFLATE...),
``dovecot_legacy`` (advertises only IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE
UIDPLUS, no special-use folders) and ``dovecot_factory(legacy=..., compress=...)`` for other variants.

When the tests run as root the master runs as ``nobody``/``nogroup``; otherwise as the current user.
Everything (config, sockets, logs, mail) lives under one temp dir. The server is stopped by PID;
teardown waits for it in a background thread (Dovecot needs ~1 s to exit). Servers still running at
interpreter exit are stopped, and those of a test process that was killed are stopped by the next one.

Dovecot only *hides* capabilities in legacy mode: it still executes ENABLE CONDSTORE, UID MOVE,
ESEARCH-style SEARCH RETURN and so on when a client sends them (see tests/test_rig.py). To check that
code under test does not use them, start with ``rawlog=True`` and read ``Dovecot.client_commands()``.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.imap_admin import ImapAdmin, encode_mutf7
from tests.support.ports import LOOPBACK, free_port

DOVECOT_BIN = shutil.which("dovecot") or "/usr/sbin/dovecot"
SPECIAL_FOLDERS = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}
LEGACY_CAPABILITY = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE NAMESPACE UIDPLUS"
START_TIMEOUT = 10.0

ROOT_PREFIX = "dovecot-"
OWNER_FILE = "owner.pid"  # PID of the Python process that made the instance
_REAPERS: list[threading.Thread] = []
_RUNNING: set[Dovecot] = set()
_swept = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_orphans_once() -> None:
    """Stop servers left behind by test processes that died (killed pytest, crashed script).

    Only instances whose owner PID is gone are touched, and only their master PID (checked against
    its command line), never anything found by name.
    """
    global _swept
    if _swept:
        return
    _swept = True
    for root in Path(tempfile.gettempdir()).glob(ROOT_PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        try:
            master = int((root / "run" / "master.pid").read_text())
            cmdline = Path(f"/proc/{master}/cmdline").read_bytes()
        except (OSError, ValueError):
            master, cmdline = 0, b""
        if master and str(root / "dovecot.conf").encode() in cmdline:
            os.kill(master, signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_RUNNING):
        server.stop()


#: Every start time measured in this process (seconds from spawn to the IMAP greeting).
START_TIMES: list[float] = []


_LEGACY_FORBIDDEN = re.compile(
    r"^\S+ (UID )?MOVE |^\S+ ENABLE .*(CONDSTORE|QRESYNC)|^\S+ (SELECT|EXAMINE) .*\((CONDSTORE|QRESYNC)"
    r"|CHANGEDSINCE|\bMODSEQ\b|HIGHESTMODSEQ|\bVANISHED\b|SEARCH RETURN|RETURN \(.*SPECIAL-USE"
    r"|^\S+ LIST \(SPECIAL-USE|^\S+ COMPRESS |^\S+ UNSELECT\b",
    re.IGNORECASE,
)
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r?\n$")


_RAWLOG_STAMP = re.compile(rb"^\d+\.\d+ ", re.MULTILINE)


def _split_commands(rawlog: bytes) -> list[str]:
    """Split a client-side rawlog into command lines, literals replaced by ``{n}``.

    Dovecot prefixes every line of a rawlog with ``<unix time>.<usec> ``; that is removed first.
    """
    data = _RAWLOG_STAMP.sub(b"", rawlog)
    commands: list[str] = []
    pos, current = 0, b""
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            current += data[pos:]
            break
        line = data[pos : end + 1]
        pos = end + 1
        literal = _LITERAL_AT_END.search(line)
        if literal:
            current += line[: literal.start()] + b"{%s}" % literal.group(1)
            pos += int(literal.group(1))
            continue
        current += line.rstrip(b"\r\n")
        commands.append(current.decode("utf-8", "replace"))
        current = b""
    if current.strip():
        commands.append(current.decode("utf-8", "replace"))
    return commands


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (children first found, then theirs)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class DovecotError(RuntimeError):
    pass


def _run_as() -> tuple[str, str, int, int]:
    if os.geteuid() == 0:
        return "nobody", "nogroup", pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    uid, gid = os.getuid(), os.getgid()
    return pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name, uid, gid


class Dovecot:
    """One Dovecot instance. ``start()``/``stop()`` keep the port, the users and the mail."""

    def __init__(
        self,
        *,
        legacy: bool = False,
        compress: bool | None = None,
        rawlog: bool = False,
        user: str = "alice",
        password: str = "secret",
        max_connections_per_user: int = 10,
        extra_config: str = "",
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.user = user
        self.password = password
        self.legacy = legacy
        self.compress = (not legacy) if compress is None else compress
        self.rawlog = rawlog
        self.max_connections_per_user = max_connections_per_user
        self.extra_config = extra_config
        self.capabilities: set[str] = set()  # after login
        self.prelogin_capabilities: set[str] = set()
        self.start_seconds: float | None = None
        self.sys_user, self.sys_group, self.uid, self.gid = _run_as()
        _sweep_orphans_once()
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self._proc: subprocess.Popen[bytes] | None = None
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir()
        self.users_file = self.root / "users"
        self.users_file.write_text("")
        self.config_file = self.root / "dovecot.conf"
        self.log_file = self.root / "dovecot.log"
        self._chown_tree(self.root)
        self.add_user(user, password)

    # --- users and files ------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add a login. While the server runs this waits for the next second (at most 1 s): Dovecot
        stats the passwd-file at most once a second, so a login in the same second could miss it."""
        if ":" in name + password or "\n" in name + password:
            raise ValueError("user names and passwords must not contain ':' or newlines")
        with self.users_file.open("a") as f:
            f.write(f"{name}:{{PLAIN}}{password}\n")
        self.home(name).mkdir(parents=True, exist_ok=True)
        if self.rawlog:
            (self.home(name) / "dovecot.rawlog").mkdir(exist_ok=True)
        self._chown_tree(self.home(name))
        if self.running:
            time.sleep(1.01 - time.time() % 1)

    def home(self, user: str | None = None) -> Path:
        return self.root / "mail" / (user or self.user)

    def maildir(self, user: str | None = None) -> Path:
        """The Maildir++ root of a user (INBOX); other folders are ``.Name`` subdirectories."""
        return self.home(user) / "Maildir"

    def folder_path(self, folder: str, user: str | None = None) -> Path:
        """On-disk directory of ``folder`` (Maildir++ layout: ``a/b`` is ``.a.b``, names in mUTF-7)."""
        if folder.upper() == "INBOX":
            return self.maildir(user)
        return self.maildir(user) / ("." + encode_mutf7(folder).replace("/", "."))

    def _chown_tree(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, self.uid, self.gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), self.uid, self.gid)

    def chown(self, path: Path) -> None:
        """Give a file or tree written by the test to the server's user."""
        self._chown_tree(path)

    def client_commands(self, user: str | None = None) -> list[str]:
        """Command lines clients sent (``rawlog=True`` only), session by session, literals elided.

        Only sessions that have ended are complete: log the client out (or stop it) first.
        """
        if not self.rawlog:
            raise DovecotError("start the server with rawlog=True to record client commands")
        commands: list[str] = []
        for path in sorted((self.home(user) / "dovecot.rawlog").glob("*.in")):
            commands += _split_commands(path.read_bytes())
        return commands

    def legacy_violations(self, user: str | None = None) -> list[str]:
        """Commands that use an extension the legacy server does not advertise (``rawlog=True``)."""
        return [cmd for cmd in self.client_commands(user) if _LEGACY_FORBIDDEN.search(cmd)]

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    # --- configuration --------------------------------------------------------------------------

    def config(self) -> str:
        r = self.root
        mailboxes = []
        for name, use in SPECIAL_FOLDERS.items():
            special = "" if self.legacy else f"special_use = {use}\n    "
            mailboxes.append(f"  mailbox {name} {{\n    {special}auto = subscribe\n  }}")
        caps = ""
        if self.legacy:
            caps = "imap_capability = " + LEGACY_CAPABILITY
            if self.compress:
                caps += " COMPRESS=DEFLATE"
        plugins = ""
        if self.compress:
            plugins = (
                "mail_plugins = $mail_plugins zlib\n"
                "protocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n"
            )
        rawlog = ""
        if self.rawlog:
            rawlog = f"protocol imap {{\n  rawlog_dir = {r}/mail/%u/dovecot.rawlog\n}}\n"
        nl = "\n"
        return f"""\
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# (failed logins still take 0.5 s: Dovecot flushes delayed failures on a 500 ms timer)
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = {self.max_connections_per_user}
default_internal_user = {self.sys_user}
default_login_user = {self.sys_user}
default_internal_group = {self.sys_group}
first_valid_uid = 1
first_valid_gid = 1
{caps}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/users
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={r}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # nobody may connect: this turns off the auth penalty (4 s and more per login after a failure)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
{nl.join(mailboxes)}
}}
{plugins}{rawlog}{self.extra_config}
"""

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (or restart) on the same port with the same data; waits for the greeting."""
        if self.running:
            return
        first = self.start_seconds is None
        for _attempt in range(3):
            try:
                self._spawn()
                return
            except DovecotError:
                if not first or "in use" not in self.log():
                    raise
                self.port = free_port()  # lost the race for the port on the first start

    def _spawn(self) -> None:
        self.config_file.write_text(self.config())
        self._chown_tree(self.config_file)
        began = time.monotonic()
        root = os.geteuid() == 0
        self._proc = subprocess.Popen(
            [DOVECOT_BIN, "-F", "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.root,
            user=self.uid if root else None,
            group=self.gid if root else None,
            extra_groups=[] if root else None,
        )
        _RUNNING.add(self)
        greeting = self._wait_for_greeting(began)
        self.start_seconds = time.monotonic() - began
        START_TIMES.append(self.start_seconds)
        if not self.capabilities:
            with self.admin() as admin:
                self.capabilities = admin.capabilities
                self.prelogin_capabilities = admin.prelogin_capabilities
        assert greeting.startswith(b"* OK")

    def _wait_for_greeting(self, began: float) -> bytes:
        assert self._proc is not None
        while time.monotonic() - began < START_TIMEOUT:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                raise DovecotError(f"dovecot exited: {err}\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    greeting = sock.recv(1024)
                    if greeting.startswith(b"* OK"):
                        return greeting
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise DovecotError(f"dovecot did not greet within {START_TIMEOUT}s\n{self.log()}")

    def stop(self) -> None:
        """Stop the master (SIGTERM by PID, SIGKILL after 5 s); mail and users are kept."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None or proc.poll() is not None:
            return
        # Dovecot leaves its imap processes serving open connections when the master stops; a stopped
        # server must look stopped to its clients, as after a crash or a network outage.
        children = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        for child in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def cleanup(self) -> None:
        """Stop and delete everything. Dovecot takes ~1 s to exit on SIGTERM, so the wait and the
        removal happen in a background thread; ``pytest_sessionfinish`` joins them."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

        def reap() -> None:
            if proc is not None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stderr:
                    proc.stderr.close()
            shutil.rmtree(self.root, ignore_errors=True)

        thread = threading.Thread(target=reap, name=f"reap-{self.root.name}", daemon=True)
        thread.start()
        _REAPERS.append(thread)

    # --- helpers --------------------------------------------------------------------------------

    def admin(self, user: str | None = None, password: str | None = None) -> ImapAdmin:
        """An outside IMAP client logged in as ``user`` (default user; password looked up when not
        given). Close it, or use it as a context manager."""
        user = user or self.user
        if password is None:
            password = self._password_of(user)
        return ImapAdmin(self.host, self.port, user, password)

    def seed_maildir(
        self,
        user: str | None,
        folder: str,
        messages: list[bytes],
        *,
        flags: str = "",
        mtime: float | None = None,
    ) -> None:
        """Write messages straight into ``folder``'s ``cur/`` (instant; UIDs assigned on next access).

        ``flags`` are Maildir info letters, sorted: D(raft) F(lagged) R(eplied=answered) S(een) T(rashed).
        ``user=None`` means the default user. UIDs follow the order of ``messages``.
        Creates the folder if needed (over IMAP, subscribed, when the server runs; on disk, not
        subscribed, when it is stopped). Safe while the server runs.
        """
        path = self.folder_path(folder, user)
        if not path.is_dir() and self.running:  # the list index would hide a folder made on disk
            with self.admin(user) as admin:
                admin.create_folder(folder)
        elif not path.is_dir():
            for index in self.maildir(user).glob("dovecot.list.index*"):
                index.unlink()
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        if path != self.maildir(user):
            (path / "maildirfolder").touch()
        now = int(time.time()) if mtime is None else int(mtime)
        host = socket.gethostname().replace("/", "_").replace(":", "_")
        info = "".join(sorted(flags))
        pid = os.getpid()
        stamp = time.monotonic_ns()
        for n, raw in enumerate(messages):
            name = f"{now}.M{stamp // 1000 % 10**9}{n:06d}P{pid}.{host},S={len(raw)}:2,{info}"
            file = path / "cur" / name
            file.write_bytes(raw)
            if mtime is not None:
                os.utime(file, (mtime, mtime))
        self._chown_tree(self.home(user))

    def force_uidvalidity_change(self, user: str | None, folder: str) -> tuple[int, int]:
        """Give ``folder`` a new UIDVALIDITY keeping its messages (flags, dates); returns (old, new).

        ``user=None`` means the default user.

        Other folders: over IMAP, fetch everything, DELETE, CREATE, APPEND it all back (server stays up).
        INBOX (cannot be deleted): stop, remove ``dovecot-uidlist`` and the indexes, start again.
        """
        with self.admin(user) as admin:
            old = admin.uidvalidity(folder)
            if folder.upper() == "INBOX":
                admin.close()
                was_running = self.running
                self.stop()
                path = self.maildir(user)
                for pattern in ("dovecot-uidlist", "dovecot.index*", "dovecot.list.index*"):
                    for file in path.glob(pattern):
                        file.unlink()
                self.start()
                if not was_running:
                    return old, -1
            else:
                stored = admin.fetch_all(folder)
                admin.delete_folder(folder)
                admin.create_folder(folder)
                for msg in stored:
                    flags = [f for f in msg.flags if f != "\\Recent"]
                    admin.append(folder, msg.raw, flags, msg.internal_date)
        with self.admin(user) as admin:
            new = admin.uidvalidity(folder)
        if new == old:
            raise DovecotError(f"UIDVALIDITY of {folder} did not change ({old})")
        return old, new

    def _password_of(self, user: str) -> str:
        for line in self.users_file.read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == user:
                return rest.removeprefix("{PLAIN}")
        raise KeyError(user)

    def __repr__(self) -> str:
        mode = "legacy" if self.legacy else "normal"
        return f"<Dovecot {mode} {self.host}:{self.port} root={self.root}>"


DovecotFactory = Callable[..., Dovecot]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Wait for the servers stopped in the background, and report the start times measured."""
    for thread in _REAPERS:
        thread.join(timeout=15)
    if START_TIMES:
        fastest, slowest = min(START_TIMES), max(START_TIMES)
        mean = sum(START_TIMES) / len(START_TIMES)
        session.config.stash[_START_STATS] = (len(START_TIMES), fastest, mean, slowest)


_START_STATS = pytest.StashKey[tuple[int, float, float, float]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = terminalreporter.config.stash.get(_START_STATS, None)
    if stats:
        count, fastest, mean, slowest = stats
        terminalreporter.write_line(
            f"dovecot: {count} starts, {fastest:.3f}/{mean:.3f}/{slowest:.3f} s min/mean/max"
        )


@pytest.fixture
def dovecot_factory() -> Iterator[DovecotFactory]:
    """``dovecot_factory(legacy=False, compress=None, rawlog=False, ...) -> Dovecot`` (started)."""
    servers: list[Dovecot] = []

    def make(**kwargs: object) -> Dovecot:
        server = Dovecot(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.cleanup()


@pytest.fixture
def dovecot(dovecot_factory: DovecotFactory) -> Dovecot:
    """A started Dovecot with the full modern capability set; user ``alice``/``secret``."""
    return dovecot_factory()


@pytest.fixture
def dovecot_legacy(dovecot_factory: DovecotFactory) -> Dovecot:
    """A started Dovecot advertising only the legacy capability set, no special-use folders."""
    return dovecot_factory(legacy=True)
