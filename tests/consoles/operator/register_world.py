"""A small world for the operator's guest register tests (pages, API, check-in): two
operator organisations, each with a facility that lodges guests, stays with registers
filled through ``lodging.register``; ours also runs a satellite office.

NOW is 2026-12-01 12:00 in Tokyo, so "this month" is December 2026.
"""

from __future__ import annotations

import html
import io
from types import SimpleNamespace

from PIL import Image
from sqlalchemy import select

from accounts.models import Role
from booking import cancellation, front_desk, services
from booking.models import Booking
from lodging import register
from lodging.guests import GuestDetails
from lodging.models import RegisterRead
from tests.conftest import NOW, days

BOOKER = GuestDetails(name="山田 花子", address="長野県松本市中央1-2-3", phone="+81263123456")
COMPANION = GuestDetails(
    name="Emma Schmidt",
    address="Hauptstraße 5, 10115 Berlin",
    phone="+4930123456",
    nationality="DE",
    passport_number="C01X00T47",
    lives_abroad=True,
)
THEIR_GUEST = GuestDetails(name="佐藤 次郎", address="東京都港区芝公園4-2-8", phone="+81312345678")


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def book(db, user, unit, check_in: int, check_out: int, guests: int = 1) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    return booking


def fill(db, booking: Booking, guests, *, by, images: dict[int, bytes] | None = None) -> None:
    """Write the stay's register as the booker would (``images``: position → bytes),
    the write in the access log."""
    rows = register.save_guests(booking.id, guests, entered_by_id=by.id, now=NOW)
    for position, data in (images or {}).items():
        register.save_passport_image(rows[position - 1].id, data, NOW)
    register.record_read([booking.id], booking.unit.facility_id, by.id, "edit", NOW)
    db.session.commit()


def reads(db) -> list[tuple[int, str, int | None]]:
    """The access log as (booking id, action, user id), in the order written."""
    db.session.rollback()
    return [
        tuple(r)
        for r in db.session.execute(
            select(RegisterRead.booking_id, RegisterRead.action, RegisterRead.user_id).order_by(
                RegisterRead.id
            )
        )
    ]


def build_world(db, make_user, make_company, make_facility, make_unit) -> SimpleNamespace:
    operator = make_user(Role.OPERATOR, locale="en", name="Kenji Front")
    org = operator.operator
    facility = make_facility(
        operator=org, name_en="Birch Inn", licence_type="hotel", licence_number="長野県指令第42号"
    )
    a = make_unit(facility=facility, name="101 Washitsu", capacity=2, base_price=10_000)
    b = make_unit(facility=facility, name="102 Yoshitsu", capacity=2, base_price=8_000)
    office = make_facility(operator=org, kind="office", name_en="Desk Hub")
    office_room = make_unit(facility=office, name="Desk 1", capacity=1)
    company = make_company(name="Acme Works", credit=1_000_000)
    employee = make_user(Role.EMPLOYEE, company=company, name="Hanako Yamada", locale="en")

    full = book(db, employee, a, 0, 2, guests=2)  # complete: booker and a companion from abroad
    fill(db, full, [BOOKER, COMPANION], by=employee, images={2: png()})
    partial = book(db, employee, b, 3, 5, guests=2)  # one of two guests registered
    fill(db, partial, [BOOKER], by=employee)
    blank = book(db, employee, b, 10, 12)  # nobody registered yet
    later = book(db, employee, a, 40, 42)  # January: outside this month
    fill(db, later, [BOOKER], by=employee)
    gone = book(db, employee, b, 6, 7)  # cancelled: never listed
    fill(db, gone, [BOOKER], by=employee)
    cancellation.cancel_booking(employee, gone.id, NOW)
    db.session.commit()
    absent = book(db, employee, b, 0, 1)  # a no-show
    fill(db, absent, [BOOKER], by=employee)
    front_desk.mark_no_show(operator, absent.id, NOW)
    db.session.commit()
    desk = book(db, employee, office_room, 0, 1)  # a satellite office: no register

    their_operator = make_user(Role.OPERATOR, locale="en")
    their_facility = make_facility(operator=their_operator.operator, name_en="Other Inn")
    their_room = make_unit(facility=their_facility, capacity=2)
    theirs = book(db, employee, their_room, 1, 3)
    fill(db, theirs, [THEIR_GUEST], by=employee)
    db.session.commit()
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        a=a,
        b=b,
        office=office,
        company=company,
        employee=employee,
        full=full,
        partial=partial,
        blank=blank,
        later=later,
        gone=gone,
        absent=absent,
        desk=desk,
        their_operator=their_operator,
        their_facility=their_facility,
        theirs=theirs,
    )
