"""Outbound webhooks as a receiver sees them: one signed POST per chosen event,
retried with backoff until a 2xx, given up after the last attempt, cut off when slow,
never redirected, never sent to an internal address, and sent once however many
delivery runs race.

Every receiver is a real HTTP server on 127.0.0.1 (``webhook_receiver``), reached with
WEBHOOK_ALLOW_PRIVATE_HOSTS on; the SSRF tests turn it off and stand in for DNS.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role
from billing.models import Invoice, Subscription
from booking import cancellation, services
from calendars.models import CalendarConflict, CalendarFeed
from notifications import jobs, webhooks
from notifications import webhook_endpoints as endpoints
from notifications.models import WebhookDelivery
from notifications.webhook_endpoints import Owner
from tests.conftest import NOW, days
from tests.notifications.webhook_receiver import HOLD, start_receiver, verify

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


def company_of(user) -> Owner:
    return Owner(company_id=user.company_id)


def operator_of(user) -> Owner:
    return Owner(operator_id=user.operator_id)


def book(db, user, unit, check_in: int = 10, check_out: int = 12):
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking


def queue_all(db) -> int:
    """What the dispatcher does for webhooks: every event so far, once."""
    events = db.session.scalars(select(Event).order_by(Event.id)).all()
    count = sum(webhooks.queue_deliveries(event, NOW) for event in events)
    db.session.commit()
    return count


def deliveries(db, endpoint=None) -> list[WebhookDelivery]:
    db.session.expire_all()
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint.id)
    return list(db.session.scalars(query))


def run(db, now=NOW):
    summary = webhooks.deliver_webhooks(now)
    db.session.expire_all()
    return summary


def test_a_booking_is_sent_signed_to_the_company_and_the_operator(
    db, receiver, admin, operator_user, make_employee, unit
):
    company_endpoint, company_secret = add(
        db, company_of(admin), admin, receiver.url("/company"), ["booking.created"]
    )
    operator_endpoint, operator_secret = add(
        db,
        operator_of(operator_user),
        operator_user,
        receiver.url("/operator"),
        ["booking.created"],
    )
    employee = make_employee(company=admin.company, name="山田 花子", email="hanako@example.com")
    booking = book(db, employee, unit)

    assert queue_all(db) == 2
    assert "2 delivered" in run(db)

    by_path = {r.path: r for r in receiver.received}
    assert set(by_path) == {"/company", "/operator"}
    event_id = db.session.scalar(select(Event.id).where(Event.type == ev.BOOKING_CREATED))
    for path, secret in (("/company", company_secret), ("/operator", operator_secret)):
        request = by_path[path]
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Engawa-Webhooks/1"
        assert request.headers["Engawa-Event-Id"] == f"evt_{event_id}"
        timestamp = verify(secret, request.headers["Engawa-Signature"], request.body)
        assert abs(timestamp - NOW.timestamp()) < 60  # the job's clock, not the wall's
        body = request.json
        assert body["id"] == f"evt_{event_id}" and body["type"] == "booking.created"
        assert body["created"] == "2026-12-01T03:00:00Z"
        obj = body["data"]["object"]
        assert obj["id"] == booking.id and obj["status"] == "confirmed"
        assert (obj["check_in"], obj["check_out"], obj["nights"]) == (
            days(10).isoformat(),
            days(12).isoformat(),
            2,
        )
        assert obj["total_yen"] == booking.total_price
        assert obj["unit"] == {"id": unit.id, "name": unit.name}
    # Each organisation reads what its console shows: its employee, or the guest's name.
    company_obj = by_path["/company"].json["data"]["object"]
    operator_obj = by_path["/operator"].json["data"]["object"]
    assert company_obj["employee"] == {
        "id": employee.id,
        "email": "hanako@example.com",
        "name": "山田 花子",
    }
    assert operator_obj["guest"] == {"name": "山田 花子"}
    assert "hanako@example.com" not in by_path["/operator"].body.decode()
    # The other's secret does not verify.
    with pytest.raises(ValueError):
        verify(company_secret, by_path["/operator"].headers["Engawa-Signature"], b"x")

    for delivery in deliveries(db):
        assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert {d.endpoint_id for d in deliveries(db)} == {company_endpoint.id, operator_endpoint.id}
    assert run(db) == ""  # nothing left to send
    assert queue_all(db) == 0  # an event is queued for an endpoint once


def test_only_the_chosen_types_of_the_endpoint_s_own_organisation_are_sent(
    db, receiver, admin, operator_user, make_employee, make_user, unit
):
    created_only, _ = add(db, company_of(admin), admin, receiver.url("/a"), ["booking.created"])
    cancelled_too, _ = add(
        db,
        company_of(admin),
        admin,
        receiver.url("/b"),
        ["booking.created", "booking.cancelled"],
    )
    switched_off, _ = add(db, company_of(admin), admin, receiver.url("/c"), ["booking.cancelled"])
    endpoints.set_active(switched_off, False, admin, NOW)
    other_admin = make_user(Role.COMPANY_ADMIN)
    elsewhere, _ = add(
        db, company_of(other_admin), other_admin, receiver.url("/d"), ["booking.cancelled"]
    )
    db.session.commit()
    employee = make_employee(company=admin.company)
    booking = book(db, employee, unit)
    cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()

    queue_all(db)
    run(db)

    assert [d.event_type for d in deliveries(db, created_only)] == ["booking.created"]
    assert [d.event_type for d in deliveries(db, cancelled_too)] == [
        "booking.created",
        "booking.cancelled",
    ]
    assert deliveries(db, switched_off) == [] and deliveries(db, elsewhere) == []
    cancelled = next(r for r in receiver.received if r.json["type"] == "booking.cancelled")
    obj = cancelled.json["data"]["object"]
    assert obj["status"] == "cancelled" and obj["by"] == "employee"
    assert obj["refund_yen"] + obj["fee_yen"] == booking.total_price
    assert sorted(r.path for r in receiver.received) == ["/a", "/b", "/b"]


def test_a_failed_attempt_is_retried_after_the_backoff_and_delivered_once(db, receiver, admin):
    endpoint, secret = add(db, company_of(admin), admin, receiver.url(), ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [500]

    assert "1 to retry" in run(db)
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.last_error == "http_status"
    assert delivery.next_attempt_at - delivery.last_attempt_at == timedelta(minutes=1)

    assert run(db, NOW + timedelta(seconds=30)) == ""  # not due yet
    assert len(receiver.received) == 1
    assert "1 delivered" in run(db, NOW + timedelta(minutes=2))
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 2, 200)
    assert delivery.last_error is None
    first, second = receiver.received
    assert first.body == second.body  # the same bytes: the receiver dedupes on the id
    assert first.headers["Engawa-Event-Id"] == second.headers["Engawa-Event-Id"]
    for request in (first, second):
        verify(secret, request.headers["Engawa-Signature"], request.body)
    assert run(db, NOW + timedelta(days=2)) == ""


def test_a_delivery_is_given_up_after_the_last_attempt(db, receiver, admin):
    endpoint, _ = add(db, company_of(admin), admin, receiver.url(), ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [503] * 20

    now = NOW
    waits = []
    for _attempt in range(webhooks.MAX_ATTEMPTS):
        run(db, now)
        (delivery,) = deliveries(db)
        if delivery.next_attempt_at:
            waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
            now = delivery.next_attempt_at
    assert waits == list(webhooks.BACKOFF)
    assert sum(waits, timedelta()) < timedelta(hours=22)
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert (delivery.last_status, delivery.last_error) == (503, "http_status")
    assert run(db, now + timedelta(days=7)) == ""
    assert len(receiver.received) == webhooks.MAX_ATTEMPTS


def test_a_receiver_slower_than_the_timeout_is_cut_off(app, db, receiver, admin):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    endpoint, _ = add(db, company_of(admin), admin, receiver.url(), ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [HOLD]  # answers only when released, long after the timeout

    run(db)
    receiver.released.set()

    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.last_error, delivery.last_status) == (
        "pending",
        "timeout",
        None,
    )


def test_a_redirect_is_not_followed(db, receiver, admin):
    endpoint, _ = add(db, company_of(admin), admin, receiver.url(), ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [(302, receiver.url("/elsewhere"))]

    run(db)

    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.last_status, delivery.last_error) == (
        "pending",
        302,
        "redirect",
    )
    assert [r.path for r in receiver.received] == ["/hook"]


def test_a_refused_connection_is_a_failure_of_its_kind(app, db, admin):
    app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = True
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    endpoint, _ = add(
        db, company_of(admin), admin, f"http://127.0.0.1:{port}/hook", ["invoice.issued"]
    )
    endpoints.send_test(endpoint, NOW)
    db.session.commit()

    run(db)

    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.last_error) == ("pending", "connection")


@pytest.fixture
def dns(monkeypatch):
    """Stand in for DNS: ``dns[name] = [addresses]``; other names do not exist. Every
    address a socket connects to is recorded in ``dns["connected"]``."""
    table: dict = {"connected": []}
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in table[host]]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(sock, address):
        table["connected"].append(address[0])
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return table


def test_an_address_changed_to_an_internal_one_after_entry_is_refused_at_delivery(
    app, db, dns, admin
):
    receiver = start_receiver()
    try:
        app.config["WEBHOOK_ALLOW_PRIVATE_HOSTS"] = False
        dns["hooks.example.test"] = [PUBLIC_IP]
        url = f"https://hooks.example.test:{receiver.port}/hook"
        endpoint, _ = add(
            db, company_of(admin), admin, url, ["invoice.issued"], allow_private=False
        )
        endpoints.send_test(endpoint, NOW)
        db.session.commit()
        dns["hooks.example.test"] = ["127.0.0.1"]  # rebound to where the receiver listens

        run(db)

        (delivery,) = deliveries(db)
        assert (delivery.status, delivery.last_error) == ("pending", "refused_address")
        assert receiver.received == [] and "127.0.0.1" not in dns["connected"]
    finally:
        receiver.server.stop()


def test_the_connection_goes_to_the_checked_address_with_the_host_named(db, dns, receiver, admin):
    dns["hooks.example.test"] = ["127.0.0.1"]
    url = f"http://hooks.example.test:{receiver.port}/hook?token=abc"
    endpoint, _ = add(db, company_of(admin), admin, url, ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()

    run(db)

    (request,) = receiver.received
    assert request.headers["Host"] == f"hooks.example.test:{receiver.port}"
    assert request.path == "/hook?token=abc"
    assert deliveries(db)[0].status == "delivered"


def test_two_delivery_runs_racing_send_each_delivery_once(app, db, receiver, admin, make_user):
    for n in range(4):
        endpoint, _ = add(db, company_of(admin), admin, receiver.url(f"/e{n}"), ["invoice.issued"])
        for _ in range(3):
            endpoints.send_test(endpoint, NOW)
    db.session.commit()
    start = threading.Barrier(2)
    errors = []

    def runner():
        try:
            with app.app_context():
                start.wait(5)
                webhooks.deliver_webhooks(NOW)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    ids = [r.headers["Engawa-Event-Id"] for r in receiver.received]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {(d.status, d.attempts) for d in deliveries(db)} == {("delivered", 1)}


def test_the_bodies_of_invoices_payments_conflicts_and_feeds(
    db, receiver, admin, operator_user, make_employee, unit
):
    add(db, company_of(admin), admin, receiver.url("/c"), ["invoice.issued", "payment.failed"])
    add(
        db,
        operator_of(operator_user),
        operator_user,
        receiver.url("/o"),
        ["calendar.conflict", "feed.failing"],
    )
    invoice = Invoice(
        company_id=admin.company_id,
        stripe_invoice_id="in_test_1",
        number="ENG-0001",
        status="open",
        total=88000,
        amount_due=88000,
        due_date=NOW + timedelta(days=30),
        hosted_invoice_url="https://billing.example/in_test_1",
    )
    feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://cal.example/x.ics")
    db.session.add_all([invoice, feed])
    db.session.flush()
    feed.last_error = "HTTP 404"
    booking = book(db, make_employee(company=admin.company), unit)
    conflict = CalendarConflict(
        feed_id=feed.id,
        unit_id=unit.id,
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
    company, operator_id = admin.company_id, operator_user.operator_id
    ev.emit(ev.INVOICE_ISSUED, NOW, company_id=company, subject=("invoice", invoice.id))
    sub_id = db.session.scalar(select(Subscription.id).where(Subscription.company_id == company))
    ev.emit(
        ev.PAYMENT_FAILED,
        NOW,
        company_id=company,
        subject=("subscription", sub_id),
        data={"grace_until": "2026-12-08T03:00:00+00:00"},
    )
    ev.emit(ev.CALENDAR_CONFLICT, NOW, operator_id=operator_id, subject=("conflict", conflict.id))
    ev.emit(
        ev.FEED_FAILING,
        NOW,
        operator_id=operator_id,
        subject=("feed", feed.id),
        data={"since": "2026-11-30T21:00:00+00:00"},
    )
    db.session.commit()

    assert queue_all(db) == 4
    run(db)

    objects = {r.json["type"]: r.json["data"]["object"] for r in receiver.received}
    assert objects["invoice.issued"] == {
        "object": "invoice",
        "id": invoice.id,
        "number": "ENG-0001",
        "status": "open",
        "total_yen": 88000,
        "amount_due_yen": 88000,
        "due_date": "2026-12-31T03:00:00Z",
        "hosted_invoice_url": "https://billing.example/in_test_1",
    }
    payment = objects["payment.failed"]
    assert payment == {
        "object": "subscription",
        "id": sub_id,
        "status": "active",
        "grace_until": "2026-12-08T03:00:00+00:00",
    }
    assert objects["calendar.conflict"] == {
        "object": "calendar_conflict",
        "id": conflict.id,
        "booking_id": booking.id,
        "direct_stay_id": None,
        "facility": {
            "id": unit.facility.id,
            "name_ja": unit.facility.name_ja,
            "name_en": unit.facility.name_en,
        },
        "unit": {"id": unit.id, "name": unit.name},
        "first_night": days(10).isoformat(),
        "nights": 1,
        "feed": {"id": feed.id, "label": "Airbnb"},
    }
    failing = objects["feed.failing"]
    assert (failing["id"], failing["label"], failing["last_error"]) == (
        feed.id,
        "Airbnb",
        "HTTP 404",
    )
    assert failing["failing_since"] == "2026-11-30T21:00:00+00:00"
    assert "cal.example" not in json.dumps(failing)  # the feed's secret URL is not sent


def test_failures_are_logged_by_kind_without_the_url_or_secret(db, receiver, admin, caplog):
    caplog.set_level(logging.DEBUG)
    url = receiver.url("/hook?token=receiver-own-token")
    endpoint, secret = add(db, company_of(admin), admin, url, ["invoice.issued"])
    endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [500]

    run(db)

    assert "http_status" in caplog.text
    assert "receiver-own-token" not in caplog.text and secret not in caplog.text


def test_the_scheduler_job_turns_a_new_booking_into_a_delivery(
    db, receiver, admin, make_employee, unit
):
    add(db, company_of(admin), admin, receiver.url(), ["booking.created"])
    book(db, make_employee(company=admin.company), unit)
    assert webhooks.webhooks_pending() is False  # the event is not dispatched yet

    jobs.webhook_deliveries(NOW)

    (request,) = receiver.received
    assert request.json["type"] == "booking.created"
    assert webhooks.webhooks_pending() is False
    jobs.webhook_deliveries(NOW + timedelta(minutes=1))
    assert len(receiver.received) == 1


def test_an_endpoint_that_times_out_is_waited_for_once_per_run(app, db, receiver, admin):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    slow, _ = add(db, company_of(admin), admin, receiver.url("/slow"), ["invoice.issued"])
    fine, _ = add(db, company_of(admin), admin, receiver.url("/fine"), ["invoice.issued"])
    for endpoint in (slow, slow, slow, fine):
        endpoints.send_test(endpoint, NOW)
    db.session.commit()
    receiver.answers[:] = [HOLD]

    run(db)
    receiver.released.set()

    assert sorted(r.path for r in receiver.received) == ["/fine", "/slow"]
    assert [(d.status, d.attempts, d.last_error) for d in deliveries(db, slow)] == [
        ("pending", 1, "timeout")
    ] * 3
    assert [d.status for d in deliveries(db, fine)] == ["delivered"]
