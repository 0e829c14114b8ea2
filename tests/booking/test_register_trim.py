"""A stay changed to fewer guests: the guest register (宿泊者名簿) keeps the lines of the
guests who still stay and drops the others, their passport images first, in the same
transaction as the change (``booking.changes.change_booking`` → ``lodging.register.trim``);
so the operator's register, print view and CSV list only the guests who stay. A change
that is refused leaves the register as it was.

SQLite and PostgreSQL (the ``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo.
"""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from booking import changes, register_listing, services
from booking.models import Booking
from booking.services import PriceChanged
from lodging import register
from lodging.models import PassportImage, RegisteredGuest, RegisterPurge, RegisterRead
from tests.conftest import NOW, days, signed_in
from tests.register_helpers import VISITOR, image_bytes, resident

# The booker and a companion live in Japan; the third guest lives abroad (a passport).
GUESTS = [resident(0), resident(1), VISITOR]


@pytest.fixture
def room(make_unit):
    return make_unit(capacity=3)


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def stay(db, employee, room) -> Booking:
    """A stay of 3 guests over days 10–12 with a complete register: 3 lines and the
    third guest's passport image."""
    made = services.book_stay(employee, services.StayRequest(room.id, days(10), days(12), 3), NOW)
    rows = register.save_guests(made.id, GUESTS, entered_by_id=employee.id, now=NOW)
    register.save_passport_image(rows[2].id, image_bytes(), NOW)
    db.session.commit()
    assert register.is_complete(made.id, 3)
    return made


def change_to(db, employee, stay, guests: int, check_in: int = 10, check_out: int = 12, **kw):
    result = changes.change_booking(
        employee,
        stay.id,
        services.StayRequest(stay.unit_id, days(check_in), days(check_out), guests),
        NOW,
        **kw,
    )
    db.session.commit()
    return result


def count(db, table) -> int:
    return db.session.scalar(select(func.count()).select_from(table))


def names(booking_id: int) -> list[str]:
    return [g.details.name for g in register.guests_of(booking_id)]


def test_fewer_guests_drop_the_lines_of_those_who_left(db, employee, stay):
    third = register.guests_of(stay.id)[2].id

    result = change_to(db, employee, stay, 2)

    assert result.booking.guests == 2
    assert names(stay.id) == [resident(0).name, resident(1).name]
    assert register.passport_image(third) is None
    assert count(db, PassportImage) == 0 and count(db, RegisteredGuest) == 2
    # Still complete for the stay it is now; nothing recorded (not a purge, not a read).
    assert register.is_complete(stay.id, 2)
    assert count(db, RegisterPurge) == 0 and count(db, RegisterRead) == 0


def test_a_guest_who_stays_keeps_their_passport_image(db, employee, room):
    made = services.book_stay(employee, services.StayRequest(room.id, days(10), days(12), 3), NOW)
    rows = register.save_guests(
        made.id, [VISITOR, VISITOR, resident(0)], entered_by_id=None, now=NOW
    )
    for row in rows[:2]:
        register.save_passport_image(row.id, image_bytes(), NOW)
    db.session.commit()
    kept_id = rows[0].id

    change_to(db, employee, made, 1)

    (line,) = register.guests_of(made.id)
    assert (line.id, line.has_passport_image) == (kept_id, True)
    assert register.passport_image(kept_id) is not None
    assert count(db, PassportImage) == 1
    assert register.is_complete(made.id, 1)


def test_the_operators_csv_lists_only_the_guests_who_stay(app, db, employee, stay, make_user):
    change_to(db, employee, stay, 2, check_in=11, check_out=13)  # other dates too
    operator = make_user(Role.OPERATOR, operator=stay.unit.facility.operator, locale="en")
    (entry,) = register_listing.entries(operator, stay.unit.facility_id, days(0), days(30))
    assert (entry.complete, [g.position for g in entry.guests]) == (True, [1, 2])

    response = signed_in(app, operator).get(
        f"/operator/facilities/{stay.unit.facility_id}/register.csv",
        query_string={"from": days(11).isoformat(), "to": days(11).isoformat()},
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert len(rows) == 2
    assert resident(0).name in body and resident(1).name in body
    assert VISITOR.name not in body and VISITOR.passport_number not in body


def test_more_guests_or_other_dates_keep_every_line(db, employee, stay):
    change_to(db, employee, stay, 3, check_in=11, check_out=13)
    assert names(stay.id) == [g.name for g in GUESTS]
    assert count(db, PassportImage) == 1 and register.is_complete(stay.id, 3)


def test_more_guests_keep_the_lines_and_ask_for_the_new_one(db, employee, room):
    made = services.book_stay(employee, services.StayRequest(room.id, days(10), days(12), 2), NOW)
    register.save_guests(made.id, GUESTS[:2], entered_by_id=None, now=NOW)
    db.session.commit()

    change_to(db, employee, made, 3)

    assert names(made.id) == [resident(0).name, resident(1).name]
    assert not register.is_complete(made.id, 3)


def test_a_refused_change_keeps_the_whole_register(db, employee, stay):
    with pytest.raises(PriceChanged):
        change_to(db, employee, stay, 2, expected_difference=123_456)
    db.session.rollback()  # as the edge does
    assert db.session.get(Booking, stay.id).guests == 3
    assert names(stay.id) == [g.name for g in GUESTS]
    assert count(db, PassportImage) == 1 and register.is_complete(stay.id, 3)


def test_a_stay_without_a_register_changes_as_before(db, employee, room):
    made = services.book_stay(employee, services.StayRequest(room.id, days(10), days(12), 3), NOW)
    db.session.commit()
    assert change_to(db, employee, made, 1).booking.guests == 1
    assert register.guests_of(made.id) == []
