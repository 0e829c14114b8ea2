"""A booking's webhook body says what the stay is for (``purpose``) to the company and
to the operator, and only the company reads a business workation's working days (its
own HR data), as they stand when the event is dispatched: after a move they follow the
new dates. SQLite and PostgreSQL (the ``app`` fixture).

NOW is Tuesday 2026-12-01; ``days(6)`` is Monday 7 December, ``days(9)`` Thursday 10.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role
from booking import cancellation, operator_moves, services
from notifications import webhook_endpoints as endpoints
from notifications import webhooks
from notifications.webhook_endpoints import Owner
from notifications.webhook_payloads import COMPANY, OPERATOR, event_body
from tests.conftest import NOW, days
from tests.notifications.webhook_receiver import start_receiver

MONDAY_TO_THURSDAY = [days(n).isoformat() for n in (6, 7, 8, 9)]


@pytest.fixture
def receiver(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = True
    server = start_receiver()
    yield server
    server.released.set()
    server.server.stop()


@pytest.fixture
def admin(make_user):
    return make_user(Role.COMPANY_ADMIN)


@pytest.fixture
def employee(make_employee, admin):
    return make_employee(company=admin.company, name="山田 花子")


@pytest.fixture
def operator_user(make_user, unit):
    return make_user(Role.OPERATOR, operator=unit.facility.operator)


def book(db, employee, unit, check_in=6, check_out=9, purpose=None):
    stay = services.StayRequest(unit.id, days(check_in), days(check_out), 1, purpose)
    booking = services.book_stay(employee, stay, NOW)
    db.session.commit()
    return booking


def body_of(db, type_: str, audience: str) -> dict:
    """``data.object`` of the (last) event of ``type_``, as ``audience`` is sent it."""
    db.session.expire_all()
    event = db.session.scalar(select(Event).where(Event.type == type_).order_by(Event.id.desc()))
    return json.loads(event_body(event, audience))["data"]["object"]


def test_a_business_stay_is_sent_with_its_days_to_the_company_and_its_purpose_to_both(
    db, receiver, admin, operator_user, employee, unit
):
    for owner, actor, path in (
        (Owner(company_id=admin.company_id), admin, "/company"),
        (Owner(operator_id=operator_user.operator_id), operator_user, "/operator"),
    ):
        endpoints.create_endpoint(
            owner, actor, receiver.url(path), "", ["booking.created"], NOW, allow_private=True
        )
    db.session.commit()
    book(db, employee, unit, purpose="business")
    for event in db.session.scalars(select(Event).order_by(Event.id)).all():
        webhooks.queue_deliveries(event, NOW)
    db.session.commit()

    assert "2 delivered" in webhooks.deliver_webhooks(NOW)

    by_path = {r.path: r for r in receiver.received}
    company = by_path["/company"].json["data"]["object"]
    operator = by_path["/operator"].json["data"]["object"]
    assert (company["purpose"], company["working_days"]) == ("business", MONDAY_TO_THURSDAY)
    assert operator["purpose"] == "business"
    assert "working_days" not in operator
    assert days(7).isoformat() not in by_path["/operator"].body.decode()  # not even a day


def test_a_leisure_stay_is_sent_to_the_company_with_no_working_day(db, employee, unit):
    book(db, employee, unit)

    company = body_of(db, ev.BOOKING_CREATED, COMPANY)
    operator = body_of(db, ev.BOOKING_CREATED, OPERATOR)

    assert (company["purpose"], company["working_days"]) == ("leisure", [])
    assert operator["purpose"] == "leisure" and "working_days" not in operator


def test_a_moved_stay_is_sent_with_the_days_that_followed_its_dates(
    db, employee, unit, operator_user
):
    booking = book(db, employee, unit, purpose="business")
    operator_moves.move_booking(operator_user, booking.id, unit.id, days(8), days(11), NOW)
    db.session.commit()

    company = body_of(db, ev.BOOKING_CHANGED, COMPANY)
    operator = body_of(db, ev.BOOKING_CHANGED, OPERATOR)

    assert company["previous"]["check_in"] == days(6).isoformat()
    assert (company["check_in"], company["check_out"]) == (
        days(8).isoformat(),
        days(11).isoformat(),
    )
    assert (company["purpose"], company["working_days"]) == (
        "business",
        [days(8).isoformat(), days(9).isoformat()],
    )
    assert (operator["purpose"], operator["by"]) == ("business", "operator")
    assert "working_days" not in operator


def test_a_cancelled_stay_is_sent_with_its_purpose(db, employee, unit):
    booking = book(db, employee, unit, purpose="business")
    cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()

    company = body_of(db, ev.BOOKING_CANCELLED, COMPANY)
    operator = body_of(db, ev.BOOKING_CANCELLED, OPERATOR)

    assert (company["status"], company["purpose"]) == ("cancelled", "business")
    assert company["working_days"] == MONDAY_TO_THURSDAY  # the stay as it was booked
    assert operator["purpose"] == "business" and "working_days" not in operator
