"""Search latency and booking throughput on a national-scale Engawa network.

Builds the network itself (default: 1,000 facilities in all 47 prefectures, 10,000
units, a year of bookings at about 60% occupancy) on SQLite and, when reachable,
PostgreSQL, then measures:

- search latency, in process through ``booking.search.search``: a 7-night stay in one
  prefecture and across the whole country (p50 / p95 / max);
- the database's own single-row insert rate (one INSERT + COMMIT per transaction, one
  connection, the app's engine settings, into a scratch table);
- confirmed bookings per second through ``POST /api/v1/bookings`` with concurrent
  clients against the app served by gunicorn, for one or more worker configurations.

It prints a summary with PASS / FAIL against the targets and exits 0 unless a
booking request failed (an answer other than 201 or 409 "taken"): a missed target
is a measurement, an error is a bug. See docs/PERFORMANCE.md for figures.

    .venv/bin/python benchmarks/search_and_book.py            # full size, both backends
    .venv/bin/python benchmarks/search_and_book.py --quick    # a smoke run, under a minute
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
OUT_DIR = BENCH_DIR / "out"
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import Column, Date, Integer, MetaData, Table, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.services import create_api_token, hash_password  # noqa: E402
from booking.models import Booking, BookingNight, BookingStatus, Occupancy  # noqa: E402
from booking.search import SearchQuery, search  # noqa: E402
from core import create_app  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.db import tokyo_today  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility, FacilityKind, Unit  # noqa: E402
from facilities.regions import PREFECTURES  # noqa: E402

# The benchmark's "now": 2026-12-01 12:00 in Tokyo. Searches and bookings fall within
# the 180-day booking horizon counted from it, whatever today's date is.
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = tokyo_today(NOW)
HORIZON_DAYS = 180
YEAR_DAYS = 365
SEARCH_NIGHTS = 7
SEARCH_WINDOW_DAYS = 150  # check-in falls in the next 150 days
SEARCH_PREFECTURE = 13  # 東京都
SECRET_KEY = "engawa-benchmark-secret-key-not-for-production-use-0123456789"
PG_BENCH_DB = "engawa_bench"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
SQLITE_PATH = OUT_DIR / "engawa-bench.db"

TARGET_COUNTRY_P95_MS = 150.0
TARGET_PREFECTURE_P95_MS = 30.0
TARGET_BOOKING_RATIO = 0.10

# Relative shares of facilities per prefecture (JIS code -> weight, default 0.85):
# resort and business regions get more. Tokyo ends up with about 5% of the network.
PREFECTURE_WEIGHTS = {
    1: 3.0, 13: 2.6, 20: 2.8, 14: 2.2, 22: 2.2, 47: 2.0, 26: 1.8, 12: 1.5, 19: 1.5,
    10: 1.3, 27: 1.3, 28: 1.3, 40: 1.3, 9: 1.2, 44: 1.2, 43: 1.1,
}  # fmt: skip
HISTORY_COMPANIES = 50
HISTORY_EMPLOYEES_PER_COMPANY = 40
OPERATORS = 20
MIN_STAY, MAX_STAY = 2, 10  # nights of a pre-built stay
# A fixed hash for the bulk-built employees: nobody signs in as them.
BULK_PASSWORD_HASH = hash_password("engawa-benchmark-user", "pbkdf2:sha256:1000")


# --- Helpers -------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; ``p`` in (0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def say(message: str = "") -> None:
    print(message, flush=True)


def app_config(database_url: str) -> dict:
    return {
        "SECRET_KEY": SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "FIXED_NOW": NOW,
    }


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Building the network --------------------------------------------------------------


@dataclass
class Network:
    facilities: int = 0
    units: int = 0
    bookings: int = 0
    occupancy_rows: int = 0
    occupancy: float = 0.0  # share of unit-nights claimed in [today, today + 365)
    prefecture_facilities: int = 0
    prefecture_units: int = 0
    build_seconds: float = 0.0
    # Free-looking stays (unit_id, check_in, nights) carved from the gaps in the horizon.
    candidates: list[tuple[int, date, int]] = field(default_factory=list)
    client_user_ids: list[int] = field(default_factory=list)
    client_tokens: list[str] = field(default_factory=list)


def facilities_per_prefecture(total: int) -> dict[int, int]:
    """Spread ``total`` facilities over the 47 prefectures by weight (largest remainder)."""
    weights = {p.code: PREFECTURE_WEIGHTS.get(p.code, 0.85) for p in PREFECTURES}
    scale = total / sum(weights.values())
    exact = {code: w * scale for code, w in weights.items()}
    counts = {code: int(x) for code, x in exact.items()}
    by_remainder = sorted(exact, key=lambda code: exact[code] - counts[code], reverse=True)
    for code in by_remainder[: total - sum(counts.values())]:
        counts[code] += 1
    return counts


def plan_stays(rng: random.Random, occupancy: float) -> list[tuple[date, date]]:
    """Back-to-back stays of 2-10 nights with gaps, over the year from today."""
    mean_stay = (MIN_STAY + MAX_STAY) / 2
    max_gap = round(2 * mean_stay * (1 - occupancy) / occupancy)  # uniform 0..max: mean gap
    end = TODAY + timedelta(days=YEAR_DAYS)
    day = TODAY - timedelta(days=rng.randint(0, MAX_STAY - 1))  # some stays are in progress
    stays = []
    while True:
        check_out = day + timedelta(days=rng.randint(MIN_STAY, MAX_STAY))
        if check_out > end:
            return stays
        if check_out > TODAY:
            stays.append((day, check_out))
        day = check_out + timedelta(days=rng.randint(0, max_gap))


def carve_candidates(
    unit_id: int, stays: list[tuple[date, date]], rng: random.Random
) -> Iterator[tuple[int, date, int]]:
    """Disjoint 2-5-night stays that fit the unit's free gaps, check-in within the horizon."""
    first, last = TODAY + timedelta(days=1), TODAY + timedelta(days=HORIZON_DAYS)
    edges = [(TODAY, TODAY), *stays, (TODAY + timedelta(days=YEAR_DAYS),) * 2]
    for (_, gap_start), (gap_end, _) in itertools.pairwise(edges):
        day = max(gap_start, first)
        while day <= last:
            nights = min(rng.randint(2, 5), (gap_end - day).days)
            if nights < 2:
                break
            yield unit_id, day, nights
            day += timedelta(days=nights)


class BulkLoader:
    """Fast inserts for the big tables: executemany on SQLite, COPY on PostgreSQL.

    Rows are tuples in the order of ``columns``; dates and timestamps must already be
    in the form the backend stores (``BulkLoader.day`` / ``BulkLoader.stamp``).
    """

    def __init__(self, backend: str):
        self.backend = backend
        if backend == "postgresql" and db.session.scalar(
            text("SELECT usesuper FROM pg_user WHERE usename = current_user")
        ):
            # Skip the per-row foreign-key triggers while this transaction loads rows that
            # are consistent by construction; COPY is several times faster without them.
            db.session.execute(text("SET LOCAL session_replication_role = replica"))

    def day(self, value: date):
        # SQLAlchemy's SQLite Date type stores ISO text; PostgreSQL takes the date.
        return value.isoformat() if self.backend == "sqlite" else value

    def stamp(self, value: datetime):
        # UTCDateTime on SQLite: naive UTC text in SQLAlchemy's DATETIME format.
        if self.backend == "sqlite":
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def load(self, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
        raw = db.session.connection().connection.dbapi_connection
        names = ", ".join(columns)
        if self.backend == "sqlite":
            marks = ", ".join("?" for _ in columns)
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            cursor.close()
        else:
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def build_network(backend: str, args: argparse.Namespace) -> Network:
    """Fill an empty schema with the network, its bookings, and the benchmark's clients."""
    rng = random.Random(args.seed)
    started = time.perf_counter()
    network = Network()
    loader = BulkLoader(backend)
    created = NOW - timedelta(days=30)

    db.session.execute(
        insert(OperatorOrg),
        [
            {"id": i, "name": f"ベンチ運営 {i}", "created_at": created}
            for i in range(1, OPERATORS + 1)
        ],
    )
    db.session.execute(
        insert(Company),
        [
            {"id": c, "name": f"ベンチ企業 {c}", "active": True, "max_nights_per_stay": 14,
             "max_nights_per_month": 20, "created_at": created}
            for c in range(1, HISTORY_COMPANIES + 1)
        ],
    )  # fmt: skip
    employees = [  # (user_id, company_id)
        (i + 1, i // HISTORY_EMPLOYEES_PER_COMPANY + 1)
        for i in range(HISTORY_COMPANIES * HISTORY_EMPLOYEES_PER_COMPANY)
    ]
    db.session.execute(
        insert(User),
        [
            {"id": uid, "email": f"employee{uid}@company{c}.bench.example", "name": f"社員 {uid}",
             "password_hash": BULK_PASSWORD_HASH, "role": Role.EMPLOYEE, "company_id": c,
             "operator_id": None, "locale": None, "session_version": 1, "created_at": created}
            for uid, c in employees
        ],
    )  # fmt: skip

    per_prefecture = facilities_per_prefecture(args.facilities)
    prefectures = [code for code, n in sorted(per_prefecture.items()) for _ in range(n)]
    rng.shuffle(prefectures)
    facility_rows, unit_rows = [], []
    for fid, pref in enumerate(prefectures, start=1):
        kind = rng.choices(list(FacilityKind), weights=[6, 1, 3])[0]
        facility_rows.append(
            {
                "id": fid, "operator_id": fid % OPERATORS + 1,
                "name_ja": f"ベンチ保養所 {fid}", "name_en": f"Bench Retreat {fid}", "kind": kind,
                "prefecture": pref, "municipality": f"市町村 {fid}", "address": f"{fid}-1-1",
                "latitude": round(45.4 - (pref - 1) * 0.4 + rng.uniform(-0.3, 0.3), 5),
                "longitude": round(141.3 - (pref - 1) * 0.25 + rng.uniform(-0.3, 0.3), 5),
                "wifi_mbps": rng.choice([30, 100, 300, 1000]), "work_desks": rng.randint(0, 12),
                "meeting_room": rng.random() < 0.4, "parking": rng.random() < 0.7,
                "kitchen": rng.random() < 0.5, "onsen": rng.random() < 0.3,
                "family_friendly": rng.random() < 0.5, "min_nights": rng.choice([1, 1, 1, 2]),
                "max_nights": 30, "description_ja": "", "description_en": "", "active": True,
                "created_at": created,
            }
        )  # fmt: skip
        for k in range(args.units_per_facility):
            unit_rows.append(
                {
                    "id": len(unit_rows) + 1, "facility_id": fid, "name": f"{101 + k} 号室",
                    "capacity": rng.choice([1, 2, 2, 2, 3, 4, 6]),
                    "base_price": rng.randrange(6000, 40001, 500), "active": True,
                }
            )  # fmt: skip
    db.session.execute(insert(Facility), facility_rows)
    db.session.execute(insert(Unit), unit_rows)
    network.facilities, network.units = len(facility_rows), len(unit_rows)
    network.prefecture_facilities = per_prefecture[SEARCH_PREFECTURE]
    in_prefecture = {f["id"] for f in facility_rows if f["prefecture"] == SEARCH_PREFECTURE}
    network.prefecture_units = sum(1 for u in unit_rows if u["facility_id"] in in_prefecture)

    # A year of stays per unit; each facility has its own occupancy around 60%.
    bookings = []  # (id, user_id, company_id, unit_id, check_in, check_out, guests, total)
    facility_occupancy = {f["id"]: rng.uniform(0.45, 0.75) for f in facility_rows}
    for unit in unit_rows:
        stays = plan_stays(rng, facility_occupancy[unit["facility_id"]])
        for check_in, check_out in stays:
            uid, company = employees[rng.randrange(len(employees))]
            nights = (check_out - check_in).days
            bookings.append((len(bookings) + 1, uid, company, unit["id"], check_in, check_out,
                             rng.randint(1, unit["capacity"]), nights * unit["base_price"]))  # fmt: skip
        network.candidates.extend(carve_candidates(unit["id"], stays, rng))
    prices = {u["id"]: u["base_price"] for u in unit_rows}

    loader.load(
        "booking",
        ["id", "user_id", "company_id", "unit_id", "check_in", "check_out", "guests",
         "status", "total_price", "created_at"],
        (
            (bid, uid, cid, unit_id, loader.day(ci), loader.day(co), guests,
             BookingStatus.CONFIRMED.value, total, loader.stamp(created))
            for bid, uid, cid, unit_id, ci, co, guests, total in bookings
        ),
    )  # fmt: skip
    days = {
        TODAY + timedelta(days=i): loader.day(TODAY + timedelta(days=i)) for i in range(-15, 400)
    }

    def nights_of_bookings() -> Iterator[tuple[int, int, object]]:
        for bid, _uid, _cid, unit_id, ci, co, *_ in bookings:
            for i in range((co - ci).days):
                yield bid, unit_id, days[ci + timedelta(days=i)]

    loader.load(
        "booking_night",
        ["booking_id", "night", "price"],
        ((bid, night, prices[unit_id]) for bid, unit_id, night in nights_of_bookings()),
    )
    loader.load(
        "occupancy",
        ["unit_id", "night", "booking_id"],
        ((unit_id, night, bid) for bid, unit_id, night in nights_of_bookings()),
    )
    db.session.commit()
    network.bookings = len(bookings)
    if backend == "postgresql":
        reset_sequences()

    # The benchmark's own clients: one company whose policy does not throttle them.
    company = Company(name="ベンチ顧客", max_nights_per_stay=30, max_nights_per_month=10_000)
    db.session.add(company)
    db.session.flush()
    for i in range(args.clients):
        user = User(
            email=f"client{i}@bench.example", name=f"ベンチ社員 {i}",
            password_hash=hash_password(f"client-{i}-password", "pbkdf2:sha256:1000"),
            role=Role.EMPLOYEE, company_id=company.id,
        )  # fmt: skip
        db.session.add(user)
        db.session.flush()
        _token, secret = create_api_token(user, "benchmark", NOW)
        network.client_user_ids.append(user.id)
        network.client_tokens.append(secret)
    db.session.commit()

    network.occupancy_rows = db.session.scalar(select(func.count()).select_from(Occupancy))
    in_year = db.session.scalar(
        select(func.count())
        .select_from(Occupancy)
        .where(Occupancy.night >= TODAY, Occupancy.night < TODAY + timedelta(days=YEAR_DAYS))
    )
    network.occupancy = in_year / (network.units * YEAR_DAYS)
    settle(backend)
    network.build_seconds = time.perf_counter() - started
    return network


def reset_sequences() -> None:
    """Explicit ids were loaded; move PostgreSQL's id sequences past them."""
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key:
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table.name}"
                )
            )
    db.session.commit()


def settle(backend: str) -> None:
    """Leave the database as a long-running one would be after a bulk load.

    PostgreSQL: VACUUM ANALYZE, what autovacuum would do shortly after. SQLite: fold
    the write-ahead log back into the file; the app never runs ANALYZE, so neither
    does the benchmark.
    """
    db.session.remove()
    raw = db.engine.raw_connection()  # outside any transaction: VACUUM refuses to run in one
    try:
        if backend == "postgresql":
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
        else:  # the connection is in autocommit mode (see core.db)
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    db.engine.dispose()  # no connection in the pool keeps the autocommit setting


# --- Search latency -----------------------------------------------------------------


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

    @property
    def max(self) -> float:
        return max(self.samples_ms)


def search_windows(count: int, seed: int) -> list[date]:
    rng = random.Random(seed + 1)
    return [TODAY + timedelta(days=rng.randint(1, SEARCH_WINDOW_DAYS)) for _ in range(count)]


def time_searches(label: str, prefecture: int | None, check_ins: list[date]) -> SearchFigures:
    """Each query in a fresh session, as one request would run it."""
    figures = SearchFigures(label, [], [], [])
    for warm_up in check_ins[:5]:
        db.session.remove()
        search(SearchQuery(warm_up, warm_up + timedelta(days=SEARCH_NIGHTS), prefecture=prefecture))
    for check_in in check_ins:
        db.session.remove()
        query = SearchQuery(
            check_in, check_in + timedelta(days=SEARCH_NIGHTS), prefecture=prefecture
        )
        started = time.perf_counter()
        results = search(query)
        figures.samples_ms.append((time.perf_counter() - started) * 1000)
        figures.facilities_found.append(len(results))
        figures.units_found.append(sum(len(r.units) for r in results))
    db.session.remove()
    return figures


# --- The database's own insert rate ----------------------------------------------------


def single_row_insert_rate(seconds: float) -> tuple[float, int]:
    """Rows per second for INSERT + COMMIT of one row per transaction, one connection.

    Uses the app's engine (same driver, connect arguments and SQLite connection
    pragmas, BEGIN IMMEDIATE on SQLite) and a scratch table shaped like an occupancy
    row, without its unique index or foreign keys: the engine's own rate.
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
        deadline = started + seconds
        while time.perf_counter() < deadline:
            with conn.begin():
                conn.execute(statement, {"unit_id": rows, "night": TODAY, "booking_id": rows})
            rows += 1
        elapsed = time.perf_counter() - started
    probe.drop(db.engine)
    return rows / elapsed, rows


# --- Booking throughput through gunicorn --------------------------------------------------


@dataclass(frozen=True)
class WorkerConfig:
    worker_class: str  # "sync" or "gthread"
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, spec: str) -> WorkerConfig:
        """``sync:4`` or ``gthread:2x4`` (workers x threads)."""
        kind, _sep, size = spec.partition(":")
        workers, _x, threads = size.partition("x")
        if kind not in ("sync", "gthread") or not workers.isdigit():
            raise argparse.ArgumentTypeError(f"worker config must be sync:N or gthread:NxT: {spec}")
        return cls(kind, int(workers), int(threads) if threads else (1 if kind == "sync" else 4))

    def __str__(self) -> str:
        if self.worker_class == "sync":
            return f"{self.workers} sync workers"
        return f"{self.workers} gthread workers x {self.threads} threads"

    @property
    def slug(self) -> str:
        return f"{self.worker_class}-{self.workers}x{self.threads}"


@dataclass
class BookingFigures:
    config: WorkerConfig
    seconds: float
    confirmed: int  # 201s that started and ended inside the measured window
    conflicts: int
    errors: int
    latencies_ms: list[float]
    answered_201_total: int  # including warm-up and the requests straddling the edges
    error_samples: list[str]

    @property
    def per_second(self) -> float:
        return self.confirmed / self.seconds


class Gunicorn:
    """The app served by gunicorn on a free port of 127.0.0.1, as a child process."""

    def __init__(self, database_url: str, config: WorkerConfig, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        command = [
            sys.executable, "-m", "gunicorn",
            "--chdir", str(ROOT), "--pythonpath", f"{ROOT},{BENCH_DIR}",
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", config.worker_class, "--workers", str(config.workers),
            "--threads", str(config.threads),
            "--log-level", "warning", "--timeout", "60",
            "bench_wsgi:app",
        ]  # fmt: skip
        env = {
            **os.environ,
            "ENGAWA_ENV": "production",
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "ENGAWA_BENCH_FIXED_NOW": NOW.isoformat(),
        }
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/v1/bookings")
                if conn.getresponse().status == 401:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # graceful: workers finish their request
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def client_loop(
    port: int,
    token: str,
    candidates: list[tuple[int, date, int]],
    seed: int,
    stop_at: float,
    records: list[tuple[float, float, int, str | None]],
) -> None:
    """Book random free-looking stays on one keep-alive connection until ``stop_at``.

    Every client draws from the same candidates, so two of them now and then want the
    same nights: the loser gets 409 "taken", as a real race would.
    """
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while time.perf_counter() < stop_at:
        unit_id, check_in, nights = rng.choice(candidates)
        body = json.dumps(
            {
                "unit_id": unit_id,
                "check_in": check_in.isoformat(),
                "check_out": (check_in + timedelta(days=nights)).isoformat(),
                "guests": 1,
            }
        )
        started = time.perf_counter()
        try:
            conn.request(
                "POST", "/api/v1/bookings", body=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            records.append((started, time.perf_counter(), 0, f"{type(exc).__name__}: {exc}"))
            continue
        status = response.status
        problem = None
        if status == 409:
            code = json.loads(payload).get("error", {}).get("code")
            if code != "taken":
                status, problem = -409, payload.decode(errors="replace")[:300]
        elif status != 201:
            problem = payload.decode(errors="replace")[:300]
        records.append((started, time.perf_counter(), status, problem))
    conn.close()


def run_booking_load(
    database_url: str,
    config: WorkerConfig,
    network: Network,
    candidates: list[tuple[int, date, int]],
    args: argparse.Namespace,
    backend: str,
) -> BookingFigures:
    server = Gunicorn(database_url, config, OUT_DIR / f"gunicorn-{backend}-{config.slug}.log")
    try:
        server.wait_ready()
        records: list[tuple[float, float, int, str | None]] = []
        start = time.perf_counter()
        window_start = start + args.warmup_seconds
        stop_at = window_start + args.booking_seconds
        threads = [
            threading.Thread(
                target=client_loop,
                args=(
                    server.port,
                    network.client_tokens[i],
                    candidates,
                    args.seed * 100 + i,
                    stop_at,
                    records,
                ),
            )  # fmt: skip
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
    window = [r for r in records if r[0] >= window_start and r[1] <= stop_at]
    errors = [r for r in records if r[2] not in (201, 409)]
    return BookingFigures(
        config=config,
        seconds=args.booking_seconds,
        confirmed=sum(1 for r in window if r[2] == 201),
        conflicts=sum(1 for r in window if r[2] == 409),
        errors=len(errors),
        latencies_ms=[(r[1] - r[0]) * 1000 for r in window if r[2] == 201],
        answered_201_total=sum(1 for r in records if r[2] == 201),
        error_samples=[f"status {r[2]}: {r[3]}" for r in errors[:5]],
    )


def verify_bookings(client_user_ids: list[int], answered_201: int) -> str | None:
    """Every 201 is one confirmed booking in the database, holding exactly its nights."""
    db.session.remove()
    booked = db.session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(Booking.user_id.in_(client_user_ids), Booking.status == BookingStatus.CONFIRMED)
    )
    nights = db.session.scalar(
        select(func.count())
        .select_from(BookingNight)
        .join(Booking, Booking.id == BookingNight.booking_id)
        .where(Booking.user_id.in_(client_user_ids))
    )
    claimed = db.session.scalar(
        select(func.count())
        .select_from(Occupancy)
        .join(Booking, Booking.id == Occupancy.booking_id)
        .where(Booking.user_id.in_(client_user_ids))
    )
    db.session.remove()
    if booked != answered_201:
        return f"{answered_201} answers were 201 but the database holds {booked} client bookings"
    if nights != claimed:
        return f"client bookings have {nights} nights but claim {claimed} occupancy rows"
    return None


# --- One backend, end to end -------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    network: Network
    prefecture: SearchFigures
    country: SearchFigures
    insert_rate: float
    insert_rows: int
    bookings: list[BookingFigures]
    problems: list[str]

    @property
    def best(self) -> BookingFigures:
        return max(self.bookings, key=lambda b: b.per_second)


def prepare_postgres(admin_url: str) -> str | None:
    """Create the benchmark's own database; return its app URL, or None if unreachable."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    except psycopg.Error as exc:
        say(f"PostgreSQL skipped: {admin_url} is not reachable ({str(exc).strip()})")
        return None
    url = make_url(normalise_database_url(admin_url)).set(database=PG_BENCH_DB)
    return url.render_as_string(hide_password=False)


def drop_postgres(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def prepare_sqlite() -> str:
    OUT_DIR.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{SQLITE_PATH}"


def run_backend(backend: str, database_url: str, args: argparse.Namespace) -> BackendResult:
    say(f"\n=== {backend} ({database_url}) ===")
    app = create_app(app_config(database_url))
    with app.app_context():
        db.create_all()
        network = build_network(backend, args)
        say(
            f"built in {network.build_seconds:.1f} s: {network.facilities:,} facilities,"
            f" {network.units:,} units, {network.bookings:,} bookings,"
            f" {network.occupancy_rows:,} occupancy rows;"
            f" occupancy {network.occupancy:.1%} of unit-nights over {YEAR_DAYS} days from {TODAY}"
        )
        say(
            f"prefecture search: {SEARCH_PREFECTURE} (東京都) has {network.prefecture_facilities}"
            f" facilities, {network.prefecture_units} units"
        )

        say(f"searching; {load_average()}")
        check_ins = search_windows(args.searches, args.seed)
        prefecture = time_searches("prefecture", SEARCH_PREFECTURE, check_ins)
        country = time_searches("country", None, check_ins)
        for f in (prefecture, country):
            say(
                f"search {f.label:<10} p50 {f.p50:7.1f} ms  p95 {f.p95:7.1f} ms"
                f"  max {f.max:7.1f} ms  ({len(f.samples_ms)} queries;"
                f" median {percentile(f.facilities_found, 50):.0f} facilities,"
                f" {percentile(f.units_found, 50):.0f} units free)"
            )

        say(f"inserting; {load_average()}")
        insert_rate, insert_rows = single_row_insert_rate(args.insert_seconds)
        say(
            f"single-row INSERT + COMMIT: {insert_rate:,.0f} rows/s"
            f" ({insert_rows:,} rows in {args.insert_seconds:g} s, one connection)"
        )
        db.session.remove()
        db.engine.dispose()  # gunicorn's workers get the database to themselves

        rng = random.Random(args.seed + 2)
        candidates = list(network.candidates)
        rng.shuffle(candidates)
        share = len(candidates) // len(args.workers)
        say(f"{len(candidates):,} free-looking 2-5-night stays to book from")
        results, problems = [], []
        for i, config in enumerate(args.workers):
            say(f"booking with {config}; {load_average()}")
            figures = run_booking_load(
                database_url, config, network, candidates[i * share : (i + 1) * share], args,
                backend,
            )  # fmt: skip
            results.append(figures)
            say(
                f"bookings via HTTP, {config}, {args.clients} clients:"
                f" {figures.per_second:6.1f} confirmed/s  ({figures.confirmed} in"
                f" {figures.seconds:g} s; {figures.conflicts} conflicts, {figures.errors} errors;"
                f" latency p50 {percentile(figures.latencies_ms, 50):.1f} ms,"
                f" p95 {percentile(figures.latencies_ms, 95):.1f} ms)"
            )
            for sample in figures.error_samples:
                say(f"  error: {sample}")
            if figures.errors:
                problems.append(f"{figures.errors} booking requests failed with {config}")
        mismatch = verify_bookings(
            network.client_user_ids, sum(b.answered_201_total for b in results)
        )
        if mismatch:
            problems.append(mismatch)
            say(f"verification FAILED: {mismatch}")
        else:
            say("verified: every 201 is one confirmed booking holding exactly its nights")
        db.session.remove()
        db.engine.dispose()
    best = max(results, key=lambda b: b.per_second)
    say(
        f"best: {best.config}: {best.per_second:.1f} bookings/s ="
        f" {best.per_second / insert_rate:.1%} of {insert_rate:,.0f} single-row inserts/s"
    )
    return BackendResult(
        backend, network, prefecture, country, insert_rate, insert_rows, results, problems
    )


# --- Summary --------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_summary(results: list[BackendResult], args: argparse.Namespace) -> None:
    say("\n=== Summary ===")
    say(
        f"network: {args.facilities:,} facilities x {args.units_per_facility} units;"
        f" searches: {args.searches} x 7 nights; bookings: {args.clients} clients,"
        f" {args.booking_seconds:g} s per gunicorn config"
    )
    rows = [("backend", "measure", "value", "target", "result")]
    for r in results:
        best = r.best
        ratio = best.per_second / r.insert_rate
        rows += [
            (r.backend, f"prefecture search p95 ({SEARCH_PREFECTURE})",
             f"{r.prefecture.p95:.1f} ms", f"<= {TARGET_PREFECTURE_P95_MS:g} ms",
             verdict(r.prefecture.p95 <= TARGET_PREFECTURE_P95_MS)),
            (r.backend, "whole-country search p95", f"{r.country.p95:.1f} ms",
             f"<= {TARGET_COUNTRY_P95_MS:g} ms", verdict(r.country.p95 <= TARGET_COUNTRY_P95_MS)),
            (r.backend, f"bookings/s ({best.config.slug})", f"{best.per_second:.1f}", "", ""),
            (r.backend, "single-row inserts/s", f"{r.insert_rate:,.0f}", "", ""),
            (r.backend, "bookings/s / inserts/s", f"{ratio:.1%}",
             f">= {TARGET_BOOKING_RATIO:.0%}", verdict(ratio >= TARGET_BOOKING_RATIO)),
            (r.backend, "booking errors", str(sum(b.errors for b in r.bookings)), "0",
             verdict(not r.problems)),
        ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--units-per-facility", type=int, default=10)
    parser.add_argument("--searches", type=int, default=200, help="queries per search kind")
    parser.add_argument("--booking-seconds", type=float, default=20)
    parser.add_argument("--warmup-seconds", type=float, default=3)
    parser.add_argument("--insert-seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers", type=WorkerConfig.parse, nargs="+",
        default=[WorkerConfig.parse(s) for s in ("sync:4", "gthread:2x4")],
        help="gunicorn configs to try, e.g. sync:4 gthread:2x4 (the best one counts)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", PG_ADMIN_DEFAULT),
        help=f"a database on the server to connect to; {PG_BENCH_DB} is created next to it",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help=f"keep the {PG_BENCH_DB} database")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.facilities, args.searches = 50, 30
        args.booking_seconds, args.warmup_seconds, args.insert_seconds = 5, 2, 1
        args.workers = args.workers[:1]
    args.pg_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say(
        f"Engawa search-and-book benchmark; now = {NOW.isoformat()} (Tokyo {TODAY}),"
        f" {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
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
    problems = [f"{r.backend}: {p}" for r in results for p in r.problems]
    for problem in problems:
        say(f"ERROR {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
