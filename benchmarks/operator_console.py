"""The operator console at scale: the tape chart's month and the organisation dashboard.

    .venv/bin/python benchmarks/operator_console.py              # full size, both engines
    .venv/bin/python benchmarks/operator_console.py --backend sqlite --sql-top 5
    .venv/bin/python benchmarks/operator_console.py --rooms 6 --facilities 10 \\
        --rooms-per-facility 2 --calls 3                         # a smoke run, seconds

Builds its own data in an empty database: a throwaway SQLite file (in a temporary
folder, removed after), and a scratch PostgreSQL database on ``--pg-url``'s server
(created under a name of its own, dropped at the end; skipped if the server cannot be
reached). Two operator organisations, each with one person enrolled in two-factor
sign-in, and one company whose employees made the stays:

- the front desk: one facility of ``--rooms`` rooms (50);
- the chain: ``--facilities`` facilities (500) of ``--rooms-per-facility`` rooms (10).

Every room holds about 70% of its nights from 400 days before today to 100 days after
(so last year's months, this month, next month and the next 90 nights all have data),
as back-to-back segments with random gaps: stays of 2-14 nights (checked out before
today, checked in across it, booked after it; about 2% of past ones no-shows that held
only their first night), and, one segment in ten, a closing (1-5 nights), an imported
external event (2-7 nights, one calendar feed per room that has one) or a direct stay
(1-4 nights, with a nightly price). Each stay was booked 1-90 days before its check-in
(never after now, so some were made this week), at the room's price ±20% a night (one
night in fifty sold at ¥0); one stay in twenty was cancelled (its prices kept, no
occupancy). Rows are bulk-loaded (``bench_network.BulkLoader``: executemany on SQLite,
COPY on PostgreSQL), then PostgreSQL is vacuumed and analysed, as autovacuum would.

Then, signed in through the pages (password and authenticator code) with the app's
clock fixed at ``bench_network.NOW`` (1 December 2026, noon in Tokyo), times through
the Flask test client (in process, one request per call, each in its own app context
as a served request is; ``--calls`` after 3 warm-up calls):

1. the tape chart's month: ``GET /operator/facilities/<id>/calendar?view=month&month=2026-12``;
2. the dashboard: ``GET /operator/`` (this month, next month and last month, each
   against last year; the next 90 nights; today; rooms to clean; the calendar alerts).

Prints p50/p95/max per page and the SQL statements per request; ``--sql-top K`` adds
the K statements that took longest in total. Checks the dashboard's figures
(``consoles.operator.kpis``) against the same figures counted in Python from the rows
built, and exits 1 if they differ or a page answers anything but 200. Targets
(docs/PERFORMANCE.md, "Operator console"): the tape chart's month under 300 ms.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

import psycopg  # noqa: E402
import pyotp  # noqa: E402
from bench_network import NOW, TODAY, BulkLoader  # noqa: E402
from sqlalchemy import event, insert, make_url, text  # noqa: E402

from accounts import two_factor  # noqa: E402
from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.services import hash_password  # noqa: E402
from app import create_app  # noqa: E402
from availability.models import BlockReason  # noqa: E402
from booking.models import BookingStatus  # noqa: E402
from calendars.models import CalendarFeed  # noqa: E402
from consoles.operator import kpis  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.db import TOKYO  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility, Unit  # noqa: E402

FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "bench operator password"  # noqa: S105 (a throwaway database)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
EMPLOYEES = 200
FIRST_NIGHT = TODAY - timedelta(days=400)
LAST_NIGHT = TODAY + timedelta(days=100)  # exclusive
OCCUPANCY = 0.70
WARM_UP = 3
MONTH = TODAY.strftime("%Y-%m")
MONTH_START = TODAY.replace(day=1)
MONTH_END = (MONTH_START + timedelta(days=32)).replace(day=1)
FRONT_DESK, CHAIN = 1, 2  # the operator organisations' ids


# --- The plan: every room's nights, segment by segment --------------------------------


@dataclass
class Plan:
    """Rows to load, and what the chain's figures for this month must come to."""

    facilities: list[dict] = field(default_factory=list)
    units: list[dict] = field(default_factory=list)
    bookings: list[tuple] = field(default_factory=list)
    booking_nights: list[tuple] = field(default_factory=list)
    occupancy: list[tuple] = field(default_factory=list)
    blocks: list[tuple] = field(default_factory=list)
    direct_stays: list[tuple] = field(default_factory=list)
    feeds: list[dict] = field(default_factory=list)
    # The chain's figures for this month, counted here: sold, closed, revenue, pickup.
    expected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _instant(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO).astimezone(UTC)


def _made_at(check_in: date, rng: random.Random) -> datetime:
    made = _instant(check_in) - timedelta(days=rng.randint(1, 90), minutes=rng.randint(0, 600))
    if made > NOW:  # not booked yet: booked in the last weeks instead
        made = NOW - timedelta(hours=rng.randint(1, 24 * 30))
    return made


class Builder:
    def __init__(self, rng: random.Random, employees: list[int], company_id: int) -> None:
        self.rng = rng
        self.employees = employees
        self.company_id = company_id
        self.plan = Plan()

    def facility(self, operator_id: int, name: str, rooms: int) -> int:
        fid = len(self.plan.facilities) + 1
        self.plan.facilities.append(
            {
                "id": fid,
                "operator_id": operator_id,
                "name_ja": f"{name} {fid}",
                "name_en": f"{name} {fid}",
                "prefecture": 1 + fid % 47,
                "municipality": "町",
                "address": "1-1",
                "latitude": 35.0,
                "longitude": 135.0,
                "created_at": NOW - timedelta(days=800),
                "reviewed_at": NOW - timedelta(days=800),
                "licence_type": "hotel",
                "licence_number": f"ベンチ第{fid}号",
            }
        )
        for k in range(rooms):
            unit_id = len(self.plan.units) + 1
            self.plan.units.append(
                {
                    "id": unit_id,
                    "facility_id": fid,
                    "name": f"{101 + k}",
                    "capacity": self.rng.choice([2, 2, 3, 4]),
                    "base_price": self.rng.randrange(8000, 30001, 500),
                    "active": True,
                    "housekeeping": self.rng.choice(["clean", "clean", "inspected", "dirty"]),
                    "housekeeping_at": NOW - timedelta(hours=self.rng.randint(1, 200)),
                }
            )
            self._fill(unit_id, counted=operator_id == CHAIN)
        return fid

    def _fill(self, unit_id: int, counted: bool) -> None:
        """Back-to-back segments with random gaps, about OCCUPANCY of the nights held."""
        rng = self.rng
        mean_segment = 7.5
        max_gap = round(2 * mean_segment * (1 - OCCUPANCY) / OCCUPANCY)
        day = FIRST_NIGHT + timedelta(days=rng.randint(0, 6))
        while day < LAST_NIGHT:
            kind = rng.choices(["stay", "manual", "import", "direct"], [90, 4, 3, 3])[0]
            nights = {"stay": (2, 14), "manual": (1, 5), "import": (2, 7), "direct": (1, 4)}[kind]
            end = min(LAST_NIGHT, day + timedelta(days=rng.randint(*nights)))
            if kind == "stay":
                self._stay(unit_id, day, end, counted)
            else:
                self._block(unit_id, day, end, kind, counted)
            day = end + timedelta(days=rng.randint(0, max_gap))
            if rng.random() < 0.05:  # a cancelled stay that wanted some of these nights
                self._stay(unit_id, day, day + timedelta(days=rng.randint(1, 5)), False, True)

    def _stay(self, unit_id: int, start: date, end: date, counted: bool, cancelled=False) -> None:
        rng, plan = self.rng, self.plan
        booking_id = len(plan.bookings) + 1
        base = plan.units[unit_id - 1]["base_price"]
        nights = [start + timedelta(days=i) for i in range((end - start).days)]
        prices = [
            0 if rng.random() < 0.02 else int(round(base * rng.uniform(0.8, 1.2), -2))
            for _ in nights
        ]
        held = len(nights)
        released_on = None
        if cancelled:
            status, held = BookingStatus.CANCELLED, 0
        elif end <= TODAY:
            status = BookingStatus.NO_SHOW if rng.random() < 0.02 else BookingStatus.CHECKED_OUT
            if status == BookingStatus.NO_SHOW and len(nights) > 1:
                held, released_on = 1, nights[1]
        elif start <= TODAY:
            status = BookingStatus.CHECKED_IN
        else:
            status = BookingStatus.CONFIRMED
        made = _made_at(start, rng)
        plan.bookings.append(
            (booking_id, rng.choice(self.employees), self.company_id, unit_id, start, end,
             1, status.value, int(sum(prices)), made, released_on)
        )  # fmt: skip
        plan.counts["cancelled" if cancelled else "stays"] += 1
        for night, price in zip(nights, prices, strict=True):
            plan.booking_nights.append((booking_id, night, int(price)))
        for night, price in zip(nights[:held], prices[:held], strict=True):
            plan.occupancy.append((unit_id, night, booking_id, None))
            if counted and status != BookingStatus.NO_SHOW:
                self._count_sold(night, int(price), made)

    def _block(self, unit_id: int, start: date, end: date, kind: str, counted: bool) -> None:
        plan = self.plan
        block_id = len(plan.blocks) + 1
        made = _made_at(start, self.rng)
        feed_id = event_key = None
        if kind == "import":
            feed = next((f for f in plan.feeds if f["unit_id"] == unit_id), None)
            if feed is None:
                feed = {
                    "id": len(plan.feeds) + 1,
                    "unit_id": unit_id,
                    "label": "Airbnb",
                    "url": f"https://calendar.example/{unit_id}.ics",
                    "last_success_at": NOW - timedelta(minutes=5),
                    "created_at": NOW - timedelta(days=500),
                }
                plan.feeds.append(feed)
            feed_id, event_key = feed["id"], f"event-{block_id}"
        reason = {
            "manual": BlockReason.MAINTENANCE,
            "import": BlockReason.EXTERNAL,
            "direct": BlockReason.DIRECT,
        }[kind]
        plan.blocks.append(
            (
                block_id,
                unit_id,
                start,
                end,
                kind,
                reason.value,
                "",
                feed_id,
                event_key,
                "",
                made,
                made,
            )
        )
        plan.counts[kind] += 1
        nightly = self.rng.randrange(6000, 20001, 500)
        if kind == "direct":
            plan.direct_stays.append(
                (len(plan.direct_stays) + 1, block_id, "直接 太郎", 1, nightly, "", made)
            )
        for i in range((end - start).days):
            night = start + timedelta(days=i)
            plan.occupancy.append((unit_id, night, None, block_id))
            if counted and kind == "direct":
                self._count_sold(night, nightly, made)
            elif counted and MONTH_START <= night < MONTH_END:
                plan.expected["closed"] += 1

    def _count_sold(self, night: date, price: int, made: datetime) -> None:
        if MONTH_START <= night < MONTH_END:
            expected = self.plan.expected
            expected["sold"] += 1
            expected["revenue"] += price
            if NOW - timedelta(days=7) < made <= NOW:
                expected["pickup"] += 1


# --- Loading ------------------------------------------------------------------------------


def _people() -> tuple[list[int], int, dict[int, str]]:
    """The company's employees and each operator organisation's person (enrolled)."""
    db.session.execute(
        insert(OperatorOrg),
        [{"id": FRONT_DESK, "name": "ベンチ 旅館"}, {"id": CHAIN, "name": "ベンチ チェーン"}],
    )
    company = Company(name="ベンチ企業", created_at=NOW - timedelta(days=900))
    db.session.add(company)
    db.session.flush()
    unusable = hash_password("nobody signs in as an employee here", FAST_HASH)
    db.session.execute(
        insert(User),
        [
            {
                "email": f"employee{i}@bench.example",
                "name": f"社員 {i}",
                "password_hash": unusable,
                "role": Role.EMPLOYEE.value,
                "company_id": company.id,
            }
            for i in range(EMPLOYEES)
        ],
    )
    employees = list(db.session.scalars(db.select(User.id).where(User.company_id == company.id)))
    operators = {}
    for org_id in (FRONT_DESK, CHAIN):
        person = User(
            email=f"operator{org_id}@bench.example",
            name=f"運営 {org_id}",
            password_hash=hash_password(PASSWORD, FAST_HASH),
            role=Role.OPERATOR,
            operator_id=org_id,
            locale="ja",
        )
        two_factor.enrol_with_secret(person, TOTP_SECRET, NOW - timedelta(days=30))
        db.session.add(person)
        operators[org_id] = person.email
    db.session.flush()
    return employees, company.id, operators


def load(backend: str, plan: Plan) -> None:
    loader = BulkLoader(backend)
    day, stamp = loader.day, loader.stamp
    db.session.execute(insert(Facility), plan.facilities)
    db.session.execute(insert(Unit), plan.units)
    if plan.feeds:
        db.session.execute(insert(CalendarFeed), plan.feeds)
    db.session.flush()
    loader.load(
        "booking",
        ["id", "user_id", "company_id", "unit_id", "check_in", "check_out", "guests", "status",
         "total_price", "created_at", "released_on", "cancel_reason", "operator_note"],
        ((b, u, c, unit, day(ci), day(co), g, s, t, stamp(made), day(rel) if rel else None, "", "")
         for b, u, c, unit, ci, co, g, s, t, made, rel in plan.bookings),
    )  # fmt: skip
    loader.load(
        "booking_night",
        ["booking_id", "night", "price"],
        ((b, day(n), p) for b, n, p in plan.booking_nights),
    )
    loader.load(
        "block",
        ["id", "unit_id", "start_date", "end_date", "source", "reason", "note", "feed_id",
         "event_key", "summary", "created_at", "updated_at"],
        ((i, u, day(s), day(e), src, r, note, f, k, summ, stamp(c), stamp(up))
         for i, u, s, e, src, r, note, f, k, summ, c, up in plan.blocks),
    )  # fmt: skip
    loader.load(
        "direct_stay",
        ["id", "block_id", "guest_name", "guests", "nightly_price", "note", "created_at"],
        ((i, b, n, g, p, note, stamp(c)) for i, b, n, g, p, note, c in plan.direct_stays),
    )
    loader.load(
        "occupancy",
        ["unit_id", "night", "booking_id", "block_id"],
        ((u, day(n), b, blk) for u, n, b, blk in plan.occupancy),
    )
    db.session.commit()
    if backend == "postgresql":
        for table in ("facility", "unit", "booking", "block", "direct_stay", "calendar_feed"):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            )
        db.session.commit()


def settle(backend: str) -> None:
    """As a long-running database would be after a bulk load (see bench_network)."""
    db.session.remove()
    raw = db.engine.raw_connection()
    try:
        if backend == "postgresql":
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
        else:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    db.engine.dispose()


# --- Timing -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Statements:
    """The SQL statements the app sends, counted and timed (its engine's cursor calls)."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args) -> None:
        self.count += 1
        self._started.append(time.perf_counter())

    def _after(self, _conn, _cursor, statement, *_args) -> None:
        self.seconds[" ".join(statement.split())] += time.perf_counter() - self._started.pop()


def sign_in(client, email: str) -> None:
    answer = client.post("/login", data={"email": email, "password": PASSWORD})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in of {email}: {answer.status_code}")
    code = pyotp.TOTP(TOTP_SECRET).now()
    answer = client.post("/login/two-factor", data={"code": code})
    if answer.status_code != 302:
        raise SystemExit(f"sign-in code of {email}: {answer.status_code}")


def timed(label: str, client, url: str, calls: int, statements: Statements, top: int) -> str:
    samples, counts = [], []
    statements.seconds.clear()
    for i in range(WARM_UP + calls):
        before = statements.count
        started = time.perf_counter()
        answer = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"{url}: {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
        if i >= WARM_UP:
            samples.append(elapsed)
            counts.append(statements.count - before)
    line = (
        f"{label:<46} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f} ms"
        f"  max {max(samples):7.1f} ms  ({len(samples)} calls, {max(counts)} SQL statements)"
    )
    if top:
        slowest = sorted(statements.seconds.items(), key=lambda kv: -kv[1])[:top]
        for sql, seconds in slowest:
            per_call = seconds * 1000 / (WARM_UP + calls)
            line += f"\n    {per_call:7.1f} ms/call  {sql[:300]}"
    return line


# --- One engine ---------------------------------------------------------------------------


def run(url: str, backend: str, args) -> bool:
    app = create_app(
        {
            "SECRET_KEY": "engawa-operator-bench-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": url,
            "FIXED_NOW": NOW,
            "WTF_CSRF_ENABLED": False,  # the pages are read; sign-in posts once
            "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )
    rng = random.Random(args.seed)
    with app.app_context():
        started = time.perf_counter()
        db.create_all()
        employees, company_id, operators = _people()
        builder = Builder(rng, employees, company_id)
        front_desk = builder.facility(FRONT_DESK, "ベンチ旅館", args.rooms)
        chain = [
            builder.facility(CHAIN, "ベンチ施設", args.rooms_per_facility)
            for _ in range(args.facilities)
        ]
        load(backend, builder.plan)
        settle(backend)
        built = time.perf_counter() - started
        c, expected, claimed = (
            builder.plan.counts,
            builder.plan.expected,
            len(builder.plan.occupancy),
        )
        # The millions of planned rows would make every garbage collection during the
        # timed requests walk them: let them go before anything is timed.
        del builder
        gc.collect()
        print(
            f"{backend}: front desk 1 facility of {args.rooms} rooms; chain {args.facilities:,}"
            f" facilities of {args.rooms_per_facility} rooms; {c['stays']:,} stays"
            f" ({c['cancelled']:,} cancelled more), {c['manual']:,} closings, {c['import']:,}"
            f" imported events, {c['direct']:,} direct stays, {claimed:,}"
            f" occupancy rows; built in {built:.1f} s"
        )
        figures = kpis.period_figures(chain, MONTH_START, MONTH_END, NOW)
        whole = kpis.total(list(figures.values()), MONTH_START, MONTH_END)
        db.session.remove()
    rooms = args.facilities * args.rooms_per_facility
    available = rooms * (MONTH_END - MONTH_START).days - expected["closed"]
    ok = (whole.nights_sold, whole.nights_available, whole.room_revenue, whole.pickup) == (
        expected["sold"],
        available,
        expected["revenue"],
        expected["pickup"],
    )
    print(
        ("check: the dashboard's figures match the data built" if ok else "CHECK FAILED:")
        + f" (this month: {whole.nights_sold:,} sold of {whole.nights_available:,} available,"
        f" ¥{whole.room_revenue:,}, pickup {whole.pickup:,}; counted: {expected['sold']:,} of"
        f" {available:,}, ¥{expected['revenue']:,}, {expected['pickup']:,})"
    )
    if not args.calls:
        return ok
    with app.app_context():
        statements = Statements(db.engine)
    desk, head_office = app.test_client(), app.test_client()
    sign_in(desk, operators[FRONT_DESK])
    sign_in(head_office, operators[CHAIN])
    print(
        timed(
            f"tape chart month ({args.rooms} rooms, {MONTH})",
            desk,
            f"/operator/facilities/{front_desk}/calendar?view=month&month={MONTH}",
            args.calls,
            statements,
            args.sql_top,
        )
    )
    print(
        timed(
            f"dashboard ({args.facilities:,} facilities)",
            head_office,
            "/operator/",
            args.calls,
            statements,
            args.sql_top,
        )
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rooms", type=int, default=50, help="rooms of the tape chart's facility")
    parser.add_argument("--facilities", type=int, default=500, help="facilities of the chain")
    parser.add_argument("--rooms-per-facility", type=int, default=10)
    parser.add_argument("--calls", type=int, default=30, help="timed requests per page")
    parser.add_argument("--sql-top", type=int, default=0, help="print the K slowest statements")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--pg-url", default=PG_ADMIN_DEFAULT, help="a server's admin database")
    parser.add_argument("--keep", action="store_true", help="keep the databases built")
    args = parser.parse_args(argv)
    print(f"Engawa operator console benchmark; now = {NOW.isoformat()} (Tokyo {TODAY})")
    ok = True
    if args.backend in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="engawa-operator-bench-"))
        try:
            ok &= run(f"sqlite:///{folder / 'bench.db'}", "sqlite", args)
        finally:
            if args.keep:
                print(f"kept: sqlite:///{folder / 'bench.db'}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
    if args.backend in ("postgresql", "both"):
        admin_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
        name = f"engawa_operator_bench_{os.getpid()}"
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            print(f"PostgreSQL skipped: {admin_url} is not reachable ({str(exc).strip()})")
            return 0 if ok else 1
        url = make_url(normalise_database_url(admin_url)).set(database=name)
        try:
            ok &= run(url.render_as_string(hide_password=False), "postgresql", args)
        finally:
            if args.keep:
                print(f"kept: {url.render_as_string(hide_password=False)}")
            else:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
