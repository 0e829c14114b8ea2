"""StripeGateway against FakeStripe: what the SDK sends, and what we read back.

The gateway talks to a real HTTP server on 127.0.0.1 (tests/billing/fakestripe.py)
through the official SDK, so the form encoding, idempotency keys, timeouts and
retries are the SDK's own. Nothing here needs the Flask app, and no test may
resolve any host but the loopback.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import stripe

from billing.providers.base import (
    CheckoutRecord,
    EventRecord,
    GatewayError,
    ObjectMissing,
    SignatureError,
    SubscriptionRecord,
)
from billing.providers.stripe import StripeGateway, verify_event
from tests.billing.fakestripe import (
    FakeStripe,
    add_months,
    parse_form,
    sign_event,
    sign_payload,
    signed_event,
)

API_KEY = "sk_test_123"
SECRET = "whsec_test"
PRICE = "price_seat"
UNIT = 500  # yen a seat a month
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
def fake_stripe():
    with FakeStripe(api_key=API_KEY) as server:
        server.add_price(PRICE, UNIT)
        yield server


def make_gateway(fake_stripe: FakeStripe, key: str = API_KEY) -> StripeGateway:
    return StripeGateway(key, SECRET, api_base=fake_stripe.url, timeout=1, max_network_retries=2)


@pytest.fixture
def gw(fake_stripe):
    return make_gateway(fake_stripe)


@pytest.fixture
def customer(gw):
    return gw.create_customer(
        company_id=7, name="Acme 株式会社", email="billing@acme.example", key="customer-7"
    )


def invoiced(gw, customer, *, seats=3, key="sub-7") -> SubscriptionRecord:
    return gw.create_invoiced_subscription(
        customer=customer, price_id=PRICE, seats=seats, company_id=7, days_until_due=30, key=key
    )


def checkout(gw, customer, *, seats=3, key="checkout-7") -> CheckoutRecord:
    return gw.create_checkout(
        customer=customer,
        price_id=PRICE,
        seats=seats,
        company_id=7,
        success_url="https://engawa.example/billing/done",
        cancel_url="https://engawa.example/billing",
        key=key,
    )


def at(moment: int) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


# --- creating -------------------------------------------------------------------------


def test_create_customer_sends_name_email_and_company_id(gw, fake_stripe):
    customer_id = gw.create_customer(
        company_id=7, name="Acme 株式会社", email="billing@acme.example", key="customer-7"
    )

    request = fake_stripe.last_request("POST", "/v1/customers")
    assert request.params == {
        "name": "Acme 株式会社",
        "email": "billing@acme.example",
        "metadata": {"company_id": "7"},
    }
    assert request.idempotency_key == "customer-7"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Stripe-Version"] == "2026-10-28.endive"
    stored = fake_stripe.customer(customer_id)
    assert customer_id.startswith("cus_")
    assert (stored["object"], stored["name"], stored["metadata"]) == (
        "customer",
        "Acme 株式会社",
        {"company_id": "7"},
    )
    assert stored["livemode"] is False and isinstance(stored["created"], int)


def test_create_customer_without_email_leaves_it_out(gw, fake_stripe):
    customer_id = gw.create_customer(company_id=8, name="Beta", email="", key="customer-8")

    assert "email" not in fake_stripe.last_request("POST", "/v1/customers").params
    assert fake_stripe.customer(customer_id)["email"] is None


def test_checkout_asks_for_a_subscription_of_the_seats(gw, fake_stripe, customer):
    record = checkout(gw, customer, seats=3)

    request = fake_stripe.last_request("POST", "/v1/checkout/sessions")
    assert request.params == {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": "7",
        "line_items": [{"price": PRICE, "quantity": "3"}],
        "subscription_data": {"metadata": {"company_id": "7"}},
        "success_url": "https://engawa.example/billing/done",
        "cancel_url": "https://engawa.example/billing",
    }
    assert request.idempotency_key == "checkout-7"
    assert record.id.startswith("cs_test_")
    assert record == CheckoutRecord(
        id=record.id,
        url=f"{fake_stripe.url}/pay/{record.id}",
        status="open",
        customer=customer,
        subscription=None,
        company_id=7,
    )


def test_completed_checkout_reads_back_with_its_subscription_and_paid_invoice(
    gw, fake_stripe, customer
):
    session = checkout(gw, customer, seats=3)
    fake_stripe.complete_checkout(session.id)

    again = gw.checkout(session.id)
    assert (again.status, again.customer, again.company_id) == ("complete", customer, 7)
    assert again.subscription in fake_stripe.subscriptions
    subscription = gw.subscription(again.subscription)
    assert (subscription.status, subscription.seats, subscription.price_id) == (
        "active",
        3,
        PRICE,
    )
    assert subscription.collection_method == "charge_automatically"
    assert subscription.company_id == 7  # from subscription_data[metadata]
    [invoice] = gw.invoices_of(customer)
    assert (invoice.status, invoice.billing_reason, invoice.subscription) == (
        "paid",
        "subscription_create",
        subscription.id,
    )
    assert (invoice.total, invoice.amount_paid, invoice.seats) == (3 * UNIT, 3 * UNIT, 3)


def test_invoiced_subscription_sends_bank_transfer_terms(gw, fake_stripe, customer):
    record = invoiced(gw, customer, seats=3)

    request = fake_stripe.last_request("POST", "/v1/subscriptions")
    assert request.params == {
        "customer": customer,
        "items": [{"price": PRICE, "quantity": "3"}],
        "collection_method": "send_invoice",
        "days_until_due": "30",
        "metadata": {"company_id": "7"},
    }
    item = fake_stripe.subscription(record.id)["items"]["data"][0]
    assert record == SubscriptionRecord(
        id=record.id,
        customer=customer,
        status="active",
        price_id=PRICE,
        item_id=item["id"],
        seats=3,
        collection_method="send_invoice",
        current_period_start=at(item["current_period_start"]),
        current_period_end=at(item["current_period_end"]),
        cancel_at_period_end=False,
        company_id=7,
        read_at=record.read_at,
    )
    assert record.read_at is not None  # when we asked, to order concurrent reads
    assert record.item_id.startswith("si_")
    assert 28 <= (record.current_period_end - record.current_period_start).days <= 31


def test_invoiced_subscription_opens_an_invoice_due_in_30_days(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer, seats=3)

    [invoice] = gw.invoices_of(customer)
    assert (invoice.status, invoice.billing_reason, invoice.collection_method) == (
        "open",
        "subscription_create",
        "send_invoice",
    )
    assert (invoice.total, invoice.amount_due, invoice.amount_paid) == (3 * UNIT, 3 * UNIT, 0)
    assert (invoice.subscription, invoice.seats, invoice.price_id) == (subscription.id, 3, PRICE)
    assert invoice.due_date == invoice.created + timedelta(days=30)
    assert (invoice.period_start, invoice.period_end) == (
        subscription.current_period_start,
        subscription.current_period_end,
    )
    assert invoice.number.endswith("-0001")
    assert invoice.hosted_invoice_url == f"{fake_stripe.url}/invoice/{invoice.id}"


# --- changing -------------------------------------------------------------------------


def test_change_seats_updates_the_item_with_prorations(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer, seats=3)

    gw.change_seats(subscription, 5, key="seats-7-5")

    request = fake_stripe.last_request("POST", f"/v1/subscriptions/{subscription.id}")
    assert request.params == {
        "items": [{"id": subscription.item_id, "quantity": "5"}],
        "proration_behavior": "create_prorations",
    }
    assert request.idempotency_key == "seats-7-5"
    items = fake_stripe.subscription(subscription.id)["items"]["data"]
    assert [(item["id"], item["quantity"]) for item in items] == [(subscription.item_id, 5)]
    assert gw.subscription(subscription.id).seats == 5
    prorations = [item for item in fake_stripe.invoice_items.values() if item["proration"]]
    assert [(item["quantity"], item["amount"] < 0) for item in prorations] == [
        (3, True),
        (5, False),
    ]
    assert sum(item["amount"] for item in prorations) > 0


def test_cancel_at_period_end_keeps_the_subscription_until_the_period_ends(
    gw, fake_stripe, customer
):
    subscription = invoiced(gw, customer)

    gw.cancel_at_period_end(subscription.id, key="cancel-7")

    request = fake_stripe.last_request("POST", f"/v1/subscriptions/{subscription.id}")
    assert request.params == {"cancel_at_period_end": "true"}
    after = gw.subscription(subscription.id)
    assert (after.status, after.cancel_at_period_end) == ("active", True)
    assert at(fake_stripe.subscription(subscription.id)["cancel_at"]) == after.current_period_end
    assert fake_stripe.renew(subscription.id) is None  # the period ends: no invoice, canceled
    assert gw.subscription(subscription.id).status == "canceled"


def test_portal_url_is_the_session_url(gw, fake_stripe, customer):
    url = gw.portal_url(customer=customer, return_url="https://engawa.example/billing")

    request = fake_stripe.last_request("POST", "/v1/billing_portal/sessions")
    assert request.params == {"customer": customer, "return_url": "https://engawa.example/billing"}
    assert url.startswith(f"{fake_stripe.url}/portal/bps_")


def test_overage_item_amount_is_sent_in_yen_and_billed_on_the_renewal(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer, seats=3)

    item_id = gw.add_overage_item(
        customer=customer,
        subscription_id=subscription.id,
        amount=500,
        description="超過利用 1 日",
        key="overage-1",
    )

    request = fake_stripe.last_request("POST", "/v1/invoiceitems")
    assert request.params == {
        "customer": customer,
        "subscription": subscription.id,
        "amount": "500",  # ¥500, never 50000
        "currency": "jpy",
        "description": "超過利用 1 日",
    }
    item = fake_stripe.invoice_item(item_id)
    assert (item["object"], item["amount"], item["currency"], item["invoice"]) == (
        "invoiceitem",
        500,
        "jpy",
        None,
    )
    renewal = fake_stripe.renew(subscription.id)
    assert gw.invoice(renewal["id"]).total == 3 * UNIT + 500
    assert fake_stripe.invoice_item(item_id)["invoice"] == renewal["id"]


# --- reading back ---------------------------------------------------------------------


def test_subscription_period_comes_from_its_item(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer)
    assert "current_period_start" not in fake_stripe.subscription(subscription.id)  # not since 2025

    fake_stripe.renew(subscription.id)

    again = gw.subscription(subscription.id)
    item = fake_stripe.subscription(subscription.id)["items"]["data"][0]
    assert again.current_period_start == subscription.current_period_end
    assert again.current_period_start == at(item["current_period_start"])
    assert again.current_period_end == at(
        add_months(int(subscription.current_period_start.timestamp()), 2)
    )


def test_renewal_invoice_reads_subscription_seats_and_period_from_its_line(
    gw, fake_stripe, customer
):
    subscription = invoiced(gw, customer, seats=4)

    renewal = fake_stripe.renew(subscription.id, paid=False)

    assert "subscription" not in renewal  # only under parent.subscription_details
    record = gw.invoice(renewal["id"])
    assert (record.subscription, record.seats, record.price_id) == (subscription.id, 4, PRICE)
    assert (record.billing_reason, record.status, record.amount_due) == (
        "subscription_cycle",
        "open",
        4 * UNIT,
    )
    # The line's period is the new one; the invoice's own period_start/end is the old one.
    assert record.period_start == subscription.current_period_end
    assert record.period_end == gw.subscription(subscription.id).current_period_end
    assert record.due_date == subscription.current_period_end + timedelta(days=30)


@pytest.mark.parametrize("change", ["overage item", "seat change"])
def test_renewal_seats_ignore_prorations_and_one_off_items(gw, fake_stripe, customer, change):
    subscription = invoiced(gw, customer, seats=3)
    if change == "overage item":
        gw.add_overage_item(
            customer=customer,
            subscription_id=subscription.id,
            amount=500,
            description="超過利用",
            key="overage-1",
        )
        seats = 3
    else:
        gw.change_seats(subscription, 5, key="seats-7-5")
        seats = 5

    renewal = gw.invoice(fake_stripe.renew(subscription.id)["id"])

    assert (renewal.seats, renewal.price_id) == (seats, PRICE)
    assert renewal.period_start == subscription.current_period_end


def test_invoices_of_lists_that_customers_invoices_newest_first(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer)
    renewal = fake_stripe.renew(subscription.id)
    other = gw.create_customer(company_id=8, name="Beta", email="", key="customer-8")
    invoiced(gw, other, key="sub-8")

    records = gw.invoices_of(customer)

    first = fake_stripe.invoices_for(subscription.id)[0]
    assert [record.id for record in records] == [renewal["id"], first["id"]]
    assert fake_stripe.last_request("GET", "/v1/invoices").params == {
        "customer": customer,
        "limit": "100",
    }


@pytest.mark.parametrize(
    ("method", "object_id"),
    [("subscription", "sub_missing"), ("checkout", "cs_test_missing"), ("invoice", "in_missing")],
)
def test_an_unknown_id_is_a_gateway_error(gw, method, object_id):
    with pytest.raises(GatewayError, match=f"No such .*'{object_id}'") as raised:
        getattr(gw, method)(object_id)

    # Missing for good (resource_missing): the webhook stops asking Stripe to redeliver.
    assert type(raised.value) is ObjectMissing
    assert not isinstance(raised.value, stripe.StripeError)


def test_a_refused_api_key_is_a_gateway_error(fake_stripe):
    with pytest.raises(GatewayError, match="Invalid API Key"):
        make_gateway(fake_stripe, key="sk_test_wrong").subscription("sub_any")

    assert fake_stripe.requests[-1].status == 401


def test_the_fake_answers_in_stripes_error_shape(fake_stripe):
    request = urllib.request.Request(f"{fake_stripe.url}/v1/customers/cus_missing")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 (our own loopback server)
    with raised.value as answer:
        assert answer.code == 401
        error = json.loads(answer.read())["error"]
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]

    request.add_header("Authorization", f"Bearer {API_KEY}")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310
    with raised.value as answer:
        assert answer.code == 404
        error = json.loads(answer.read())["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")


# --- idempotency ----------------------------------------------------------------------


def test_a_timed_out_create_is_retried_and_makes_one_subscription(gw, fake_stripe, customer):
    fake_stripe.fail_next_after_create("/v1/subscriptions", seconds=1.5)  # the client waits 1 s

    record = invoiced(gw, customer, key="sub-7")

    posts = fake_stripe.requests_to("POST", "/v1/subscriptions")
    assert [(post.idempotency_key, post.replayed) for post in posts] == [
        ("sub-7", False),
        ("sub-7", True),
    ]
    assert list(fake_stripe.subscriptions) == [record.id]
    assert len(fake_stripe.invoices) == 1
    assert len(fake_stripe.events_of("customer.subscription.created")) == 1


def test_the_same_key_twice_returns_the_same_object(gw, fake_stripe, customer):
    first = invoiced(gw, customer, key="sub-7")
    second = invoiced(gw, customer, key="sub-7")
    same_customer = gw.create_customer(
        company_id=7, name="Acme 株式会社", email="billing@acme.example", key="customer-7"
    )

    assert second == first
    assert same_customer == customer
    assert list(fake_stripe.subscriptions) == [first.id]
    assert list(fake_stripe.customers) == [customer]
    assert [post.replayed for post in fake_stripe.requests_to("POST", "/v1/subscriptions")] == [
        False,
        True,
    ]


def test_a_key_reused_with_other_parameters_is_refused(gw, fake_stripe, customer):
    invoiced(gw, customer, seats=3, key="sub-7")

    with pytest.raises(GatewayError, match="same parameters"):
        invoiced(gw, customer, seats=4, key="sub-7")

    assert len(fake_stripe.subscriptions) == 1


# --- webhooks -------------------------------------------------------------------------


def test_verify_event_accepts_a_payload_signed_as_stripe_signs():
    payload, header = signed_event(
        "invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET, event_id="evt_1"
    )

    expected = EventRecord(id="evt_1", type="invoice.paid", object_id="in_1", object_type="invoice")
    assert verify_event(payload, header, SECRET) == expected
    assert make_gateway_offline().verify_event(payload, header) == expected
    stamp = int(header.split(",")[0][2:])
    sdk = stripe.WebhookSignature.generate_signature_header(payload.decode(), SECRET, stamp)
    assert header == sdk == sign_payload(payload, SECRET, stamp)
    assert json.loads(payload)["api_version"] == "2026-10-28.endive"


def make_gateway_offline() -> StripeGateway:
    """A gateway whose API is never called (verify_event is local)."""
    return StripeGateway(API_KEY, SECRET, api_base="http://127.0.0.1:9", timeout=1)


def _tampered():
    payload, header = signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET)
    return payload.replace(b"in_1", b"in_2"), header


def _wrong_secret():
    return signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, "whsec_other")


def _stale():
    old = int(time.time()) - 301
    return signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET, timestamp=old)


def _no_header():
    payload, _ = signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET)
    return payload, None


def _empty_header():
    payload, _ = signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET)
    return payload, ""


def _garbled_header():
    payload, _ = signed_event("invoice.paid", {"id": "in_1", "object": "invoice"}, SECRET)
    return payload, "v1=abc,nonsense"


@pytest.mark.parametrize(
    "make",
    [_tampered, _wrong_secret, _stale, _no_header, _empty_header, _garbled_header],
    ids=lambda make: make.__name__.strip("_"),
)
def test_verify_event_refuses_a_bad_signature(make):
    payload, header = make()

    with pytest.raises(SignatureError) as raised:
        verify_event(payload, header, SECRET)

    assert type(raised.value) is SignatureError


def test_event_snapshots_allow_out_of_order_delivery(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer, seats=3)
    older = fake_stripe.event_for("customer.subscription.updated", subscription.id)
    gw.change_seats(subscription, 5, key="seats-7-5")
    newer = fake_stripe.event_for("customer.subscription.updated", subscription.id)

    delivered = [sign_event(event, SECRET) for event in (newer, older)]  # newest first

    records = [verify_event(payload, header, SECRET) for payload, header in delivered]
    assert [record.id for record in records] == [newer["id"], older["id"]]
    quantities = [
        json.loads(payload)["data"]["object"]["items"]["data"][0]["quantity"]
        for payload, _ in delivered
    ]
    assert quantities == [5, 3]


def test_completing_checkout_records_the_events_stripe_sends(gw, fake_stripe, customer):
    session = checkout(gw, customer)
    already = len(fake_stripe.events)

    fake_stripe.complete_checkout(session.id)

    assert [event["type"] for event in fake_stripe.events[already:]] == [
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    [completed] = fake_stripe.events_of("checkout.session.completed")
    assert completed["data"]["object"]["subscription"] in fake_stripe.subscriptions
    [created] = fake_stripe.events_of("invoice.created")
    assert created["data"]["object"]["status"] == "draft"  # a snapshot, not the object now


def test_an_unpaid_renewal_is_past_due_until_paid(gw, fake_stripe, customer):
    session = checkout(gw, customer, seats=2)
    subscription_id = fake_stripe.complete_checkout(session.id)["subscription"]

    renewal = fake_stripe.renew(subscription_id, paid=False)

    assert gw.subscription(subscription_id).status == "past_due"
    assert (gw.invoice(renewal["id"]).status, renewal["amount_due"]) == ("open", 2 * UNIT)
    assert fake_stripe.events_of("invoice.payment_failed", renewal["id"])
    fake_stripe.pay_invoice(renewal["id"])
    assert gw.subscription(subscription_id).status == "active"
    assert (gw.invoice(renewal["id"]).status, gw.invoice(renewal["id"]).amount_paid) == (
        "paid",
        2 * UNIT,
    )


def test_parse_form_nests_the_sdk_encoding():
    body = (
        "items[0][price]=price_seat&items[0][quantity]=3&items[1][id]=si_1"
        "&metadata[company_id]=7&expand[]=a&expand[]=b&cancel_at_period_end=true"
    )

    assert parse_form(body) == {
        "items": [{"price": "price_seat", "quantity": "3"}, {"id": "si_1"}],
        "metadata": {"company_id": "7"},
        "expand": ["a", "b"],
        "cancel_at_period_end": "true",
    }


def test_the_gateway_never_sets_the_global_api_key(gw, fake_stripe, customer):
    subscription = invoiced(gw, customer)
    gw.subscription(subscription.id)
    gw.invoices_of(customer)

    assert stripe.api_key is None
    assert (
        fake_stripe.last_request("GET", "/v1/invoices").headers["Authorization"]
        == f"Bearer {API_KEY}"
    )
