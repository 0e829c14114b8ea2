"""The embedded default: the local backend simulates the provider, and its signed
events travel through the real webhook endpoint into the same handlers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from accounts.models import Role
from billing import flows, ledger
from billing.models import CreditEntry, Invoice, LocalEvent, StripeEvent, Subscription
from billing.providers import gateway
from billing.providers.local import add_month
from billing.services import BillingError
from billing.settings import BillingSettings
from tests.conftest import NOW, plan_named


def settings() -> BillingSettings:
    """What the edges would pass: the billing settings of the app in context."""
    return BillingSettings.from_config(current_app.config)


@pytest.fixture
def company(db, make_company):
    company = make_company(subscribed=False, name="Acme")
    plan_named("lite")
    plan_named("standard")
    db.session.commit()
    return company


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company)


def _subscribe(company, admin, method="card", seats=3, plan="standard"):
    return flows.subscribe(
        company.id,
        admin.id,
        plan_named(plan).id,
        seats,
        method,
        NOW,
        success_url="/company/billing?checkout=done",
        cancel_url="/company/billing?checkout=cancelled",
        settings=settings(),
    )


def _pay(db, url: str) -> None:
    """The admin pays on the test-mode Checkout page (no transaction of ours open)."""
    db.session.commit()
    gateway().complete_checkout(url.rsplit("/", 1)[1])


def test_card_checkout_subscribes_and_grants_the_first_period(db, company, admin):
    url = _subscribe(company, admin)
    assert url.startswith("/billing/local/checkout/cs_local_")
    assert ledger.account_of(company.id).subscription is None  # nothing until paid

    _pay(db, url)

    account = ledger.account_of(company.id)
    sub = account.subscription
    assert (sub.status, sub.seats, sub.plan.code) == ("active", 3, "standard")
    assert account.credit_balance == 3 * 15_000
    invoice = db.session.scalar(select(Invoice).where(Invoice.company_id == company.id))
    assert (invoice.status, invoice.total, invoice.billing_reason) == (
        "paid",
        3 * 8_000,
        "subscription_create",
    )
    # Every event went through the endpoint and was recorded once.
    assert db.session.scalar(select(func.count()).select_from(LocalEvent)) == db.session.scalar(
        select(func.count()).select_from(StripeEvent)
    )
    assert (
        db.session.scalar(
            select(func.count()).select_from(LocalEvent).where(LocalEvent.delivered_at.is_(None))
        )
        == 0
    )


def test_double_click_on_subscribe_makes_one_checkout(db, company, admin):
    first = _subscribe(company, admin)
    second = _subscribe(company, admin)
    assert first == second


def test_invoice_payment_starts_at_once_and_grants_when_the_transfer_arrives(db, company, admin):
    assert _subscribe(company, admin, method="invoice", seats=2, plan="lite") is None
    account = ledger.account_of(company.id)
    assert account.subscription.status == "active"
    assert account.subscription.collection_method == "send_invoice"
    invoice = db.session.scalar(select(Invoice).where(Invoice.company_id == company.id))
    assert invoice.status == "open"
    assert invoice.due_date is not None
    assert account.credit_balance == 0
    invoice_id = invoice.stripe_invoice_id
    db.session.commit()

    gateway().pay_invoice(invoice_id)
    assert ledger.account_of(company.id).credit_balance == 2 * 5_000
    db.session.commit()
    # Paying again (a second click) grants nothing more.
    gateway().pay_invoice(invoice_id)
    db.session.expire_all()
    assert ledger.account_of(company.id).credit_balance == 2 * 5_000


def test_a_company_with_a_subscription_cannot_subscribe_again(db, company, admin):
    _pay(db, _subscribe(company, admin))
    with pytest.raises(BillingError):
        _subscribe(company, admin, seats=5)


def test_seats_change_and_cannot_go_below_people_enrolled(db, company, admin, make_user):
    _pay(db, _subscribe(company, admin, seats=3))
    make_user(Role.EMPLOYEE, company=company)
    flows.change_seats(company.id, 5, NOW, settings=settings())
    db.session.expire_all()
    assert ledger.account_of(company.id).subscription.seats == 5
    with pytest.raises(BillingError):
        flows.change_seats(company.id, 1, NOW, settings=settings())  # two people enrolled
    db.session.expire_all()
    assert ledger.account_of(company.id).subscription.seats == 5


def test_renewal_carries_unused_credit_over_once_then_expires_it(db, company, admin):
    _pay(db, _subscribe(company, admin, seats=1))
    sub = ledger.account_of(company.id).subscription
    end = sub.current_period_end
    db.session.commit()

    gateway().run_cycle(end + timedelta(minutes=1))  # period 2: 15,000 carried + 15,000
    db.session.expire_all()
    assert ledger.account_of(company.id).credit_balance == 30_000
    end = ledger.account_of(company.id).subscription.current_period_end
    db.session.commit()
    gateway().run_cycle(end + timedelta(minutes=1))  # period 1's credit expires
    db.session.expire_all()
    account = ledger.account_of(company.id)
    assert account.credit_balance == 30_000
    kinds = db.session.scalars(
        select(CreditEntry.kind)
        .where(CreditEntry.company_id == company.id)
        .order_by(CreditEntry.id)
    ).all()
    assert kinds == [
        "grant",
        "carry_over",
        "carry_over",
        "grant",
        "expiry",
        "carry_over",
        "carry_over",
        "grant",
    ]
    assert ledger.ledger_sum(company.id) == account.credit_balance


def test_cancel_at_period_end_ends_the_subscription_at_renewal(db, company, admin):
    _pay(db, _subscribe(company, admin))
    flows.cancel_at_period_end(company.id, NOW, settings=settings())
    db.session.expire_all()
    sub = ledger.account_of(company.id).subscription
    assert sub.cancel_at_period_end and sub.status == "active"
    end = sub.current_period_end
    db.session.commit()
    gateway().run_cycle(end + timedelta(minutes=1))
    db.session.expire_all()
    assert ledger.account_of(company.id).subscription.status == "canceled"


def test_a_failed_card_payment_makes_the_subscription_past_due(db, company, admin):
    _pay(db, _subscribe(company, admin))
    account = ledger.account_of(company.id)
    customer, end = account.stripe_customer_id, account.subscription.current_period_end
    db.session.commit()
    gateway().set_fail_next_payment(customer, True)
    gateway().run_cycle(end + timedelta(minutes=1))
    db.session.expire_all()
    sub = db.session.scalar(select(Subscription).where(Subscription.company_id == company.id))
    assert sub.status == "past_due"
    assert sub.past_due_since is not None


def test_add_month_clamps_to_the_month_end():
    assert add_month(NOW.replace(month=1, day=31)).day == 28
    assert add_month(NOW.replace(month=12)).year == NOW.year + 1


def test_seats_back_and_forth_are_separate_changes(db, company, admin):
    _pay(db, _subscribe(company, admin, seats=10))
    for seats in (12, 10, 12):
        flows.change_seats(company.id, seats, NOW, settings=settings())
        db.session.expire_all()
        sub = ledger.account_of(company.id).subscription
        stripe_id = sub.stripe_subscription_id
        assert sub.seats == seats
        db.session.commit()
        assert gateway().subscription(stripe_id).seats == seats


def test_subscribing_again_after_a_cancelled_checkout_opens_a_new_one(db, company, admin):
    first = _subscribe(company, admin)
    db.session.commit()
    gateway().expire_checkout(first.rsplit("/", 1)[1])
    second = _subscribe(company, admin)
    assert second != first
    _pay(db, second)
    assert ledger.account_of(company.id).subscription.status == "active"


def test_an_open_checkout_is_offered_again_instead_of_a_new_one(db, company, admin):
    assert _subscribe(company, admin) == _subscribe(company, admin)


def test_billing_details_reach_the_provider(db, company, admin):
    _pay(db, _subscribe(company, admin))
    flows.save_billing_details(
        company.id,
        name="Acme 株式会社 経理部",
        address="東京都千代田区1-1",
        email="ap@acme.example",
    )
    account = ledger.account_of(company.id)
    customer_id = account.stripe_customer_id
    assert account.billing_name == "Acme 株式会社 経理部"
    db.session.commit()
    customer = gateway().raw(customer_id, "customer")
    assert (customer["name"], customer["email"]) == ("Acme 株式会社 経理部", "ap@acme.example")


def test_an_event_signed_outside_is_handled_like_the_local_backends_own(
    app, db, client, company, admin
):
    """The contract: the endpoint verifies with STRIPE_WEBHOOK_SECRET under the local backend
    too, so an event signed elsewhere with that secret is handled the same way."""
    from tests.billing.fakestripe import signed_event

    _pay(db, _subscribe(company, admin, seats=3))
    sub = ledger.account_of(company.id).subscription
    stripe_id, seats = sub.stripe_subscription_id, sub.seats
    db.session.commit()
    obj = gateway().raw(stripe_id, "subscription")
    secret = app.config["STRIPE_WEBHOOK_SECRET"]

    body, header = signed_event("customer.subscription.updated", obj, secret)
    answer = client.post(
        "/billing/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert (answer.status_code, answer.get_json()["outcome"]) == (200, "handled")
    again = client.post(
        "/billing/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )
    assert again.get_json()["outcome"] == "duplicate"

    forged, forged_header = signed_event("customer.subscription.deleted", obj, "whsec_wrong")
    refused = client.post(
        "/billing/stripe/webhook",
        data=forged,
        headers={"Stripe-Signature": forged_header, "Content-Type": "application/json"},
    )
    assert refused.status_code == 400
    db.session.expire_all()
    sub = ledger.account_of(company.id).subscription
    assert (sub.status, sub.seats) == ("active", seats)
