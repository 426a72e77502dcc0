"""Capacity benchmark: idle IMAP grants held by `inboxsync worker` processes, in one run.

    flock /tmp/inboxsync-bench.lock .venv/bin/python bench/capacity.py [--accounts 100,1000]
        [--workers 1,2,3] [--idle-seconds 60] [--samples 30] [--lease 10]

One Dovecot (unprivileged, loopback, one user per account, --seed messages each, process and client
limits raised through ``extra_config``), one PostgreSQL database ``inboxsync_capacity`` (created and
dropped), grants added in steps of the sweep. For each step N:

  single     a fresh `inboxsync worker` holds all N grants (each IDLE on INBOX): RSS of the worker
             process minus its RSS with 0 grants, per account; CPU seconds per account per minute over
             --idle-seconds with no mail; p95 new-mail latency (APPEND over a separate admin connection
             -> the row visible in the database) over --samples random accounts
  database   pg_stat_database deltas (transactions, tuples read/written) and database size growth,
             per grant per hour while idle, and per delivered message while mail arrives
  workers    with 2 and 3 workers (--workers): p95 new-mail latency once the grants are shared, then
             SIGKILL the newest worker -> time until mail appended to --probes of its grants is in the
             database (failover: lease expiry + claim + login + catch-up)

Ratios at the end compare the largest step with the smallest. Everything is bounded (--timeout per wait).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from inboxsync.store.migrate import upgrade  # noqa: E402
from tests.scale.fleet import (  # noqa: E402
    PASSWORD,
    Worker,
    mail,
    runtime_for,
    start_worker,
    stop_worker,
)
from tests.support.database import PG_DSN  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402

DB_NAME = "inboxsync_capacity"
#: One imap process per IDLE connection (Dovecot's default): room for 2,000 of them and their logins.
DOVECOT_LIMITS = """\
default_process_limit = 2500
default_client_limit = 6000
default_vsz_limit = 512M
mailbox_idle_check_interval = 1 secs
"""
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")


def inotify_warning(accounts: int) -> str | None:
    """Dovecot pushes new mail to an IDLE client through an inotify instance per imap process; past
    the kernel's per-user limit (128 by default) it falls back to looking every
    ``mailbox_idle_check_interval`` (30 s by default, 1 s here): new-mail latency then measures that
    fallback, not inboxsync."""
    try:
        limit = int(INOTIFY_LIMIT.read_text())
    except (OSError, ValueError):
        return None
    if limit >= accounts + 50:
        return None
    return (
        f"warning: fs.inotify.max_user_instances is {limit}: Dovecot's IDLE push reaches only that "
        f"many of {accounts} accounts, the others see new mail by polling each second. For "
        f"figures of inboxsync rather than of that fallback: sysctl "
        f"fs.inotify.max_user_instances={accounts + 200} (as for any Dovecot with many IDLE users)"
    )


CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class PgStats:
    at: float
    xacts: int
    fetched: int
    returned: int
    written: int  # inserted + updated + deleted
    size: int


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.data = work / "data"
        self.url = f"{PG_DSN.rsplit('/', 1)[0]}/{DB_NAME}".replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
        self.server = Dovecot(
            user="u0", password=PASSWORD, max_connections_per_user=20, extra_config=DOVECOT_LIMITS
        )
        self.grants: dict[str, str] = {}  # grant id -> user
        self.conn: asyncpg.Connection | None = None
        self.own_queries = 0  # this script's statements, taken off the database counters
        self.tag = 0

    # --- database -------------------------------------------------------------------------------

    async def q(self, sql: str, *params: object) -> list[asyncpg.Record]:
        assert self.conn is not None
        self.own_queries += 1
        return list(await self.conn.fetch(sql, *params))

    async def pg_stats(self) -> PgStats:
        rows = await self.q(
            "SELECT xact_commit + xact_rollback, tup_fetched, tup_returned, "
            "tup_inserted + tup_updated + tup_deleted, pg_database_size($1) "
            "FROM pg_stat_database WHERE datname = $1",
            DB_NAME,
        )
        x, f, r, w, s = rows[0]
        return PgStats(time.monotonic(), x, f, r, w, s)

    async def settled_stats(self) -> PgStats:
        """Backends flush their counters at most every second when busy, within 10 s when idle."""
        await asyncio.sleep(11)
        assert self.conn is not None
        await self.conn.execute("SELECT pg_stat_clear_snapshot()")
        self.own_queries += 1
        return await self.pg_stats()

    async def add_grants(self, upto: int) -> None:
        from inboxsync.store import grants

        runtime = runtime_for(self.url, self.data)
        try:
            async with runtime.db.transaction() as session:
                for n in range(len(self.grants), upto):
                    grant = await grants.create(
                        session,
                        provider="imap",
                        email=f"u{n}@example.com",
                        settings={
                            "imap_host": self.server.host,
                            "imap_port": self.server.port,
                            "imap_security": "none",
                            "imap_username": f"u{n}",
                        },
                        sealed_credentials=runtime.sealer.seal({"imap_password": PASSWORD}),
                        api_key_id=None,
                    )
                    self.grants[grant.id] = f"u{n}"
        finally:
            await runtime.close()

    async def wait(self, what: str, check: object) -> float:
        began = time.monotonic()
        while not await check():  # type: ignore[operator]
            if time.monotonic() - began > self.args.timeout:
                raise RuntimeError(f"gave up waiting for {what}")
            await asyncio.sleep(0.25)
        return time.monotonic() - began

    async def idle_owners(self) -> dict[str, int]:
        """worker -> grants it holds a live lease of whose sync is idle (IDLE on INBOX)."""
        rows = await self.q(
            "SELECT l.owner, count(*) FROM grant_leases l JOIN grants g ON g.id = l.grant_id "
            "WHERE g.sync_state = 'idle' AND l.owner IS NOT NULL "
            "AND l.expires_at > extract(epoch from now()) GROUP BY l.owner"
        )
        return {owner: n for owner, n in rows}

    async def owned_by(self, worker: str) -> list[str]:
        rows = await self.q("SELECT grant_id FROM grant_leases WHERE owner = $1", worker)
        return [r[0] for r in rows]

    async def visible(self, grant_id: str, header: str) -> bool:
        rows = await self.q(
            "SELECT 1 FROM messages WHERE grant_id = $1 AND message_id_header = $2",
            grant_id,
            header,
        )
        return bool(rows)

    # --- mail -----------------------------------------------------------------------------------

    def append(self, user: str) -> str:
        self.tag += 1
        tag = f"cap-{user}-{self.tag}"
        with self.server.admin(user, PASSWORD) as admin:
            admin.append("INBOX", mail(tag))
        return f"<{tag}@fleet.test>"

    async def latency(self, grant_ids: list[str]) -> list[float]:
        """APPEND -> visible, one account at a time (each admin login is outside the timing)."""
        out = []
        for grant_id in grant_ids:
            user = self.grants[grant_id]
            self.tag += 1
            tag = f"cap-{user}-{self.tag}"
            admin = await asyncio.to_thread(self.server.admin, user, PASSWORD)
            try:
                began = time.monotonic()
                await asyncio.to_thread(admin.append, "INBOX", mail(tag))
                header = f"<{tag}@fleet.test>"
                while not await self.visible(grant_id, header):
                    if time.monotonic() - began > self.args.timeout:
                        raise RuntimeError(f"{tag} never arrived")
                    await asyncio.sleep(0.01)
                out.append(time.monotonic() - began)
            finally:
                await asyncio.to_thread(admin.close)
        return out

    # --- workers --------------------------------------------------------------------------------

    async def forget_states(self, grant_ids: list[str] | None = None) -> None:
        """A grant counts as idle again only once its new owner said so."""
        if grant_ids is None:
            await self.q("UPDATE grants SET sync_state = 'running' RETURNING id")
        else:
            await self.q(
                "UPDATE grants SET sync_state = 'running' WHERE id = ANY($1) RETURNING id",
                grant_ids,
            )

    def worker(self, name: str) -> Worker:
        return start_worker(name, self.url, self.data, self.args.lease, pool_size=10)  # default

    async def single(self, n: int, baseline: int) -> dict[str, float]:
        await self.forget_states()
        w0 = self.worker(f"w0-{n}")
        try:
            took = await self.wait(f"{n} idle grants", lambda: self._all_idle_on(n, {f"w0-{n}"}))
            await asyncio.sleep(5)
            rss = rss_kib(w0.proc.pid)
            before = await self.settled_stats()
            cpu0, t0 = cpu_seconds(w0.proc.pid), time.monotonic()
            await asyncio.sleep(self.args.idle_seconds)
            cpu1, t1 = cpu_seconds(w0.proc.pid), time.monotonic()
            rss_after_idle = rss_kib(w0.proc.pid)
            mid = await self.pg_stats()  # taken at the same lag as `before`
            own_idle = self.own_queries
            sample = random.sample(sorted(self.grants), min(self.args.samples, n))
            lat = await self.latency(sample)
            after = await self.settled_stats()
            own_mail = self.own_queries - own_idle
        finally:
            stop_worker(w0)
        idle_h = (mid.at - before.at) / 3600
        mail_s = after.at - mid.at
        idle_x = (mid.xacts - before.xacts - 2) / n / idle_h  # 2: this script's stats reads
        idle_per_s = (mid.xacts - before.xacts) / (mid.at - before.at)
        mail_x = (after.xacts - mid.xacts - own_mail - idle_per_s * mail_s) / len(sample)
        return {
            "accounts": n,
            "ready_s": took,
            "rss_kib": rss,
            "rss_after_idle_kib": rss_after_idle,
            "rss_per_account_kib": (rss - baseline) / n,
            "cpu_ms_per_account_min": (cpu1 - cpu0) * 1000 / n / ((t1 - t0) / 60),
            "cpu_pct_idle": (cpu1 - cpu0) / (t1 - t0) * 100,
            "lat_p50": statistics.median(lat),
            "lat_p95": p95(lat),
            "lat_max": max(lat),
            "idle_xacts_per_grant_h": idle_x,
            "idle_fetched_per_grant_h": (mid.fetched - before.fetched) / n / idle_h,
            "idle_returned_per_grant_h": (mid.returned - before.returned) / n / idle_h,
            "idle_written_per_grant_h": (mid.written - before.written) / n / idle_h,
            "idle_bytes_per_grant_h": (mid.size - before.size) / n / idle_h,
            "mail_xacts_per_msg": mail_x,
            "mail_written_per_msg": (after.written - mid.written) / len(sample),
            "mail_bytes_per_msg": (after.size - mid.size) / len(sample),
        }

    async def _all_idle_on(self, n: int, names: set[str]) -> bool:
        """Every grant held by ``names`` and past its first pass, and (at most) 2 % of them in a
        pass at this moment: each grant runs a full pass every minute, so at 1,000 grants some
        always are, and "all idle at once" may never be seen."""
        owners = await self.idle_owners()
        if set(owners) != names or sum(owners.values()) < n - n // 50:
            return False
        rows = await self.q(
            "SELECT count(*) FROM grant_leases l JOIN grants g ON g.id = l.grant_id "
            "WHERE g.initial_sync_complete AND l.owner = ANY($1::text[]) "
            "AND l.expires_at > extract(epoch from now())",
            sorted(names),
        )
        return int(rows[0][0]) == n

    async def failover(self, n: int, count: int) -> dict[str, float]:
        names = [f"f{count}-{i}-{n}" for i in range(count)]
        await self.forget_states()
        workers = {name: self.worker(name) for name in names}
        try:
            shared = await self.wait(
                f"{n} grants shared by {count}", lambda: self._all_idle_on(n, set(names))
            )
            owners = await self.idle_owners()
            sample = random.sample(sorted(self.grants), min(self.args.samples // 2, n))
            lat = await self.latency(sample)
            victim = names[-1]
            orphans = await self.owned_by(victim)
            killed = time.monotonic()
            stop_worker(workers[victim], signal.SIGKILL)
            await self.forget_states(orphans)
            probes = random.sample(orphans, min(self.args.probes, len(orphans)))
            sent = [(g, await asyncio.to_thread(self.append, self.grants[g])) for g in probes]
            pending = set(sent)
            while pending:
                for item in list(pending):
                    if await self.visible(*item):
                        pending.discard(item)
                if time.monotonic() - killed > self.args.timeout:
                    raise RuntimeError(f"{len(pending)} probes never arrived after the kill")
                await asyncio.sleep(0.05)
            failover = time.monotonic() - killed
            rest = set(names) - {victim}
            retaken = await self.wait("every grant idle again", lambda: self._all_idle_on(n, rest))
        finally:
            for w in workers.values():
                stop_worker(w)
        return {
            "workers": count,
            "accounts": n,
            "share_s": shared,
            "spread": f"{min(owners.values())}-{max(owners.values())}",  # type: ignore[dict-item]
            "lat_p50": statistics.median(lat),
            "lat_p95": p95(lat),
            "orphans": len(orphans),
            "failover_s": failover,
            "all_idle_again_s": failover + retaken,
        }

    # --- run ------------------------------------------------------------------------------------

    async def run(self) -> None:
        sweep = sorted({int(x) for x in self.args.accounts.split(",")})
        counts = sorted({int(x) for x in self.args.workers.split(",")} - {1})
        top = sweep[-1]
        began = time.monotonic()
        for n in range(1, top):
            self.server.add_user(f"u{n}", PASSWORD)
        for n in range(top):
            self.server.seed_maildir(
                f"u{n}", "INBOX", [mail(f"seed-{n}-{i}") for i in range(self.args.seed)]
            )
        self.server.start()
        print(
            f"dovecot: {top} users x {self.args.seed} messages in {time.monotonic() - began:.1f} s"
        )
        admin = await asyncpg.connect(PG_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
        await admin.close()
        try:
            runtime = runtime_for(self.url, self.data)
            await upgrade(runtime.db)
            await runtime.close()
            self.conn = await asyncpg.connect(f"{PG_DSN.rsplit('/', 1)[0]}/{DB_NAME}")
            probe = self.worker("w-empty")
            await asyncio.sleep(8)  # imports, pool, first lease round with nothing to claim
            baseline = rss_kib(probe.proc.pid)
            stop_worker(probe)
            print(f"worker RSS with 0 grants: {baseline / 1024:.1f} MiB")
            singles, multis = [], []
            for n in sweep:
                await self.add_grants(n)
                s = await self.single(n, baseline)
                singles.append(s)
                self.report_single(s)
                for count in counts:
                    f = await self.failover(n, count)
                    multis.append(f)
                    self.report_failover(f)
            self.ratios(singles, multis)
        finally:
            if self.conn is not None:
                await self.conn.close()
            admin = await asyncpg.connect(PG_DSN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            await admin.close()
            self.server.cleanup()

    def report_single(self, s: dict[str, float]) -> None:
        print(
            f"\n[1 worker, {s['accounts']} idle accounts] ready in {s['ready_s']:.1f} s\n"
            f"  RSS {s['rss_kib'] / 1024:.1f} MiB ({s['rss_after_idle_kib'] / 1024:.1f} after the "
            f"idle window): {s['rss_per_account_kib']:.0f} KiB per idle account (limit 250 KB)\n"
            f"  CPU idle: {s['cpu_pct_idle']:.2f}% of a core, "
            f"{s['cpu_ms_per_account_min']:.2f} ms per account per minute\n"
            f"  new-mail latency: p50 {s['lat_p50'] * 1000:.0f} ms, p95 {s['lat_p95'] * 1000:.0f} ms, "
            f"max {s['lat_max'] * 1000:.0f} ms\n"
            f"  database idle, per grant per hour: {s['idle_xacts_per_grant_h']:.1f} transactions, "
            f"{s['idle_returned_per_grant_h']:.0f} rows scanned, "
            f"{s['idle_fetched_per_grant_h']:.0f} rows fetched, "
            f"{s['idle_written_per_grant_h']:.1f} rows written, "
            f"{s['idle_bytes_per_grant_h']:.0f} bytes of growth\n"
            f"  database per new message: {s['mail_xacts_per_msg']:.1f} transactions, "
            f"{s['mail_written_per_msg']:.1f} rows written, "
            f"{s['mail_bytes_per_msg']:.0f} bytes of growth"
        )

    def report_failover(self, f: dict[str, float]) -> None:
        print(
            f"[{f['workers']} workers, {f['accounts']} accounts] shared in {f['share_s']:.1f} s "
            f"({f['spread']} each); new-mail p50 {f['lat_p50'] * 1000:.0f} ms, "
            f"p95 {f['lat_p95'] * 1000:.0f} ms; SIGKILL one ({f['orphans']} grants): "
            f"probes synced after {f['failover_s']:.1f} s, all idle again after "
            f"{f['all_idle_again_s']:.1f} s (lease {self.args.lease:g} s)"
        )

    def ratios(self, singles: list[dict[str, float]], multis: list[dict[str, float]]) -> None:
        if len(singles) < 2:
            return
        lo, hi = singles[0], singles[-1]
        ratio = hi["lat_p95"] / lo["lat_p95"]
        per = hi["rss_per_account_kib"] * 1024 / 1000
        print(
            f"\nratios {hi['accounts']} vs {lo['accounts']} accounts (1 worker):\n"
            f"  RSS per idle account at {hi['accounts']}: {per:.0f} KB "
            f"({'met' if per <= 250 else 'NOT met'}: <= 250 KB)\n"
            f"  p95 new-mail latency x{ratio:.2f} "
            f"({'met' if 0.8 <= ratio <= 1.2 else 'NOT met'}: within +-20%)\n"
            f"  CPU per account x{hi['cpu_ms_per_account_min'] / lo['cpu_ms_per_account_min']:.2f}"
        )
        for count in sorted({int(m["workers"]) for m in multis}):
            rows = [m for m in multis if m["workers"] == count]
            if len(rows) >= 2:
                print(
                    f"  {count} workers: failover x{rows[-1]['failover_s'] / rows[0]['failover_s']:.2f},"
                    f" p95 new-mail x{rows[-1]['lat_p95'] / rows[0]['lat_p95']:.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", default="100,1000", help="sweep, comma separated")
    parser.add_argument("--workers", default="1,2,3", help="worker counts (1 is always run)")
    parser.add_argument("--seed", type=int, default=3, help="messages per account before start")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--samples", type=int, default=30, help="accounts sampled for latency")
    parser.add_argument("--probes", type=int, default=10, help="killed worker's grants probed")
    parser.add_argument("--lease", type=float, default=10.0, help="INBOXSYNC_LEASE_SECONDS")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound of every wait (s)")
    parser.add_argument("--seed-rng", type=int, default=11)
    args = parser.parse_args()
    random.seed(args.seed_rng)
    warning = inotify_warning(max(int(a) for a in args.accounts.split(",")))
    if warning:
        print(warning, flush=True)
    with tempfile.TemporaryDirectory(prefix="inboxsync-capacity-") as work:
        asyncio.run(Bench(args, Path(work)).run())


if __name__ == "__main__":
    main()
