"""A company's webhook endpoint may follow its stays through approval (issue 18):
``approval.requested``, ``booking.approved``, ``booking.rejected``, ``booking.expired``
and ``booking.withdrawn``, each with the booking, who pays what and where its approval
stands. Operators are not offered them (a waiting stay is the company's business until
it is confirmed, which sends ``booking.created``). SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from booking import holds
from notifications import webhook_endpoints as endpoints
from notifications import webhooks
from notifications.catalog import COMPANY_WEBHOOK_TYPES, OPERATOR_WEBHOOK_TYPES
from notifications.webhook_endpoints import Owner
from notifications.webhook_payloads import COMPANY, OPERATOR, event_body
from tests.booking.test_approvals import approve, book, make_world, reject
from tests.conftest import NOW
from tests.notifications.webhook_receiver import start_receiver

APPROVAL_TYPES = [
    ev.APPROVAL_REQUESTED,
    ev.BOOKING_APPROVED,
    ev.BOOKING_REJECTED,
    ev.BOOKING_EXPIRED,
    ev.BOOKING_WITHDRAWN,
]


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    return make_world(db, make_company, make_user, make_unit)


@pytest.fixture
def receiver(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = True
    server = start_receiver()
    yield server
    server.released.set()
    server.server.stop()


def body_of(db, type_: str, audience: str = COMPANY) -> dict:
    db.session.expire_all()
    event = db.session.scalar(select(Event).where(Event.type == type_).order_by(Event.id.desc()))
    return json.loads(event_body(event, audience))["data"]["object"]


def test_only_companies_may_choose_the_approval_events():
    assert set(APPROVAL_TYPES) <= set(COMPANY_WEBHOOK_TYPES)
    assert not set(APPROVAL_TYPES) & set(OPERATOR_WEBHOOK_TYPES)


def test_an_operator_endpoint_may_not_choose_an_approval_event(db, world):
    with pytest.raises(endpoints.WebhookError):
        endpoints.create_endpoint(
            Owner(operator_id=world.operator.operator_id),
            world.operator,
            "https://hooks.example.jp/x",
            "",
            [ev.APPROVAL_REQUESTED],
            NOW,
            allow_private=False,
        )


def test_a_request_and_its_approval_reach_the_company_endpoint(db, world, receiver):
    endpoints.create_endpoint(
        Owner(company_id=world.company.id),
        world.admin,
        receiver.url("/hr"),
        "",
        [ev.APPROVAL_REQUESTED, ev.BOOKING_APPROVED],
        NOW,
        allow_private=True,
    )
    db.session.commit()
    booking = book(db, world.employee, world.unit.id)
    approve(db, world.manager, booking.id, "Enjoy")
    for event in db.session.scalars(select(Event).order_by(Event.id)).all():
        webhooks.queue_deliveries(event, NOW)
    db.session.commit()

    assert "2 delivered" in webhooks.deliver_webhooks(NOW)

    by_type = {r.json["type"]: r.json["data"]["object"] for r in receiver.received}
    assert set(by_type) == {ev.APPROVAL_REQUESTED, ev.BOOKING_APPROVED}
    requested = by_type[ev.APPROVAL_REQUESTED]
    assert requested["id"] == booking.id
    assert requested["employee"]["name"] == "Emi Employee"
    assert requested["approval"]["reasons"] == ["all"]
    assert (
        requested["company_part_yen"] + requested["employee_part_yen"] == (requested["total_yen"])
    )
    approved = by_type[ev.BOOKING_APPROVED]
    assert approved["status"] == "confirmed"
    assert approved["approval"]["decision"] == "approved"
    assert approved["approval"]["decided_by_id"] == world.manager.id
    assert approved["approval"]["comment"] == "Enjoy"
    assert approved["approval"]["next"] == "confirmed"


def test_a_rejection_carries_the_comment(db, world):
    booking = book(db, world.employee, world.unit.id)
    reject(db, world.manager, booking.id, "Busy week")

    rejected = body_of(db, ev.BOOKING_REJECTED)
    assert rejected["status"] == "rejected"
    assert rejected["approval"]["decision"] == "rejected"
    assert rejected["approval"]["comment"] == "Busy week"


def test_an_operator_reads_no_split_of_a_stay(db, world):
    book(db, world.employee, world.unit.id)
    operator_view = body_of(db, ev.APPROVAL_REQUESTED, OPERATOR)
    assert "company_part_yen" not in operator_view and "approval" not in operator_view


def test_an_expired_request_says_what_it_waited_for(db, world):
    booking = book(db, world.employee, world.unit.id)
    holds.expire_holds(NOW + timedelta(hours=49))
    db.session.commit()

    expired = body_of(db, ev.BOOKING_EXPIRED)
    assert (expired["id"], expired["status"]) == (booking.id, "expired")
    assert expired["waited_for"] == "approval"
    assert expired["approval"]["decision"] == "expired"
