"""A peak season opens: the production topology under a surge, with a web node and the
leading scheduler killed on the way. Bounded, loopback only.

    .venv/bin/python benchmarks/surge.py                      # 300 employees, 120 s
    .venv/bin/python benchmarks/surge.py --smoke              # 20 employees, 10 s (the test)
    .venv/bin/python benchmarks/surge.py --duration 60 --users 100 --keep-logs

Starts on this machine (``surge_stack``): a PostgreSQL primary and a streaming replica
in a temporary folder, migrated with ``flask db upgrade`` and seeded with a national
network (``surge_seed``); Redis for the shared rate limits; two web nodes, each
``gunicorn -c gunicorn.conf.py wsgi:app`` with 2 workers, in production configuration
(``ENGAWA_ENV=production``, ``DATABASE_READ_URL`` on the replica, JSON logs); nginx in
front of both; two ``flask --app wsgi scheduler run`` processes. Then for ``--duration``
seconds ``--users`` employees (``surge_load``) search the peak that just opened for
booking (Golden Week when the run's date puts it inside the booking horizon), open
facilities, book, some cancel and book again. At a third of the run one web node is
killed with SIGKILL (its master and workers at once); at 58% the scheduler holding the
lease is, and the standby's takeover is timed on the lease row.

Prints throughput, latency per kind of request (p50 / p95 / p99), answers by kind
(409 and 429 apart from failures, and failures of requests that were in flight on the
killed node apart from the rest), the takeover time and where the CPU went, then the
checks (``surge_checks``). Exits 1 when a check fails (a booking lost, paid twice, a
night claimed twice, a job run twice, a ledger that does not add up); a missed target
is a measurement and exits 0. Everything started is stopped and its folder removed at
the end, on Ctrl-C and on errors too. Figures: docs/PERFORMANCE.md, "Peak-season surge".
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

import psycopg
from surge_checks import run_checks
from surge_load import Outcome, Plan, opening_peak, run_employees
from surge_report import Timeline, load_average, long_jobs, report, say, targets, write_records
from surge_seed import FAST_HASH, SURGE_PASSWORD, migrate, seed
from surge_stack import Child, CpuMeter, Stack, missing_tools

from core.config import load_config
from core.db import tokyo_today
from demo.data import PLACES
from facilities.regions import REGIONS
from tests.pgcluster import bin_dir

SECRET_KEY = "engawa-surge-benchmark-secret-key-not-for-production-0123456789"
DATABASE = "engawa_surge"


# --- The run ---------------------------------------------------------------------------


class Lease:
    """The scheduler lease row, read on the primary (``core.leader``)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)

    def holder(self) -> tuple[str, int, datetime] | None:
        """(holder, pid, since) of a lease that has not expired, or None."""
        try:
            row = self.conn.execute(
                "SELECT holder, pid, since FROM scheduler_lease"
                " WHERE name = 'scheduler' AND expires_at > clock_timestamp()"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return tuple(row) if row else None

    def close(self) -> None:
        self.conn.close()


def replica_lag(dsn: str) -> float:
    """Seconds the replica's last replayed transaction is behind (0 when idle)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        value = conn.execute(
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            " ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
            " END"
        ).fetchone()[0]
    return float(value or 0)


def transactions(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            [DATABASE],
        ).fetchone()[0]


def wait_for_leader(lease: Lease, schedulers: list[Child], timeout: float) -> Child | None:
    deadline = time.monotonic() + timeout
    pids = {c.pid: c for c in schedulers}
    while time.monotonic() < deadline:
        held = lease.holder()
        if held and held[1] in pids:
            return pids[held[1]]
        time.sleep(0.2)
    return None


def drive(stack: Stack, args, seeded, peak, lease: Lease, replica_dsn: str) -> tuple:
    """Run the surge; the employees' outcome, the timeline and the CPU meter."""
    plan = Plan(
        port=stack.nginx_port,
        peak=peak,
        places=search_places(),
        password=SURGE_PASSWORD,
        think=args.think,
        ramp=args.ramp,
        cancel_share=args.cancel_share,
        stop_at=0.0,
    )
    outcome = Outcome()
    timeline = Timeline()
    meter = CpuMeter(
        lambda: {
            "web nodes": [n.child.pid for n in stack.nodes],
            "PostgreSQL": stack.database_pids(),
            "nginx": [c.pid for c in stack.children if c.name == "nginx"],
            "Redis": [c.pid for c in stack.children if c.name == "redis"],
            "schedulers": [c.pid for c in stack.schedulers],
        },
        {"load generator": os.getpid()},
    )
    leader = wait_for_leader(lease, stack.schedulers, 60)
    if leader is None:
        timeline.lease_absent = True
        stack.absent.append("scheduler leadership (no process took the lease row)")
    timeline.load_start = time.monotonic()
    timeline.load_start_wall = datetime.now(UTC)
    plan.stop_at = timeline.load_start + args.duration
    meter.start()
    threads = run_employees(plan, outcome, seeded.employees[: args.users], args.seed)
    kill_node_at = timeline.load_start + args.duration * args.kill_node_at
    kill_leader_at = timeline.load_start + args.duration * args.kill_leader_at
    victim = stack.nodes[-1]
    next_sample = time.monotonic()
    killed_holder: list[str | None] = []  # the lease holder killed, once it is

    def watch_takeover() -> None:
        """Another process holds the lease: the takeover is over (or given up)."""
        held = lease.holder()
        if held and held[0] != killed_holder[0]:
            timeline.takeover_seconds = time.monotonic() - timeline.leader_killed_at
            new = next((c for c in stack.schedulers if c.pid == held[1]), None)
            timeline.new_leader = f"{new.name if new else '?'} (pid {held[1]})"
            say(f"{timeline.at(time.monotonic())}  {timeline.new_leader} leads: takeover"
                f" {timeline.takeover_seconds:.1f} s after the kill")  # fmt: skip
        elif time.monotonic() > timeline.leader_killed_at + args.takeover_wait:
            timeline.takeover_seconds = math.inf  # gave up waiting

    while True:
        now = time.monotonic()
        if timeline.node_killed_at is None and now >= kill_node_at:
            timeline.node_killed_at = time.monotonic()
            victim.child.kill()
            timeline.node_killed = victim.address
            say(f"{timeline.at(timeline.node_killed_at)}  SIGKILL web node {victim.name}"
                f" ({victim.address}: its gunicorn master and workers)")  # fmt: skip
        if leader is not None and timeline.leader_killed_at is None and now >= kill_leader_at:
            held = lease.holder()
            current = next((c for c in stack.schedulers if held and c.pid == held[1]), leader)
            killed_holder.append(held[0] if held else None)
            timeline.leader_killed_at = time.monotonic()
            current.kill()
            timeline.leader_killed = f"{current.name} (pid {current.pid})"
            say(f"{timeline.at(timeline.leader_killed_at)}  SIGKILL the leading scheduler"
                f" {timeline.leader_killed}")  # fmt: skip
        takeover_pending = (
            timeline.leader_killed_at is not None and timeline.takeover_seconds is None
        )
        if takeover_pending:
            watch_takeover()
        if now >= next_sample:
            meter.sample()
            with contextlib.suppress(psycopg.Error):
                timeline.replica_lag_max = max(timeline.replica_lag_max, replica_lag(replica_dsn))
            next_sample = now + 1.0
        if now >= plan.stop_at and not any(t.is_alive() for t in threads):
            meter.stop()
            break
        time.sleep(0.1)
    say(f"{timeline.at(time.monotonic())}  the load has ended; {load_average()}")
    # A takeover still pending when the load ended is waited for.
    while timeline.leader_killed_at is not None and timeline.takeover_seconds is None:
        watch_takeover()
        time.sleep(0.1)
    return outcome, timeline, meter


def search_places() -> list[list[str]]:
    """The search form's place values an employee picks from, a third of the time each:
    anywhere in Japan, a region, a prefecture of the network."""
    regions = [f"r:{r.slug}" for r in REGIONS]
    prefectures = [f"p:{code}" for code in sorted({p.pref for p in PLACES})]
    return [[""], regions, prefectures]


class Phases:
    """How long each step of the start-up took."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.steps: list[tuple[str, float]] = []

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.steps.append((name, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.steps)


# --- Command line ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of load")
    parser.add_argument("--users", type=int, default=300, help="simulated employees")
    parser.add_argument(
        "--facilities", type=int, default=200,
        help="facilities in the network: the demo's 45 and copies of them",
    )  # fmt: skip
    parser.add_argument(
        "--think", type=float, default=5.0,
        help="mean pause of an employee between pages, seconds (uniform 0.25x-1.75x)",
    )  # fmt: skip
    parser.add_argument(
        "--ramp", type=float, default=None,
        help="employees arrive over this many seconds (default a tenth of the run)",
    )  # fmt: skip
    parser.add_argument(
        "--cancel-share", type=float, default=0.25,
        help="chance per round that an employee holding a stay cancels it",
    )  # fmt: skip
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per node")
    parser.add_argument("--kill-node-at", type=float, default=1 / 3, help="share of the run")
    parser.add_argument("--kill-leader-at", type=float, default=70 / 120, help="share of the run")
    parser.add_argument("--lease-seconds", type=int, default=None,
                        help="SCHEDULER_LEASE_SECONDS (default the app's: 15)")  # fmt: skip
    parser.add_argument("--renew-seconds", type=int, default=None,
                        help="SCHEDULER_RENEW_SECONDS (default the app's: 5)")  # fmt: skip
    parser.add_argument(
        "--nice-schedulers", type=int, default=0,
        help="run the schedulers at this nice level (systemd's Nice=): their jobs then"
        " yield the cores to the web nodes",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument("--records", type=Path, help="write every request to this CSV file")
    parser.add_argument(
        "--smoke", action="store_true",
        help="10 s, 20 employees, the demo network, a 4 s lease: the test's run",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.users, args.facilities, args.think = 10, 20, 45, 0.5
        args.cancel_share = 0.5
        args.lease_seconds = args.lease_seconds or 4
        args.renew_seconds = args.renew_seconds or 1
    if args.ramp is None:
        args.ramp = args.duration / 10
    defaults = load_config({"SECRET_KEY": SECRET_KEY})
    args.lease_seconds = args.lease_seconds or defaults["SCHEDULER_LEASE_SECONDS"]
    args.renew_seconds = args.renew_seconds or defaults["SCHEDULER_RENEW_SECONDS"]
    args.horizon_days = defaults["BOOKING_HORIZON_DAYS"]
    # A standby takes over once the lease has run out, and asks every renew interval.
    args.takeover_wait = args.lease_seconds + args.renew_seconds + 20
    if args.users < 1 or args.duration <= 0:
        parser.error("--users and --duration must be positive")
    return args


def node_env(stack: Stack, primary: str, replica: str, redis: str, args) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "GUNICORN_"))}
    return {
        **env,
        "ENGAWA_ENV": "production",
        "DATABASE_URL": primary,
        "DATABASE_READ_URL": replica,
        "READ_MAX_LAG_SECONDS": "5",
        "RATELIMIT_STORAGE_URL": redis,
        "SECRET_KEY": SECRET_KEY,
        "BASE_URL": f"https://127.0.0.1:{stack.nginx_port}",
        "PROXY_FIX_X_FOR": "1",
        "BILLING_BACKEND": "local",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "SCHEDULER_LEASE_SECONDS": str(args.lease_seconds),
        "SCHEDULER_RENEW_SECONDS": str(args.renew_seconds),
        "PYTHONUNBUFFERED": "1",
    }


def versions() -> str:
    def first_line(*argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return "?"
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"

    postgres = first_line(str(bin_dir() / "postgres"), "--version")
    nginx = first_line("/usr/sbin/nginx", "-v")
    redis = first_line("redis-server", "--version").split(" sha=")[0]
    return f"{postgres}; {nginx}; {redis}"


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_tools()
    if missing:
        say("cannot run the surge here: missing " + "; ".join(missing))
        return 2
    # SIGTERM tears down like Ctrl-C: the stack's finally runs.
    signal.signal(signal.SIGTERM, _interrupted)
    say(f"Engawa peak-season surge: {args.users} employees for {args.duration:g} s"
        f"{' (smoke)' if args.smoke else ''}")  # fmt: skip
    say(f"machine: {machine()}; {versions()}")
    started = time.perf_counter()
    stack = Stack(keep_logs=args.keep_logs)
    try:
        return run(stack, args, started)
    finally:
        stopping = time.perf_counter()
        stack.close()
        say(f"stopped everything in {time.perf_counter() - stopping:.1f} s")


def run(stack: Stack, args, started: float) -> int:
    phases = Phases()
    primary_url, replica_url = stack.start_databases(DATABASE, fsync=not args.smoke)
    primary_dsn, replica_dsn = stack.primary.dsn(DATABASE), stack.replica.dsn(DATABASE)
    redis_url = stack.start_redis()
    phases.done("PostgreSQL primary + replica, Redis")
    migrate(primary_url, SECRET_KEY)
    phases.done("flask db upgrade")
    # The web nodes boot while the data is seeded (they serve nothing before nginx
    # starts); the schedulers wait for the data, or their first runs would race it.
    stack.reserve_port()
    env = node_env(stack, primary_url, replica_url, redis_url, args)
    for i in (1, 2):
        stack.start_web_node(f"web-{i}", env, args.web_workers)
    seeded = seed(primary_url, SECRET_KEY, args.users, max(0, args.facilities - 45), args.seed)
    phases.done("seed")
    for i in (1, 2):
        stack.start_scheduler(f"scheduler-{i}", env, args.nice_schedulers)
    peak = opening_peak(tokyo_today(datetime.now(UTC)), args.horizon_days)
    say(
        f"network: {seeded.facilities} facilities, {seeded.units:,} units,"
        f" {seeded.demo_bookings:,} demo bookings (flask seed-demo's, without photos);"
        f" {args.users} employees of one company, passwords hashed with {FAST_HASH}"
        " (benchmark accounts only)"
    )
    say(
        f"peak: {peak.name}, nights {peak.first_night} to {peak.last_night}, the latest"
        f" peak inside the {args.horizon_days}-day booking horizon; nothing booked there yet"
    )
    stack.replica.wait_caught_up(stack.primary)
    stack.wait_web_nodes()
    stack.start_nginx()
    phases.done("web nodes, nginx")
    for part in ("core/replica.py", "core/health.py", "operations/invariants.py"):
        if not (ROOT / part).exists():
            stack.absent.append(part)
    niced = f", nice {args.nice_schedulers}" if args.nice_schedulers else ""
    say(
        f"start-up {time.perf_counter() - started:.0f} s ({phases}): nginx"
        f" :{stack.nginx_port} -> "
        + ", ".join(f"{n.name} :{n.port} ({args.web_workers} workers)" for n in stack.nodes)
        + f"; 2 schedulers (lease {args.lease_seconds} s, renewed every"
        f" {args.renew_seconds} s{niced}); Redis :{stack.redis_port}; PostgreSQL primary"
        f" :{stack.primary.port} (fsync {'off' if args.smoke else 'on'}), streaming replica"
        f" :{stack.replica.port}"
    )
    lease = Lease(primary_dsn)
    try:
        before = (transactions(primary_dsn), transactions(replica_dsn))
        say(
            f"\nload: {args.users} employees arriving over {args.ramp:g} s, pausing"
            f" {args.think:g} s between pages on average; node killed at"
            f" {args.duration * args.kill_node_at:.0f} s, leader at"
            f" {args.duration * args.kill_leader_at:.0f} s"
        )
        outcome, timeline, meter = drive(stack, args, seeded, peak, lease, replica_dsn)
        after = (transactions(primary_dsn), transactions(replica_dsn))
    finally:
        lease.close()
    figures = report(outcome, timeline, meter, args, stack)
    if args.records:
        write_records(args.records, outcome.records, timeline)
    on_replica = after[1] - before[1]
    total = on_replica + after[0] - before[0]
    say(
        f"replica: {on_replica:,} of {total:,} transactions ({on_replica / max(total, 1):.0%}),"
        f" replay lag at most {timeline.replica_lag_max:.2f} s"
    )
    long_jobs(primary_dsn, timeline)
    if stack.absent:
        say("absent from this tree: " + "; ".join(stack.absent))
    say("\n=== Checks ===")
    checks = run_checks(
        primary_dsn, primary_url, seeded.company_id, outcome,
        timeline.load_start_wall - timedelta(seconds=1),
    )  # fmt: skip
    for check in checks:
        if check.ok:
            say(f"check {check.name}: ok ({check.detail})")
        else:
            say(f"CHECK FAILED {check.name}: {check.detail}")
    failed = [c for c in checks if not c.ok]
    say("checks: all passed" if not failed else f"checks: {len(failed)} failed")
    targets(figures, timeline)
    say(f"\n{time.perf_counter() - started:.0f} s since the start")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped", file=sys.stderr)
        sys.exit(130)
