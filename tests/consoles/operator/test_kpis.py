"""The operator's hotel figures against a house counted by hand (SQLite and PostgreSQL).

The rows are written directly (occupancy, prices, blocks), as the booking, front-desk
and closing services leave them, so each rule of ``consoles.operator.kpis`` is seen
on its own: a cancelled stay has its frozen prices but no occupancy; a no-show keeps
the night it held before it was marked, and has none after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pytest

from accounts.models import User
from availability.models import Block, BlockReason, BlockSource, DirectStay, Occupancy
from booking.models import Booking, BookingNight, BookingStatus
from calendars.models import CalendarFeed
from consoles.operator import kpis, operations
from consoles.operator.kpis import Figures, Window
from core.dates import stay_nights
from facilities.models import Facility, Unit
from tests.conftest import NOW, days

# --- writing a house by hand --------------------------------------------------------------


def booked(
    db,
    guest: User,
    unit: Unit,
    check_in: date,
    prices: list[int],
    *,
    status: str = BookingStatus.CONFIRMED,
    made: datetime = NOW - timedelta(days=30),
    held: int | None = None,
) -> Booking:
    """A stay from ``check_in``, one frozen price per night. ``held``: how many of its
    first nights still hold occupancy (a no-show's or early leaver's nights given back);
    a cancelled stay holds none."""
    check_out = check_in + timedelta(days=len(prices))
    nights = stay_nights(check_in, check_out)
    if held is None:
        held = 0 if status == BookingStatus.CANCELLED else len(nights)
    booking = Booking(
        user_id=guest.id,
        company_id=guest.company_id,
        unit_id=unit.id,
        check_in=check_in,
        check_out=check_out,
        guests=1,
        status=status,
        total_price=sum(prices),
        created_at=made,
        released_on=nights[held] if held < len(nights) and status != "cancelled" else None,
    )
    db.session.add(booking)
    db.session.flush()
    for night, price in zip(nights, prices, strict=True):
        db.session.add(BookingNight(booking_id=booking.id, night=night, price=price))
    for night in nights[:held]:
        db.session.add(Occupancy(unit_id=unit.id, night=night, booking_id=booking.id))
    db.session.commit()
    return booking


def blocked(db, unit: Unit, start: date, nights: int, source: str = BlockSource.MANUAL, **kw):
    """A block holding every one of its nights (a closing, an imported event, or a direct
    stay's block)."""
    feed_id = event_key = None
    if source == BlockSource.IMPORT:
        feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://example.com/a.ics")
        db.session.add(feed)
        db.session.flush()
        feed_id, event_key = feed.id, f"event-{feed.id}"
    reason = {
        BlockSource.MANUAL: BlockReason.MAINTENANCE,
        BlockSource.IMPORT: BlockReason.EXTERNAL,
        BlockSource.DIRECT: BlockReason.DIRECT,
    }[source]
    block = Block(
        unit_id=unit.id,
        start_date=start,
        end_date=start + timedelta(days=nights),
        source=source,
        reason=reason,
        feed_id=feed_id,
        event_key=event_key,
        created_at=kw.pop("made", NOW - timedelta(days=30)),
    )
    db.session.add(block)
    db.session.flush()
    for night in stay_nights(block.start_date, block.end_date):
        db.session.add(Occupancy(unit_id=unit.id, night=night, block_id=block.id))
    db.session.commit()
    return block


def direct_stay(db, unit: Unit, start: date, nights: int, nightly_price: int, made: datetime):
    block = blocked(db, unit, start, nights, BlockSource.DIRECT, made=made)
    stay = DirectStay(
        block_id=block.id,
        guest_name="飛び込み 太郎",
        guests=1,
        nightly_price=nightly_price,
        created_at=made,
    )
    db.session.add(stay)
    db.session.commit()
    return stay


# --- the house counted by hand ------------------------------------------------------------

# Ten nights, 26 November to 5 December 2026 (NOW is 1 December, noon in Tokyo).
START, END = days(-5), days(5)


@dataclass
class House:
    facility: Facility
    a: Unit
    b: Unit
    c: Unit
    off_sale: Unit


@pytest.fixture
def house(db, make_facility, make_unit, make_employee) -> House:
    """Three rooms on sale and one off sale, over the ten nights START..END:

    night         26 27 28 29 30  1  2  3  4  5   (Nov 26 … Dec 5)
    A (101)        x  x  x  x  o  d  d  d  .  i   x closed (manual), o stay checked out
                                                  (¥9,000), d direct stay (¥7,000 a
                                                  night, made 2 days ago), i imported
    B (102)        .  .  .  b  b  b  b  .  n  n   b checked in (¥10,000, ¥10,000, ¥0,
                                                  ¥12,000); a cancelled stay wanted
                                                  3–4 Dec; n booked yesterday (¥15,000 ×2)
    C (103)        p  .  s  .  .  r  r  .  .  q   p from 24 Nov (¥5,000, ¥6,000, ¥7,000;
                                                  made 2 days ago), s a no-show (6 nights
                                                  from the 28th, ¥8,000 each) that held
                                                  the 28th and gave the rest back, r made
                                                  3 days ago (¥11,000 ×2), q to 8 Dec
                                                  (¥13,000 each) made exactly 7 days ago
    D off sale     .  .  .  .  .  x  x  .  .  .   a closing in a room off sale
    """
    facility = make_facility(name_en="Hand Count Inn")
    a, b, c = (make_unit(facility=facility, name=n) for n in ("101", "102", "103"))
    off_sale = make_unit(facility=facility, name="104", active=False)
    guest = make_employee()
    recent = NOW - timedelta(days=2)

    blocked(db, a, days(-5), 4)  # 26–29 Nov
    booked(db, guest, a, days(-1), [9000], status=BookingStatus.CHECKED_OUT)  # 30 Nov
    direct_stay(db, a, days(0), 3, 7000, made=recent)  # 1–3 Dec
    blocked(db, a, days(4), 1, BlockSource.IMPORT)  # 5 Dec

    booked(db, guest, b, days(-2), [10000, 10000, 0, 12000], status=BookingStatus.CHECKED_IN)
    booked(db, guest, b, days(2), [14000, 14000], status=BookingStatus.CANCELLED)  # 3–4 Dec
    booked(db, guest, b, days(3), [15000, 15000], made=NOW - timedelta(days=1))  # 4–5 Dec

    booked(db, guest, c, days(-7), [5000, 6000, 7000], made=recent)  # 24–26 Nov
    booked(db, guest, c, days(-3), [8000] * 6, status=BookingStatus.NO_SHOW, held=1)
    booked(db, guest, c, days(0), [11000, 11000], made=NOW - timedelta(days=3))  # 1–2 Dec
    booked(db, guest, c, days(4), [13000] * 3, made=NOW - timedelta(days=7))  # 5–7 Dec

    blocked(db, off_sale, days(0), 2)
    return House(facility, a, b, c, off_sale)


def test_the_figures_of_a_house_counted_by_hand(house):
    figures = kpis.period_figures([house.facility.id], START, END, NOW)[house.facility.id]

    # Available: 3 rooms on sale × 10 nights = 30, less A's 4 closed and 1 imported
    # night = 25. Room D is off sale: neither its nights nor its closing count.
    assert figures.nights_available == 25
    # Sold: A 1 (checked out) + 3 (direct) = 4; B 4 (checked in, the ¥0 night too) + 2 = 6;
    # C 1 (26 Nov; 24–25 Nov are before the period) + 2 + 1 (5 Dec; 6–7 Dec after) = 4.
    # The cancelled stay and the no-show (its held 28th, its given-back nights) are not.
    assert figures.nights_sold == 14
    # Revenue: A 9,000 + 3 × 7,000 = 30,000; B 10,000 + 10,000 + 0 + 12,000 + 2 × 15,000
    # = 62,000; C 7,000 + 2 × 11,000 + 13,000 = 42,000.
    assert figures.room_revenue == 134_000
    assert figures.occupancy == 14 / 25 == 0.56
    assert figures.occupancy_percent == 56.0
    assert figures.adr == 9571  # 134,000 ÷ 14 = 9,571.43
    assert figures.revpar == 5360  # 134,000 ÷ 25
    # Made in the 7 days before NOW: A's direct stay (3 nights), B's stay booked
    # yesterday (2), C's stay from 24 Nov (only its night in the period: 1) and the one
    # made 3 days ago (2). The stay made exactly 7 days ago is not.
    assert figures.pickup == 8
    assert (figures.start, figures.end) == (START, END)


def test_a_night_sold_in_a_room_taken_off_sale_is_sold_and_available(db, house, make_employee):
    booked(db, make_employee(), house.off_sale, days(3), [20000])  # 4 Dec, room D

    figures = kpis.period_figures([house.facility.id], START, END, NOW)[house.facility.id]

    assert (figures.nights_available, figures.nights_sold) == (26, 15)
    assert figures.room_revenue == 154_000
    assert figures.occupancy <= 1


def test_nothing_sold_and_nothing_available(make_facility, make_unit):
    empty = make_facility()
    closed_house = make_facility()
    make_unit(facility=closed_house, active=False)

    figures = kpis.period_figures([empty.id, closed_house.id], START, END, NOW)

    for f in figures.values():
        assert (f.nights_available, f.nights_sold, f.room_revenue, f.pickup) == (0, 0, 0, 0)
        assert (f.occupancy, f.adr, f.revpar, f.has_data) == (0.0, 0, 0, False)


@pytest.fixture
def second(db, make_facility, make_unit, make_employee, house):
    """Another facility of the same organisation: two rooms, one stay of 3 nights."""
    facility = make_facility(operator=house.facility.operator, name_en="Second House")
    room = make_unit(facility=facility)
    make_unit(facility=facility)
    booked(db, make_employee(), room, days(1), [20000, 21000, 22000], made=NOW)
    return facility


def test_many_facilities_at_once_equal_each_alone_and_sum_to_the_total(house, second):
    ids = [house.facility.id, second.id]

    together = kpis.period_figures(ids, START, END, NOW)

    alone = {fid: kpis.period_figures([fid], START, END, NOW)[fid] for fid in ids}
    assert together == alone
    assert together[second.id] == Figures(START, END, 20, 3, 63000, 3)
    whole = kpis.total(list(together.values()), START, END)
    assert whole == Figures(START, END, 45, 17, 197_000, 11)
    assert whole.adr == round(197_000 / 17) and whole.revpar == round(197_000 / 45)


def test_several_windows_in_one_go_equal_each_computed_alone(house, second):
    ids = [house.facility.id, second.id]
    windows = [
        Window(START, END, NOW),
        Window(days(0), days(31), NOW),
        Window(days(-5), days(1), NOW - timedelta(days=3)),  # overlapping, another now
        Window(days(-400), days(-390), NOW),  # nothing there
    ]

    together = kpis.windows_figures(ids, windows)

    for window, figures in zip(windows, together, strict=True):
        assert figures == kpis.period_figures(ids, window.start, window.end, window.now)
    # As of 3 days earlier, only C's stay made at that very instant counts (its night
    # of 1 December); the one made 7 days ago falls in that week but not in these nights.
    assert together[2][house.facility.id].pickup == 1


def test_last_year_is_the_same_dates_a_year_earlier():
    window = Window(date(2028, 2, 1), date(2028, 3, 1), datetime(2028, 2, 29, 3, 0))
    last = window.last_year()
    assert (last.start, last.end) == (date(2027, 2, 1), date(2027, 3, 1))
    assert last.now == datetime(2027, 2, 28, 3, 0)
    assert kpis.year_earlier(date(2026, 12, 31)) == date(2025, 12, 31)


def test_the_nights_ahead_per_night(house):
    nights = kpis.nightly_occupancy([house.facility.id], START, END)

    assert [n.night for n in nights] == stay_nights(START, END)
    by_night = {n.night: (n.available, n.sold) for n in nights}
    assert by_night[days(-5)] == (2, 1)  # A closed; C's stay from 24 Nov
    assert by_night[days(-3)] == (2, 0)  # A closed; C held by the no-show (not sold)
    assert by_night[days(0)] == (3, 3)  # A direct, B checked in, C
    assert by_night[days(2)] == (3, 1)  # A direct only: the cancelled stay holds nothing
    assert by_night[days(4)] == (2, 2)  # A imported; B and C
    assert sum(n.available for n in nights) == 25
    assert sum(n.sold for n in nights) == 14
    assert nights[0].occupancy_percent == 50.0


def test_rooms_to_clean_follow_the_housekeeping_board(db, make_facility, make_unit, make_employee):
    facility = make_facility()
    other = make_facility(operator=facility.operator)
    guest = make_employee()
    # NOW is noon in Tokyo, after the 10:00 check-out.
    dirty = make_unit(facility=facility, housekeeping="dirty")
    left_today = make_unit(facility=facility)
    booked(db, guest, left_today, days(-2), [1, 1], status=BookingStatus.CHECKED_OUT)
    cleaned_since = make_unit(facility=facility, housekeeping_at=NOW - timedelta(minutes=5))
    booked(db, guest, cleaned_since, days(-1), [1], status=BookingStatus.CHECKED_OUT)
    left_yesterday = make_unit(facility=facility)  # never marked: taken as turned over
    booked(db, guest, left_yesterday, days(-3), [1, 1], status=BookingStatus.CHECKED_OUT)
    marked_long_ago = make_unit(facility=facility, housekeeping_at=NOW - timedelta(days=5))
    booked(db, guest, marked_long_ago, days(-4), [1, 1, 1])
    booked(db, guest, marked_long_ago, days(-20), [1], status=BookingStatus.CANCELLED)
    early = make_unit(facility=facility)  # checked out at 11:00, two nights early
    leaver = booked(db, guest, early, days(0), [1, 1, 1], status=BookingStatus.CHECKED_OUT, held=0)
    leaver.checked_out_at = NOW - timedelta(hours=1)
    db.session.commit()
    walk_in = make_unit(facility=facility)  # a direct stay that left at 10:00
    direct_stay(db, walk_in, days(-2), 2, 5000, made=NOW - timedelta(days=3))
    make_unit(facility=facility, housekeeping="dirty", active=False)  # off sale
    make_unit(facility=other, housekeeping="dirty")
    make_unit(facility=other, housekeeping="inspected")
    other.check_out_time = time(13)  # today's guests have not left yet at noon
    leaves_later = make_unit(facility=other)
    booked(db, guest, leaves_later, days(-1), [1])
    left_before = make_unit(facility=other, housekeeping_at=NOW - timedelta(days=9))
    booked(db, guest, left_before, days(-6), [1, 1], status=BookingStatus.CHECKED_OUT)
    booked(db, guest, left_before, days(-2), [1, 1])

    counts = kpis.rooms_to_clean([facility.id, other.id], NOW)

    board = operations.housekeeping_board(db.session.get(Facility, facility.id), NOW)
    assert counts[facility.id] == sum(r.status == "dirty" for r in board) == 5
    assert {r.unit.id for r in board if r.status == "dirty"} == {
        dirty.id,
        left_today.id,
        marked_long_ago.id,
        early.id,
        walk_in.id,
    }
    other_board = operations.housekeeping_board(db.session.get(Facility, other.id), NOW)
    assert counts[other.id] == sum(r.status == "dirty" for r in other_board) == 2
    assert left_before.id in {r.unit.id for r in other_board if r.status == "dirty"}
    assert kpis.rooms_to_clean([], NOW) == {}
