"""Search latency and booking throughput on a national-scale Engawa network.

Builds the network itself (default: 1,000 facilities in all 47 prefectures, 10,000
units, a year of bookings at about 60% occupancy) on SQLite and, when reachable,
PostgreSQL, then measures:

- search latency, in process through ``booking.search.search``: a 7-night stay in one
  prefecture and across the whole country (p50 / p95 / max);
- the database's own single-row insert rate: one INSERT + COMMIT per transaction on
  one connection of the app's engine, into a scratch table;
- confirmed bookings per second through ``POST /api/v1/bookings`` with concurrent
  clients against the app served by gunicorn, for each worker configuration given.

It prints a summary with PASS / FAIL against the targets. A missed target is a
measurement and exits 0; a failed booking request (an answer other than 201, or 409
"taken") or a booking the database does not hold is a bug and exits 1.
Figures and what they mean: docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/search_and_book.py            # full size, both backends
    .venv/bin/python benchmarks/search_and_book.py --quick    # a smoke run, about a minute
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

import psycopg  # noqa: E402
from bench_http import BookingFigures, WorkerConfig, measure_bookings  # noqa: E402
from bench_network import (  # noqa: E402
    NOW,
    SEARCH_PREFECTURE,
    TODAY,
    YEAR_DAYS,
    Network,
    build_network,
)
from sqlalchemy import Column, Date, Integer, MetaData, Table, func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from accounts.models import User  # noqa: E402
from app import create_app  # noqa: E402
from availability.models import Occupancy
from billing.models import BillingAccount, CreditEntry  # noqa: E402
from booking.models import Booking, BookingNight, BookingStatus  # noqa: E402
from booking.search import SearchQuery, search  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.extensions import db  # noqa: E402
from pricing.engine import recompute  # noqa: E402

SEARCH_NIGHTS = 7
SEARCH_WINDOW_DAYS = 150  # check-in falls within the next 150 days
WARM_UP_SEARCHES = 5
SECRET_KEY = "engawa-benchmark-secret-key-not-for-production-use-0123456789"
PG_BENCH_DB = "engawa_bench"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
SQLITE_PATH = OUT_DIR / "engawa-bench.db"

TARGET_COUNTRY_P95_MS = 150.0
TARGET_PREFECTURE_P95_MS = 30.0
TARGET_BOOKING_RATIO = 0.10


def say(message: str = "") -> None:
    print(message, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; ``p`` in (0, 100]."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def load_average() -> str:
    """Other work on the machine skews every figure here; each phase prints this."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


# --- Search latency --------------------------------------------------------------------


@dataclass
class SearchFigures:
    label: str
    samples_ms: list[float]
    facilities_found: list[int]
    units_found: list[int]

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    def line(self) -> str:
        return (
            f"search {self.label:<10}  p50 {self.p50:6.1f} ms  p95 {self.p95:6.1f} ms"
            f"  max {max(self.samples_ms):6.1f} ms  ({len(self.samples_ms)} queries; median"
            f" {percentile(self.facilities_found, 50):.0f} facilities,"
            f" {percentile(self.units_found, 50):.0f} units free)"
        )


def time_searches(label: str, prefecture: int | None, check_ins: list[date]) -> SearchFigures:
    """Each query in a fresh session, as one request runs it: connection checkout included."""
    figures = SearchFigures(label, [], [], [])
    for i, check_in in enumerate(check_ins[:WARM_UP_SEARCHES] + check_ins):
        db.session.remove()
        query = SearchQuery(
            check_in, check_in + timedelta(days=SEARCH_NIGHTS), prefecture=prefecture
        )
        started = time.perf_counter()
        results = search(query)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if i >= WARM_UP_SEARCHES:
            figures.samples_ms.append(elapsed_ms)
            figures.facilities_found.append(len(results))
            figures.units_found.append(sum(len(r.units) for r in results))
    db.session.remove()
    return figures


# --- The database's own insert rate ----------------------------------------------------


def single_row_insert_rate(seconds: float) -> tuple[float, int]:
    """Rows per second for INSERT + COMMIT of one row per transaction, one connection.

    Uses the app's engine (same driver, connect arguments and SQLite pragmas, BEGIN
    IMMEDIATE on SQLite) and a scratch table shaped like an occupancy row but without
    its unique index or foreign keys: what the engine can commit, serially.
    """
    probe = Table(
        "bench_insert_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("unit_id", Integer, nullable=False),
        Column("night", Date, nullable=False),
        Column("booking_id", Integer, nullable=False),
    )
    probe.drop(db.engine, checkfirst=True)
    probe.create(db.engine)
    statement = insert(probe)
    rows = 0
    with db.engine.connect() as conn:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            with conn.begin():
                conn.execute(statement, {"unit_id": rows, "night": TODAY, "booking_id": rows})
            rows += 1
        elapsed = time.perf_counter() - started
    probe.drop(db.engine)
    return rows / elapsed, rows


# --- Checking the bookings -------------------------------------------------------------


def verify_bookings(client_user_ids: list[int], answered_201: int) -> str | None:
    """Every 201 is one confirmed booking in the database, claiming exactly its nights,
    paid by one spend of its total from the company's credit, which adds up."""

    spends = db.session.execute(
        select(func.count(), func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.user_id.in_(client_user_ids), CreditEntry.kind == "spend"
        )
    ).one()
    totals = db.session.scalar(
        select(func.coalesce(func.sum(Booking.total_price), 0)).where(
            Booking.user_id.in_(client_user_ids)
        )
    )
    company_id = db.session.scalar(select(User.company_id).where(User.id == client_user_ids[0]))
    balance = db.session.get(BillingAccount, company_id).credit_balance
    ledger_sum = db.session.scalar(
        select(func.sum(CreditEntry.amount)).where(CreditEntry.company_id == company_id)
    )
    db.session.remove()
    mine = Booking.user_id.in_(client_user_ids)
    booked = db.session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(mine, Booking.status == BookingStatus.CONFIRMED)
    )
    nights = db.session.scalar(
        select(func.count()).select_from(BookingNight).join(Booking).where(mine)
    )
    claimed = db.session.scalar(
        select(func.count()).select_from(Occupancy).join(Booking).where(mine)
    )
    db.session.remove()
    if booked != answered_201:
        return f"{answered_201} answers were 201 but the database holds {booked} client bookings"
    if nights != claimed:
        return f"the client bookings have {nights} nights but claim {claimed}"
    if tuple(spends) != (booked, -totals):
        return f"{booked} bookings worth ¥{totals:,} but the ledger has {spends[0]} spends"
    if balance != ledger_sum:
        return f"the company's balance ¥{balance:,} is not its ledger's sum ¥{ledger_sum:,}"
    return None


# --- One backend, end to end -----------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    network: Network
    prefecture: SearchFigures
    country: SearchFigures
    insert_rates: list[float]  # before and after the booking runs
    bookings: list[BookingFigures]
    problems: list[str]

    @property
    def insert_rate(self) -> float:
        """The higher of the measurements: the stricter yardstick for the ratio."""
        return max(self.insert_rates)

    @property
    def best(self) -> BookingFigures:
        return max(self.bookings, key=lambda b: b.per_second)

    @property
    def ratio(self) -> float:
        return self.best.per_second / self.insert_rate


def run_backend(backend: str, database_url: str, args: argparse.Namespace) -> BackendResult:
    say(f"\n=== {backend}: {database_url} ===")
    app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": database_url,
                      "FIXED_NOW": NOW})  # fmt: skip
    with app.app_context():
        db.create_all()
        network = build_network(
            backend, args.facilities, args.units_per_facility, args.clients, args.seed
        )
        say(
            f"built in {network.build_seconds:.0f} s: {network.facilities:,} facilities,"
            f" {network.units:,} units, {network.bookings:,} bookings,"
            f" {network.occupancy_rows:,} occupancy rows; occupancy {network.occupancy:.1%}"
            f" of unit-nights in the {YEAR_DAYS} days from {TODAY}"
        )
        say(
            f"prefecture {SEARCH_PREFECTURE} (東京都): {network.prefecture_facilities} facilities,"
            f" {network.prefecture_units} units"
        )
        # Searches and bookings read each night's demand price, as in production.
        start = time.perf_counter()
        priced = recompute(NOW)
        say(f"priced in {time.perf_counter() - start:.0f} s: {priced.summary()}")
        # Serve searches from a heap like a worker's: wsgi.py freezes its start-up
        # objects, so full garbage collections do not walk them.
        gc.collect()
        gc.freeze()
        say(f"searching; {load_average()}")
        rng = random.Random(args.seed)
        check_ins = [
            TODAY + timedelta(days=rng.randint(1, SEARCH_WINDOW_DAYS)) for _ in range(args.searches)
        ]
        prefecture = time_searches("prefecture", SEARCH_PREFECTURE, check_ins)
        say(prefecture.line())
        country = time_searches("country", None, check_ins)
        say(country.line())

        insert_rates = [measure_insert_rate(args.insert_seconds, "before booking")]
        db.engine.dispose()  # the gunicorn workers get the database to themselves
        bookings = book_with_each_config(backend, database_url, network, args, rng)
        insert_rates.append(measure_insert_rate(args.insert_seconds, "after booking"))

        problems = [
            f"{len(b.errors)} booking requests failed with {b.config}" for b in bookings if b.errors
        ]
        mismatch = verify_bookings(network.client_user_ids, sum(b.answered_201 for b in bookings))
        if mismatch:
            problems.append(mismatch)
        ok = "every 201 is one confirmed booking claiming its nights, paid once from the ledger"
        say(f"verification: {mismatch or ok}")
        db.engine.dispose()
    return BackendResult(backend, network, prefecture, country, insert_rates, bookings, problems)


def measure_insert_rate(seconds: float, when: str) -> float:
    say(f"inserting {when}; {load_average()}")
    rate, rows = single_row_insert_rate(seconds)
    say(
        f"single-row INSERT + COMMIT: {rate:,.0f} rows/s"
        f" ({rows:,} rows in {seconds:g} s on one connection)"
    )
    db.session.remove()
    return rate


def book_with_each_config(
    backend: str,
    database_url: str,
    network: Network,
    args: argparse.Namespace,
    rng: random.Random,
) -> list[BookingFigures]:
    """One gunicorn run per configuration, each booking from its own share of the stays."""
    candidates = list(network.candidates)
    rng.shuffle(candidates)
    share = len(candidates) // len(args.workers)
    say(f"{len(candidates):,} free-looking 2-5-night stays to book from")
    if backend == "postgresql":
        database_pids = lambda: postgres_backends(args.pg_url)  # noqa: E731
    else:
        database_pids = list  # SQLite works inside the app's processes
    results = []
    for i, config in enumerate(args.workers):
        say(f"booking with {config}; {load_average()}")
        figures = measure_bookings(
            database_url,
            SECRET_KEY,
            config,
            network.client_tokens,
            candidates[i * share : (i + 1) * share],
            args.warmup_seconds,
            args.booking_seconds,
            args.seed + i,
            OUT_DIR / f"gunicorn-{backend}-{config.slug.replace(':', '-')}.log",
            database_pids,
        )
        say(
            f"  {figures.per_second:6.1f} confirmed/s ({figures.confirmed} in"
            f" {figures.seconds:g} s, {len(network.client_tokens)} clients);"
            f" {figures.conflicts} conflicts, {len(figures.errors)} errors;"
            f" latency p50 {percentile(figures.latencies_ms, 50):.0f} ms,"
            f" p95 {percentile(figures.latencies_ms, 95):.0f} ms"
        )
        if figures.cpu:
            say(f"  {figures.cpu.line(figures.confirmed + figures.conflicts)}")
        for error in figures.errors[:5]:
            say(f"  error: {error}")
        results.append(figures)
    return results


# --- Databases -------------------------------------------------------------------------


def prepare_sqlite() -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{SQLITE_PATH}"


def prepare_postgres(admin_url: str) -> str | None:
    """Create the benchmark's own database; its app URL, or None if the server is unreachable."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    except psycopg.Error as exc:
        say(f"\nPostgreSQL skipped: {admin_url} is not reachable ({str(exc).strip()})")
        return None
    url = make_url(normalise_database_url(admin_url)).set(database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


def postgres_backends(admin_url: str) -> list[int]:
    """Process ids of the server's backends connected to the benchmark database."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [PG_BENCH_DB])
        return [pid for (pid,) in rows]


def drop_postgres(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


# --- Summary ---------------------------------------------------------------------------


def print_summary(results: list[BackendResult], args: argparse.Namespace) -> None:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    say("\n=== Summary ===")
    say(
        f"{args.facilities:,} facilities x {args.units_per_facility} units; {args.searches}"
        f" searches of {SEARCH_NIGHTS} nights per kind; {args.clients} booking clients for"
        f" {args.booking_seconds:g} s per gunicorn configuration; {load_average()}"
    )
    rows = [("backend", "measure", "value", "target", "result")]
    for r in results:
        rows += [
            (r.backend, f"search p95, prefecture {SEARCH_PREFECTURE}", f"{r.prefecture.p95:.1f} ms",
             f"<= {TARGET_PREFECTURE_P95_MS:g} ms",
             verdict(r.prefecture.p95 <= TARGET_PREFECTURE_P95_MS)),
            (r.backend, "search p95, whole country", f"{r.country.p95:.1f} ms",
             f"<= {TARGET_COUNTRY_P95_MS:g} ms", verdict(r.country.p95 <= TARGET_COUNTRY_P95_MS)),
            (r.backend, f"bookings/s via HTTP ({r.best.config})", f"{r.best.per_second:.1f}",
             "", ""),
            (r.backend, "single-row INSERT+COMMIT/s (higher of 2)", f"{r.insert_rate:,.0f}",
             "", ""),
            (r.backend, "bookings/s / inserts/s", f"{r.ratio:.1%}",
             f">= {TARGET_BOOKING_RATIO:.0%}", verdict(r.ratio >= TARGET_BOOKING_RATIO)),
            (r.backend, "failed booking requests",
             str(sum(len(b.errors) for b in r.bookings)), "0", verdict(not r.problems)),
        ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# --- Command line ----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Search latency and booking throughput on a national-scale network."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--units-per-facility", type=int, default=10)
    parser.add_argument("--searches", type=int, default=200, help="timed queries per kind")
    parser.add_argument("--booking-seconds", type=float, default=20, help="per configuration")
    parser.add_argument("--warmup-seconds", type=float, default=3, help="booked, not counted")
    parser.add_argument("--insert-seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=WorkerConfig.parse,
        nargs="+",
        default=[WorkerConfig.parse(s) for s in ("sync:2", "sync:4", "gthread:2x4")],
        help="gunicorn configurations to try, e.g. sync:4 gthread:2x4; the best one counts",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", PG_ADMIN_DEFAULT),
        help=f"a database on the PostgreSQL server; {PG_BENCH_DB} is created beside it",
    )
    parser.add_argument("--keep", action="store_true", help=f"keep the {PG_BENCH_DB} database")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--quick", action="store_true", help="50 facilities, short runs: a smoke test"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.facilities, args.searches, args.insert_seconds = 50, 30, 1
        args.warmup_seconds, args.booking_seconds = 2, 5
        args.workers = args.workers[:1]
    args.pg_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)  # the SQLite file and the gunicorn logs
    say(
        f"Engawa search-and-book benchmark; now = {NOW.isoformat()} (Tokyo {TODAY});"
        f" Python {sys.version.split()[0]}; {load_average()}"
    )
    results = []
    if args.backend in ("sqlite", "both"):
        results.append(run_backend("sqlite", prepare_sqlite(), args))
    if args.backend in ("postgresql", "both"):
        url = prepare_postgres(args.pg_url)
        if url:
            try:
                results.append(run_backend("postgresql", url, args))
            finally:
                if not args.keep:
                    drop_postgres(args.pg_url)
    print_summary(results, args)
    problems = [f"{r.backend}: {problem}" for r in results for problem in r.problems]
    for problem in problems:
        say(f"ERROR {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
