"""Calendar sync at network scale, and the cost of serving one exported feed.

Builds its own data on SQLite and, when reachable, PostgreSQL: 100 facilities with
10 units each, every unit importing one external feed (1,000 feeds) of 50 all-day
events, served by a local HTTP server on 127.0.0.1 that honours ETag /
If-None-Match like Airbnb's and Google's servers. Then it runs the import job
exactly as the scheduler does (``calendars.jobs.sync_calendars``) three times:

1. the first sync (every event becomes a block and claims its nights);
2. an unchanged re-sync (every feed answers 304 Not Modified);
3. a re-sync where 10% of the feeds changed (in each, 5 events moved, 2 dropped, 2 added).

Then the export: one unit with a year of bookings (one every ~3.5 nights), its feed
fetched through the WSGI app (``GET /calendars/<token>.ics``) 200 times: p50 / p95.

Targets: first sync <= 30 s, unchanged <= 5 s, export <= 20 ms. Figures go into
docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/calendar_sync.py            # both backends
    .venv/bin/python benchmarks/calendar_sync.py --sqlite   # SQLite only
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

from bench_network import plain_facilities  # noqa: E402
from flask import current_app  # noqa: E402
from search_and_book import (  # noqa: E402
    PG_ADMIN_DEFAULT,
    SECRET_KEY,
    drop_postgres,
    load_average,
    percentile,
    prepare_postgres,
    prepare_sqlite,
    say,
)
from sqlalchemy import func, insert, select  # noqa: E402

from accounts.models import Company, Role, User  # noqa: E402
from app import create_app  # noqa: E402
from availability.models import (
    Block,  # noqa: E402
    Occupancy,
)
from booking.models import Booking, BookingNight, BookingStatus  # noqa: E402
from calendars import export as calendar_export  # noqa: E402
from calendars.jobs import sync_calendars  # noqa: E402
from calendars.models import CalendarFeed
from core.extensions import db  # noqa: E402
from facilities.models import Facility, Unit

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
FACILITIES = 100
UNITS_PER_FACILITY = 10
EVENTS_PER_FEED = 50
CHANGED_SHARE = 0.10
EXPORT_REQUESTS = 200
TARGET_FIRST_S = 30.0
TARGET_UNCHANGED_S = 5.0
TARGET_EXPORT_MS = 20.0


# --- the external side: feeds and their server ---------------------------------------


def feed_events(rng: random.Random, count: int) -> list[tuple[str, date, date]]:
    """``count`` non-overlapping all-day events of 1–5 nights over the next year."""
    events, night = [], TODAY + timedelta(days=rng.randint(0, 3))
    for i in range(count):
        length = rng.randint(1, 5)
        events.append(
            (f"{rng.getrandbits(64):016x}-{i}@airbnb.com", night, night + timedelta(length))
        )
        night += timedelta(days=length + rng.randint(1, 3))
    return events


def render_feed(events: list[tuple[str, date, date]]) -> bytes:
    """Airbnb's shape: CRLF lines, all-day events, Reserved / Not available."""
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0//EN",
        "CALSCALE:GREGORIAN",
        "VERSION:2.0",
    ]
    for i, (uid, start, end) in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"UID:{uid}",
            "SUMMARY:" + ("Reserved" if i % 3 else "Airbnb (Not available)"),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def change_feed(rng: random.Random, events: list) -> list:
    """Move 5 events by a week, drop 2, add 2 at the end of the year."""
    events = list(events)
    for i in rng.sample(range(len(events)), 5):
        uid, start, end = events[i]
        events[i] = (uid, start + timedelta(days=400), end + timedelta(days=400))
    for i in sorted(rng.sample(range(len(events)), 2), reverse=True):
        del events[i]
    last = max(e[2] for e in events)
    for j in range(2):
        events.append(
            (
                f"new-{rng.getrandbits(32):08x}-{j}",
                last + timedelta(days=2 + 3 * j),
                last + timedelta(days=3 + 3 * j),
            )
        )
    return events


class Feeds:
    """Bodies and ETags by path, served with conditional-request support."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                outer.requests += 1
                body, etag = outer.bodies[self.path]
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, body: bytes) -> str:
        self.bodies[path] = (body, '"' + hashlib.sha1(body).hexdigest() + '"')  # noqa: S324
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- our side -------------------------------------------------------------------------


def build(server: Feeds, rng: random.Random) -> dict[int, list]:
    """Facilities, units and one feed per unit; returns each feed's events by feed id."""
    facilities = plain_facilities(FACILITIES)
    units = [
        Unit(facility_id=f.id, name=f"{100 + j}", capacity=2, base_price=11000)
        for f in facilities
        for j in range(UNITS_PER_FACILITY)
    ]
    db.session.add_all(units)
    db.session.flush()
    events_by_feed = {}
    for unit in units:
        events = feed_events(rng, EVENTS_PER_FEED)
        url = server.put(f"/ical/{unit.id}-{rng.getrandbits(64):x}.ics", render_feed(events))
        feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url=url, created_at=NOW)
        db.session.add(feed)
        db.session.flush()
        events_by_feed[feed.id] = events
    db.session.commit()
    return events_by_feed


def timed_sync(label: str, now: datetime) -> float:
    say(f"{label}: syncing; {load_average()}")
    start = time.perf_counter()
    summary = sync_calendars(now)
    seconds = time.perf_counter() - start
    blocks = db.session.scalar(select(func.count()).select_from(Block))
    nights = db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.block_id.is_not(None))
    )
    say(f"  {seconds:6.2f} s  — {summary}; {blocks:,} blocks holding {nights:,} nights")
    return seconds


def export_figures() -> tuple[float, float, int]:
    """A unit with a year of bookings; its feed through the WSGI app."""
    company = Company(name="Bench company", max_nights_per_stay=14, max_nights_per_month=31)
    db.session.add(company)
    db.session.flush()
    guest = User(
        email="bench@example.com",
        name="Bench",
        password_hash="x",
        role=Role.EMPLOYEE,
        company_id=company.id,
    )
    unit = Unit(
        facility_id=db.session.scalar(select(Facility.id).limit(1)),
        name="export",
        capacity=2,
        base_price=11000,
    )
    db.session.add_all([guest, unit])
    db.session.flush()
    night, count = TODAY, 0
    while night < TODAY + timedelta(days=365):
        booking = Booking(
            user_id=guest.id,
            company_id=company.id,
            unit_id=unit.id,
            check_in=night,
            check_out=night + timedelta(days=3),
            guests=1,
            status=BookingStatus.CONFIRMED,
            total_price=33000,
            created_at=NOW,
        )
        db.session.add(booking)
        db.session.flush()
        nights = [night + timedelta(days=k) for k in range(3)]
        db.session.execute(
            insert(BookingNight),
            [{"booking_id": booking.id, "night": n, "price": 11000} for n in nights],
        )
        db.session.execute(
            insert(Occupancy),
            [{"unit_id": unit.id, "night": n, "booking_id": booking.id} for n in nights],
        )
        night += timedelta(days=3 + (count % 2))
        count += 1
    path = calendar_export.export_for_unit(unit, NOW).path
    db.session.commit()
    client = current_app.test_client()
    samples = []
    for i in range(EXPORT_REQUESTS + 10):
        start = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200 and response.data.count(b"BEGIN:VEVENT") == count
        if i >= 10:
            samples.append(elapsed)
    return percentile(samples, 50), percentile(samples, 95), count


def run_backend(backend: str, url: str, seed: int) -> dict:
    say(f"\n=== {backend} ===")
    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": url,
            "CALENDAR_ALLOW_PRIVATE_HOSTS": True,
            "FIXED_NOW": NOW,
        }
    )
    rng = random.Random(seed)
    server = Feeds()
    try:
        with app.app_context():
            db.create_all()
            start = time.perf_counter()
            events = build(server, rng)
            say(
                f"built {len(events):,} units with one feed each"
                f" in {time.perf_counter() - start:.1f} s"
            )
            first = timed_sync("first sync", NOW)
            requests_before = server.requests
            unchanged = timed_sync("unchanged re-sync", NOW + timedelta(minutes=15))
            assert server.requests - requests_before == len(events)
            changed_ids = rng.sample(sorted(events), int(len(events) * CHANGED_SHARE))
            for feed_id in changed_ids:
                feed = db.session.get(CalendarFeed, feed_id)
                path = "/" + feed.url.split("/", 3)[3]
                events[feed_id] = change_feed(rng, events[feed_id])
                server.put(path, render_feed(events[feed_id]))
            db.session.commit()
            changed = timed_sync(
                f"re-sync, {len(changed_ids)} feeds changed", NOW + timedelta(minutes=30)
            )
            p50, p95, count = export_figures()
            say(
                f"export of a unit with {count} bookings in a year:"
                f" p50 {p50:.1f} ms, p95 {p95:.1f} ms"
            )
            db.session.remove()
            db.engine.dispose()
    finally:
        server.close()
    return {
        "backend": backend,
        "first": first,
        "unchanged": unchanged,
        "changed": changed,
        "export_p50": p50,
        "export_p95": p95,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=PG_ADMIN_DEFAULT)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    OUT_DIR.mkdir(exist_ok=True)
    results = [run_backend("sqlite", prepare_sqlite(), args.seed)]
    if not args.sqlite:
        pg = prepare_postgres(args.pg_url)
        if pg:
            try:
                results.append(run_backend("postgresql", pg, args.seed))
            finally:
                drop_postgres(args.pg_url)

    def verdict(value, target):
        return "PASS" if value <= target else "FAIL"

    say("\n=== summary ===")
    say(f"{'':34}" + "".join(f"{r['backend']:>14}" for r in results) + "   target")
    rows = [
        ("first sync, 1,000 feeds (s)", "first", TARGET_FIRST_S),
        ("unchanged re-sync (s)", "unchanged", TARGET_UNCHANGED_S),
        ("re-sync, 10% changed (s)", "changed", None),
        ("export p50 (ms)", "export_p50", None),
        ("export p95 (ms)", "export_p95", TARGET_EXPORT_MS),
    ]
    for label, key, target in rows:
        cells = "".join(f"{r[key]:>14.2f}" for r in results)
        tail = (
            f"   <= {target:g} " + " ".join(verdict(r[key], target) for r in results)
            if target
            else ""
        )
        say(f"{label:34}{cells}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
