"""The benchmark's national network: facilities in every prefecture and a year of bookings.

Built with bulk inserts (``executemany`` on SQLite, ``COPY`` on PostgreSQL) into the
schema of ``db.create_all()``, inside the app context of the database being measured.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from sqlalchemy import Integer, func, insert, select, text

from accounts.models import Company, OperatorOrg, Role, User
from accounts.services import create_api_token, hash_password
from availability.models import Occupancy
from booking.models import BookingStatus
from core.db import tokyo_today
from core.extensions import db
from facilities.models import Facility, FacilityKind, Unit
from facilities.regions import PREFECTURES

# The benchmark's "now": 2026-12-01 12:00 in Tokyo. Searches and bookings fall within
# the 180-day booking horizon counted from it, whatever today's date is.
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = tokyo_today(NOW)
HORIZON_DAYS = 180  # the app's default BOOKING_HORIZON_DAYS
YEAR_DAYS = 365
SEARCH_PREFECTURE = 13  # 東京都

# Relative shares of facilities per prefecture (JIS code -> weight, default 0.85):
# resort and business regions get more. Tokyo ends up with about 5% of the network.
PREFECTURE_WEIGHTS = {
    1: 3.0, 13: 2.6, 20: 2.8, 14: 2.2, 22: 2.2, 47: 2.0, 26: 1.8, 12: 1.5, 19: 1.5,
    10: 1.3, 27: 1.3, 28: 1.3, 40: 1.3, 9: 1.2, 44: 1.2, 43: 1.1,
}  # fmt: skip
OPERATORS = 20
HISTORY_COMPANIES = 50
HISTORY_EMPLOYEES_PER_COMPANY = 40
MIN_STAY, MAX_STAY = 2, 10  # nights of a pre-built stay
FAST_HASH = "pbkdf2:sha256:1000"  # nobody signs in as the benchmark's employees


@dataclass
class Network:
    facilities: int
    units: int
    bookings: int
    occupancy_rows: int
    occupancy: float  # share of unit-nights claimed in [today, today + 365)
    prefecture_facilities: int
    prefecture_units: int
    build_seconds: float
    # Free-looking stays (unit_id, check_in, nights) carved from the gaps in the horizon.
    candidates: list[tuple[int, date, int]] = field(repr=False)
    client_user_ids: list[int] = field(repr=False)
    client_tokens: list[str] = field(repr=False)


def build_network(
    backend: str, facilities: int, units_per_facility: int, clients: int, seed: int
) -> Network:
    """Fill an empty schema with the network, its bookings, and the benchmark's clients."""
    started = time.perf_counter()
    rng = random.Random(seed)
    loader = BulkLoader(backend)
    employees = _add_companies_and_employees()
    facility_rows, unit_rows = _plan_facilities(facilities, units_per_facility, rng)
    db.session.execute(insert(Facility), facility_rows)
    db.session.execute(insert(Unit), unit_rows)
    bookings, candidates = _plan_bookings(facility_rows, unit_rows, employees, rng)
    _load_bookings(loader, bookings, {u["id"]: u["base_price"] for u in unit_rows})
    db.session.commit()
    if backend == "postgresql":
        _reset_sequences()
    client_user_ids, client_tokens = _add_clients(clients)

    in_prefecture = {f["id"] for f in facility_rows if f["prefecture"] == SEARCH_PREFECTURE}
    year = (Occupancy.night >= TODAY) & (Occupancy.night < TODAY + timedelta(days=YEAR_DAYS))
    network = Network(
        facilities=len(facility_rows),
        units=len(unit_rows),
        bookings=len(bookings),
        occupancy_rows=db.session.scalar(select(func.count()).select_from(Occupancy)),
        occupancy=db.session.scalar(select(func.count()).select_from(Occupancy).where(year))
        / (len(unit_rows) * YEAR_DAYS),
        prefecture_facilities=len(in_prefecture),
        prefecture_units=sum(1 for u in unit_rows if u["facility_id"] in in_prefecture),
        build_seconds=0.0,
        candidates=candidates,
        client_user_ids=client_user_ids,
        client_tokens=client_tokens,
    )
    settle(backend)
    network.build_seconds = time.perf_counter() - started
    return network


# --- Plans ---------------------------------------------------------------------------


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


def _plan_facilities(
    total: int, units_per_facility: int, rng: random.Random
) -> tuple[list[dict], list[dict]]:
    per_prefecture = facilities_per_prefecture(total)
    prefectures = [code for code, n in sorted(per_prefecture.items()) for _ in range(n)]
    rng.shuffle(prefectures)
    facilities, units = [], []
    for fid, pref in enumerate(prefectures, start=1):
        facilities.append(
            {
                "id": fid,
                "operator_id": fid % OPERATORS + 1,
                "name_ja": f"ベンチ保養所 {fid}",
                "name_en": f"Bench Retreat {fid}",
                "kind": rng.choices(list(FacilityKind), weights=[6, 1, 3])[0],
                "prefecture": pref,
                "municipality": f"市町村 {fid}",
                "address": f"{fid}-1-1",
                "licence_type": "hotel",
                "licence_number": f"ベンチ第{fid}号",
                # Roughly north (1, Hokkaido) to south (47, Okinawa); only shown, never searched.
                "latitude": round(45.4 - (pref - 1) * 0.4 + rng.uniform(-0.3, 0.3), 5),
                "longitude": round(141.3 - (pref - 1) * 0.25 + rng.uniform(-0.3, 0.3), 5),
                "wifi_mbps": rng.choice([30, 100, 300, 1000]),
                "work_desks": rng.randint(0, 12),
                "meeting_room": rng.random() < 0.4,
                "parking": rng.random() < 0.7,
                "kitchen": rng.random() < 0.5,
                "onsen": rng.random() < 0.3,
                "family_friendly": rng.random() < 0.5,
                "min_nights": rng.choice([1, 1, 1, 2]),
                "max_nights": 30,
                "active": True,
                "created_at": NOW - timedelta(days=90),
                "reviewed_at": NOW - timedelta(days=90),
            }
        )
        for k in range(units_per_facility):
            units.append(
                {
                    "id": len(units) + 1,
                    "facility_id": fid,
                    "name": f"{101 + k} 号室",
                    "capacity": rng.choice([1, 2, 2, 2, 3, 4, 6]),
                    "base_price": rng.randrange(6000, 40001, 500),
                    "active": True,
                }
            )
    return facilities, units


def plan_stays(rng: random.Random, occupancy: float) -> list[tuple[date, date]]:
    """Back-to-back stays of 2-10 nights with random gaps, over the year from today."""
    mean_stay = (MIN_STAY + MAX_STAY) / 2
    max_gap = round(2 * mean_stay * (1 - occupancy) / occupancy)  # gaps uniform in 0..max_gap
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
    year_end = TODAY + timedelta(days=YEAR_DAYS)
    edges = [(TODAY, TODAY), *stays, (year_end, year_end)]
    for (_, gap_start), (gap_end, _) in itertools.pairwise(edges):
        day = max(gap_start, first)
        while day <= last:
            nights = min(rng.randint(2, 5), (gap_end - day).days)
            if nights < 2:
                break
            yield unit_id, day, nights
            day += timedelta(days=nights)


Booked = tuple[int, int, int, int, date, date, int, int]
# (booking_id, user_id, company_id, unit_id, check_in, check_out, guests, total_price)


def _plan_bookings(
    facilities: list[dict], units: list[dict], employees: list[tuple[int, int]], rng: random.Random
) -> tuple[list[Booked], list[tuple[int, date, int]]]:
    """A year of stays per unit, each facility at its own occupancy around 60%."""
    facility_occupancy = {f["id"]: rng.uniform(0.45, 0.75) for f in facilities}
    bookings: list[Booked] = []
    candidates: list[tuple[int, date, int]] = []
    for unit in units:
        stays = plan_stays(rng, facility_occupancy[unit["facility_id"]])
        for check_in, check_out in stays:
            user_id, company_id = employees[rng.randrange(len(employees))]
            nights = (check_out - check_in).days
            bookings.append(
                (
                    len(bookings) + 1,
                    user_id,
                    company_id,
                    unit["id"],
                    check_in,
                    check_out,
                    rng.randint(1, unit["capacity"]),
                    nights * unit["base_price"],
                )
            )
        candidates.extend(carve_candidates(unit["id"], stays, rng))
    return bookings, candidates


# --- Loading ---------------------------------------------------------------------------


class BulkLoader:
    """Fast inserts for the big tables: executemany on SQLite, COPY on PostgreSQL.

    Rows are tuples in the order of the columns given; dates and timestamps must be in
    the form the backend stores (``day`` / ``stamp``), as the ORM would have bound them.
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


def _add_companies_and_employees() -> list[tuple[int, int]]:
    """Operators, companies with the default policy, and the employees who made the bookings."""
    created = NOW - timedelta(days=90)
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
            {"id": c, "name": f"ベンチ企業 {c}", "created_at": created}
            for c in range(1, HISTORY_COMPANIES + 1)
        ],
    )
    employees = [
        (i + 1, i // HISTORY_EMPLOYEES_PER_COMPANY + 1)
        for i in range(HISTORY_COMPANIES * HISTORY_EMPLOYEES_PER_COMPANY)
    ]
    password_hash = hash_password("engawa-benchmark-employee", FAST_HASH)
    db.session.execute(
        insert(User),
        [
            {
                "id": user_id,
                "email": f"employee{user_id}@company{company_id}.bench.example",
                "name": f"社員 {user_id}",
                "password_hash": password_hash,
                "role": Role.EMPLOYEE.value,
                "company_id": company_id,
                "created_at": created,
            }
            for user_id, company_id in employees
        ],
    )
    return employees


def _load_bookings(loader: BulkLoader, bookings: list[Booked], prices: dict[int, int]) -> None:
    created = loader.stamp(NOW - timedelta(days=30))
    loader.load(
        "booking",
        ["id", "user_id", "company_id", "unit_id", "check_in", "check_out", "guests", "status",
         "total_price", "created_at"],
        (
            (bid, uid, cid, unit_id, loader.day(ci), loader.day(co), guests,
             BookingStatus.CONFIRMED.value, total, created)
            for bid, uid, cid, unit_id, ci, co, guests, total in bookings
        ),
    )  # fmt: skip
    first = TODAY - timedelta(days=MAX_STAY)
    days = [first + timedelta(days=i) for i in range(YEAR_DAYS + 2 * MAX_STAY)]
    stored = {d: loader.day(d) for d in days}

    def nights() -> Iterator[tuple[int, int, object]]:
        for booking_id, _uid, _cid, unit_id, check_in, check_out, *_ in bookings:
            for night in days[(check_in - first).days : (check_out - first).days]:
                yield booking_id, unit_id, stored[night]

    loader.load(
        "booking_night",
        ["booking_id", "night", "price"],
        ((booking_id, night, prices[unit_id]) for booking_id, unit_id, night in nights()),
    )
    loader.load(
        "occupancy",
        ["unit_id", "night", "booking_id"],
        ((unit_id, night, booking_id) for booking_id, unit_id, night in nights()),
    )


def fund_company(company_id: int, credit: int = 10_000_000_000) -> None:
    """An active Standard subscription and ample stay credit, so the benchmark measures
    booking, not a company running out of credit (the ledger is written as usual)."""
    from billing import ledger
    from billing.models import EntryKind, Plan, Subscription
    from billing.services import ensure_default_plans

    ensure_default_plans()
    plan = db.session.scalar(select(Plan).where(Plan.code == "standard"))
    account = ledger.account_of(company_id, lock=True)
    subscription = Subscription(
        company_id=company_id,
        plan_id=plan.id,
        stripe_subscription_id=f"sub_bench_{company_id}",
        status="active",
        seats=100_000,
    )
    db.session.add(subscription)
    db.session.flush()
    account.subscription_id = subscription.id
    ledger.append(account, EntryKind.GRANT, credit, NOW, note="benchmark credit")


def _add_clients(count: int) -> tuple[list[int], list[str]]:
    """The benchmark's clients, each with an API token, in a company whose policy lets them book.

    The default policy (20 nights per employee per month) would throttle a client after
    a handful of bookings, which is the policy working, not the API's throughput.
    """
    company = Company(name="ベンチ顧客", max_nights_per_stay=30, max_nights_per_month=10_000)
    db.session.add(company)
    db.session.flush()
    fund_company(company.id)
    user_ids, tokens = [], []
    for i in range(count):
        user = User(
            email=f"client{i}@bench.example",
            name=f"ベンチ社員 {i}",
            password_hash=hash_password(f"client-{i}-password", FAST_HASH),
            role=Role.EMPLOYEE,
            company_id=company.id,
        )
        db.session.add(user)
        db.session.flush()
        _token, secret = create_api_token(user, "benchmark", NOW)
        user_ids.append(user.id)
        tokens.append(secret)
    db.session.commit()
    return user_ids, tokens


def _reset_sequences() -> None:
    """Explicit ids were loaded; move PostgreSQL's id sequences past them."""
    for table in db.metadata.sorted_tables:
        # (integer ids only: the local billing tables are keyed by provider-style strings)
        if "id" in table.c and table.c.id.primary_key and isinstance(table.c.id.type, Integer):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table.name}"
                )
            )
    db.session.commit()


def settle(backend: str) -> None:
    """Leave the database as a long-running one would be after a bulk load.

    PostgreSQL: VACUUM ANALYZE, which autovacuum would do shortly after the load.
    SQLite: fold the write-ahead log back into the file. The app never runs SQLite's
    ANALYZE, so neither does the benchmark.
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


def plain_facilities(count: int) -> list[Facility]:
    """``count`` facilities of one operator, spread over the 47 prefectures (flushed)."""
    operator = OperatorOrg(name="Bench operator")
    db.session.add(operator)
    db.session.flush()
    facilities = [
        Facility(
            operator_id=operator.id,
            reviewed_at=datetime.now(UTC),
            licence_type="hotel",
            licence_number=f"ベンチ第{i}号",
            name_ja=f"施設{i}",
            name_en=f"Facility {i}",
            prefecture=1 + i % 47,
            municipality="町",
            address="1-1",
            latitude=35.0,
            longitude=135.0,
            check_in_time=dtime(15),
            check_out_time=dtime(10),
        )
        for i in range(count)
    ]
    db.session.add_all(facilities)
    db.session.flush()
    return facilities
