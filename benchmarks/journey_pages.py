"""What the employee journey's new page work costs on the benchmark's national network.

    .venv/bin/python benchmarks/journey_pages.py [--facilities 1000] [--backend sqlite]

Builds the same network as ``search_and_book.py`` (bench_network.py), prices it, then
times, each call in a fresh session as one request runs it:

- a whole-country results page as before (search_page), then what this issue adds
  to it: the covers and map pins of its 20 results;
- a search that finds nothing and the suggestions that follow it (nearby dates,
  places, filters: up to a dozen more searches);
- the facility page's rooms priced for the chosen dates and its month calendar with
  a check-in chosen (the range picker's data).

Prints p50/p95 per kind. The page budget it is read against: a whole-country search
p95 is ≤ 150 ms (docs/PERFORMANCE.md); none of these should cost more than that.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_network import NOW, SEARCH_PREFECTURE, TODAY, build_network  # noqa: E402

from app import create_app  # noqa: E402
from booking.search import SearchQuery, month_calendar, search, search_page  # noqa: E402
from booking.stay_options import room_offers, suggestions  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.geo import facility_pins  # noqa: E402
from facilities.models import Facility  # noqa: E402
from facilities.photos import cover_photos  # noqa: E402
from pricing.engine import recompute  # noqa: E402

SQLITE_PATH = Path("/tmp/engawa-journey-bench.db")
HORIZON = timedelta(days=180)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(label: str, calls: list, run) -> str:
    samples = []
    for i, args in enumerate(calls[:3] + calls):  # three warm-up calls
        db.session.remove()
        started = time.perf_counter()
        run(*args)
        if i >= 3:
            samples.append((time.perf_counter() - started) * 1000)
    db.session.remove()
    return (
        f"{label:<38} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f} ms"
        f"  ({len(samples)} calls)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite",), default="sqlite")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--units-per-facility", type=int, default=10)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    for suffix in ("", "-wal", "-shm"):
        Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    app = create_app(
        {"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{SQLITE_PATH}",
         "FIXED_NOW": NOW}
    )  # fmt: skip
    rng = random.Random(args.seed)
    with app.app_context():
        db.create_all()
        network = build_network("sqlite", args.facilities, args.units_per_facility, 1, args.seed)
        print(f"network: {network.facilities:,} facilities, {network.units:,} units,"
              f" {network.bookings:,} bookings; occupancy {network.occupancy:.1%}")  # fmt: skip
        recompute(NOW)
        check_ins = [TODAY + timedelta(days=rng.randint(7, 150)) for _ in range(args.calls)]

        pages = {}

        def results_page(check_in):
            query = SearchQuery(check_in, check_in + timedelta(days=3))
            pages[check_in] = search_page(query, 1, 20)

        def page_extras(check_in):
            page = pages[check_in]
            ids = [r.facility_id for r in page.items]
            cover_photos(ids)
            facilities = db.session.scalars(db.select(Facility).where(Facility.id.in_(ids)))
            facility_pins(list(facilities), "ja", lambda f: "", lambda f: "")

        def nothing_found(check_in):
            # Tokyo, a party of 20: nothing sleeps that many, so every suggestion runs.
            query = SearchQuery(
                check_in, check_in + timedelta(days=3), guests=20, prefecture=SEARCH_PREFECTURE
            )
            if search(query):
                raise SystemExit("a room sleeps 20: the no-results case is not measured")
            suggestions(query, TODAY, TODAY + HORIZON)

        def nothing_found_filters(check_in):
            query = SearchQuery(
                check_in,
                check_in + timedelta(days=3),
                prefecture=SEARCH_PREFECTURE,
                kind="office",
                amenities=frozenset({"onsen", "kitchen"}),
                min_wifi_mbps=300,
            )
            if not search(query):
                suggestions(query, TODAY, TODAY + HORIZON)
            else:
                suggestions(replace(query, guests=20), TODAY, TODAY + HORIZON)

        facility_ids = [f for (f,) in db.session.execute(db.select(Facility.id)).all()]

        def facility_page(check_in, facility_id):
            facility = db.session.get(Facility, facility_id)
            check_out = check_in + timedelta(days=5)
            room_offers(facility, check_in, check_out, 2, {u.id for u in facility.units})
            month_calendar(
                facility, check_in.year, check_in.month, TODAY, guests=2, check_in=check_in,
                last_check_in=TODAY + HORIZON,
            )  # fmt: skip

        print(timed("whole-country results page (20 shown)", [(c,) for c in check_ins],
                    results_page))  # fmt: skip
        print(timed("its covers and map pins", [(c,) for c in check_ins], page_extras))
        print(timed("no results + suggestions (party of 20)", [(c,) for c in check_ins],
                    nothing_found))  # fmt: skip
        print(timed("no results + suggestions (filters)", [(c,) for c in check_ins],
                    nothing_found_filters))  # fmt: skip
        calls = [(c, rng.choice(facility_ids)) for c in check_ins]
        print(timed("facility: room totals + calendar", calls, facility_page))
        db.engine.dispose()


if __name__ == "__main__":
    main()
