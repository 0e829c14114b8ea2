"""The provider's side of an employee's card payment of their part of a stay (co-pay):
a Checkout in payment mode and refunds of its payment, through the Stripe gateway
against the fake over HTTP (the real SDK's requests) and through the local backend.

The booking side (a stay confirmed on payment, refunds split) is tests/booking/test_copay.py.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from billing.providers.base import GatewayError
from billing.providers.local import LocalGateway
from billing.providers.stripe import StripeGateway
from tests.billing.fakestripe import FakeStripe
from tests.conftest import NOW

API_KEY = "sk_test_123"
SECRET = "whsec_test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CLOCK = int(NOW.timestamp())
METADATA = {"booking_id": "41", "stay_payment_id": "7"}


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
    with FakeStripe(api_key=API_KEY, clock=NOW) as server:
        yield server


@pytest.fixture
def gw(fake):
    return StripeGateway(API_KEY, SECRET, api_base=fake.url, timeout=2, max_network_retries=1)


def pay_checkout(
    gateway, *, amount=12_000, minutes=35, key="engawa-stay-payment-7", email="a@x.jp"
):
    return gateway.create_payment_checkout(
        amount=amount,
        name="宿泊費（自己負担分）",
        description="テスト保養所 2026/12/11–2026/12/13",
        email=email,
        metadata=METADATA,
        success_url="https://engawa.example/stays/41/paid",
        cancel_url="https://engawa.example/stays/41",
        expires_at=NOW + timedelta(minutes=minutes),
        key=key,
    )


# --- Stripe, over HTTP ---------------------------------------------------------------------


def test_a_payment_checkout_sends_one_yen_line_our_ids_and_the_hold_as_its_end(gw, fake):
    record = pay_checkout(gw)

    request = fake.last_request("POST", "/v1/checkout/sessions")
    assert request.idempotency_key == "engawa-stay-payment-7"
    assert request.params == {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": "12000",  # yen: JPY has no minor unit
                    "product_data": {
                        "name": "宿泊費（自己負担分）",
                        "description": "テスト保養所 2026/12/11–2026/12/13",
                    },
                },
                "quantity": "1",
            }
        ],
        "payment_method_types": ["card"],
        "metadata": METADATA,
        "payment_intent_data": {"metadata": METADATA},
        "success_url": "https://engawa.example/stays/41/paid",
        "cancel_url": "https://engawa.example/stays/41",
        "expires_at": str(CLOCK + 35 * 60),
        "customer_email": "a@x.jp",
    }
    assert (record.mode, record.status, record.payment_status) == ("payment", "open", "unpaid")
    assert (record.amount_total, record.booking_id, record.stay_payment_id) == (12_000, 41, 7)
    assert record.expires_at == NOW + timedelta(minutes=35)
    assert record.url == f"{fake.url}/pay/{record.id}"


def test_a_double_click_makes_one_session(gw, fake):
    first = pay_checkout(gw)
    again = pay_checkout(gw)
    assert again.id == first.id
    assert len(fake.checkout_sessions) == 1


def test_a_session_closing_sooner_than_30_minutes_is_refused(gw, fake):
    with pytest.raises(GatewayError):
        pay_checkout(gw, minutes=20)
    assert fake.checkout_sessions == {}


def test_a_paid_session_reads_back_with_its_payment_intent(gw, fake):
    session = pay_checkout(gw)
    fake.complete_checkout(session.id)

    paid = gw.checkout(session.id)
    assert (paid.status, paid.payment_status, paid.mode) == ("complete", "paid", "payment")
    intent = fake.snapshot(paid.payment_intent)
    assert (intent["amount_received"], intent["currency"]) == (12_000, "jpy")
    assert intent["metadata"] == METADATA
    assert [e["type"] for e in fake.events_of(object_id=session.id)] == [
        "checkout.session.completed"
    ]


def test_a_session_past_its_end_cannot_be_paid(gw, fake):
    session = pay_checkout(gw)
    fake.advance(35 * 60)
    with pytest.raises(ValueError, match="expired"):
        fake.complete_checkout(session.id)


def test_refunds_add_up_and_never_exceed_the_payment(gw, fake):
    session = pay_checkout(gw)
    intent = fake.complete_checkout(session.id)["payment_intent"]

    first = gw.refund_payment(intent, 5_000, key="r-1", metadata=METADATA)
    assert gw.refund_payment(intent, 5_000, key="r-1", metadata=METADATA) == first  # a retry
    assert gw.refunded_amount(intent) == 5_000
    request = fake.last_request("POST", "/v1/refunds")
    assert request.params == {
        "payment_intent": intent,
        "amount": "5000",
        "reason": "requested_by_customer",
        "metadata": METADATA,
    }
    with pytest.raises(GatewayError):
        gw.refund_payment(intent, 7_001, key="r-2", metadata=METADATA)
    gw.refund_payment(intent, 7_000, key="r-3", metadata=METADATA)
    assert gw.refunded_amount(intent) == 12_000 == fake.refunded_of(intent)
    with pytest.raises(GatewayError):
        gw.refund_payment(intent, 1, key="r-4", metadata=METADATA)


def test_refunds_of_an_unknown_payment_are_refused(gw):
    with pytest.raises(GatewayError):
        gw.refund_payment("pi_nothing", 100, key="r-x", metadata=METADATA)


# --- the local backend ---------------------------------------------------------------------


@pytest.fixture
def local(app):
    return LocalGateway(app.config["STRIPE_WEBHOOK_SECRET"])


def test_the_local_backend_simulates_a_payment_checkout_and_its_refunds(db, local):
    session = pay_checkout(local)
    assert pay_checkout(local).id == session.id  # keyed as at Stripe
    assert (session.mode, session.status, session.amount_total) == ("payment", "open", 12_000)
    assert session.url == f"/billing/local/pay/{session.id}"
    assert session.expires_at == NOW + timedelta(minutes=35)

    paid = local.complete_checkout(session.id)
    record = local.checkout(session.id)
    assert (record.status, record.payment_status) == ("complete", "paid")
    assert record.payment_intent == paid["payment_intent"]
    assert local.complete_checkout(session.id)["payment_intent"] == record.payment_intent  # once

    intent = record.payment_intent
    assert local.refunded_amount(intent) == 0
    refund = local.refund_payment(intent, 4_000, key="r-1", metadata=METADATA)
    assert local.refund_payment(intent, 4_000, key="r-1", metadata=METADATA) == refund
    assert local.refunded_amount(intent) == 4_000
    with pytest.raises(GatewayError):
        local.refund_payment(intent, 8_001, key="r-2", metadata=METADATA)
    local.refund_payment(intent, 8_000, key="r-3", metadata=METADATA)
    assert local.refunded_amount(intent) == 12_000


def test_the_local_backend_keeps_stripes_bounds_and_end(db, local, monkeypatch):
    with pytest.raises(GatewayError):
        pay_checkout(local, minutes=29)
    with pytest.raises(GatewayError):
        pay_checkout(local, minutes=25 * 60, key="too-long")
    with pytest.raises(GatewayError):
        pay_checkout(local, amount=0, key="nothing")

    session = pay_checkout(local)
    later = NOW + timedelta(minutes=36)
    monkeypatch.setattr("billing.providers.local.edge_now", lambda: later)
    ended = local.complete_checkout(session.id)  # too late: it expires, nothing is paid
    assert (ended["status"], ended["payment_intent"]) == ("expired", None)
    assert local.checkout(session.id).status == "expired"


def test_the_local_backend_expires_an_open_session(db, local):
    session = pay_checkout(local)
    local.expire_checkout(session.id)
    assert local.checkout(session.id).status == "expired"
    assert local.complete_checkout(session.id)["status"] == "expired"
