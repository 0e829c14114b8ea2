"""Billing news for a company's admins, recorded as domain events in the same transaction as
the change: an invoice issued (once, however often the webhooks and the reconcile bring
it; never a draft), a payment failed (once per incident, with the end of the grace
period), and the stay credit running low (once per period, however many stays follow).

Stripe mode runs against the fake Stripe server through the real SDK and the real webhook
endpoint (as tests/billing/test_webhooks.py); the local backend delivers its own signed
events to the same endpoint; stays spend credit through the booking services.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from accounts.events import CREDIT_LOW, INVOICE_ISSUED, PAYMENT_FAILED, Event
from accounts.models import Company, Role, User
from billing import flows, ledger, provider_sync
from billing.models import CreditEntry, EntryKind, Invoice, Subscription
from billing.providers import gateway
from billing.settings import BillingSettings
from booking import cancellation
from booking import changes as booking_changes
from booking import services as booking
from tests.billing.fakestripe import FakeStripe
from tests.billing.test_webhooks import (
    API_KEY,
    LITE_FEE,
    LOOPBACK,
    PRICES,
    SECRET,
    STANDARD_FEE,
    at,
    deliver,
    deliver_since,
    subscribed_by_card,
)
from tests.conftest import NOW, TODAY, plan_named

NIGHT_PRICE = 9_500  # the test room's base price (no demand pricing run)
GRANT = 100_000


# --- fixtures -------------------------------------------------------------------------------


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
    """The ``app`` fixture switched to the Stripe backend, pointed at the fake."""
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
def new_company(db, make_company):
    """An unsubscribed company whose admin subscribes."""
    company = make_company(subscribed=False, name="Acme")
    plan_named("lite")
    plan_named("standard")
    db.session.commit()
    return company


@pytest.fixture
def admin(make_user, new_company):
    return make_user(Role.COMPANY_ADMIN, company=new_company, email="admin@acme.example")


def settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def events(db, type_: str) -> list[Event]:
    db.session.commit()
    return list(db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def invoice_rows(db, company_id: int) -> list[Invoice]:
    db.session.commit()
    return list(
        db.session.scalars(
            select(Invoice).where(Invoice.company_id == company_id).order_by(Invoice.id)
        )
    )


def subscribe(company: Company, admin: User, method: str, seats: int = 3) -> str | None:
    return flows.subscribe(
        company.id,
        admin.id,
        plan_named("standard").id,
        seats,
        method,
        NOW,
        success_url="https://engawa.example/company/billing?checkout=done",
        cancel_url="https://engawa.example/company/billing?checkout=cancelled",
        settings=settings(),
    )


def grace_until(since: datetime) -> str:
    days = current_app.config["BILLING_GRACE_DAYS"]
    return (since.astimezone(UTC) + timedelta(days=days)).isoformat()


# --- invoice issued -------------------------------------------------------------------------


def test_a_paid_invoice_is_issued_once_through_webhooks_redeliveries_and_reconcile(
    db, client, fake, stripe_app, new_company, admin
):
    stripe_id = subscribed_by_card(db, client, fake, new_company.id, admin.id)

    [invoice] = invoice_rows(db, new_company.id)
    [event] = events(db, INVOICE_ISSUED)
    assert event.company_id == new_company.id
    assert (event.subject_type, event.subject_id) == ("invoice", invoice.id)
    assert event.facts == {} and event.dedupe_key == f"invoice:{invoice.id}"
    assert event.operator_id is None and event.user_id is None

    # Seen again: every event delivered a second time, then the nightly reconcile.
    deliver_since(client, fake)
    provider_sync.reconcile(NOW + timedelta(hours=1), settings=settings())
    assert invoice_rows(db, new_company.id)[0].status == "paid"
    assert len(events(db, INVOICE_ISSUED)) == 1

    # The next period's invoice is another one, brought by the reconcile alone.
    renewal_at = at(fake.subscription(stripe_id)["items"]["data"][0]["current_period_end"])
    fake.renew(stripe_id)  # its events are lost
    provider_sync.reconcile(renewal_at, settings=settings())
    deliver_since(client, fake)  # … and every event turns up after all
    issued = events(db, INVOICE_ISSUED)
    assert [e.subject_id for e in issued] == [i.id for i in invoice_rows(db, new_company.id)]
    assert len(issued) == 2


def test_a_draft_invoice_is_not_issued_until_it_is_finalized(
    db, client, fake, stripe_app, new_company, admin
):
    stripe_id = subscribed_by_card(db, client, fake, new_company.id, admin.id)
    assert len(events(db, INVOICE_ISSUED)) == 1  # the first period's
    stamp = fake.now()
    # A draft at the provider (as Stripe holds a renewal's invoice for an hour).
    with fake.lock:
        sub = fake.subscriptions[stripe_id]
        item = sub["items"]["data"][0]
        draft = fake._new_invoice(
            sub,
            "manual",
            now=stamp,
            period=(item["current_period_start"], item["current_period_end"]),
            include_pending=False,
            include_subscription=True,
        )
    response = deliver(client, fake.event_for("invoice.updated", draft["id"]))
    assert response.status_code == 200 and response.get_json()["outcome"] == "handled"
    provider_sync.reconcile(NOW + timedelta(hours=1), settings=settings())

    row = db.session.scalar(select(Invoice).where(Invoice.stripe_invoice_id == draft["id"]))
    assert row.status == "draft"
    assert len(events(db, INVOICE_ISSUED)) == 1

    mark = len(fake.events)
    with fake.lock:
        fake._finalize(fake.invoices[draft["id"]], stamp + 3600)
    deliver_since(client, fake, mark)
    deliver_since(client, fake, mark)  # twice

    db.session.refresh(row)
    assert row.status == "open"
    issued = events(db, INVOICE_ISSUED)
    assert [e.subject_id for e in issued][1:] == [row.id]


def test_an_invoice_sent_by_the_local_backend_is_issued_once_when_sent(db, new_company, admin):
    assert subscribe(new_company, admin, "invoice") is None  # its events delivered at once

    [invoice] = invoice_rows(db, new_company.id)
    assert invoice.status == "open"
    [event] = events(db, INVOICE_ISSUED)
    assert (event.company_id, event.subject_id) == (new_company.id, invoice.id)
    stripe_invoice = invoice.stripe_invoice_id
    db.session.commit()  # (SQLite: the local backend writes in a session of its own)

    gateway().pay_invoice(stripe_invoice)  # the bank transfer arrives
    provider_sync.reconcile(NOW, settings=settings())
    assert invoice_rows(db, new_company.id)[0].status == "paid"
    assert len(events(db, INVOICE_ISSUED)) == 1


# --- payment failed -------------------------------------------------------------------------


def test_a_failed_renewal_is_one_payment_failed_per_incident(
    db, client, fake, stripe_app, new_company, admin
):
    stripe_id = subscribed_by_card(db, client, fake, new_company.id, admin.id)
    assert events(db, PAYMENT_FAILED) == []
    renewal_at = at(fake.subscription(stripe_id)["items"]["data"][0]["current_period_end"])

    mark = len(fake.events)
    renewal = fake.renew(stripe_id, paid=False)
    stripe_app.config["FIXED_NOW"] = renewal_at  # the webhooks arrive then
    deliver_since(client, fake, mark)

    sub = ledger.account_of(new_company.id).subscription
    assert (sub.status, sub.past_due_since) == ("past_due", renewal_at)
    [event] = events(db, PAYMENT_FAILED)
    assert event.company_id == new_company.id
    assert event.facts == {"grace_until": grace_until(renewal_at)}
    assert event.dedupe_key == f"payment_failed:{sub.id}:{renewal_at.isoformat()}"

    # The card retried and failed again, a redelivery, the reconcile: the same incident.
    mark = len(fake.events)
    fake.fail_invoice_payment(renewal["id"], now=renewal_at + timedelta(days=3))
    stripe_app.config["FIXED_NOW"] = renewal_at + timedelta(days=3)
    deliver_since(client, fake, mark)
    deliver_since(client, fake)
    provider_sync.reconcile(renewal_at + timedelta(days=4), settings=settings())
    assert len(events(db, PAYMENT_FAILED)) == 1

    # Paid: the incident is over. The next renewal fails too: a new incident.
    paid_at = renewal_at + timedelta(days=5)
    mark = len(fake.events)
    fake.pay_invoice(renewal["id"], now=paid_at)
    stripe_app.config["FIXED_NOW"] = paid_at
    deliver_since(client, fake, mark)
    assert ledger.account_of(new_company.id).subscription.past_due_since is None
    assert len(events(db, PAYMENT_FAILED)) == 1

    next_at = at(fake.subscription(stripe_id)["items"]["data"][0]["current_period_end"])
    mark = len(fake.events)
    fake.renew(stripe_id, paid=False)
    stripe_app.config["FIXED_NOW"] = next_at
    deliver_since(client, fake, mark)
    first, second = events(db, PAYMENT_FAILED)
    assert second.facts == {"grace_until": grace_until(next_at)}
    assert second.dedupe_key != first.dedupe_key


def test_a_failed_card_payment_at_the_local_backend_is_one_event(db, new_company, admin):
    url = subscribe(new_company, admin, "card")
    db.session.commit()
    gateway().complete_checkout(url.rsplit("/", 1)[1])
    account = ledger.account_of(new_company.id)
    customer, end = account.stripe_customer_id, account.subscription.current_period_end
    db.session.commit()

    gateway().set_fail_next_payment(customer, True)
    gateway().run_cycle(end + timedelta(minutes=1))
    provider_sync.reconcile(NOW, settings=settings())

    sub = db.session.scalar(select(Subscription).where(Subscription.company_id == new_company.id))
    assert sub.status == "past_due"
    [event] = events(db, PAYMENT_FAILED)
    assert event.company_id == new_company.id
    assert event.facts == {"grace_until": grace_until(sub.past_due_since)}


def test_an_active_subscription_makes_no_payment_failed(db, new_company, admin):
    url = subscribe(new_company, admin, "card")
    db.session.commit()
    gateway().complete_checkout(url.rsplit("/", 1)[1])
    provider_sync.reconcile(NOW, settings=settings())
    assert ledger.account_of(new_company.id).subscription.status == "active"
    assert events(db, PAYMENT_FAILED) == []


# --- credit low -----------------------------------------------------------------------------


@pytest.fixture
def spender(db, make_company, make_user, make_unit):
    """An employee of a company granted GRANT yen, and a room at NIGHT_PRICE a night."""
    company = make_company(credit=GRANT, max_nights_per_month=60)
    employee = make_user(Role.EMPLOYEE, company=company)
    unit = make_unit(base_price=NIGHT_PRICE, capacity=2)
    return company, employee.id, unit.id


def stay(db, employee_id: int, unit_id: int, start: int, nights: int, now=NOW):
    check_in = TODAY + timedelta(days=start)
    made = booking.book_stay(
        db.session.get(User, employee_id),
        booking.StayRequest(unit_id, check_in, check_in + timedelta(days=nights), 1),
        now,
    )
    db.session.commit()
    return made


def balance(db, company_id: int) -> int:
    db.session.commit()
    return ledger.account_of(company_id).credit_balance


def latest_grant_id(db, company_id: int) -> int:
    return db.session.scalar(
        select(CreditEntry.id)
        .where(CreditEntry.company_id == company_id, CreditEntry.kind == EntryKind.GRANT)
        .order_by(CreditEntry.id.desc())
        .limit(1)
    )


def new_period(db, company_id: int, amount: int, seq: int) -> None:
    """A paid period invoice grants the next period's credit (as apply_invoice does)."""
    account = ledger.account_of(company_id, lock=True)
    invoice = Invoice(
        company_id=company_id,
        stripe_invoice_id=f"in_events_{company_id}_{seq}",
        status="paid",
        total=amount,
        created_at=NOW,
    )
    db.session.add(invoice)
    db.session.flush()
    ledger.grant_period(account, amount, NOW, invoice_id=invoice.id, period_start=TODAY)
    db.session.commit()


def test_credit_below_a_tenth_of_the_grant_is_news_once_per_period(db, spender):
    company, employee_id, unit_id = spender
    first_stay = stay(db, employee_id, unit_id, 10, 9)  # 85,500: 14,500 left
    assert balance(db, company.id) == 14_500
    assert events(db, CREDIT_LOW) == []

    stay(db, employee_id, unit_id, 20, 1)  # 5,000 left: below 10,000
    [event] = events(db, CREDIT_LOW)
    assert event.company_id == company.id
    assert event.facts == {"balance": 5_000, "grant": GRANT}
    assert event.dedupe_key == f"credit_low:{company.id}:{latest_grant_id(db, company.id)}"

    # A cancellation gives credit back, more stays spend it again, the next day too:
    # still the same period, so no more news.
    cancellation.cancel_booking(db.session.get(User, employee_id), first_stay.id, NOW)
    db.session.commit()
    assert balance(db, company.id) == 90_500
    stay(db, employee_id, unit_id, 30, 8)  # 14,500 left
    stay(db, employee_id, unit_id, 40, 1, now=NOW + timedelta(days=1))  # 5,000 left
    assert balance(db, company.id) == 5_000
    assert len(events(db, CREDIT_LOW)) == 1

    # The next period: low again is news again, with that period's grant.
    new_period(db, company.id, GRANT, 1)
    assert balance(db, company.id) == 5_000 + GRANT  # one period carried over
    stay(db, employee_id, unit_id, 50, 10)  # 95,000: 10,000 left, a tenth exactly
    assert len(events(db, CREDIT_LOW)) == 1
    stay(db, employee_id, unit_id, 61, 1)  # 500 left
    first, second = events(db, CREDIT_LOW)
    assert second.facts == {"balance": 500, "grant": GRANT}
    assert second.dedupe_key == f"credit_low:{company.id}:{latest_grant_id(db, company.id)}"
    assert second.dedupe_key != first.dedupe_key


def test_a_change_that_charges_the_last_credit_is_news(db, spender):
    company, employee_id, unit_id = spender
    held = stay(db, employee_id, unit_id, 10, 8)  # 76,000: 24,000 left
    check_in = held.check_in

    booking_changes.change_booking(
        db.session.get(User, employee_id),
        held.id,
        booking.StayRequest(unit_id, check_in, check_in + timedelta(days=9), 1),
        NOW,
    )
    db.session.commit()
    assert balance(db, company.id) == 14_500
    assert events(db, CREDIT_LOW) == []

    booking_changes.change_booking(
        db.session.get(User, employee_id),
        held.id,
        booking.StayRequest(unit_id, check_in, check_in + timedelta(days=10), 1),
        NOW,
    )
    db.session.commit()
    [event] = events(db, CREDIT_LOW)
    assert event.facts == {"balance": 5_000, "grant": GRANT}

    # Shortened again (a refund): the balance rises, nothing new is said.
    booking_changes.change_booking(
        db.session.get(User, employee_id),
        held.id,
        booking.StayRequest(unit_id, check_in, check_in + timedelta(days=8), 1),
        NOW,
    )
    db.session.commit()
    assert balance(db, company.id) == 24_000
    assert len(events(db, CREDIT_LOW)) == 1


def test_a_refused_stay_says_nothing_of_low_credit(db, spender):
    company, employee_id, unit_id = spender
    with pytest.raises(booking.BillingRefused):
        stay(db, employee_id, unit_id, 10, 11)  # 104,500: more than the credit
    db.session.rollback()
    assert balance(db, company.id) == GRANT
    assert events(db, CREDIT_LOW) == []
