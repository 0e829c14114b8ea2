"""Demand pricing at network scale: the nightly recompute and the refresh after a booking.

Builds its own data on SQLite and, when reachable, PostgreSQL: 1,000 facilities
with 10 units each (10,000 units), each facility with its region's off-season
months, and about a sixth of the next year's unit-nights already sold (half of the
coming two months, thinning out to the booking horizon). Then, exactly as the scheduler runs them:

1. the first full recompute: 10,000 units x 365 nights (``engine.recompute``);
2. an unchanged re-run straight after (must write nothing): each facility's
   inputs digest as before, so it is skipped; then the same with ``force=True``
   (what ``pricing recompute --force`` does), which prices and compares every
   night, for the cost of the comparison itself;
3. the incremental re-price after one booking: an employee books 3 nights through
   ``booking.services.book_stay``, the transaction commits, and the refresh job
   (``refresh.refresh_queued``) re-prices that facility's nights around the stay.
   Repeated for 20 bookings in 20 facilities: median, p95 and worst;
4. the next night's run (``now`` + 1 day), for what a normal nightly run writes.

Targets: full <= 60 s, unchanged <= 15 s, incremental <= 200 ms. Figures go into
docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/pricing.py            # both backends
    .venv/bin/python benchmarks/pricing.py --sqlite   # SQLite only
    .venv/bin/python benchmarks/pricing.py --quick    # 100 facilities: a smoke run
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from bench_network import fund_company, plain_facilities  # noqa: E402
from search_and_book import (  # noqa: E402
    OUT_DIR,
    PG_ADMIN_DEFAULT,
    SECRET_KEY,
    drop_postgres,
    load_average,
    percentile,
    prepare_postgres,
    prepare_sqlite,
    say,
)
from sqlalchemy import func, insert, select, text  # noqa: E402

from accounts.models import Company, Role, User  # noqa: E402
from app import create_app  # noqa: E402
from availability.models import (
    Block,  # noqa: E402
    Occupancy,  # noqa: E402
)
from booking import services as booking_services  # noqa: E402
from calendars.models import CalendarFeed
from core.extensions import db  # noqa: E402
from demo.seed import region_pricing  # noqa: E402
from facilities.models import Unit
from pricing import engine, refresh
from pricing.models import NightlyPrice  # noqa: E402

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
TODAY = date(2026, 12, 1)
HORIZON = 365
UNITS_PER_FACILITY = 10
INCREMENTAL_BOOKINGS = 20
TARGET_FULL_S = 60.0
TARGET_UNCHANGED_S = 15.0
TARGET_INCREMENTAL_MS = 200.0

_PG_CLAIM = text(
    "INSERT INTO occupancy (unit_id, night, block_id)"
    " SELECT * FROM unnest(CAST(:u AS integer[]), CAST(:n AS date[]), CAST(:b AS integer[]))"
)


def sold_nights(rng: random.Random) -> list[date]:
    """A unit's sold nights, the way bookings arrive: about half of the next two
    months, a fifth of the months up to the booking horizon (180 days), and only
    the odd closed date beyond. About 16% of the year in all."""
    nights, night = [], TODAY - timedelta(days=3)
    end = TODAY + timedelta(days=HORIZON + 3)
    while night < end:
        ahead = (night - TODAY).days
        if ahead < 60:
            free = rng.randint(1, 8)
        elif ahead < 180:
            free = rng.randint(8, 30)
        else:
            free = rng.randint(40, 160)
        night += timedelta(days=free)
        length = rng.randint(2, 7)
        nights += [night + timedelta(days=k) for k in range(length)]
        night += timedelta(days=length)
    return [n for n in nights if n < end]


def build(facilities: int, rng: random.Random) -> int:
    """Facilities, units, policies, and sold nights (held by one imported block per unit)."""
    rows = plain_facilities(facilities)
    db.session.add_all(region_pricing(f) for f in rows)
    units = [
        Unit(
            facility_id=f.id,
            name=f"{100 + j}",
            capacity=2,
            base_price=rng.choice((8000, 11000, 15000, 22000)),
        )
        for f in rows
        for j in range(UNITS_PER_FACILITY)
    ]
    db.session.add_all(units)
    db.session.flush()
    # Sold nights are held by one imported block per unit (the quickest way to
    # claim them in bulk; pricing counts bookings and imported blocks alike as sold).
    feeds = [
        CalendarFeed(unit_id=u.id, label="Airbnb", url=f"https://example.invalid/{u.id}.ics")
        for u in units
    ]
    db.session.add_all(feeds)
    db.session.flush()
    blocks = [
        Block(
            unit_id=u.id,
            start_date=TODAY - timedelta(days=10),
            end_date=TODAY + timedelta(days=HORIZON + 10),
            source="import",
            reason="external",
            feed_id=f.id,
            event_key=f"bench-{u.id}",
        )
        for u, f in zip(units, feeds, strict=True)
    ]
    db.session.add_all(blocks)
    db.session.flush()
    claimed = 0
    postgres = db.session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(units), 100):
        batch: list[tuple[int, date, int]] = []
        pairs = zip(units[start : start + 100], blocks[start : start + 100], strict=True)
        for unit, block in pairs:
            batch += [(unit.id, n, block.id) for n in sold_nights(rng)]
        if postgres:
            u, n, b = zip(*batch, strict=True)
            db.session.execute(_PG_CLAIM, {"u": list(u), "n": list(n), "b": list(b)})
        else:
            db.session.execute(
                insert(Occupancy), [{"unit_id": u, "night": n, "block_id": b} for u, n, b in batch]
            )
        claimed += len(batch)
    company = Company(name="Bench company", max_nights_per_stay=14, max_nights_per_month=31)
    db.session.add(company)
    db.session.flush()
    fund_company(company.id)
    db.session.add(
        User(
            email="bench@example.com",
            name="Bench",
            password_hash="x",
            role=Role.EMPLOYEE,
            company_id=company.id,
        )
    )
    db.session.commit()
    return claimed


def timed_recompute(
    label: str, now: datetime, *, force: bool = False
) -> tuple[float, engine.Counts]:
    say(f"{label}: {load_average()}")
    start = time.perf_counter()
    counts = engine.recompute(now, force=force)
    seconds = time.perf_counter() - start
    say(f"  {seconds:6.2f} s  — {counts.summary()}")
    return seconds, counts


def free_stay(unit_id: int, first: date) -> tuple[date, date] | None:
    """The first 3 free nights of a unit from ``first`` on."""
    taken = set(
        db.session.scalars(
            select(Occupancy.night).where(
                Occupancy.unit_id == unit_id,
                Occupancy.night >= first,
                Occupancy.night < first + timedelta(days=120),
            )
        )
    )
    for k in range(117):
        nights = [first + timedelta(days=k + i) for i in range(3)]
        if not taken.intersection(nights):
            return nights[0], nights[0] + timedelta(days=3)
    return None


def incremental(rng: random.Random) -> list[float]:
    """Book 3 nights in each of 20 facilities; time the refresh that follows each."""
    employee = db.session.scalar(select(User).where(User.email == "bench@example.com"))
    unit_ids = list(db.session.scalars(select(Unit.id).order_by(Unit.id)))
    samples = []
    for unit_id in rng.sample(unit_ids, INCREMENTAL_BOOKINGS):
        stay = free_stay(unit_id, TODAY + timedelta(days=rng.randint(20, 150)))
        if stay is None:
            continue
        booking_services.book_stay(
            employee, booking_services.StayRequest(unit_id, stay[0], stay[1], 1), NOW
        )
        db.session.commit()
        start = time.perf_counter()
        counts = refresh.refresh_queued(NOW)
        samples.append((time.perf_counter() - start) * 1000)
        assert counts.facilities == 1 and not refresh.refresh_pending()
    return samples


def run_backend(backend: str, url: str, facilities: int, seed: int) -> dict:
    say(f"\n=== {backend} ===")
    app = create_app({"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url, "FIXED_NOW": NOW})
    rng = random.Random(seed)
    with app.app_context():
        db.create_all()
        start = time.perf_counter()
        claimed = build(facilities, rng)
        units = facilities * UNITS_PER_FACILITY
        say(
            f"built {facilities:,} facilities, {units:,} units, {claimed:,} sold nights"
            f" in {time.perf_counter() - start:.1f} s"
        )
        full, first = timed_recompute("first full recompute", NOW)
        rows = db.session.scalar(select(func.count()).select_from(NightlyPrice))
        say(f"  {rows:,} prices stored ({units * HORIZON:,} unit-nights, less the sold ones)")
        unchanged, again = timed_recompute("unchanged re-run", NOW)
        assert again.changed == 0 and again.unchanged == facilities, again.summary()
        compared, forced = timed_recompute(
            "unchanged re-run, --force (every night priced and compared)", NOW, force=True
        )
        assert forced.changed == 0, forced.summary()
        samples = incremental(rng)
        say(
            f"incremental re-price after one booking ({len(samples)} bookings):"
            f" median {percentile(samples, 50):.0f} ms, p95 {percentile(samples, 95):.0f} ms,"
            f" worst {max(samples):.0f} ms"
        )
        next_night, following = timed_recompute("the next night's run", NOW + timedelta(days=1))
        db.session.remove()
        db.engine.dispose()
    return {
        "backend": backend,
        "full": full,
        "unchanged": unchanged,
        "compared": compared,
        "incremental_p95": percentile(samples, 95),
        "incremental_worst": max(samples),
        "next_night": next_night,
        "next_changed": following.changed,
        "prices": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 facilities")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_DEFAULT)
    args = parser.parse_args()
    facilities = 100 if args.quick else args.facilities
    OUT_DIR.mkdir(exist_ok=True)
    results = [run_backend("SQLite", prepare_sqlite(), facilities, args.seed)]
    if not args.sqlite:
        url = prepare_postgres(args.pg_admin_url)
        if url is not None:
            try:
                results.append(run_backend("PostgreSQL", url, facilities, args.seed))
            finally:
                drop_postgres(args.pg_admin_url)

    def verdict(value: float, target: float) -> str:
        return "PASS" if value <= target else "FAIL"

    say(f"\n=== Summary: {facilities * UNITS_PER_FACILITY:,} units x {HORIZON} nights ===")
    say(f"{'':34} " + " ".join(f"{r['backend']:>12}" for r in results) + "  target")
    lines = [
        ("full recompute (s)", "full", TARGET_FULL_S, "{:.1f}"),
        ("unchanged re-run (s)", "unchanged", TARGET_UNCHANGED_S, "{:.1f}"),
        ("  the same with --force (s)", "compared", None, "{:.1f}"),
        ("after one booking, p95 (ms)", "incremental_p95", TARGET_INCREMENTAL_MS, "{:.0f}"),
        ("after one booking, worst (ms)", "incremental_worst", None, "{:.0f}"),
        ("next night's run (s)", "next_night", None, "{:.1f}"),
        ("  prices it changed", "next_changed", None, "{:,}"),
    ]
    for label, key, target, fmt in lines:
        cells = " ".join(f"{fmt.format(r[key]):>12}" for r in results)
        if target is None:
            say(f"{label:34} {cells}")
        else:
            verdicts = "/".join(verdict(r[key], target) for r in results)
            say(f"{label:34} {cells}  <= {target:g} {verdicts}")
    say(load_average())


if __name__ == "__main__":
    main()
