"""Webhooks keep no personal data longer than they must, audit no receiver's token, and
never describe another organisation's object.

- A delivery's body (an employee's address and name) is stored encrypted, sent as the
  exact signed JSON, emptied once delivered or given up; the daily
  ``prune_webhook_deliveries`` job deletes old finished deliveries, never pending ones.
- A body that no longer decrypts (``SECRET_KEY`` changed) is given up ("undecryptable").
- The audit log names only the endpoint's scheme and host, not a path holding a token.
- An event whose subject id now names another organisation's row sends nothing.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.audit import AuditEntry
from accounts.events import Event
from accounts.models import Role
from billing.models import Invoice, Subscription
from booking import services
from calendars.models import CalendarConflict, CalendarFeed
from core import scheduler
from notifications import webhook_endpoints as endpoints
from notifications import webhooks
from notifications.models import WebhookDelivery
from notifications.webhook_endpoints import Owner
from notifications.webhook_payloads import COMPANY, event_body
from tests.conftest import NOW, days, signed_in
from tests.notifications.webhook_receiver import start_receiver, verify

PUBLIC_IP = "93.184.215.14"  # never connected: only returned by the fake resolver


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
def operator_user(make_user, unit):
    return make_user(Role.OPERATOR, operator=unit.facility.operator)


def add(db, owner: Owner, actor, url: str, types: list[str], *, allow_private=True):
    endpoint, secret = endpoints.create_endpoint(
        owner, actor, url, "", types, NOW, allow_private=allow_private
    )
    db.session.commit()
    return endpoint, secret


def book(db, user, unit, check_in: int = 10, check_out: int = 12):
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking


def queue_all(db) -> int:
    events = db.session.scalars(select(Event).order_by(Event.id)).all()
    count = sum(webhooks.queue_deliveries(event, NOW) for event in events)
    db.session.commit()
    return count


def deliveries(db) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def stored_bodies(db) -> list[str]:
    """The body column as the database holds it."""
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery.body).order_by(WebhookDelivery.id)))


# --- the body at rest -----------------------------------------------------------------


def test_the_body_is_stored_encrypted_sent_exactly_and_dropped_once_delivered(
    app, db, receiver, admin, make_employee, unit
):
    endpoint, secret = add(
        db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.created"]
    )
    employee = make_employee(company=admin.company, name="山田 花子", email="hanako@example.com")
    book(db, employee, unit)

    assert queue_all(db) == 1
    (stored,) = stored_bodies(db)
    assert "hanako@example.com" not in stored and "山田" not in stored and "@" not in stored
    with pytest.raises(ValueError):
        json.loads(stored)

    assert "1 delivered" in webhooks.deliver_webhooks(NOW)

    (request,) = receiver.received
    verify(secret, request.headers["Engawa-Signature"], request.body)
    event = db.session.scalar(select(Event).where(Event.type == ev.BOOKING_CREATED))
    assert request.body == event_body(event, COMPANY).encode()
    assert request.json["data"]["object"]["employee"]["email"] == "hanako@example.com"
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.body) == ("delivered", 1, "")
    # The log still shows what happened to it.
    page = signed_in(app, admin).get(f"/company/webhooks/{endpoint.id}").get_data(as_text=True)
    assert 'data-status="delivered"' in page and delivery.public_id in page


def test_a_retried_delivery_sends_the_same_bytes_and_a_given_up_one_keeps_no_body(
    db, receiver, admin
):
    endpoint, secret = add(
        db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.created"]
    )
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers = [500, 500]
    webhooks.deliver_webhooks(NOW)
    (delivery,) = deliveries(db)
    assert delivery.status == "pending" and delivery.body != ""
    # The attempt before the last: the next failure gives up.
    delivery.attempts = webhooks.MAX_ATTEMPTS - 1
    delivery.next_attempt_at = NOW
    db.session.commit()

    webhooks.deliver_webhooks(NOW + timedelta(minutes=1))

    first, second = receiver.received
    assert first.body == second.body
    verify(secret, second.headers["Engawa-Signature"], second.body)
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.last_error, delivery.body) == ("failed", "http_status", "")


def test_a_body_that_no_longer_decrypts_is_given_up_not_a_crash(app, db, receiver, admin):
    endpoint, _secret = add(
        db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.created"]
    )
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "another key altogether, after a rotation"
    try:
        summary = webhooks.deliver_webhooks(NOW)
    finally:
        app.config["SECRET_KEY"] = key

    assert "1 given up" in summary
    assert receiver.received == []
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert (delivery.last_error, delivery.body) == ("undecryptable", "")
    browser = signed_in(app, admin)
    browser.get("/lang/en")
    page = browser.get(f"/company/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "The stored event can no longer be read" in page


# --- pruning --------------------------------------------------------------------------


def test_old_finished_deliveries_are_pruned_and_pending_and_recent_ones_kept(db, receiver, admin):
    endpoint, _secret = add(
        db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.created"]
    )
    ages = {
        "old_delivered": ("delivered", 31),
        "old_failed": ("failed", 45),
        "old_pending": ("pending", 60),
        "recent_delivered": ("delivered", 29),
        "recent_failed": ("failed", 1),
    }
    for name, (status, age) in ages.items():
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                public_id=f"evt_test_{name}",
                event_type="webhook.test",
                body="" if status != "pending" else endpoints.seal_body("{}"),
                created_at=NOW - timedelta(days=age),
                status=status,
                attempts=1,
                next_attempt_at=NOW if status == "pending" else None,
            )
        )
    db.session.commit()

    assert "2 old webhook deliveries removed" in webhooks.prune_deliveries(NOW)

    kept = {d.public_id for d in deliveries(db)}
    assert kept == {"evt_test_old_pending", "evt_test_recent_delivered", "evt_test_recent_failed"}
    assert webhooks.prune_deliveries(NOW) == ""  # nothing more: an empty summary


def test_the_prune_job_runs_on_an_empty_database(app, db):
    spec = scheduler.registered_jobs(app)["prune_webhook_deliveries"]
    assert (spec.trigger, spec.trigger_args(app.config)) == ("cron", {"hour": 4, "minute": 45})

    run = scheduler.run_job(app, "prune_webhook_deliveries", NOW)

    assert run is not None and run.outcome == "ok"


# --- the audit log --------------------------------------------------------------------


@pytest.fixture
def dns(monkeypatch):
    """``hooks.example.com`` resolves to a public address; nothing is connected to."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "hooks.example.com":
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url, audited",
    [
        ("https://hooks.example.com/services/T1/B2/SECRETPATH", "https://hooks.example.com/…"),
        ("https://hooks.example.com:8443/in?token=SECRETPATH", "https://hooks.example.com:8443/…"),
    ],
)
def test_the_audit_log_names_the_host_and_not_a_token_in_the_path(
    app, db, dns, admin, url, audited
):
    endpoint, _secret = add(
        db,
        Owner(company_id=admin.company_id),
        admin,
        url,
        ["booking.created"],
        allow_private=False,
    )
    endpoints.delete_endpoint(endpoint, admin, NOW)
    db.session.commit()

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_(("webhook.create", "webhook.delete")))
    ).all()
    assert len(entries) == 2
    for entry in entries:
        assert "SECRETPATH" not in (entry.before or "") + (entry.after or "")
        assert (entry.after_values or entry.before_values)["url"] == audited
    assert "SECRETPATH" not in signed_in(app, admin).get("/company/audit").get_data(as_text=True)


# --- another organisation's object ----------------------------------------------------


def test_an_event_naming_another_company_s_booking_sends_nothing(
    db, receiver, admin, make_user, make_employee, unit
):
    other = make_user(Role.COMPANY_ADMIN)
    add(db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.cancelled"])
    theirs = book(db, make_employee(company=other.company, email="theirs@example.com"), unit)
    # An event of this company whose booking id now names the other company's stay.
    ev.emit(
        ev.BOOKING_CANCELLED,
        NOW,
        company_id=admin.company_id,
        operator_id=unit.facility.operator_id,
        subject=("booking", theirs.id),
        data={"refund": 0, "fee": 0, "by": "employee"},
    )
    db.session.commit()

    assert queue_all(db) == 0
    assert deliveries(db) == []


def test_an_event_naming_another_operator_s_objects_sends_nothing(
    db, receiver, operator_user, make_unit, make_employee, admin
):
    add(
        db,
        Owner(operator_id=operator_user.operator_id),
        operator_user,
        receiver.url(),
        ["booking.created", "calendar.conflict", "feed.failing"],
    )
    elsewhere = make_unit()  # another operator's room
    booking = book(db, make_employee(company=admin.company), elsewhere)
    feed = CalendarFeed(unit_id=elsewhere.id, label="Airbnb", url="https://cal.example/x.ics")
    db.session.add(feed)
    db.session.flush()
    conflict = CalendarConflict(
        feed_id=feed.id,
        unit_id=elsewhere.id,
        booking_id=booking.id,
        event_key="k",
        event_start=days(10),
        event_end=days(11),
        first_night=days(10),
        nights=1,
        detected_at=NOW,
    )
    db.session.add(conflict)
    db.session.flush()
    mine = operator_user.operator_id
    ev.emit(
        ev.BOOKING_CREATED,
        NOW,
        company_id=admin.company_id,
        operator_id=mine,
        subject=("booking", booking.id),
    )
    ev.emit(ev.CALENDAR_CONFLICT, NOW, operator_id=mine, subject=("conflict", conflict.id))
    ev.emit(
        ev.FEED_FAILING,
        NOW,
        operator_id=mine,
        subject=("feed", feed.id),
        data={"since": "2026-11-30T21:00:00+00:00"},
    )
    db.session.commit()

    # Every object these events name is the other operator's: nothing is queued.
    assert queue_all(db) == 0


def test_an_event_naming_another_company_s_invoice_or_subscription_sends_nothing(
    db, receiver, admin, make_user
):
    other = make_user(Role.COMPANY_ADMIN)
    add(
        db,
        Owner(company_id=admin.company_id),
        admin,
        receiver.url(),
        ["invoice.issued", "payment.failed"],
    )
    invoice = Invoice(
        company_id=other.company_id,
        stripe_invoice_id="in_test_other",
        number="ENG-0099",
        status="open",
        total=88000,
        amount_due=88000,
        due_date=NOW + timedelta(days=30),
        hosted_invoice_url="https://billing.example/in_test_other",
    )
    db.session.add(invoice)
    db.session.flush()
    their_sub = db.session.scalar(
        select(Subscription.id).where(Subscription.company_id == other.company_id)
    )
    ev.emit(ev.INVOICE_ISSUED, NOW, company_id=admin.company_id, subject=("invoice", invoice.id))
    ev.emit(
        ev.PAYMENT_FAILED,
        NOW,
        company_id=admin.company_id,
        subject=("subscription", their_sub),
        data={"grace_until": "2026-12-08T03:00:00+00:00"},
    )
    db.session.commit()

    assert queue_all(db) == 0


def test_the_event_s_own_objects_are_still_sent(db, receiver, admin, make_employee, unit):
    add(db, Owner(company_id=admin.company_id), admin, receiver.url(), ["booking.created"])
    book(db, make_employee(company=admin.company), unit)

    assert queue_all(db) == 1
    assert "1 delivered" in webhooks.deliver_webhooks(NOW)
    assert len(receiver.received) == 1
