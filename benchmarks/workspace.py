"""Workspace at scale: a 200-desk office's day, a whole-country search, booking races.

    .venv/bin/python benchmarks/workspace.py                   # full size, both engines
    .venv/bin/python benchmarks/workspace.py --backend sqlite --sql-top 5
    .venv/bin/python benchmarks/workspace.py --units 12 --facilities 10 \\
        --units-per-facility 2 --calls 3 --seconds 1          # a smoke run, seconds

Builds its own data in an empty database: a throwaway SQLite file (in a temporary
folder, removed after), and a scratch PostgreSQL database on ``--pg-url``'s server
(created under a name of its own, dropped at the end; skipped if the server cannot be
reached). The schema is ``db.create_all()``'s, so PostgreSQL has ``btree_gist`` and the
holds' exclusion constraint (``availability.workspace``). One company (subscribed, with
ample credit, no monthly workspace cap) whose employees made the bookings, and:

- the office: one listed office facility in Tokyo of ``--units`` workspace units (200):
  hot and fixed desks (Mon-Sat 08:00-21:00), phone booths (15-minute slots, weekdays
  08:00-21:00, Saturday 10:00-18:00) and meeting rooms (weekdays 09:00-20:00);
- the network: ``--facilities`` listed offices (400) spread over the 47 prefectures as
  ``bench_network`` spreads stays, of ``--units-per-facility`` units (10) each.

Today and the next ``--days`` - 1 days (15 in all) of every unit are held by workspace
bookings to about 55% of their open time (each facility 45-65%): back-to-back bookings
of the unit's slots (desks 1-10 hours, booths 30-120 minutes, rooms 30-180 minutes)
with random gaps. Rows are bulk-loaded (``bench_network.BulkLoader``: executemany on
SQLite, COPY on PostgreSQL; on SQLite each hold's ``SlotClaim`` rows with it), then
PostgreSQL is vacuumed and analysed, as autovacuum would.

Then, with the app's clock fixed at ``bench_network.NOW`` (1 December 2026, noon in
Tokyo), times through the Flask test client (in process, one request per call, signed
in as an employee; the API with a bearer token) and the services directly (each call
in its own app context), ``--calls`` after 3 warm-up calls, whichever exist:

1. the office's day (today): ``GET /workspace/facilities/<id>?date=``, ``GET
   /api/v1/facilities/<id>/workspace?date=`` and ``booking.workspace_search.day_view``;
2. the whole country, tomorrow 13:00-17:00: ``GET /workspace?day=&starts=13:00&ends=17:00``
   and ``booking.workspace_search.search_workspace``;
3. bookings per second: ``--clients`` threads (8), each booking through
   ``booking.workspace.book_workspace`` in its own app context and session, one commit
   per booking, for ``--seconds`` (10) each way: distinct free times (each thread its own
   units: no conflict expected), then contended (every round all threads race for the
   same free time: exactly one wins, the others get ``SlotTaken``).

Prints p50/p95/max and the SQL statements per request (``--sql-top K``: the K statements
that took longest in total), bookings/s and conflicts. Checks the day view's free slots
and the search's units against the data built, one winner per contended time, every
booking held once and charged once, and no two holds of a unit overlapping; exits 1 if
any check fails or a page answers anything but 200. Figures: docs/PERFORMANCE.md,
"Workspace". The data is planned in ``workspace_plan``, the races run in ``workspace_races``.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

import psycopg  # noqa: E402
from bench_network import (  # noqa: E402
    NOW,
    TODAY,
    BulkLoader,
    facilities_per_prefecture,
    fund_company,
    settle,
)
from sqlalchemy import event, insert, make_url, select, text  # noqa: E402
from workspace_plan import (  # noqa: E402
    SEARCH_FROM,
    SEARCH_UNTIL,
    Builder,
    Plan,
    expected_free_slots,
    expected_search,
    free_times,
)
from workspace_races import check_bookings, contended, distinct  # noqa: E402

from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.services import create_api_token, hash_password  # noqa: E402
from app import create_app  # noqa: E402
from booking.workspace_models import WorkspaceStatus  # noqa: E402
from booking.workspace_search import (  # noqa: E402
    WorkspaceQuery,
    day_view,
    facility_units,
    search_workspace,
)
from core.config import normalise_database_url  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility  # noqa: E402
from facilities.workspace import WorkspaceUnit  # noqa: E402

FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "bench employee password"  # noqa: S105 (a throwaway database)
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
EMPLOYEES = 300
WARM_UP = 3
OFFICE_PREFECTURE = 13  # 東京都
DAY = TODAY  # the office's day view
SEARCH_DAY = TODAY + timedelta(days=1)
DAY_PAGE = "/workspace/facilities/<int:facility_id>"
DAY_API = "/api/v1/facilities/<int:facility_id>/workspace"
SEARCH_PAGE = "/workspace"

# --- Loading ------------------------------------------------------------------------------


def _people() -> tuple[list[int], int]:
    """The operator, the company and its employees; the employee who signs in."""
    db.session.execute(insert(OperatorOrg), [{"id": 1, "name": "ベンチ オフィス"}])
    company = Company(
        name="ベンチ企業", max_workspace_hours_per_month=None, created_at=NOW - timedelta(days=900)
    )
    db.session.add(company)
    db.session.flush()
    company.max_workspace_hours_per_month = None  # the column's default (40) fills a None
    db.session.flush()
    unusable = hash_password("nobody signs in as these employees", FAST_HASH)
    usable = hash_password(PASSWORD, FAST_HASH)
    db.session.execute(
        insert(User),
        [
            {"email": f"employee{i}@bench.example", "name": f"社員 {i}",
             "password_hash": usable if i == 0 else unusable, "role": Role.EMPLOYEE.value,
             "company_id": company.id}
            for i in range(EMPLOYEES)
        ],
    )  # fmt: skip
    employees = list(db.session.scalars(select(User.id).where(User.company_id == company.id)))
    fund_company(company.id)
    return employees, company.id


def load(backend: str, plan: Plan, company_id: int) -> None:
    db.session.execute(insert(Facility), plan.facilities)
    db.session.execute(insert(WorkspaceUnit), plan.units)
    loader = BulkLoader(backend)
    stamp = loader.stamp
    created = {}
    slot_of = {u["id"]: u["slot_minutes"] for u in plan.units}

    def rows():
        for i, (unit_id, starts, ends, user_id, price) in enumerate(plan.bookings, start=1):
            done = ends <= NOW
            created[i] = stamp(starts - timedelta(days=1 + i % 20))
            yield (
                i, user_id, company_id, unit_id, stamp(starts), stamp(ends),
                (WorkspaceStatus.CHECKED_IN if done else WorkspaceStatus.CONFIRMED).value,
                price, price, "", created[i], stamp(starts) if done else None, 0,
            )  # fmt: skip

    loader.load(
        "workspace_booking",
        ["id", "user_id", "company_id", "unit_id", "starts_at", "ends_at", "status",
         "total_price", "base_price", "price_reasons", "created_at", "checked_in_at", "refunded"],
        rows(),
    )  # fmt: skip
    loader.load(
        "slot_hold",
        ["id", "unit_id", "starts_at", "ends_at", "booking_id"],
        ((i, u, stamp(s), stamp(e), i) for i, (u, s, e, *_r) in enumerate(plan.bookings, 1)),
    )
    if backend == "sqlite":  # the slot rows that stand in for the exclusion constraint

        def claims():
            for i, (unit_id, starts, ends, *_rest) in enumerate(plan.bookings, start=1):
                step = timedelta(minutes=slot_of[unit_id])
                moment = starts
                while moment < ends:
                    yield unit_id, stamp(moment), i
                    moment += step

        loader.load("slot_claim", ["unit_id", "slot_start", "hold_id"], claims())
    db.session.commit()
    if backend == "postgresql":
        for table in ("facility", "workspace_unit", "workspace_booking", "slot_hold"):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            )
        db.session.commit()


# --- Timing -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Statements:
    """The SQL statements the app sends, counted and timed (its engine's cursor calls;
    each thread keeps its own start times)."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.seconds: dict[str, float] = defaultdict(float)
        self._local = threading.local()
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args) -> None:
        with self._lock:
            self.count += 1
        self._local.started = time.perf_counter()

    def _after(self, _conn, _cursor, statement, *_args) -> None:
        took = time.perf_counter() - self._local.started
        with self._lock:
            self.seconds[" ".join(statement.split())] += took


def timed(label: str, call, calls: int, statements: Statements, top: int) -> str:
    """``call()`` WARM_UP + ``calls`` times; it raises SystemExit on a wrong answer."""
    samples, counts = [], []
    statements.seconds.clear()
    for i in range(WARM_UP + calls):
        before = statements.count
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
        if i >= WARM_UP:
            samples.append(elapsed)
            counts.append(statements.count - before)
    line = (
        f"{label:<58} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f} ms"
        f"  max {max(samples):7.1f} ms  ({len(samples)} calls, {max(counts)} SQL statements)"
    )
    for sql, seconds in sorted(statements.seconds.items(), key=lambda kv: -kv[1])[:top]:
        line += f"\n    {seconds * 1000 / (WARM_UP + calls):7.1f} ms/call  {sql[:300]}"
    return line


def get(client, url: str, **kw):
    def call():
        answer = client.get(url, **kw)
        if answer.status_code != 200:
            raise SystemExit(f"{url}: {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
        return answer

    return call


def in_context(app, work):
    def call():
        with app.app_context():
            work()
            db.session.remove()

    return call


# --- One engine ---------------------------------------------------------------------------


def _clients(count: int, company_id: int) -> list[int]:
    unusable = hash_password("the clients book through the services", FAST_HASH)
    db.session.execute(
        insert(User),
        [
            {"email": f"client{i}@bench.example", "name": f"利用者 {i}",
             "role": Role.EMPLOYEE.value, "password_hash": unusable, "company_id": company_id}
            for i in range(count)
        ],
    )  # fmt: skip
    return list(db.session.scalars(select(User.id).where(User.email.like("client%"))))


def build(backend: str, args, rng: random.Random) -> tuple[Plan, int, list[int], str]:
    db.create_all()
    employees, company_id = _people()
    builder = Builder(rng, employees, args.days)
    office = builder.facility("ベンチオフィス", OFFICE_PREFECTURE, args.units, 0.55)
    spread = facilities_per_prefecture(args.facilities)
    for code in [code for code, n in sorted(spread.items()) for _ in range(n)]:
        builder.facility("ベンチ拠点", code, args.units_per_facility, rng.uniform(0.45, 0.65))
    load(backend, builder.plan, company_id)
    clients = _clients(args.clients, company_id)
    employee = db.session.scalar(select(User).where(User.email == "employee0@bench.example"))
    _token, secret = create_api_token(employee, "bench", NOW)
    db.session.commit()
    settle(backend)
    return builder.plan, office, clients, secret


def run(url: str, backend: str, args) -> bool:
    app = create_app(
        {
            "SECRET_KEY": "engawa-workspace-bench-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": url,
            "FIXED_NOW": NOW,
            "WTF_CSRF_ENABLED": False,  # the pages are read; sign-in posts once
            "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )
    rng = random.Random(args.seed)
    with app.app_context():
        started = time.perf_counter()
        plan, office, clients, secret = build(backend, args, rng)
        built = time.perf_counter() - started
    free_slots = expected_free_slots(plan, office, DAY)
    found = expected_search(plan, SEARCH_DAY)
    times = free_times(plan, rng, max(4000, int(args.seconds * 4000)))
    print(
        f"{backend}: office of {args.units} units + {args.facilities:,} facilities of"
        f" {args.units_per_facility} units ({len(plan.units):,} units); {len(plan.bookings):,}"
        f" bookings over {args.days} days, {plan.held_minutes / plan.open_minutes:.1%} of the"
        f" open time held; built in {built:.1f} s"
    )
    print(
        f"  the office today: {free_slots:,} free slots; tomorrow 13:00-17:00:"
        f" {len(found):,} units free in the country"
    )
    # The planned rows would make every garbage collection during the timed requests walk
    # them: let them go before anything is timed.
    del plan
    gc.collect()
    problems: list[str] = []
    with app.app_context():
        statements = Statements(db.engine)
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    browser = app.test_client()
    answer = browser.post("/login", data={"email": "employee0@bench.example", "password": PASSWORD})
    if answer.status_code != 302:
        raise SystemExit(f"sign-in: {answer.status_code}")
    api = {"Authorization": f"Bearer {secret}"}

    def check(label: str, got, wanted) -> None:
        if got != wanted and not any(p.startswith(label) for p in problems):
            problems.append(f"{label}: {got} where {wanted} were built")

    def api_day():
        body = get(browser, f"/api/v1/facilities/{office}/workspace?date={DAY}", headers=api)()
        slots = [s for unit in body.get_json()["units"] for s in unit["slots"]]
        check("API day view free slots", sum(s["available"] for s in slots), free_slots)

    def service_day():
        days = day_view(facility_units(office), DAY, NOW)
        check("day_view free slots", sum(s.available for d in days for s in d.slots), free_slots)

    def service_search():
        offers = search_workspace(WorkspaceQuery(SEARCH_DAY, SEARCH_FROM, SEARCH_UNTIL))
        ids = {offer.unit.id for offer in offers}
        check("search_workspace units found", len(ids), min(len(found), 200))
        check("search_workspace units not free", len(ids - found), 0)

    reads = [
        (DAY_PAGE, f"office day page ({args.units} units, {DAY})",
         get(browser, f"/workspace/facilities/{office}?date={DAY}")),
        (DAY_API, f"office day API ({args.units} units)", api_day),
        (None, f"day_view() ({args.units} units)", in_context(app, service_day)),
        (SEARCH_PAGE, f"country search page ({SEARCH_DAY} 13:00-17:00)",
         get(browser, f"/workspace?day={SEARCH_DAY}&starts=13:00&ends=17:00")),
        (None, "search_workspace() (the whole country)", in_context(app, service_search)),
    ]  # fmt: skip
    for rule, label, call in reads:
        if rule is not None and rule not in rules:
            print(f"{label}: {rule} does not exist (yet); not measured")
            continue
        print(timed(label, call, args.calls, statements, args.sql_top), flush=True)

    half = len(times) // 2
    before = statements.count
    race, elapsed = distinct(app, clients, times[:half], args.seconds)
    tried = len(race.booked) + race.conflicts + len(race.errors)
    print(
        f"{'book_workspace, distinct times':<58} {len(race.booked) / elapsed:7.1f} bookings/s"
        f"  ({len(race.booked):,} in {elapsed:.1f} s, {args.clients} clients, {race.conflicts}"
        f" conflicts, {(statements.count - before) / max(1, tried):.1f} SQL statements each)",
        flush=True,
    )
    check("conflicts between distinct times", race.conflicts, 0)
    check("refusals of free times", race.errors[:3], [])
    made = len(race.booked)
    race_times = times[half:]
    before = statements.count
    race, elapsed = contended(app, clients, race_times, args.seconds)
    print(
        f"{'book_workspace, all racing for one time':<58} {len(race.booked) / elapsed:7.1f}"
        f" bookings/s  ({race.rounds:,} times raced in {elapsed:.1f} s, {len(race.booked):,}"
        f" won, {race.conflicts:,} conflicts,"
        f" {(statements.count - before) / max(1, race.rounds * args.clients):.1f} SQL statements"
        " each attempt)",
        flush=True,
    )
    check("winners of the contended times", len(race.booked), race.rounds)
    check("conflicts of the contended times", race.conflicts, race.rounds * (args.clients - 1))
    check("refusals in the race", race.errors[:3], [])
    with app.app_context():
        raced = [(unit_id, starts) for unit_id, starts, _ends in race_times[: race.rounds]]
        problems += check_bookings(backend, clients, made + len(race.booked), raced)
        db.session.remove()
        db.engine.dispose()
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    for error in race.errors[3:]:
        print(f"    also: {error}")
    if not problems:
        print("checks: all passed (reads match the data built; one winner per raced time;"
              " every booking held and charged once; no holds overlap)")  # fmt: skip
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--units", type=int, default=200, help="workspace units of the office")
    parser.add_argument("--facilities", type=int, default=400, help="offices across the country")
    parser.add_argument("--units-per-facility", type=int, default=10)
    parser.add_argument("--days", type=int, default=15, help="days booked, today first")
    parser.add_argument("--calls", type=int, default=30, help="timed requests per read")
    parser.add_argument("--clients", type=int, default=8, help="booking threads")
    parser.add_argument("--seconds", type=float, default=10, help="booking time, each way")
    parser.add_argument("--sql-top", type=int, default=0, help="print the K slowest statements")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--pg-url", default=PG_ADMIN_DEFAULT, help="a server's admin database")
    parser.add_argument("--keep", action="store_true", help="keep the databases built")
    args = parser.parse_args(argv)
    print(f"Engawa workspace benchmark; now = {NOW.isoformat()} (Tokyo {TODAY})")
    ok = True
    if args.backend in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="engawa-workspace-bench-"))
        try:
            ok &= run(f"sqlite:///{folder / 'bench.db'}", "sqlite", args)
        finally:
            if args.keep:
                print(f"kept: sqlite:///{folder / 'bench.db'}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
    if args.backend in ("postgresql", "both"):
        admin_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
        name = f"engawa_workspace_bench_{os.getpid()}"
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
