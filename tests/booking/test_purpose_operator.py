"""A stay's purpose and working days when the operator acts on it: a move keeps the
purpose and the working days within the new dates, else takes the new dates' default
days, else keeps none (never refused, unlike the employee's own change); an early
check-out drops the days after the guest left, a no-show the days from that day on; the
operator API says what a stay is for, never its working days.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). NOW is Tuesday
2026-12-01 12:00 in Tokyo; ``days(n)`` is n days later: days(4) Saturday 5 December,
days(6) Monday 7, days(31) Friday 1 January 2027 (a national holiday), days(32) and
days(33) the weekend after it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from accounts.models import Role
from booking import changes, front_desk, operator_moves, services
from booking.models import Booking
from tests.conftest import NOW, days, signed_in
from tests.consoles.operator.test_operator_api import API, build_house
from tests.register_helpers import fill_register

WEEKDAYS_7_TO_10 = [days(6), days(7), days(8), days(9)]  # Monday 7 to Thursday 10


@pytest.fixture
def employee(make_user, make_company):
    return make_user(Role.EMPLOYEE, company=make_company(credit=1_000_000))


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=2, name="101 和室")


@pytest.fixture
def other_room(make_unit, room):
    return make_unit(facility=room.facility, base_price=10_000, capacity=2, name="102 洋室")


@pytest.fixture
def desk(make_user, room):
    return make_user(Role.OPERATOR, operator=room.facility.operator)


def book(db, employee, room, check_in: int, check_out: int, purpose=None, work_days=None):
    stay = services.StayRequest(room.id, days(check_in), days(check_out), 1, purpose, work_days)
    booking = services.book_stay(employee, stay, NOW)
    db.session.commit()
    fill_register(booking)  # check-in waits for a complete guest register
    return booking


def at(n: int):
    """The instant ``n`` days after NOW (noon in Tokyo)."""
    return NOW + timedelta(days=n)


def move(db, desk, booking, unit, check_in: int, check_out: int, now=NOW):
    operator_moves.move_booking(desk, booking.id, unit.id, days(check_in), days(check_out), now)
    db.session.commit()


def stored(db, booking_id: int) -> tuple[str, list]:
    db.session.rollback()
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    return booking.purpose, [row.day for row in booking.work_days]


# --- the operator's move ------------------------------------------------------------------


def test_a_move_keeps_the_purpose_and_the_working_days_within_the_new_dates(
    db, employee, room, desk
):
    booking = book(db, employee, room, 6, 9, "business")  # Monday 7 to Thursday 10
    assert stored(db, booking.id) == ("business", WEEKDAYS_7_TO_10)

    move(db, desk, booking, room, 8, 11)  # Wednesday 9 to Saturday 12

    # Wednesday and Thursday stay; Friday 11 is not added (the employee chose the days).
    assert stored(db, booking.id) == ("business", [days(8), days(9)])


def test_another_room_on_the_same_dates_keeps_every_working_day(
    db, employee, room, other_room, desk
):
    booking = book(db, employee, room, 6, 9, "business", (days(7), days(9)))

    move(db, desk, booking, other_room, 6, 9)

    assert stored(db, booking.id) == ("business", [days(7), days(9)])


def test_a_move_leaving_no_working_day_takes_the_new_dates_default_days(db, employee, room, desk):
    booking = book(db, employee, room, 6, 8, "business", (days(6), days(7)))

    move(db, desk, booking, room, 13, 15)  # Monday 14 to Wednesday 16

    assert stored(db, booking.id) == ("business", [days(13), days(14), days(15)])


def test_a_move_onto_weekends_and_holidays_keeps_no_working_day_and_is_not_refused(
    db, employee, room, desk
):
    booking = book(db, employee, room, 27, 29, "business")  # Monday 28 to Wednesday 30

    # The employee could not make this change: no working day would remain.
    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(
            employee, booking.id, services.StayRequest(room.id, days(31), days(33), 1), NOW
        )
    assert refused.value.code == "work_days"
    db.session.rollback()

    move(db, desk, booking, room, 31, 33)  # New Year's Day and the weekend after it

    # The operator can: the stay is still a business workation, with no working day.
    assert stored(db, booking.id) == ("business", [])
    b = db.session.get(Booking, booking.id)
    assert (b.check_in, b.check_out) == (days(31), days(33))


def test_a_leisure_stay_moved_stays_leisure_without_working_days(db, employee, room, desk):
    booking = book(db, employee, room, 6, 9)

    move(db, desk, booking, room, 13, 16)

    assert stored(db, booking.id) == ("leisure", [])


def test_a_guest_in_the_house_moved_to_leave_earlier_keeps_the_days_up_to_the_new_check_out(
    db, employee, room, other_room, desk
):
    booking = book(db, employee, room, 0, 3, "business")  # Tuesday 1 to Friday 4
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    move(db, desk, booking, other_room, 0, 2, now=at(1))

    assert stored(db, booking.id) == ("business", [days(0), days(1), days(2)])


# --- the front desk -----------------------------------------------------------------------


def test_an_early_check_out_drops_the_working_days_after_the_day_the_guest_left(
    db, employee, room, desk
):
    booking = book(db, employee, room, 0, 4, "business")  # Tuesday 1 to Saturday 5
    assert stored(db, booking.id) == ("business", [days(0), days(1), days(2), days(3)])
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    front_desk.check_out(desk, booking.id, at(1))  # leaves on Wednesday 2
    db.session.commit()

    # The day the guest left is still one (they may have worked before leaving).
    assert stored(db, booking.id) == ("business", [days(0), days(1)])
    assert db.session.get(Booking, booking.id).released_on == days(1)


def test_a_check_out_on_the_check_out_day_keeps_every_working_day(db, employee, room, desk):
    booking = book(db, employee, room, 0, 2, "business")  # Tuesday 1 to Thursday 3
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    front_desk.check_out(desk, booking.id, at(2))
    db.session.commit()

    assert stored(db, booking.id) == ("business", [days(0), days(1), days(2)])


def test_a_no_show_on_the_check_in_day_drops_every_working_day(db, employee, room, desk):
    booking = book(db, employee, room, 0, 3, "business")

    front_desk.mark_no_show(desk, booking.id, NOW)
    db.session.commit()

    assert stored(db, booking.id) == ("business", [])


def test_a_no_show_recorded_later_drops_every_working_day(db, employee, room, desk):
    booking = book(db, employee, room, 0, 3, "business")  # Tuesday 1 to Friday 4

    front_desk.mark_no_show(desk, booking.id, at(1))
    db.session.commit()

    # The nights from that day on are given back; no working day was worked.
    assert stored(db, booking.id) == ("business", [])
    assert db.session.get(Booking, booking.id).released_on == days(1)


def test_a_leisure_stay_leaving_early_has_no_working_day_to_drop(db, employee, room, desk):
    booking = book(db, employee, room, 0, 4)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    front_desk.check_out(desk, booking.id, at(1))
    db.session.commit()

    assert stored(db, booking.id) == ("leisure", [])


# --- the operator API ---------------------------------------------------------------------


@pytest.fixture
def house(db, make_user, make_company, make_facility, make_unit):
    return build_house(db, make_user, make_company, make_facility, make_unit)


def test_the_operator_api_says_what_a_stay_is_for_and_never_its_working_days(client, db, house):
    business = book(db, house.employee, house.room, 6, 9, "business")
    leisure = book(db, house.employee, house.other_room, 13, 16)
    period = {"from": days(0).isoformat(), "to": days(30).isoformat()}

    listed = client.get(f"{API}/bookings", query_string=period, headers=house.headers)
    moved = client.post(
        f"{API}/bookings/{business.id}/move",
        json={
            "unit_id": house.room.id,
            "check_in": days(8).isoformat(),
            "check_out": days(11).isoformat(),
        },
        headers=house.headers,
    )

    assert listed.status_code == 200
    purposes = {row["id"]: row["purpose"] for row in listed.get_json()["bookings"]}
    assert purposes == {business.id: "business", leisure.id: "leisure"}
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["purpose"] == "business"
    for body in (listed.get_data(as_text=True), moved.get_data(as_text=True)):
        assert "working_days" not in body and "work_days" not in body
    assert stored(db, business.id) == ("business", [days(8), days(9)])


def test_the_operators_stay_page_says_the_purpose_and_not_the_working_days(
    app, db, employee, room, desk
):
    """The operator sees that the guest may work (a desk, quiet hours), not the days:
    those are the company's HR data."""
    booking = book(db, employee, room, 0, 3, "business")
    browser = signed_in(app, desk)
    browser.get("/lang/en")
    page = browser.get(f"/operator/bookings/{booking.id}").get_data(as_text=True)
    assert 'data-testid="purpose">Business workation<' in page
    assert "working day" not in page.lower()
