"""The 180-night cap of a 住宅宿泊事業 house: nights sold per room per year from April 1
(bookings, direct stays, imported events of a feed marked as bookings) never pass
180, whoever claims the night; closings and nights given back do not count; two
bookings racing for the 180th night cannot both win.

The test clock is 2026-12-01; the nights already sold this lodging year (from
2026-04-01) are a walk-in recorded in the summer.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role, User
from availability import blocks, direct
from availability.blocks import BlockError
from availability.models import Block, BlockReason, BlockSource, DirectStay
from availability.night_cap import CAP_NIGHTS, cap_use, lodging_year, sold_nights, year_bounds
from booking import cancellation, changes, front_desk, operator_moves, services
from calendars.models import CalendarFeed
from tests.booking.test_race import race
from tests.conftest import NOW, bearer

SUMMER = date(2026, 6, 1)
YEAR = 2026  # the lodging year 2026-04-01 … 2027-03-31


def dec(day: int, month: int = 12, year: int = 2026) -> date:
    return date(year, month, day)


@pytest.fixture
def house(make_facility, make_unit):
    """A room of a private lodging (民泊) house."""
    facility = make_facility(licence_type="minpaku", licence_number="M130012345")
    return make_unit(facility=facility, capacity=4)


@pytest.fixture
def desk(make_user, house):
    return make_user(Role.OPERATOR, operator=house.facility.operator)


def walk_in(desk, unit, start: date, nights: int, now: datetime | None = None) -> DirectStay:
    """A direct stay recorded on its first day (so it may begin in the past of NOW)."""
    at = now or datetime(start.year, start.month, start.day, 3, tzinfo=UTC)
    return direct.record_direct_stay(
        desk,
        unit,
        start,
        start + timedelta(days=nights),
        guest_name="山田 太郎",
        guests=1,
        nightly_price=10_000,
        note="",
        now=at,
    )


def sold(db, unit) -> int:
    db.session.expire_all()
    return sold_nights([unit.id], YEAR)[unit.id]


def stay(unit, check_in: date, check_out: date) -> services.StayRequest:
    return services.StayRequest(unit.id, check_in, check_out, 1)


def refused(action, *args, **kw) -> str:
    with pytest.raises((services.BookingError, BlockError)) as exc:
        action(*args, **kw)
    return exc.value.code


@pytest.fixture
def full_house(db, house, desk, make_employee):
    """170 nights sold in the summer and autumn, then a booking of 10 in December: 180."""
    walk_in(desk, house, SUMMER, 170)
    db.session.commit()
    employee = make_employee()
    booking = services.book_stay(employee, stay(house, dec(10), dec(20)), NOW)
    db.session.commit()
    assert sold(db, house) == CAP_NIGHTS
    return employee, booking


def test_the_181st_night_is_refused_with_a_reason(db, house, full_house, make_employee):
    employee = make_employee()
    for attempt in (services.quote_stay, services.book_stay):
        with pytest.raises(services.BookingError) as exc:
            attempt(employee, stay(house, dec(21), dec(22)), NOW)
        db.session.rollback()
        assert exc.value.code == "night_cap"
        assert "180" in str(exc.value.message)
    assert sold(db, house) == CAP_NIGHTS
    (use,) = cap_use([house.id], YEAR)
    assert (use.sold, use.remaining, use.bounds) == (180, 0, (dec(1, 4), dec(1, 4, 2027)))


def test_another_room_and_a_hotel_are_not_bound_by_this_rooms_nights(
    db, house, full_house, make_unit, make_facility, make_employee, desk
):
    other_room = make_unit(facility=house.facility)
    services.book_stay(make_employee(), stay(other_room, dec(21), dec(22)), NOW)
    hotel = make_unit(facility=make_facility(operator=house.facility.operator))
    walk_in(desk, hotel, SUMMER, 180)
    services.book_stay(make_employee(), stay(hotel, dec(21), dec(22)), NOW)
    db.session.commit()
    assert sold_nights([other_room.id, hotel.id], YEAR) == {other_room.id: 1, hotel.id: 181}


def test_the_year_turns_on_april_1(db, house, full_house, make_employee):
    assert (lodging_year(dec(31, 3, 2027)), lodging_year(dec(1, 4, 2027))) == (2026, 2027)
    assert year_bounds(2027) == (dec(1, 4, 2027), dec(1, 4, 2028))
    employee = make_employee()
    # The night of March 31 is the 181st of this year; April 1 the first of the next.
    assert (
        refused(services.book_stay, employee, stay(house, dec(31, 3, 2027), dec(1, 4, 2027)), NOW)
        == "night_cap"
    )
    db.session.rollback()
    assert (
        refused(services.book_stay, employee, stay(house, dec(31, 3, 2027), dec(2, 4, 2027)), NOW)
        == "night_cap"
    )
    db.session.rollback()
    services.book_stay(employee, stay(house, dec(1, 4, 2027), dec(3, 4, 2027)), NOW)
    db.session.commit()
    assert sold_nights([house.id], 2027) == {house.id: 2}
    assert sold(db, house) == 180


def test_walk_ins_and_a_feed_marked_as_bookings_count_but_closings_do_not(
    db, house, desk, make_employee
):
    walk_in(desk, house, SUMMER, 170)
    blocks.close_dates(desk, [house], dec(1), dec(11), BlockReason.MAINTENANCE, "", NOW)
    db.session.commit()
    assert sold(db, house) == 170  # ten nights closed: not sold

    def imported(counts_as_lodging: bool, start: date, end: date) -> Block:
        feed = CalendarFeed(
            unit_id=house.id,
            label="Airbnb",
            url="https://example.com/a.ics",
            counts_as_lodging=counts_as_lodging,
        )
        db.session.add(feed)
        db.session.flush()
        block = Block(
            unit_id=house.id,
            start_date=start,
            end_date=end,
            source=BlockSource.IMPORT,
            reason=BlockReason.EXTERNAL,
            feed_id=feed.id,
            event_key=f"uid-{feed.id}",
            lodging=counts_as_lodging,
            created_at=NOW,
            updated_at=NOW,
        )
        db.session.add(block)
        db.session.flush()
        blocks.reconcile_unit(house.id, dec(1))
        db.session.commit()
        return block

    imported(True, dec(20), dec(29))  # 9 nights booked on another channel: 179
    imported(False, dec(5, 1, 2027), dec(10, 1, 2027))  # the owner's own use: not sold
    assert sold(db, house) == 179

    # A walk-in of two nights would be the 181st: refused whole, nothing recorded.
    assert refused(walk_in, desk, house, dec(20, 1, 2027), 2, now=NOW) == "night_cap"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DirectStay)) == 1
    one = walk_in(desk, house, dec(20, 1, 2027), 1, now=NOW)
    db.session.commit()
    assert one.block.lodging is True
    assert sold(db, house) == 180
    assert (
        refused(
            services.book_stay,
            make_employee(),
            stay(house, dec(25, 1, 2027), dec(26, 1, 2027)),
            NOW,
        )
        == "night_cap"
    )


def test_nights_given_back_by_a_no_show_or_a_cancellation_are_sold_again(
    db, house, desk, make_employee
):
    walk_in(desk, house, SUMMER, 170)
    db.session.commit()
    guest, other = make_employee(), make_employee()
    no_show = services.book_stay(guest, stay(house, dec(1), dec(6)), NOW)  # from today
    later = services.book_stay(guest, stay(house, dec(20), dec(25)), NOW)
    db.session.commit()
    assert sold(db, house) == 180
    assert refused(services.book_stay, other, stay(house, dec(26), dec(27)), NOW) == "night_cap"
    db.session.rollback()

    front_desk.mark_no_show(desk, no_show.id, NOW)  # all five nights given back
    cancellation.cancel_booking(guest, later.id, NOW)  # five more
    db.session.commit()
    assert sold(db, house) == 170
    services.book_stay(other, stay(house, dec(2), dec(12)), NOW)
    db.session.commit()
    assert sold(db, house) == 180


def test_a_change_may_move_the_nights_it_holds_but_not_add_one(
    db, house, full_house, desk, make_unit
):
    employee, booking = full_house
    # Same room, same length, two days later: the stay gives back what it takes.
    moved = stay(house, dec(12), dec(22))
    assert changes.quote_change(employee, booking.id, moved, NOW).available
    changes.change_booking(employee, booking.id, moved, NOW)
    db.session.commit()
    assert sold(db, house) == 180

    longer = stay(house, dec(12), dec(23))
    assert refused(changes.quote_change, employee, booking.id, longer, NOW) == "night_cap"
    assert refused(changes.change_booking, employee, booking.id, longer, NOW) == "night_cap"
    db.session.rollback()
    args = (desk, booking.id, house.id, dec(12), dec(23), NOW)
    assert refused(operator_moves.quote_move, *args) == "night_cap"
    assert refused(operator_moves.move_booking, *args) == "night_cap"
    db.session.rollback()
    # The operator shifts the stay by a day: allowed, as are fewer nights.
    operator_moves.move_booking(desk, booking.id, house.id, dec(13), dec(23), NOW)
    changes.change_booking(employee, booking.id, stay(house, dec(13), dec(20)), NOW)
    db.session.commit()
    assert sold(db, house) == 177

    # Into a room of its own 180: the nights it leaves behind are free again.
    second = make_unit(facility=house.facility)
    changes.change_booking(
        employee,
        booking.id,
        services.StayRequest(second.id, dec(13), dec(20), 1),
        NOW,
    )
    db.session.commit()
    assert (sold(db, house), sold_nights([second.id], YEAR)[second.id]) == (170, 7)


# --- The race for the 180th night -----------------------------------------------------


def book_in_thread(app, db, employee_id: int, unit_id: int, night: date, barrier):
    """One racer: its own app context and session, commit at the edge."""
    with app.app_context():
        try:
            barrier.wait()  # nothing read before: on SQLite a read takes the write lock
            actor = db.session.get(User, employee_id)
            booking = services.book_stay(
                actor,
                services.StayRequest(unit_id, night, night + timedelta(days=1), 1),
                NOW,
            )
            booking_id = booking.id
            db.session.commit()
            return ("booked", booking_id)
        except services.BookingError as exc:
            db.session.rollback()
            return (exc.code, None)
        finally:
            db.session.remove()


def test_two_bookings_racing_for_the_180th_night_one_wins(app, db, house, desk, make_employee):
    walk_in(desk, house, SUMMER, 179)
    db.session.commit()
    unit_id = house.id
    racers = [make_employee().id for _ in range(2)]
    nights = [dec(10), dec(15)]  # different nights: no occupancy row collides
    db.session.remove()  # release the connection (and, on SQLite, the write lock)

    outcomes = race(
        2, lambda i, barrier: book_in_thread(app, db, racers[i], unit_id, nights[i], barrier)
    )

    assert Counter(kind for kind, _id in outcomes) == {"booked": 1, "night_cap": 1}, outcomes
    db.session.remove()
    assert sold_nights([unit_id], YEAR) == {unit_id: CAP_NIGHTS}


def test_the_api_refuses_a_night_past_the_cap_with_its_code(
    db, client, house, full_house, make_employee
):
    headers = bearer(db, make_employee())
    payload = {
        "unit_id": house.id,
        "check_in": "2026-12-21",
        "check_out": "2026-12-22",
        "guests": 1,
    }
    response = client.post("/api/v1/bookings", json=payload, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "night_cap"
    assert "180" in error["message"]
    assert sold(db, house) == CAP_NIGHTS
