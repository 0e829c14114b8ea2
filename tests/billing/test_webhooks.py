"""Stripe mode end to end: the flows call the fake Stripe server through the real SDK,
and the events it records come back signed through the real webhook endpoint.

Every test runs on SQLite and on PostgreSQL. Events are delivered late, twice,
concurrently or out of order; what a user would notice (the subscription's
status, seats and plan, the credit balance, invoices, ledger entries) must come
out as the provider says it is now, and credit is granted once per paid period.

On SQLite any open transaction of the test's own session holds the write lock,
so the test commits before anything another session does (the test client
already commits before each request).
"""

from __future__ import annotations

import copy
import http.client
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from accounts.models import Company, Role, User
from billing import flows, jobs, ledger, provider_sync
from billing.models import (
    CheckoutAttempt,
    CreditEntry,
    EntryKind,
    Invoice,
    StripeEvent,
    Subscription,
)
from billing.providers import gateway
from billing.providers.stripe import StripeGateway
from billing.services import BillingError
from billing.settings import BillingSettings
from billing.webhooks import FUTURE_SKEW, HANDLED
from booking import services
from core.db import tokyo_today
from tests.billing.fakestripe import (
    FakeStripe,
    encode_event,
    make_event,
    sign_event,
    sign_payload,
)
from tests.booking.test_race import JOIN_TIMEOUT, live_server, race
from tests.conftest import DEFAULTS, NOW, plan_named

API_KEY = "sk_test_123"
SECRET = "whsec_test"
PRICES = {"lite": "price_lite", "standard": "price_standard"}
WEBHOOK = "/billing/stripe/webhook"
SUCCESS_URL = "https://engawa.example/company/billing?checkout=done"
CANCEL_URL = "https://engawa.example/company/billing?checkout=cancelled"
STANDARD_CREDIT = 15_000  # plan_named("standard").credit_per_seat
STANDARD_FEE = 8_000
LITE_CREDIT = 5_000
LITE_FEE = 3_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Any attempt to resolve another host (api.stripe.com included) fails the call."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise OSError(f"a test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def fake():
    """Stripe on 127.0.0.1, its clock at the suite's fixed NOW."""
    with FakeStripe(api_key=API_KEY, clock=NOW) as server:
        server.add_price("price_lite", LITE_FEE, product_name="Engawa Lite")
        server.add_price("price_standard", STANDARD_FEE, product_name="Engawa Standard")
        yield server


@pytest.fixture
def stripe_app(app, fake):
    """The ``app`` fixture (same database) switched to the Stripe backend, pointed at the fake."""
    app.config.update(
        BILLING_BACKEND="stripe",
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_BASE=fake.url,
        STRIPE_PRICE_IDS=dict(PRICES),
    )
    app.extensions.pop("billing_gateway", None)
    yield app
    app.extensions.pop("billing_gateway", None)


@pytest.fixture
def company_id(db, stripe_app, make_company):
    company = make_company(subscribed=False, name="Acme 株式会社")
    plan_named("lite")
    plan_named("standard")
    db.session.commit()
    return company.id


@pytest.fixture
def admin_id(db, make_user, company_id):
    """The company admin who subscribes, and whom a refused booking names."""
    company = db.session.get(Company, company_id)
    return make_user(Role.COMPANY_ADMIN, company=company, email="admin@acme.example").id


# --- helpers ------------------------------------------------------------------------------


def settings() -> BillingSettings:
    """What the edges would pass: the billing settings of the app in context."""
    return BillingSettings.from_config(current_app.config)


def at(moment: int) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def post_signed(client, body: bytes, header: str | None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post(WEBHOOK, data=body, headers=headers)


def deliver(client, event: dict, *, secret: str = SECRET, timestamp: int | None = None):
    """Post one event as Stripe would, signed now (or at ``timestamp``)."""
    body, header = sign_event(event, secret, timestamp=timestamp)
    return post_signed(client, body, header)


def deliver_since(client, fake: FakeStripe, mark: int = 0) -> list[tuple[str, str]]:
    """Deliver the fake's events from index ``mark`` in order; ``(type, outcome)`` each."""
    outcomes = []
    for event in list(fake.events[mark:]):
        response = deliver(client, event)
        assert response.status_code == 200, response.get_data(as_text=True)
        outcomes.append((event["type"], response.get_json()["outcome"]))
    return outcomes


def subscribe(company_id: int, admin_id: int, method: str, *, seats=5, plan="standard", now=NOW):
    return flows.subscribe(
        company_id,
        admin_id,
        plan_named(plan).id,
        seats,
        method,
        now,
        success_url=SUCCESS_URL,
        cancel_url=CANCEL_URL,
        settings=settings(),
    )


def subscribed_by_card(db, client, fake, company_id, admin_id, *, seats=5, plan="standard"):
    """Checkout, paid at the fake, every event delivered: the Stripe subscription id."""
    url = subscribe(company_id, admin_id, "card", seats=seats, plan=plan)
    db.session.commit()
    session = fake.complete_checkout(url.rsplit("/", 1)[1])
    deliver_since(client, fake)
    return session["subscription"]


def subscribed_by_invoice(db, company_id, admin_id, *, seats=5, plan="standard", now=NOW):
    """A bank-transfer subscription (active, its first invoice open): its Stripe id."""
    assert subscribe(company_id, admin_id, "invoice", seats=seats, plan=plan, now=now) is None
    account = ledger.account_of(company_id)
    stripe_id = account.subscription.stripe_subscription_id
    db.session.commit()
    return stripe_id


def state(db, company_id: int) -> dict:
    """What the company's admin sees on the billing page, read afresh."""
    db.session.commit()
    account = ledger.account_of(company_id)
    sub = account.subscription
    return {
        "status": sub and sub.status,
        "seats": sub and sub.seats,
        "plan": sub and sub.plan.code,
        "balance": account.credit_balance,
    }


def balance(db, company_id: int) -> int:
    return state(db, company_id)["balance"]


def count(db, model, *where) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def entries(db, company_id: int) -> list[tuple[str, int]]:
    db.session.commit()
    return [
        (kind, amount)
        for kind, amount in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.company_id == company_id)
            .order_by(CreditEntry.id)
        )
    ]


def grants(db, company_id: int) -> list[int]:
    return [amount for kind, amount in entries(db, company_id) if kind == EntryKind.GRANT]


def invoices(db, company_id: int) -> list[Invoice]:
    db.session.commit()
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.company_id == company_id).order_by(Invoice.id)
        )
    )


def recorded_events(db) -> set[str]:
    db.session.commit()
    return set(db.session.scalars(select(StripeEvent.id)))


def first_invoice_id(fake: FakeStripe, stripe_id: str) -> str:
    return fake.invoices_for(stripe_id)[0]["id"]


# --- 1. subscribing by card ---------------------------------------------------------------


def test_card_checkout_then_its_events_make_an_active_paid_subscription(
    db, client, fake, company_id, admin_id
):
    url = subscribe(company_id, admin_id, "card", seats=5)

    request = fake.last_request("POST", "/v1/checkout/sessions")
    session_id = url.rsplit("/", 1)[1]
    customer = ledger.account_of(company_id).stripe_customer_id
    assert url == f"{fake.url}/pay/{session_id}"
    assert request.params == {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(company_id),
        "line_items": [{"price": "price_standard", "quantity": "5"}],
        "subscription_data": {"metadata": {"company_id": str(company_id)}},
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
    }
    assert request.idempotency_key.startswith("engawa-checkout-")
    assert fake.customer(customer)["metadata"] == {"company_id": str(company_id)}
    assert state(db, company_id) == {"status": None, "seats": None, "plan": None, "balance": 0}

    fake.complete_checkout(session_id)
    outcomes = deliver_since(client, fake)

    assert {outcome for kind, outcome in outcomes if kind in HANDLED} == {"handled"}
    assert {outcome for kind, outcome in outcomes if kind not in HANDLED} == {"ignored"}
    assert state(db, company_id) == {
        "status": "active",
        "seats": 5,
        "plan": "standard",
        "balance": 5 * STANDARD_CREDIT,
    }
    [invoice] = invoices(db, company_id)
    assert (invoice.status, invoice.billing_reason, invoice.total, invoice.amount_paid) == (
        "paid",
        "subscription_create",
        5 * STANDARD_FEE,
        5 * STANDARD_FEE,
    )
    assert (invoice.seats, invoice.collection_method) == (5, "charge_automatically")
    assert invoice.number.endswith("-0001")
    assert entries(db, company_id) == [(EntryKind.GRANT, 5 * STANDARD_CREDIT)]
    assert ledger.ledger_sum(company_id) == balance(db, company_id)
    handled = {event["id"] for event in fake.events if event["type"] in HANDLED}
    assert recorded_events(db) == handled
    assert {"checkout.session.completed", "invoice.paid"} <= {
        event["type"] for event in fake.events if event["id"] in handled
    }


def test_a_double_click_on_checkout_opens_the_same_session(db, fake, company_id, admin_id):
    first = subscribe(company_id, admin_id, "card", seats=5)
    second = subscribe(company_id, admin_id, "card", seats=5, now=NOW + timedelta(minutes=2))

    assert second == first
    assert len(fake.checkout_sessions) == 1
    assert len(fake.customers) == 1
    assert count(db, CheckoutAttempt) == 1

    # Once that session has expired, the next click opens a new one.
    fake.expire_checkout(first.rsplit("/", 1)[1])
    third = subscribe(company_id, admin_id, "card", seats=5, now=NOW + timedelta(minutes=4))

    assert third != first
    assert fake.checkout_session(third.rsplit("/", 1)[1])["status"] == "open"
    assert len(fake.checkout_sessions) == 2


# --- 2. signatures ------------------------------------------------------------------------


def _tampered(event: dict) -> tuple[bytes, str]:
    body, header = sign_event(event, SECRET)
    return body.replace(event["id"].encode(), b"evt_forged00000000000000"), header


def _other_body(event: dict) -> tuple[bytes, str]:
    other = copy.deepcopy(event)
    other["id"] = "evt_other000000000000000"
    return encode_event(event), sign_payload(encode_event(other), SECRET)


def _stale(event: dict) -> tuple[bytes, str]:
    return sign_event(event, SECRET, timestamp=int(time.time()) - 301)


def _no_header(event: dict) -> tuple[bytes, None]:
    return encode_event(event), None


def _other_secret(event: dict) -> tuple[bytes, str]:
    return sign_event(event, "whsec_someone_else")


def _garbled(event: dict) -> tuple[bytes, str]:
    return encode_event(event), "v1=abc,nonsense"


@pytest.mark.parametrize(
    "forge",
    [_tampered, _other_body, _stale, _no_header, _other_secret, _garbled],
    ids=lambda forge: forge.__name__.strip("_"),
)
def test_a_badly_signed_event_is_refused_and_changes_nothing(
    db, client, fake, company_id, admin_id, forge
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    invoice_id = first_invoice_id(fake, stripe_id)
    fake.pay_invoice(invoice_id)  # the bank transfer arrives: this event would grant credit
    [paid] = fake.events_of("invoice.paid", invoice_id)
    requests_before = len(fake.requests)

    response = post_signed(client, *forge(paid))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_signature"
    assert recorded_events(db) == set()
    assert balance(db, company_id) == 0
    assert invoices(db, company_id) == []
    assert len(fake.requests) == requests_before  # a refused event is not even looked up

    # The same event, signed as Stripe signs it (a little while ago), is applied.
    response = deliver(client, paid, timestamp=int(time.time()) - 240)
    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert balance(db, company_id) == 5 * STANDARD_CREDIT
    assert recorded_events(db) == {paid["id"]}


# --- 3. duplicates ------------------------------------------------------------------------


def test_a_redelivered_invoice_paid_grants_credit_once(db, client, fake, company_id, admin_id):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    invoice_id = first_invoice_id(fake, stripe_id)
    fake.pay_invoice(invoice_id)
    [paid] = fake.events_of("invoice.paid", invoice_id)

    first = deliver(client, paid)
    requests_before = len(fake.requests)
    second = deliver(client, paid)

    assert (first.status_code, first.get_json()["outcome"]) == (200, "handled")
    assert (second.status_code, second.get_json()["outcome"]) == (200, "duplicate")
    assert len(fake.requests) == requests_before  # a known event is not looked up again
    assert grants(db, company_id) == [5 * STANDARD_CREDIT]
    assert balance(db, company_id) == 5 * STANDARD_CREDIT
    assert [invoice.status for invoice in invoices(db, company_id)] == ["paid"]
    # Another event about the same paid invoice (its own id) grants nothing more either.
    again = fake.event_for("invoice.updated", invoice_id)
    assert deliver(client, again).get_json()["outcome"] == "handled"
    assert grants(db, company_id) == [5 * STANDARD_CREDIT]


def _post_in_race(port: int, body: bytes, header: str, barrier: threading.Barrier):
    """Connect first, wait at the barrier, then send: the deliveries land together."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=JOIN_TIMEOUT)
    try:
        conn.connect()
        barrier.wait()
        conn.request(
            "POST",
            WEBHOOK,
            body=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("same_event", [True, False], ids=["one event 4x", "4 events"])
def test_concurrent_deliveries_grant_credit_once(
    db, stripe_app, fake, company_id, admin_id, same_event
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    invoice_id = first_invoice_id(fake, stripe_id)
    fake.pay_invoice(invoice_id)
    [paid] = fake.events_of("invoice.paid", invoice_id)
    if same_event:
        events = [paid] * 4
    else:  # Stripe sends several events about one paid invoice, each with its own id
        kinds = ("invoice.paid", "invoice.updated", "invoice.finalized")
        events = [paid] + [fake.event_for(kind, invoice_id) for kind in kinds]
    signed = [sign_event(event, SECRET) for event in events]
    db.session.commit()  # SQLite: no transaction of ours holds the write lock in the race

    with live_server(stripe_app) as port:
        outcomes = race(4, lambda i, barrier: _post_in_race(port, *signed[i], barrier))

    assert [status for status, _ in outcomes] == [200] * 4, outcomes
    found = sorted(body["outcome"] for _, body in outcomes)
    assert found == (["duplicate"] * 3 + ["handled"] if same_event else ["handled"] * 4)
    assert grants(db, company_id) == [5 * STANDARD_CREDIT]
    assert balance(db, company_id) == 5 * STANDARD_CREDIT
    assert [invoice.status for invoice in invoices(db, company_id)] == ["paid"]
    assert recorded_events(db) == {event["id"] for event in events}


def test_a_checkouts_events_arriving_at_once_make_one_subscription(
    db, stripe_app, fake, company_id, admin_id
):
    url = subscribe(company_id, admin_id, "card", seats=5)
    mark = len(fake.events)
    fake.complete_checkout(url.rsplit("/", 1)[1])
    signed = [sign_event(event, SECRET) for event in fake.events[mark:]]
    db.session.commit()

    with live_server(stripe_app) as port:
        outcomes = race(len(signed), lambda i, barrier: _post_in_race(port, *signed[i], barrier))

    assert [status for status, _ in outcomes] == [200] * len(signed), outcomes
    assert count(db, Subscription) == 1
    assert state(db, company_id) == {
        "status": "active",
        "seats": 5,
        "plan": "standard",
        "balance": 5 * STANDARD_CREDIT,
    }
    assert grants(db, company_id) == [5 * STANDARD_CREDIT]
    assert [invoice.status for invoice in invoices(db, company_id)] == ["paid"]


# --- 4. out of order ----------------------------------------------------------------------


def test_an_old_update_after_the_deletion_leaves_the_subscription_canceled(
    db, client, fake, company_id, admin_id
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    older = fake.event_for("customer.subscription.updated", stripe_id)  # active, taken now
    fake.delete_subscription(stripe_id)
    [deleted] = fake.events_of("customer.subscription.deleted", stripe_id)

    assert deliver(client, deleted).get_json()["outcome"] == "handled"
    assert state(db, company_id)["status"] == "canceled"
    response = deliver(client, older)

    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert older["data"]["object"]["status"] == "active"
    assert state(db, company_id) == {
        "status": "canceled",
        "seats": 5,
        "plan": "standard",
        "balance": 5 * STANDARD_CREDIT,
    }


def test_an_old_update_with_fewer_seats_keeps_the_current_seats(
    db, client, fake, stripe_app, company_id, admin_id
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    older = fake.event_for("customer.subscription.updated", stripe_id)  # 5 seats
    # The admin adds seats through Stripe's portal: our database has not heard yet.
    gw = gateway()
    gw.change_seats(gw.subscription(stripe_id), 8, key="portal-seats-8")
    newer = fake.events_of("customer.subscription.updated", stripe_id)[-1]
    assert newer["data"]["object"]["items"]["data"][0]["quantity"] == 8

    deliver(client, older)  # even alone, the 5-seat snapshot is re-read as 8
    assert state(db, company_id)["seats"] == 8
    deliver(client, newer)
    deliver(client, older)  # redelivered late

    assert state(db, company_id) == {
        "status": "active",
        "seats": 8,
        "plan": "standard",
        "balance": 0,
    }


# --- 5. event types we do not handle ------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["customer.created", "charge.refunded", "invoice.payment_succeeded"]
)
def test_an_unhandled_event_type_is_acknowledged_and_ignored(
    db, client, fake, company_id, admin_id, kind
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    before = state(db, company_id), recorded_events(db), len(invoices(db, company_id))
    if kind == "customer.created":
        [event] = fake.events_of("customer.created")
    elif kind == "charge.refunded":
        charge = {
            "id": "ch_test_000000000000000001",
            "object": "charge",
            "amount": 40_000,
            "amount_refunded": 40_000,
            "currency": "jpy",
            "customer": fake.subscription(stripe_id)["customer"],
            "refunded": True,
        }
        event = make_event("charge.refunded", charge)
    else:  # about an invoice we know, but not one we act on
        [event] = fake.events_of(kind, first_invoice_id(fake, stripe_id))
    requests_before = len(fake.requests)

    response = deliver(client, event)

    assert (response.status_code, response.get_json()["outcome"]) == (200, "ignored")
    assert (state(db, company_id), recorded_events(db), len(invoices(db, company_id))) == before
    assert event["id"] not in recorded_events(db)
    assert len(fake.requests) == requests_before  # not looked up at the provider


# --- 6. a failed renewal: past due, grace, then paid --------------------------------------


def test_a_failed_renewal_is_past_due_with_a_grace_period_until_paid(
    db, client, fake, stripe_app, company_id, admin_id, make_user, make_unit
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    employee_id = make_user(Role.EMPLOYEE, company=db.session.get(Company, company_id)).id
    unit_id = make_unit(base_price=10_000).id
    renewal_at = at(fake.subscription(stripe_id)["items"]["data"][0]["current_period_end"])
    db.session.commit()

    mark = len(fake.events)
    renewal = fake.renew(stripe_id, paid=False)
    stripe_app.config["FIXED_NOW"] = renewal_at  # the app's clock: the webhooks arrive then
    deliver_since(client, fake, mark)

    sub = ledger.account_of(company_id).subscription
    assert (sub.status, sub.past_due_since) == ("past_due", renewal_at)
    assert sub.current_period_start == renewal_at
    renewal_row = db.session.scalar(
        select(Invoice).where(Invoice.stripe_invoice_id == renewal["id"])
    )
    assert (renewal_row.status, renewal_row.amount_due) == ("open", 5 * STANDARD_FEE)
    assert balance(db, company_id) == 5 * STANDARD_CREDIT  # no new credit while unpaid

    check_in = tokyo_today(renewal_at) + timedelta(days=20)
    employee = db.session.get(User, employee_id)
    services.book_stay(
        employee,
        services.StayRequest(unit_id, check_in, check_in + timedelta(days=2), 1),
        renewal_at + timedelta(days=3),
    )
    db.session.commit()
    assert balance(db, company_id) == 5 * STANDARD_CREDIT - 20_000

    employee = db.session.get(User, employee_id)
    with pytest.raises(services.BillingRefused) as refused:
        services.book_stay(
            employee,
            services.StayRequest(
                unit_id, check_in + timedelta(days=5), check_in + timedelta(days=6), 1
            ),
            renewal_at + timedelta(days=8),
        )
    db.session.rollback()
    assert refused.value.code == "subscription"
    assert "admin@acme.example" in str(refused.value.message)

    paid_at = renewal_at + timedelta(days=9)
    mark = len(fake.events)
    fake.pay_invoice(renewal["id"], now=paid_at)
    stripe_app.config["FIXED_NOW"] = paid_at
    deliver_since(client, fake, mark)

    sub = ledger.account_of(company_id).subscription
    assert (sub.status, sub.past_due_since) == ("active", None)
    carried = 5 * STANDARD_CREDIT - 20_000
    assert balance(db, company_id) == carried + 5 * STANDARD_CREDIT
    assert entries(db, company_id)[-4:] == [
        (EntryKind.SPEND, -20_000),
        (EntryKind.CARRY_OVER, -carried),
        (EntryKind.CARRY_OVER, carried),
        (EntryKind.GRANT, 5 * STANDARD_CREDIT),
    ]
    assert ledger.ledger_sum(company_id) == balance(db, company_id)
    employee = db.session.get(User, employee_id)
    booking = services.book_stay(
        employee,
        services.StayRequest(
            unit_id, check_in + timedelta(days=5), check_in + timedelta(days=6), 1
        ),
        paid_at,
    )
    db.session.commit()
    assert balance(db, company_id) == carried + 5 * STANDARD_CREDIT - booking.total_price


# --- 7. paying by invoice (bank transfer) -------------------------------------------------


def test_an_invoiced_subscription_is_active_at_once_and_credited_when_paid(
    db, client, fake, company_id, admin_id
):
    assert subscribe(company_id, admin_id, "invoice", seats=5) is None

    request = fake.last_request("POST", "/v1/subscriptions")
    customer = ledger.account_of(company_id).stripe_customer_id
    assert request.params == {
        "customer": customer,
        "items": [{"price": "price_standard", "quantity": "5"}],
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "metadata": {"company_id": str(company_id)},
    }
    assert request.idempotency_key.startswith("engawa-subscription-")
    assert state(db, company_id) == {
        "status": "active",
        "seats": 5,
        "plan": "standard",
        "balance": 0,
    }
    assert ledger.account_of(company_id).subscription.collection_method == "send_invoice"

    deliver_since(client, fake)  # created, finalized: the invoice is sent, unpaid

    [invoice] = invoices(db, company_id)
    assert (invoice.status, invoice.amount_due, invoice.collection_method) == (
        "open",
        5 * STANDARD_FEE,
        "send_invoice",
    )
    assert invoice.due_date == invoice.created_at + timedelta(days=30)
    assert balance(db, company_id) == 0

    stripe_invoice = invoice.stripe_invoice_id
    mark = len(fake.events)
    fake.pay_invoice(stripe_invoice)
    outcomes = deliver_since(client, fake, mark)

    assert ("invoice.paid", "handled") in outcomes
    assert [invoice.status for invoice in invoices(db, company_id)] == ["paid"]
    assert state(db, company_id)["balance"] == 5 * STANDARD_CREDIT
    assert entries(db, company_id) == [(EntryKind.GRANT, 5 * STANDARD_CREDIT)]


# --- 8. idempotency across a timeout ------------------------------------------------------


def _impatient_gateway(stripe_app, fake, retries: int) -> None:
    stripe_app.extensions["billing_gateway"] = StripeGateway(
        API_KEY, SECRET, api_base=fake.url, timeout=1, max_network_retries=retries
    )


def test_a_timed_out_subscribe_is_retried_into_one_subscription(
    db, fake, stripe_app, company_id, admin_id
):
    _impatient_gateway(stripe_app, fake, retries=2)
    fake.fail_next_after_create("/v1/subscriptions", seconds=1.5)  # the client waits 1 s

    assert subscribe(company_id, admin_id, "invoice", seats=5) is None

    posts = fake.requests_to("POST", "/v1/subscriptions")
    assert [post.replayed for post in posts] == [False, True]
    assert len({post.idempotency_key for post in posts}) == 1
    assert len(fake.subscriptions) == 1
    assert count(db, Subscription) == 1
    assert state(db, company_id)["status"] == "active"

    # A double click a minute later: refused, nothing more is asked of Stripe.
    with pytest.raises(BillingError) as refused:
        subscribe(company_id, admin_id, "invoice", seats=5, now=NOW + timedelta(minutes=1))
    db.session.rollback()
    assert refused.value.code == "subscribed"
    assert len(fake.requests_to("POST", "/v1/subscriptions")) == 2
    assert (len(fake.subscriptions), count(db, Subscription)) == (1, 1)


def test_a_retry_after_a_lost_answer_reuses_the_key_and_makes_one_subscription(
    db, fake, stripe_app, company_id, admin_id
):
    _impatient_gateway(stripe_app, fake, retries=0)
    fake.fail_next_after_create("/v1/subscriptions", seconds=1.5)

    with pytest.raises(BillingError) as refused:  # Stripe made it, but the answer was lost
        subscribe(company_id, admin_id, "invoice", seats=5)
    db.session.rollback()
    assert refused.value.code == "provider"
    assert len(fake.subscriptions) == 1
    assert count(db, Subscription) == 0

    # The admin clicks again within 30 minutes: the same attempt, the same key.
    assert (
        subscribe(company_id, admin_id, "invoice", seats=5, now=NOW + timedelta(minutes=5)) is None
    )

    posts = fake.requests_to("POST", "/v1/subscriptions")
    assert [post.replayed for post in posts] == [False, True]
    assert len({post.idempotency_key for post in posts}) == 1
    assert len(fake.subscriptions) == 1
    assert count(db, Subscription) == 1
    assert count(db, CheckoutAttempt) == 1
    db.session.commit()
    sub = ledger.account_of(company_id).subscription
    assert sub.stripe_subscription_id == next(iter(fake.subscriptions))


def test_a_stale_checkout_paid_after_subscribing_by_invoice_makes_no_second_subscription(
    db, client, fake, company_id, admin_id
):
    url = subscribe(company_id, admin_id, "card", seats=5)  # the admin leaves Checkout open
    subscribed_by_invoice(db, company_id, admin_id, seats=5)  # and pays by invoice instead

    try:  # later, in the forgotten tab
        fake.complete_checkout(url.rsplit("/", 1)[1])
    except ValueError:
        pass  # the session was expired: nothing to pay
    deliver_since(client, fake)

    live = [sub for sub in fake.subscriptions.values() if sub["status"] != "canceled"]
    assert len(live) == 1
    assert grants(db, company_id) == []  # the invoice is still unpaid


# --- 9. reconcile -------------------------------------------------------------------------


def test_reconcile_grants_a_renewal_whose_events_never_arrived_once(
    db, client, fake, company_id, admin_id
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    renewal_at = at(fake.subscription(stripe_id)["items"]["data"][0]["current_period_end"])
    mark = len(fake.events)
    renewal = fake.renew(stripe_id)  # paid by card; its events are lost
    db.session.commit()

    report = provider_sync.reconcile(renewal_at, settings=settings())

    assert report == "1 subscriptions checked, 1 corrected, 0 unreachable"
    assert grants(db, company_id) == [5 * STANDARD_CREDIT, 5 * STANDARD_CREDIT]
    assert balance(db, company_id) == 2 * 5 * STANDARD_CREDIT  # one period carried over
    assert ledger.ledger_sum(company_id) == balance(db, company_id)
    latest = invoices(db, company_id)[-1]
    assert (latest.stripe_invoice_id, latest.status) == (renewal["id"], "paid")
    assert ledger.account_of(company_id).subscription.current_period_start == renewal_at

    assert (
        provider_sync.reconcile(renewal_at, settings=settings())
        == "1 subscriptions checked, 0 corrected, 0 unreachable"
    )
    deliver_since(client, fake, mark)  # the events turn up after all
    assert grants(db, company_id) == [5 * STANDARD_CREDIT, 5 * STANDARD_CREDIT]
    assert balance(db, company_id) == 2 * 5 * STANDARD_CREDIT
    assert len(invoices(db, company_id)) == 2


def test_reconcile_marks_a_subscription_canceled_without_events(
    db, client, fake, company_id, admin_id
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    fake.delete_subscription(stripe_id)  # in the dashboard; the event is lost
    db.session.commit()

    assert (
        provider_sync.reconcile(NOW, settings=settings())
        == "1 subscriptions checked, 1 corrected, 0 unreachable"
    )

    assert state(db, company_id)["status"] == "canceled"
    assert (
        provider_sync.reconcile(NOW, settings=settings())
        == "0 subscriptions checked, 0 corrected, 0 unreachable"
    )
    assert balance(db, company_id) == 5 * STANDARD_CREDIT


# --- 10. seats and cancelling -------------------------------------------------------------


def test_change_seats_prorates_at_stripe_and_shows_at_once(db, client, fake, company_id, admin_id):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    item_id = fake.subscription(stripe_id)["items"]["data"][0]["id"]

    flows.change_seats(company_id, 8, NOW, settings=settings())

    request = fake.last_request("POST", f"/v1/subscriptions/{stripe_id}")
    assert request.params == {
        "items": [{"id": item_id, "quantity": "8"}],
        "proration_behavior": "create_prorations",
    }
    assert [item["quantity"] for item in fake.subscription(stripe_id)["items"]["data"]] == [8]
    assert state(db, company_id)["seats"] == 8  # before any webhook
    prorations = [item for item in fake.invoice_items.values() if item["proration"]]
    assert sorted(item["quantity"] for item in prorations) == [5, 8]

    flows.change_seats(company_id, 8, NOW, settings=settings())  # submitted twice

    assert len(fake.requests_to("POST", f"/v1/subscriptions/{stripe_id}")) == 1
    assert [item["quantity"] for item in fake.subscription(stripe_id)["items"]["data"]] == [8]
    deliver_since(client, fake)
    assert state(db, company_id)["seats"] == 8


def test_a_concurrent_double_submit_changes_the_seats_once(
    db, stripe_app, fake, company_id, admin_id
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    db.session.commit()

    def submit(i: int, barrier: threading.Barrier) -> str:
        with stripe_app.app_context():
            try:
                barrier.wait()
                flows.change_seats(company_id, 8, NOW, settings=settings())
                return "done"
            finally:
                db.session.remove()

    assert race(2, submit) == ["done", "done"]

    posts = fake.requests_to("POST", f"/v1/subscriptions/{stripe_id}")
    assert len([post for post in posts if not post.replayed]) == 1
    assert [item["quantity"] for item in fake.subscription(stripe_id)["items"]["data"]] == [8]
    assert len([item for item in fake.invoice_items.values() if item["proration"]]) == 2
    assert state(db, company_id)["seats"] == 8


def test_seats_cannot_go_below_the_people_enrolled(db, fake, company_id, admin_id, make_user):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    make_user(Role.EMPLOYEE, company=db.session.get(Company, company_id))  # 2 people now

    with pytest.raises(BillingError) as refused:
        flows.change_seats(company_id, 1, NOW, settings=settings())
    db.session.rollback()

    assert refused.value.code == "seats_too_few"
    assert fake.requests_to("POST", f"/v1/subscriptions/{stripe_id}") == []
    assert state(db, company_id)["seats"] == 5


def test_going_back_to_an_earlier_seat_count_changes_the_seats(db, fake, company_id, admin_id):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)

    flows.change_seats(company_id, 8, NOW, settings=settings())
    flows.change_seats(company_id, 5, NOW + timedelta(minutes=10), settings=settings())
    flows.change_seats(company_id, 8, NOW + timedelta(minutes=20), settings=settings())

    assert [item["quantity"] for item in fake.subscription(stripe_id)["items"]["data"]] == [8]
    assert state(db, company_id)["seats"] == 8


def test_cancel_at_period_end_keeps_the_subscription_until_the_renewal(
    db, client, fake, company_id, admin_id
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)

    flows.cancel_at_period_end(company_id, NOW, settings=settings())

    request = fake.last_request("POST", f"/v1/subscriptions/{stripe_id}")
    assert request.params == {"cancel_at_period_end": "true"}
    assert fake.subscription(stripe_id)["cancel_at_period_end"] is True
    db.session.commit()
    sub = ledger.account_of(company_id).subscription
    assert (sub.status, sub.cancel_at_period_end) == ("active", True)  # before any webhook

    # submitted twice
    flows.cancel_at_period_end(company_id, NOW + timedelta(minutes=1), settings=settings())

    posts = fake.requests_to("POST", f"/v1/subscriptions/{stripe_id}")
    assert [post for post in posts if not post.replayed] == posts[:1]
    cancels = [
        event
        for event in fake.events_of("customer.subscription.updated", stripe_id)
        if "cancel_at_period_end" in event["data"].get("previous_attributes", {})
    ]
    assert len(cancels) == 1
    with pytest.raises(BillingError) as refused:
        flows.change_seats(company_id, 8, NOW, settings=settings())
    db.session.rollback()
    assert refused.value.code == "ending"

    mark = len(fake.events)
    assert fake.renew(stripe_id) is None  # the period ends: canceled, no new invoice
    deliver_since(client, fake, mark)
    assert state(db, company_id) == {
        "status": "canceled",
        "seats": 5,
        "plan": "standard",
        "balance": 5 * STANDARD_CREDIT,
    }
    assert len(invoices(db, company_id)) == 1


def test_cancelling_again_after_resuming_in_the_portal_cancels(
    db, client, fake, stripe_app, company_id, admin_id
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    flows.cancel_at_period_end(company_id, NOW, settings=settings())
    mark = len(fake.events)
    gateway().client.v1.subscriptions.update(stripe_id, {"cancel_at_period_end": False})
    deliver_since(client, fake, mark)  # the portal's update arrives
    assert ledger.account_of(company_id).subscription.cancel_at_period_end is False
    db.session.commit()

    flows.cancel_at_period_end(company_id, NOW + timedelta(hours=1), settings=settings())

    assert fake.subscription(stripe_id)["cancel_at_period_end"] is True
    db.session.commit()
    assert ledger.account_of(company_id).subscription.cancel_at_period_end is True


# --- 11. overage --------------------------------------------------------------------------


def test_overage_is_billed_once_in_yen_on_the_next_invoice(
    db, client, fake, stripe_app, company_id, admin_id, make_user, make_unit
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=2, plan="lite")
    fake.pay_invoice(first_invoice_id(fake, stripe_id))
    deliver_since(client, fake)
    assert balance(db, company_id) == 2 * LITE_CREDIT
    account = ledger.account_of(company_id, lock=True)
    account.overage_allowed, account.overage_monthly_limit = True, 50_000
    db.session.commit()
    employee_id = make_user(Role.EMPLOYEE, company=db.session.get(Company, company_id)).id
    unit_id = make_unit(base_price=11_000).id
    check_in = tokyo_today(NOW) + timedelta(days=10)
    services.book_stay(
        db.session.get(User, employee_id),
        services.StayRequest(unit_id, check_in, check_in + timedelta(days=2), 1),
        NOW,
    )
    db.session.commit()
    overage = 2 * 11_000 - 2 * LITE_CREDIT
    [(entry_id, amount)] = db.session.execute(
        select(CreditEntry.id, CreditEntry.amount).where(CreditEntry.kind == EntryKind.OVERAGE)
    ).all()
    assert amount == overage
    customer = ledger.account_of(company_id).stripe_customer_id
    db.session.commit()

    assert provider_sync.bill_overage(NOW) == "1 overage items billed"

    request = fake.last_request("POST", "/v1/invoiceitems")
    assert request.params == {
        "customer": customer,
        "subscription": stripe_id,
        "amount": str(overage),  # ¥12,000 is 12000, not 1200000
        "currency": "jpy",
        "description": f"Stay credit overage #{entry_id}",
    }
    assert request.idempotency_key == f"engawa-overage-{entry_id}"
    [item] = [item for item in fake.invoice_items.values() if not item["proration"]]
    assert (item["amount"], item["currency"], item["customer"]) == (overage, "jpy", customer)
    db.session.commit()
    assert db.session.get(CreditEntry, entry_id).stripe_invoice_item_id == item["id"]

    assert provider_sync.bill_overage(NOW + timedelta(hours=1)) == ""
    assert len(fake.requests_to("POST", "/v1/invoiceitems")) == 1

    renewal = fake.renew(stripe_id)
    assert renewal["total"] == 2 * LITE_FEE + overage
    assert fake.invoice_item(item["id"])["invoice"] == renewal["id"]


# --- 12. what is not ours -----------------------------------------------------------------


@pytest.mark.parametrize("claims", ["no company", "our subscribed company"])
def test_events_for_a_customer_we_do_not_know_create_nothing(
    db, client, fake, stripe_app, company_id, admin_id, claims
):
    stripe_id = subscribed_by_card(db, client, fake, company_id, admin_id, seats=5)
    before = state(db, company_id), len(invoices(db, company_id)), entries(db, company_id)
    mark = len(fake.events)
    stranger = fake.add_customer(name="Someone else", metadata={"company_id": str(company_id)})
    gateway().create_invoiced_subscription(
        customer=stranger["id"],
        price_id="price_standard",
        seats=40,
        company_id=999_999 if claims == "no company" else company_id,
        days_until_due=30,
        key="outside-engawa",
    )
    stranger_sub = next(sub for sub in fake.subscriptions if sub != stripe_id)
    fake.pay_invoice(first_invoice_id(fake, stranger_sub))
    db.session.commit()

    outcomes = deliver_since(client, fake, mark)

    assert {outcome for kind, outcome in outcomes if kind in HANDLED} == {"handled"}
    assert count(db, Subscription) == 1
    assert count(db, Invoice) == 1
    assert (state(db, company_id), len(invoices(db, company_id)), entries(db, company_id)) == (
        before
    )
    db.session.commit()
    assert ledger.account_of(company_id).stripe_customer_id != stranger["id"]


# --- the provider cannot be reached -------------------------------------------------------


def test_an_event_that_cannot_be_re_read_is_refused_with_503_and_handled_on_redelivery(
    db, client, fake, stripe_app, company_id, admin_id
):
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    invoice_id = first_invoice_id(fake, stripe_id)
    fake.pay_invoice(invoice_id)
    [paid] = fake.events_of("invoice.paid", invoice_id)
    stripe_app.extensions["billing_gateway"] = StripeGateway(
        "sk_test_revoked", SECRET, api_base=fake.url, timeout=1
    )

    response = deliver(client, paid)

    assert response.status_code == 503
    assert recorded_events(db) == set()
    assert balance(db, company_id) == 0

    stripe_app.extensions.pop("billing_gateway")
    response = deliver(client, paid)  # Stripe delivers again later
    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert balance(db, company_id) == 5 * STANDARD_CREDIT


# --- signed, but not an event we can act on -----------------------------------------------


def _paid_event(db, fake, company_id, admin_id) -> dict:
    """A genuine ``invoice.paid`` that would grant 5 seats of credit."""
    stripe_id = subscribed_by_invoice(db, company_id, admin_id, seats=5)
    invoice_id = first_invoice_id(fake, stripe_id)
    fake.pay_invoice(invoice_id)
    [paid] = fake.events_of("invoice.paid", invoice_id)
    return paid


def _changed(event: dict, path: str, value) -> dict:
    """A copy of ``event`` with the field at ``a.b.c`` set to ``value`` (``...``: removed)."""
    changed = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = changed
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return changed


MALFORMED = {
    "type_a_list": ("type", ["invoice.paid"]),
    "type_a_number": ("type", 5),
    "type_with_a_newline": ("type", "invoice.paid\nX-Injected: 1"),
    "type_of_5000_characters": ("type", "invoice." + "p" * 5000),
    "object_a_list": ("data.object", [{"id": "in_1"}]),
    "object_a_string": ("data.object", "in_1"),
    "object_missing": ("data.object", ...),
    "data_a_list": ("data", [1]),
    "data_missing": ("data", ...),
    "object_id_an_object": ("data.object.id", {"id": "in_1"}),
    "object_id_a_number": ("data.object.id", 7),
    "object_id_a_path": ("data.object.id", "in_1/../../v1/customers"),
    "object_id_missing": ("data.object.id", ...),
    "object_name_a_list": ("data.object.object", ["invoice"]),
    "id_of_5000_characters": ("id", "evt_" + "a" * 5000),
    "id_a_number": ("id", 12345),
    "id_with_a_nul": ("id", "evt_\x00abc"),
    "id_with_a_control_character": ("id", "evt_\x1b[2Jabc"),
    "id_with_a_newline": ("id", "evt_abc\nevt_def"),
    "created_a_string": ("created", "1764558000"),
    "created_true": ("created", True),
    "created_missing": ("created", ...),
    "created_negative": ("created", -1),
}


def test_signed_but_malformed_events_are_refused_with_400_and_change_nothing(
    db, client, fake, company_id, admin_id
):
    paid = _paid_event(db, fake, company_id, admin_id)
    requests_before = len(fake.requests)

    answers = {}
    for name, (path, value) in MALFORMED.items():
        response = deliver(client, _changed(paid, path, value))
        answers[name] = (response.status_code, (response.get_json() or {}).get("error"))

    refused = (400, {"code": "malformed_event"})
    assert {
        name: (status, error and {"code": error["code"]})
        for name, (status, error) in answers.items()
    } == dict.fromkeys(MALFORMED, refused)
    assert recorded_events(db) == set()
    assert balance(db, company_id) == 0
    assert invoices(db, company_id) == []
    assert len(fake.requests) == requests_before  # not even looked up

    # The genuine event is still handled: no refusal recorded anything under its id.
    response = deliver(client, paid)
    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert balance(db, company_id) == 5 * STANDARD_CREDIT


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'"invoice.paid"', b"null", b"{}", b'{"type": "invoice.paid"}', b"{"],
    ids=["a_list", "a_string", "null", "empty_object", "no_id", "not_json"],
)
def test_a_signed_body_that_is_no_event_at_all_is_refused_with_400(
    db, client, fake, company_id, body
):
    response = post_signed(client, body, sign_payload(body, SECRET))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in ("bad_signature", "malformed_event")
    assert recorded_events(db) == set()


def test_an_event_of_a_type_we_ignore_may_carry_an_object_without_an_id(
    db, client, fake, company_id
):
    balance_event = make_event("balance.available", {"object": "balance", "available": []})
    balance_event["created"] = int(NOW.timestamp())

    response = deliver(client, balance_event)

    assert (response.status_code, response.get_json()["outcome"]) == (200, "ignored")
    assert recorded_events(db) == set()


# --- dated in the future --------------------------------------------------------------------


def test_a_signature_dated_more_than_five_minutes_ahead_is_refused(
    db, client, fake, company_id, admin_id
):
    paid = _paid_event(db, fake, company_id, admin_id)
    skew = int(FUTURE_SKEW.total_seconds())
    requests_before = len(fake.requests)

    # The SDK refuses a signature older than 300 s; one from the future it would take.
    response = deliver(client, paid, timestamp=int(time.time()) + skew + 120)

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_signature"
    assert recorded_events(db) == set()
    assert balance(db, company_id) == 0
    assert len(fake.requests) == requests_before

    # A clock a little ahead (within the skew) is no reason to refuse.
    response = deliver(client, paid, timestamp=int(time.time()) + skew - 60)
    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert balance(db, company_id) == 5 * STANDARD_CREDIT


def test_a_signature_carrying_a_second_future_timestamp_is_refused(
    db, client, fake, company_id, admin_id
):
    paid = _paid_event(db, fake, company_id, admin_id)
    body, header = sign_event(paid, SECRET)
    future = int(time.time()) + int(FUTURE_SKEW.total_seconds()) + 120

    response = post_signed(client, body, f"{header},t={future}")

    assert response.status_code == 400
    assert recorded_events(db) == set()


def test_an_event_created_weeks_ahead_but_signed_now_is_handled(
    db, client, fake, company_id, admin_id
):
    """Under a Stripe test clock an event's ``created`` is the simulated time: only the
    signature's time says when it was sent, so ``created`` is not held against our clock."""
    paid = _paid_event(db, fake, company_id, admin_id)
    simulated = int((NOW + timedelta(days=30)).timestamp())

    response = deliver(client, _changed(paid, "created", simulated))

    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert balance(db, company_id) == 5 * STANDARD_CREDIT


# --- old event ids are forgotten --------------------------------------------------------------


def test_handled_event_ids_are_pruned_after_the_retention_period(db, stripe_app):
    keep = DEFAULTS["WEBHOOK_EVENT_KEEP_DAYS"]
    for name, age in [("old", keep + 1), ("edge", keep), ("recent", 3)]:
        db.session.add(
            StripeEvent(id=f"evt_{name}", type="invoice.paid", received_at=NOW - timedelta(age))
        )
    db.session.commit()

    assert jobs.prune_webhook_events(NOW) == "1 old webhook event ids removed"
    assert recorded_events(db) == {"evt_edge", "evt_recent"}
    assert jobs.prune_webhook_events(NOW) == ""  # nothing more: the job can run again

    stripe_app.config["WEBHOOK_EVENT_KEEP_DAYS"] = 2
    jobs.prune_webhook_events(NOW)
    assert recorded_events(db) == set()


def test_an_event_resent_after_its_id_was_pruned_grants_no_second_credit(
    db, client, fake, stripe_app, company_id, admin_id
):
    paid = _paid_event(db, fake, company_id, admin_id)
    assert deliver(client, paid).get_json()["outcome"] == "handled"
    later = NOW + timedelta(days=DEFAULTS["WEBHOOK_EVENT_KEEP_DAYS"] + 1)
    jobs.prune_webhook_events(later)
    assert recorded_events(db) == set()

    response = deliver(client, paid)  # resent from Stripe's dashboard, say

    assert (response.status_code, response.get_json()["outcome"]) == (200, "handled")
    assert grants(db, company_id) == [5 * STANDARD_CREDIT]
    assert balance(db, company_id) == 5 * STANDARD_CREDIT
