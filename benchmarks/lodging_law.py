"""The lodging law at scale: search under the 180-night cap, booking a minpaku house near
it, the operator's accommodation tax report, and the guest register of a busy month.

    .venv/bin/python benchmarks/lodging_law.py                      # SQLite, full size
    .venv/bin/python benchmarks/lodging_law.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_lodging
    .venv/bin/python benchmarks/lodging_law.py --facilities 4 --minpaku 1 \\
        --minpaku-rooms 3 --rooms 1 --big-rooms 4 --calls 3         # a smoke run, seconds

Builds its own data in an empty database: a throwaway SQLite file (in a temporary
folder, removed after), or with ``--database-url`` a PostgreSQL database of that name on
a server of this machine, which the script creates (refusing a name that exists) and
drops at the end (``--keep`` keeps it). The accommodation tax rules are seeded with
``lodging.rates.seed_rules``. One operator organisation runs ``--facilities`` facilities:

- the biggest, a hotel in Kyoto city of ``--big-rooms`` rooms (100), stays of 1-4 nights;
- ``--minpaku`` 住宅宿泊事業 houses in Kyoto city (8) of ``--minpaku-rooms`` rooms (2);
- the others hotels of ``--rooms`` rooms (10) in Kyoto city's wards, Tokyo's 23 wards,
  Osaka, Fukuoka, Kanazawa and Karuizawa (no tax), stays of 1-6 nights.

Every hotel room holds about 70% of its nights from 2025-12-01 to 2027-03-01 (a year
before today and 90 nights after) in stays of one company's employees at the room's
price ±20%, with 1-3 guests, each night's ``accommodation_tax`` computed by
``booking.stay_tax.night_taxes`` (Kyoto's rate change of 2026-03-01 included); past
stays checked out (2% no-shows, half marked on the day, half the next morning), today's
checked in, later ones confirmed; one in twenty more was cancelled. Each minpaku room
sold nights (stays, and imported events of a feed marked as bookings) from April 2026
until it is near the cap: a quarter of the rooms at 180, a quarter at 179, the others
with just enough nights left for the timed bookings, on nights kept free for them.
Rows are bulk-loaded (``bench_network.BulkLoader``), then the register of every stay
arriving in November 2026 at the biggest hotel is written through
``lodging.register.save_guests`` (2 guests: a Japanese resident, and a foreign guest
living abroad with a passport number; 97% of those with a passport image), and
PostgreSQL is vacuumed and analysed, as autovacuum would.

Then, with the app's clock fixed at 2026-12-01 noon in Tokyo, times (``--calls`` after
3 warm-up calls; the services in the app context, the pages through the Flask test
client, the operator signed in with password and authenticator code):

1. ``booking.search.search`` and ``search_page`` for 2 guests, 2 nights in February, in
   Kyoto prefecture (with the minpaku rooms: the cap's count) and, to compare, Tokyo;
2. ``quote_stay`` of a minpaku room with nights left, ``book_stay`` + commit of one
   night there (each takes the unit's lock and counts its year), and ``book_stay``
   refused at the cap (rolled back);
3. the tax report for 12 months: ``consoles.operator.tax_report.tax_report``, and
   ``GET /operator/taxes``;
4. the register of November at the biggest hotel: ``booking.register_listing.entries``
   (the stays and their guests unsealed, read by every page below), ``GET
   /operator/facilities/<id>/register``, ``/register/print`` and ``/register.csv``
   (each writes one access-log row per stay), and ``GET /api/v1/operator/facilities/
   <id>/register``;
5. the employee's ``PUT /api/v1/bookings/<id>/guests`` (2 guests checked and sealed).

(The tax report and the register are read before the bookings of 2. add nights.)

Prints p50/p95/max and the SQL statements per call; ``--sql-top K`` adds the K
statements that took longest in total, ``--profile KIND`` a cProfile of one kind. Exits
1 if a check fails: the search offers exactly the minpaku rooms the cap allows, the
bookings stop at 180 nights, the report matches the nights built whose tax the stays
keep (``booking.stay_tax.kept_tax``: no cancelled stay, no no-show), the pages list
every stay of the month, an answer is not the one expected.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import gc
import io
import math
import pstats
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent), str(BENCH_DIR)]

import psycopg  # noqa: E402
import pyotp  # noqa: E402
from bench_network import NOW, TODAY, BulkLoader, fund_company, settle  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import event, func, insert, make_url, select, text  # noqa: E402

from accounts import two_factor  # noqa: E402
from accounts.models import Company, OperatorOrg, Role, User  # noqa: E402
from accounts.services import create_api_token, hash_password  # noqa: E402
from app import create_app  # noqa: E402
from availability.night_cap import CAP_NIGHTS, lodging_year, sold_nights  # noqa: E402
from booking import register_listing  # noqa: E402
from booking import search as booking_search  # noqa: E402
from booking.models import BookingStatus  # noqa: E402
from booking.services import BookingError, StayRequest, book_stay, quote_stay  # noqa: E402
from booking.stay_tax import night_taxes  # noqa: E402
from calendars.models import CalendarFeed  # noqa: E402
from consoles.operator.tax_report import tax_report  # noqa: E402
from core.config import normalise_database_url  # noqa: E402
from core.db import TOKYO  # noqa: E402
from core.extensions import db  # noqa: E402
from facilities.models import Facility, Unit  # noqa: E402
from lodging import register  # noqa: E402
from lodging.guests import GuestDetails  # noqa: E402
from lodging.models import RegisterRead  # noqa: E402
from lodging.rates import seed_rules  # noqa: E402
from lodging.tax import TaxTable  # noqa: E402

SECRET_KEY = "engawa-lodging-bench-" + "x" * 32  # a throwaway database's key
FAST_HASH = "pbkdf2:sha256:1000"
PASSWORD = "bench operator password"  # noqa: S105 (a throwaway database)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
EMPLOYEES, API_STAYS, WARM_UP = 200, 20, 3
FIRST_NIGHT, LAST_NIGHT = date(2025, 12, 1), TODAY + timedelta(days=90)  # 2027-03-01
YEAR = lodging_year(TODAY)  # the lodging year from 2026-04-01
YEAR_START, YEAR_END = date(YEAR, 4, 1), date(YEAR + 1, 4, 1)
RESERVED_FROM = TODAY + timedelta(days=20)  # minpaku nights kept free for the bookings
# /operator/taxes' default: the 12 months to this one, [first, end) of their nights
REPORT_FIRST, REPORT_LAST, REPORT_END = date(2026, 1, 1), date(2026, 12, 1), date(2027, 1, 1)
MONTH_FIRST, MONTH_END = date(2026, 11, 1), date(2026, 12, 1)  # the register's month
SEARCH_IN, SEARCH_OUT = date(2027, 2, 9), date(2027, 2, 11)
KYOTO, TOKYO_PREF = 26, 13
HOTEL_PLACES = (  # (prefecture, municipality, weight)
    (26, "京都市東山区", 3), (26, "京都市中京区", 3), (26, "京都市下京区", 2), (13, "新宿区", 3),
    (13, "千代田区", 2), (13, "港区", 2), (27, "大阪市北区", 2), (40, "福岡市博多区", 1),
    (17, "金沢市", 1), (20, "北佐久郡軽井沢町", 1),
)  # fmt: skip
MINPAKU_PLACES = ("京都市左京区", "京都市北区", "京都市上京区", "京都市東山区")
RESIDENT = GuestDetails(
    name="宿泊 太郎", address="京都府京都市下京区烏丸通1-1", phone="+81755551234"
)
VISITOR = GuestDetails(
    name="Jane Doe",
    address="1 Main Street, Springfield, IL 62701, USA",
    phone="+14155552671",
    nationality="US",
    passport_number="X1234567",
    lives_abroad=True,
)
LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
RESERVED_DATABASES = {"postgres", "template0", "template1", "test"}


def _instant(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO).astimezone(UTC)


def _nights(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


# --- The plan -----------------------------------------------------------------------------


@dataclass
class Plan:
    facilities: list[dict] = field(default_factory=list)
    units: list[dict] = field(default_factory=list)
    bookings: list[tuple] = field(default_factory=list)
    booking_nights: list[tuple] = field(default_factory=list)
    occupancy: set[tuple[int, date]] = field(default_factory=set)
    occupancy_rows: list[tuple] = field(default_factory=list)
    blocks: list[tuple] = field(default_factory=list)
    feeds: list[dict] = field(default_factory=list)
    # (prefecture, municipality, month) -> [nights, taxable guest-nights, tax], as the report
    report: dict[tuple, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    no_show_tax: list[int] = field(default_factory=lambda: [0, 0])  # nights held, yen: not in it
    month_stays: list[int] = field(default_factory=list)  # the register's month, biggest hotel
    api_stays: list[int] = field(default_factory=list)  # the booker's, for PUT …/guests
    minpaku_left: dict[int, int] = field(default_factory=dict)  # unit -> nights left
    reserved: dict[int, list[date]] = field(default_factory=dict)  # unit -> free nights kept
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    operator_id: int = 0
    booker_id: int = 0


class Builder:
    def __init__(self, rng, table: TaxTable, employees: list[int], booker: int, company: int):
        self.rng, self.table, self.plan = rng, table, Plan()
        self.employees, self.booker, self.company = employees, booker, company
        self.headroom = 1  # nights left in the open minpaku rooms
        self.minpaku_rooms = 0

    def facility(self, kind: str, prefecture: int, municipality: str, rooms: int) -> int:
        fid = len(self.plan.facilities) + 1
        minpaku = kind == "minpaku"
        self.plan.facilities.append(
            {
                "id": fid, "operator_id": 1,
                "name_ja": f"ベンチ{'民泊' if minpaku else '旅館'} {fid}",
                "name_en": f"Bench {'house' if minpaku else 'inn'} {fid}",
                "prefecture": prefecture, "municipality": municipality, "address": "1-1",
                "latitude": 35.0, "longitude": 135.7, "created_at": NOW - timedelta(days=900),
                "reviewed_at": NOW - timedelta(days=900),
                "licence_type": "minpaku" if minpaku else "hotel",
                "licence_number": f"M26{fid:07d}" if minpaku else f"京都市指令第{fid}号",
            }
        )  # fmt: skip
        place = SimpleNamespace(
            kind="stay", licence_type="minpaku" if minpaku else "hotel",
            prefecture=prefecture, municipality=municipality,
        )  # fmt: skip
        prices = (18000, 40001) if minpaku else (8000, 30001)
        for k in range(rooms):
            unit_id = len(self.plan.units) + 1
            self.plan.units.append(
                {
                    "id": unit_id, "facility_id": fid, "name": f"{101 + k}",
                    "capacity": self.rng.choice([4, 5, 6] if minpaku else [2, 2, 3, 4]),
                    "base_price": self.rng.randrange(*prices, 500),
                    "active": True,
                }
            )  # fmt: skip
            if minpaku:
                self._fill_minpaku(unit_id, place)
            else:
                self._fill_hotel(unit_id, place, fid, (1, 4) if kind == "big" else (1, 6))
        return fid

    def _fill_hotel(self, unit_id: int, place, fid: int, lengths: tuple[int, int]) -> None:
        rng, day = self.rng, FIRST_NIGHT + timedelta(days=self.rng.randint(0, 3))
        mean = sum(lengths) / 2
        max_gap = round(2 * mean * 0.3 / 0.7)
        while day < LAST_NIGHT:
            end = min(LAST_NIGHT, day + timedelta(days=rng.randint(*lengths)))
            guests, user = None, None
            if fid == 1 and MONTH_FIRST <= day < MONTH_END:
                guests = 2  # the register's month: 2 guests each
            elif fid == 1 and day > TODAY and len(self.plan.api_stays) < API_STAYS:
                guests, user = 2, self.booker
            booking_id = self._stay(unit_id, place, day, end, guests, user)
            if fid == 1 and guests == 2:
                (self.plan.api_stays if user else self.plan.month_stays).append(booking_id)
            day = end + timedelta(days=rng.randint(0, max_gap))
            if rng.random() < 0.05:  # a cancelled stay that wanted some of these nights
                self._stay(
                    unit_id, place, day, day + timedelta(days=rng.randint(1, 4)), cancel=True
                )

    def _fill_minpaku(self, unit_id: int, place) -> None:
        """Sold nights until near the cap, never on the nights kept free for the bookings."""
        rng, plan = self.rng, self.plan
        index, self.minpaku_rooms = self.minpaku_rooms, self.minpaku_rooms + 1
        left = (0, 1)[index % 4] if index % 4 < 2 else self.headroom
        plan.minpaku_left[unit_id] = left
        reserved = [RESERVED_FROM + timedelta(days=3 * k) for k in range(self.headroom + 2)]
        plan.reserved[unit_id] = reserved
        day, sold, target = FIRST_NIGHT + timedelta(days=rng.randint(0, 3)), 0, CAP_NIGHTS - left
        while day < LAST_NIGHT and not (day >= YEAR_START and sold >= target):
            stop = YEAR_START if day < YEAR_START else min(LAST_NIGHT, YEAR_END)
            nights = []
            for night in _nights(day, day + timedelta(days=rng.randint(2, 6))):
                if night >= stop or night in reserved or (night >= YEAR_START and sold >= target):
                    break
                nights.append(night)
                sold += night >= YEAR_START
            if nights:
                end = nights[-1] + timedelta(days=1)
                if rng.random() < 0.12:  # booked on another channel, the feed marked as lodging
                    self._lodging_block(unit_id, nights[0], end)
                else:
                    self._stay(unit_id, place, nights[0], end, no_show=False)
                day = end + timedelta(days=rng.randint(0, 2))
            else:
                day += timedelta(days=1)
        if sold != target:
            raise SystemExit(f"minpaku room {unit_id}: {sold} nights sold, wanted {target}")

    def _stay(self, unit_id, place, start, end, guests=None, user=None, *, cancel=False,
              no_show=True) -> int:  # fmt: skip
        rng, plan = self.rng, self.plan
        booking_id = len(plan.bookings) + 1
        unit = plan.units[unit_id - 1]
        nights = _nights(start, end)
        prices = [int(round(unit["base_price"] * rng.uniform(0.8, 1.2), -2)) for _ in nights]
        guests = guests or min(unit["capacity"], rng.choice([1, 1, 2, 2, 3]))
        taxes = night_taxes(place, zip(nights, prices, strict=True), guests, self.table)
        held, released_on = len(nights), None
        if cancel:
            status, held = BookingStatus.CANCELLED, 0
        elif end <= TODAY:
            status = BookingStatus.CHECKED_OUT
            if no_show and rng.random() < 0.02:
                status = BookingStatus.NO_SHOW
                if rng.random() < 0.5:  # marked on the arrival day: nothing held
                    held, released_on = 0, start
                elif len(nights) > 1:  # marked the next morning: the first night held
                    held, released_on = 1, nights[1]
        elif start <= TODAY:
            status = BookingStatus.CHECKED_IN
        else:
            status = BookingStatus.CONFIRMED
        made = min(NOW - timedelta(hours=1), _instant(start) - timedelta(days=rng.randint(1, 60)))
        plan.bookings.append(
            (booking_id, user or rng.choice(self.employees), self.company, unit_id, start, end,
             guests, status.value, sum(prices), sum(taxes), made, released_on)
        )  # fmt: skip
        plan.counts["cancelled" if cancel else "stays"] += 1
        plan.booking_nights.extend(
            zip([booking_id] * len(nights), nights, prices, taxes, strict=True)
        )
        for night, tax in zip(nights[:held], taxes[:held], strict=True):
            self._hold(unit_id, night, booking_id, None)
            if not REPORT_FIRST <= night < REPORT_END:
                continue
            if status == BookingStatus.NO_SHOW:  # no guest lodged: its tax was refunded
                plan.no_show_tax[0] += 1
                plan.no_show_tax[1] += tax
                continue
            figures = plan.report[place.prefecture, place.municipality, night.replace(day=1)]
            figures[0] += 1
            figures[1] += guests if tax > 0 else 0
            figures[2] += tax
        return booking_id

    def _lodging_block(self, unit_id: int, start: date, end: date) -> None:
        plan = self.plan
        feed = next((f for f in plan.feeds if f["unit_id"] == unit_id), None)
        if feed is None:
            feed = {
                "id": len(plan.feeds) + 1, "unit_id": unit_id, "label": "Airbnb",
                "url": f"https://calendar.example/{unit_id}.ics", "counts_as_lodging": True,
                "last_success_at": NOW - timedelta(minutes=5),
                "created_at": NOW - timedelta(days=500),
            }  # fmt: skip
            plan.feeds.append(feed)
        block_id = len(plan.blocks) + 1
        made = min(NOW, _instant(start) - timedelta(days=10))
        plan.blocks.append(
            (block_id, unit_id, start, end, "import", "external", "", feed["id"],
             f"event-{block_id}", "", True, made, made)
        )  # fmt: skip
        plan.counts["imported"] += 1
        for night in _nights(start, end):
            self._hold(unit_id, night, None, block_id)

    def _hold(self, unit_id: int, night: date, booking_id, block_id) -> None:
        self.plan.occupancy.add((unit_id, night))
        self.plan.occupancy_rows.append((unit_id, night, booking_id, block_id))


# --- Building -----------------------------------------------------------------------------


def _people() -> tuple[list[int], int, int, int]:
    """The company's employees, its booker, and the operator's person (enrolled)."""
    db.session.execute(insert(OperatorOrg), [{"id": 1, "name": "ベンチ宿泊"}])
    company = Company(
        name="ベンチ企業", max_nights_per_stay=30, max_nights_per_month=10_000,
        created_at=NOW - timedelta(days=900),
    )  # fmt: skip
    db.session.add(company)
    db.session.flush()
    unusable = hash_password("nobody signs in as an employee here", FAST_HASH)
    db.session.execute(
        insert(User),
        [
            {"email": f"employee{i}@bench.example", "name": f"社員 {i}", "locale": "ja",
             "password_hash": unusable, "role": Role.EMPLOYEE.value, "company_id": company.id}
            for i in range(EMPLOYEES + 1)
        ],
    )  # fmt: skip
    employees = list(db.session.scalars(select(User.id).where(User.company_id == company.id)))
    operator = User(
        email="operator@bench.example", name="運営 一郎",
        password_hash=hash_password(PASSWORD, FAST_HASH),
        role=Role.OPERATOR, operator_id=1, locale="ja",
    )  # fmt: skip
    two_factor.enrol_with_secret(operator, TOTP_SECRET, NOW - timedelta(days=30))
    db.session.add(operator)
    db.session.flush()
    return employees[:-1], employees[-1], company.id, operator.id


def build(backend: str, args, rng: random.Random) -> Plan:
    seed_rules(NOW - timedelta(days=900))
    employees, booker, company_id, operator_id = _people()
    fund_company(company_id)
    builder = Builder(rng, TaxTable.load(), employees, booker, company_id)
    builder.headroom = args.headroom
    builder.facility("big", KYOTO, "京都市下京区", args.big_rooms)
    hotels = args.facilities - 1 - args.minpaku
    places = [p for p in HOTEL_PLACES for _ in range(p[2])]
    for i in range(hotels):
        prefecture, municipality, _w = places[i % len(places)]
        builder.facility("hotel", prefecture, municipality, args.rooms)
    for i in range(args.minpaku):
        builder.facility(
            "minpaku", KYOTO, MINPAKU_PLACES[i % len(MINPAKU_PLACES)], args.minpaku_rooms
        )
    plan = builder.plan
    load(backend, plan)
    plan.operator_id, plan.booker_id = operator_id, booker
    plan.counts["images"] = write_registers(plan.month_stays, employees[0], rng)
    return plan


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
         "total_price", "accommodation_tax", "created_at", "released_on", "cancel_reason",
         "operator_note"],
        ((b, u, c, unit, day(ci), day(co), g, s, t, tax, stamp(made), day(rel) if rel else None,
          "", "") for b, u, c, unit, ci, co, g, s, t, tax, made, rel in plan.bookings),
    )  # fmt: skip
    loader.load(
        "booking_night",
        ["booking_id", "night", "price", "accommodation_tax"],
        ((b, day(n), p, t) for b, n, p, t in plan.booking_nights),
    )
    loader.load(
        "block",
        ["id", "unit_id", "start_date", "end_date", "source", "reason", "note", "feed_id",
         "event_key", "summary", "lodging", "created_at", "updated_at"],
        ((i, u, day(s), day(e), src, r, note, f, k, summ, lodging, stamp(c), stamp(up))
         for i, u, s, e, src, r, note, f, k, summ, lodging, c, up in plan.blocks),
    )  # fmt: skip
    loader.load(
        "occupancy",
        ["unit_id", "night", "booking_id", "block_id"],
        ((u, day(n), b, blk) for u, n, b, blk in plan.occupancy_rows),
    )
    db.session.commit()
    if backend == "postgresql":
        for table in ("facility", "unit", "booking", "block", "calendar_feed"):
            db.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            )
        db.session.commit()


def passport_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 440), (200, 190, 170)).save(out, "JPEG", quality=80)
    return out.getvalue()


def write_registers(booking_ids: list[int], employee: int, rng: random.Random) -> int:
    """Each stay's 2 guests through ``save_guests``; 97% of the visitors' passport images."""
    image, images = passport_jpeg(), 0
    for booking_id in booking_ids:
        rows = register.save_guests(
            booking_id, [RESIDENT, VISITOR], entered_by_id=employee, now=NOW
        )
        if rng.random() < 0.97:
            register.save_passport_image(rows[1].id, image, NOW)
            images += 1
    db.session.commit()
    return images


# --- Timing -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Statements:
    """The SQL statements the app sends, counted and timed (its engine's cursor calls)."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.seconds: dict[str, float] = defaultdict(float)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, *_args) -> None:
        self.count += 1
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn, _cursor, statement, *_args) -> None:
        self.seconds[" ".join(statement.split())] += (
            time.perf_counter() - conn.info["bench_started"].pop()
        )


class Bench:
    """Times kinds of calls and collects what failed its check."""

    def __init__(self, app, args) -> None:
        self.app, self.args, self.problems = app, args, []
        with app.app_context():
            self.sql = Statements(db.engine)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)
            print(f"CHECK FAILED: {problem}", flush=True)

    def time(self, kind: str, label: str, call, calls: int | None = None) -> None:
        """``call(i)`` ``WARM_UP + calls`` times, each in its own app context (a request's)."""
        calls = self.args.calls if calls is None else calls
        samples, counts = [], []
        self.sql.seconds.clear()
        profiler = cProfile.Profile() if self.args.profile == kind else None
        for i in range(WARM_UP + calls):
            with self.app.app_context():
                before, started = self.sql.count, time.perf_counter()
                if profiler and i >= WARM_UP:
                    profiler.enable()
                call(i)
                if profiler:
                    profiler.disable()
                elapsed = (time.perf_counter() - started) * 1000
                db.session.remove()
            if i >= WARM_UP:
                samples.append(elapsed)
                counts.append(self.sql.count - before)
        print(
            f"{label:<58} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f}"
            f" ms  max {max(samples):7.1f} ms  ({calls} calls, {max(counts)} SQL statements)",
            flush=True,
        )
        if self.args.sql_top:
            slowest = sorted(self.sql.seconds.items(), key=lambda kv: -kv[1])[: self.args.sql_top]
            for sql, seconds in slowest:
                print(f"    {seconds * 1000 / (WARM_UP + calls):7.2f} ms/call  {sql[:220]}")
        if profiler:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats(self.args.profile_sort).print_stats(40)

    def get(self, client, url: str, status: int = 200, headers=None):
        answer = client.get(url, headers=headers)
        self.check(answer.status_code == status, f"GET {url}: {answer.status_code}")
        return answer


def sign_in(client, email: str) -> None:
    answer = client.post("/login", data={"email": email, "password": PASSWORD})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in of {email}: {answer.status_code}")
    answer = client.post("/login/two-factor", data={"code": pyotp.TOTP(TOTP_SECRET).now()})
    if answer.status_code != 302:
        raise SystemExit(f"sign-in code of {email}: {answer.status_code}")


# --- The measurements ---------------------------------------------------------------------


def measure_search(bench: Bench, plan: Plan) -> None:
    minpaku = set(plan.minpaku_left)
    need = (SEARCH_OUT - SEARCH_IN).days
    expected = {
        u for u in minpaku
        if plan.minpaku_left[u] >= need
        and not any((u, n) in plan.occupancy for n in _nights(SEARCH_IN, SEARCH_OUT))
    }  # fmt: skip
    for prefecture, name in ((KYOTO, "Kyoto, with the minpaku rooms"), (TOKYO_PREF, "Tokyo")):
        query = booking_search.SearchQuery(SEARCH_IN, SEARCH_OUT, 2, prefecture=prefecture)
        found: list = []

        def run(_i, query=query, found=found):
            found[:] = booking_search.search(query)

        bench.time("search", f"search, {name}", run)
        offered = {u.id for r in found for u in r.units} & minpaku
        if prefecture == KYOTO:
            bench.check(offered == expected, f"search offered minpaku rooms {sorted(offered)},"
                        f" the cap allows {sorted(expected)}")  # fmt: skip
            print(f"  {len(found)} facilities; {len(offered)} of {len(minpaku)} minpaku rooms"
                  f" offered (the others full or short of nights under the cap)")  # fmt: skip
        bench.time(
            "search",
            f"search_page (first 20), {name}",
            lambda _i, q=query: booking_search.search_page(q, 1, 20),
        )


def one_night(unit_id: int, night: date) -> StayRequest:
    return StayRequest(unit_id, night, night + timedelta(days=1), 2)


def measure_cap(bench: Bench, plan: Plan) -> None:
    open_units = sorted(u for u, left in plan.minpaku_left.items() if left == bench.args.headroom)
    full_units = sorted(u for u, left in plan.minpaku_left.items() if left == 0)
    booker = plan.booker_id

    def quote(i):
        unit = open_units[i % len(open_units)]
        night = plan.reserved[unit][0]
        q = quote_stay(db.session.get(User, booker), one_night(unit, night), NOW)
        bench.check(q.available and q.accommodation_tax > 0, f"quote of room {unit}: {q}")

    bench.time("quote", "quote_stay, a minpaku room near the cap", quote)
    slots = [(u, plan.reserved[u][k]) for k in range(bench.args.headroom) for u in open_units]

    def book(i):
        unit, night = slots[i]
        book_stay(db.session.get(User, booker), one_night(unit, night), NOW)
        db.session.commit()

    bench.time("book", "book_stay + commit, minpaku room (accepted)", book, len(slots) - WARM_UP)

    def refused(i):
        unit = full_units[i % len(full_units)]
        night = plan.reserved[unit][i % len(plan.reserved[unit])]
        try:
            book_stay(db.session.get(User, booker), one_night(unit, night), NOW)
            bench.check(False, f"room {unit} at the cap took a booking on {night}")
        except BookingError as exc:
            bench.check(exc.code == "night_cap", f"room {unit}: refused with {exc.code}")
        db.session.rollback()

    bench.time("book", "book_stay at the cap (refused, rolled back)", refused)
    with bench.app.app_context():
        sold = sold_nights(list(plan.minpaku_left), YEAR)
        db.session.remove()
    over = {u: n for u, n in sold.items() if n != CAP_NIGHTS - (plan.minpaku_left[u] == 1)}
    bench.check(not over, f"minpaku rooms not at 180 (179 for those left one): {over}")
    short = len(sold) - len(open_units) - len(full_units)
    print(
        f"  {len(slots)} bookings took the last nights of {len(open_units)} rooms; every"
        f" minpaku room now at {CAP_NIGHTS} nights (179 for the {short} left one night)"
    )


def measure_taxes(bench: Bench, plan: Plan, client) -> None:
    report: list = []

    def service(_i):
        found = tax_report(1, REPORT_FIRST, REPORT_LAST)
        report[:] = [found]

    bench.time("taxes", "tax_report(), 12 months", service)
    rows = {(r.prefecture, r.municipality, r.month): [r.figures.nights, r.figures.taxable_guests,
            r.figures.tax] for r in report[0].rows}  # fmt: skip
    expected = {k: v for k, v in plan.report.items() if REPORT_FIRST <= k[2] <= REPORT_LAST}
    bench.check(rows == expected, "the tax report differs from the nights built")
    total = report[0].total
    no_show_nights, no_show_tax = plan.no_show_tax
    print(
        f"  {len(rows)} municipality-months: {total.nights:,} nights, {total.taxable_guests:,}"
        f" taxable guest-nights, ¥{total.tax:,}; not in it: {no_show_nights} nights held by"
        f" no-shows marked the next morning, ¥{no_show_tax:,} of tax refunded"
    )
    bench.time(
        "taxes", "GET /operator/taxes (12 months)", lambda _i: bench.get(client, "/operator/taxes")
    )


def measure_register(bench: Bench, plan: Plan, client, operator_token: str) -> None:
    stays = len(plan.month_stays)
    period = f"from={MONTH_FIRST}&to={MONTH_END - timedelta(days=1)}"
    base = "/operator/facilities/1/register"
    found: list = []

    def service(_i):  # what every register read does before it renders or logs anything
        operator = db.session.get(User, plan.operator_id)
        found[:] = register_listing.entries(operator, 1, MONTH_FIRST, MONTH_END)

    bench.time("entries", "register_listing.entries(), November", service)
    unsealed = sum(len(e.guests) for e in found if all(g.readable for g in e.guests))
    bench.check(unsealed == 2 * stays, f"{unsealed} guests unsealed, {2 * stays} registered")
    with bench.app.app_context():
        reads_before = db.session.scalar(select(func.count()).select_from(RegisterRead))
        db.session.remove()
    page: list = []

    def html(i):
        page[:] = [bench.get(client, f"{base}?{period}").get_data(as_text=True)]

    bench.time("register", f"GET register page, {stays} stays (November)", html)
    with bench.app.app_context():
        reads = db.session.scalar(select(func.count()).select_from(RegisterRead)) - reads_before
        db.session.remove()
    calls = WARM_UP + bench.args.calls
    bench.check(
        reads == calls * stays, f"{reads} access-log rows for {calls} reads of {stays} stays"
    )
    bench.check(not stays or VISITOR.name in page[0], "the register page shows no unsealed guest")
    bench.time(
        "print", "GET register print view", lambda _i: bench.get(client, f"{base}/print?{period}")
    )
    lines: list = []

    def csv_file(_i):
        answer = bench.get(client, f"/operator/facilities/1/register.csv?{period}")
        lines[:] = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))

    bench.time("csv", "GET register.csv", csv_file)
    bench.check(
        len(lines) == 1 + 2 * stays, f"CSV of {len(lines)} lines for {stays} stays of 2 guests"
    )
    api = f"/api/v1/operator/facilities/1/register?from={MONTH_FIRST}&to={MONTH_END}"
    headers = {"Authorization": f"Bearer {operator_token}"}
    entries: list = []

    def api_read(_i):
        entries[:] = bench.get(client, api, headers=headers).get_json()["entries"]

    bench.time("register-api", "GET /api/v1/operator/…/register (November)", api_read)
    bench.check(len(entries) == stays, f"the API listed {len(entries)} of {stays} stays")


def measure_put_guests(bench: Bench, plan: Plan, client, booker_token: str) -> None:
    body = {"guests": [
        {"name": "宿泊 花子", "address": "東京都千代田区丸の内1-1", "phone": "03-1234-5678"},
        {"name": "John Smith", "address": "10 Downing Street, London", "phone": "+44 20 7946 0958",
         "nationality": "GB", "passport_number": "123456789", "lives_abroad": True},
    ]}  # fmt: skip
    headers = {"Authorization": f"Bearer {booker_token}"}

    def put(i):
        url = f"/api/v1/bookings/{plan.api_stays[i % len(plan.api_stays)]}/guests"
        answer = client.put(url, json=body, headers=headers)
        data = answer.get_json() or {}
        bench.check(
            answer.status_code == 200 and len(data.get("guests", [])) == 2
            and not data["register_complete"] and len(data["missing"]) == 1,
            f"PUT {url}: {answer.status_code} {str(data)[:200]}",
        )  # fmt: skip

    bench.time("put-guests", "PUT /api/v1/bookings/<id>/guests (2 guests)", put)


# --- Running ------------------------------------------------------------------------------


def run(url: str, backend: str, args) -> int:
    app = create_app(
        {
            "SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url, "FIXED_NOW": NOW,
            "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": FAST_HASH,
        }
    )  # fmt: skip
    rng = random.Random(args.seed)
    with app.app_context():
        started = time.perf_counter()
        db.create_all()
        plan = build(backend, args, rng)
        operator = db.session.get(User, plan.operator_id)
        booker = db.session.get(User, plan.booker_id)
        operator_token, booker_token = (
            create_api_token(u, "bench", NOW)[1] for u in (operator, booker)
        )
        db.session.commit()
        settle(backend)
        c = plan.counts
        print(
            f"{backend}: 1 operator, {len(plan.facilities)} facilities ({args.big_rooms} rooms in"
            f" the biggest, {args.minpaku} minpaku houses of {args.minpaku_rooms}, the others"
            f" {args.rooms}), {len(plan.units)} rooms; {c['stays']:,} stays ({c['cancelled']:,}"
            f" cancelled more), {len(plan.booking_nights):,} booking nights, {c['imported']:,}"
            f" imported lodging events, {len(plan.occupancy_rows):,} occupancy rows; register:"
            f" {len(plan.month_stays):,} stays × 2 guests, {c['images']:,} passport images;"
            f" built in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    # Let the hundreds of thousands of planned rows go before anything is timed, so no
    # garbage collection during the timed calls walks them (the checks keep the rest).
    plan.occupancy = {(u, n) for u, n in plan.occupancy if u in plan.minpaku_left}
    del plan.bookings[:], plan.booking_nights[:], plan.occupancy_rows[:], plan.blocks[:]
    gc.collect()
    bench = Bench(app, args)
    client = app.test_client()
    sign_in(client, "operator@bench.example")
    measure_search(bench, plan)
    measure_taxes(bench, plan, client)  # before the bookings add nights to December
    measure_register(bench, plan, client, operator_token)
    measure_cap(bench, plan)
    measure_put_guests(bench, plan, client, booker_token)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    print("checks: all passed" if not bench.problems else f"{len(bench.problems)} CHECKS FAILED")
    return 1 if bench.problems else 0


def postgres_database(url: str) -> tuple[str, str, str]:
    """(the app's URL, the server's admin URL, the database's name): a scratch database
    on this machine only."""
    parsed = make_url(normalise_database_url(url))
    if not parsed.drivername.startswith("postgresql"):
        raise SystemExit("--database-url must be a postgresql:// URL")
    if parsed.host not in LOCAL_HOSTS:
        raise SystemExit(f"--database-url must name a server on this machine, not {parsed.host}")
    name = parsed.database or ""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in RESERVED_DATABASES:
        raise SystemExit(f"--database-url must name a scratch database, not {name!r}")
    admin = parsed.set(drivername="postgresql", database="postgres")
    return (
        parsed.render_as_string(hide_password=False),
        admin.render_as_string(hide_password=False),
        name,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=50, help="the operator's facilities")
    parser.add_argument("--rooms", type=int, default=10, help="rooms of each other hotel")
    parser.add_argument("--big-rooms", type=int, default=100, help="rooms of the biggest hotel")
    parser.add_argument("--minpaku", type=int, default=8, help="住宅宿泊事業 houses")
    parser.add_argument("--minpaku-rooms", type=int, default=2, help="rooms of each house")
    parser.add_argument("--calls", type=int, default=30, help="timed calls of each kind")
    parser.add_argument("--database-url", help="a PostgreSQL database on this machine to create,"
                        " fill and drop (default: a temporary SQLite file)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--sql-top", type=int, default=0, help="print the K slowest statements")
    parser.add_argument("--profile", help="cProfile one kind: search, quote, book, taxes,"
                        " entries, register, print, csv, register-api, put-guests")  # fmt: skip
    parser.add_argument("--profile-sort", choices=("cumulative", "tottime"), default="cumulative")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rooms = args.minpaku * args.minpaku_rooms  # the 1st of each 4 at the cap, the 2nd one short
    open_rooms = rooms - (rooms + 3) // 4 - (rooms + 2) // 4
    if args.calls < 1 or args.big_rooms < 1 or args.rooms < 1 or args.minpaku_rooms < 1:
        parser.error("--calls and the rooms must be positive")
    if args.minpaku < 1 or args.facilities < args.minpaku + 1 or open_rooms < 1:
        parser.error("give at least 1 minpaku house (of 3 rooms, or 2 houses) and a hotel")
    # Nights left in the open minpaku rooms: enough for WARM_UP + --calls bookings.
    args.headroom = math.ceil((WARM_UP + args.calls) / open_rooms)
    if RESERVED_FROM + timedelta(days=3 * args.headroom + 6) >= SEARCH_IN:
        parser.error("too many --calls for the minpaku rooms: add houses or rooms")
    print(
        f"Engawa lodging law benchmark; now = {NOW.isoformat()} (Tokyo {TODAY}); seed {args.seed}"
    )
    if not args.database_url:
        folder = tempfile.mkdtemp(prefix="engawa-lodging-bench-")
        try:
            status = run(f"sqlite:///{folder}/bench.db", "sqlite", args)
        finally:
            if args.keep:
                print(f"kept: {folder}/bench.db")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        sys.exit(status)
    url, admin_url, name = postgres_database(args.database_url)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            raise SystemExit(f"database {name} exists already: drop it or name another")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        status = run(url, "postgresql", args)
    finally:
        if args.keep:
            print(f"kept: database {name}")
        else:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    sys.exit(status)


if __name__ == "__main__":
    main()
