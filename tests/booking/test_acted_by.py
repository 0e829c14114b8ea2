"""Who a cancellation or a change names (``by``): the guest themself is "employee" whatever
their role, so a company admin who cancels their own stay is not told "your company's
admin cancelled this stay"; an admin ending somebody else's stays is "company_admin"."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from accounts import events
from accounts.events import Event
from accounts.mail import OutgoingMail, open_body
from accounts.models import Role
from booking import announce, cancellation, changes, services
from identity import members
from notifications import dispatch
from notifications.webhook_payloads import COMPANY, OPERATOR, event_body
from tests.conftest import NOW, days

PRICE = 10_000


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


@pytest.fixture
def admin(make_user):
    return make_user(Role.COMPANY_ADMIN, email="admin@example.com", locale="en")


def book(db, user, room, check_in=10, check_out=13):
    booking = services.book_stay(
        user, services.StayRequest(room.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking


def the_event(db, type_: str) -> Event:
    db.session.rollback()
    (event,) = db.session.scalars(select(Event).where(Event.type == type_)).all()
    return event


def mail_to(db, address: str, kind: str) -> str:
    """The text of the one mail of ``kind`` queued for ``address`` (after dispatching)."""
    dispatch.dispatch_events(NOW)
    (mail,) = db.session.scalars(
        select(OutgoingMail).where(OutgoingMail.to_address == address, OutgoingMail.kind == kind)
    ).all()
    return open_body(mail.body)


def webhook_by(event: Event, audience: str):
    return json.loads(event_body(event, audience))["data"]["object"]["by"]


def test_an_admin_who_cancels_their_own_stay_is_the_employee(db, admin, room):
    booking = book(db, admin, room)

    cancellation.cancel_booking(admin, booking.id, NOW)
    db.session.commit()

    event = the_event(db, events.BOOKING_CANCELLED)
    assert event.actor_id == admin.id and event.user_id == admin.id
    assert event.facts["by"] == "employee"
    assert webhook_by(event, COMPANY) == webhook_by(event, OPERATOR) == "employee"
    text = mail_to(db, admin.email, "booking_cancelled")
    assert "You cancelled this stay." in text
    assert "company's admin" not in text


def test_an_admin_who_changes_their_own_stay_is_the_employee(db, admin, room):
    booking = book(db, admin, room, 10, 13)

    changes.change_booking(
        admin, booking.id, services.StayRequest(room.id, days(11), days(14), 1), NOW
    )
    db.session.commit()

    event = the_event(db, events.BOOKING_CHANGED)
    assert event.facts["by"] == "employee"
    assert webhook_by(event, COMPANY) == "employee"
    text = mail_to(db, admin.email, "booking_changed")
    assert "You changed this stay." in text
    assert "company's admin" not in text


def test_an_admin_deactivating_an_employee_is_the_company_admin(db, admin, make_employee, room):
    employee = make_employee(company=admin.company, email="taro@example.com")
    book(db, employee, room, 20, 22)

    assert members.deactivate(admin.company_id, employee.id, NOW, actor_id=admin.id) == 1
    db.session.commit()

    event = the_event(db, events.BOOKING_CANCELLED)
    assert (event.actor_id, event.user_id) == (admin.id, employee.id)
    assert event.facts["by"] == "company_admin"
    assert webhook_by(event, COMPANY) == "company_admin"


def test_with_nobody_acting_it_is_the_system(db, make_employee, room):
    employee = make_employee()
    booking = book(db, employee, room)

    assert announce.acted_by(None, booking) == "system"
    assert announce.acted_by(employee, booking) == "employee"
