"""The employee's co-pay: a stay whose subsidy does not cover it waits for the employee's
card payment of their part, nothing charged; paid (through the local backend's test-mode
Checkout, or the Stripe fake over HTTP and its signed webhook), it is confirmed and the
company's part charged once; a payment that comes after the hold ran out is refunded in
full; a cancellation splits its refund between the company's credit and the card; the
fiscal-year cap holds when one employee books twice at once.

Every test runs on SQLite and on PostgreSQL. The subsidy: ¥5,000 a night (fixed), so a
room at ¥11,000 costs the company ¥15,000 and the employee ¥18,000 for three nights.
"""

from __future__ import annotations

import re
import socket
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts.mail import OutgoingMail, body_of
from accounts.models import Role, User
from availability.models import Occupancy
from billing import copay as provider_copay
from billing.models import CreditEntry, EntryKind, PaymentStatus, StayPayment, StripeEvent
from billing.providers import gateway, local_gateway
from booking import cancellation, changes, copay, holds, operator_moves, services
from booking.models import Booking, BookingStatus
from hr.models import GroupPolicy
from notifications.dispatch import dispatch_events
from operations import invariants
from tests.billing.fakestripe import FakeStripe, sign_event
from tests.booking.test_race import race
from tests.conftest import NOW, TODAY, bearer, days, signed_in

PRICE = 11_000
SUBSIDY = 5_000
NIGHTS = 3
TOTAL = PRICE * NIGHTS  # 33,000
COMPANY_PART = SUBSIDY * NIGHTS  # 15,000
EMPLOYEE_PART = TOTAL - COMPANY_PART  # 18,000
API_KEY = "sk_test_123"
SECRET = "whsec_test"
WEBHOOK = "/billing/stripe/webhook"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    """A company paying ¥5,000 a night of its employees' stays; an employee, a colleague,
    the company's admin, an employee of another company; a room at ¥11,000 and its
    operator."""
    company = make_company(name="株式会社自己負担")
    db.session.add(
        GroupPolicy(
            company_id=company.id, employee_group="", subsidy_kind="fixed", subsidy_amount=SUBSIDY
        )
    )
    unit = make_unit(base_price=PRICE, capacity=2)
    world = SimpleNamespace(
        company=company,
        employee=make_user(Role.EMPLOYEE, company=company, email="emi@jiko.example", locale="en"),
        colleague=make_user(Role.EMPLOYEE, company=company, locale="en"),
        admin=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        outsider=make_user(Role.EMPLOYEE, locale="en"),
        unit=unit,
        operator=make_user(Role.OPERATOR, operator=unit.facility.operator),
    )
    db.session.commit()
    return world


def book(db, user: User, unit_id: int, start: int = 10, end: int = 10 + NIGHTS) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit_id, days(start), days(end), 1), NOW
    )
    db.session.commit()
    return booking


def fresh(db, booking_id: int) -> Booking:
    db.session.rollback()
    return db.session.get(Booking, booking_id)


def payment_of(db, booking_id: int) -> StayPayment:
    db.session.rollback()
    return db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking_id))


def entries_of(db, booking_id: int) -> list[tuple[str, int]]:
    db.session.rollback()
    return [
        tuple(row)
        for row in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id)
            .order_by(CreditEntry.id)
        )
    ]


def held_nights(db, booking_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking_id)
    )


def assert_books_straight(db) -> None:
    db.session.rollback()
    assert invariants.check(db.session, TODAY) == []
    db.session.rollback()


def pay_locally(browser, booking_id: int):
    """The employee pays their part in the local backend's test-mode Checkout; the answer
    of the return page (a redirect to the stay)."""
    response = browser.post(f"/stays/{booking_id}/pay")
    assert response.status_code == 303, response.get_data(as_text=True)
    checkout = response.location
    assert checkout.startswith("/billing/local/pay/cs_local_")
    page = browser.get(checkout)
    assert page.status_code == 200
    assert "¥18,000" in page.get_data(as_text=True)
    paid = browser.post(checkout, data={"action": "pay"})
    assert paid.status_code == 303
    assert paid.location.endswith(f"/stays/{booking_id}/paid")
    return browser.get(paid.location)


# --- waiting for the card -------------------------------------------------------------------


def test_a_stay_beyond_the_subsidy_waits_for_the_employees_card_and_charges_nothing(db, world):
    booking = book(db, world.employee, world.unit.id)

    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    assert (booking.total_price, booking.company_part, booking.employee_part) == (
        TOTAL,
        COMPANY_PART,
        EMPLOYEE_PART,
    )
    assert booking.hold_expires_at == NOW + copay.PAYMENT_HOLD
    assert held_nights(db, booking.id) == NIGHTS  # nobody else gets them meanwhile
    assert entries_of(db, booking.id) == []  # nothing charged
    payment = payment_of(db, booking.id)
    assert (payment.status, payment.amount, payment.refunded) == (
        PaymentStatus.OPEN,
        EMPLOYEE_PART,
        0,
    )

    browser = signed_in(current_app, world.employee)
    page = browser.get(f"/stays/{booking.id}").get_data(as_text=True)
    assert 'data-testid="pay"' in page
    assert "¥18,000" in page and "¥15,000" in page
    assert f'action="/stays/{booking.id}/pay"' in page


def test_paying_in_test_mode_confirms_the_stay_and_charges_the_company_part_once(db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(current_app, world.employee)

    back = pay_locally(browser, booking.id)

    assert back.status_code == 303
    assert back.location.endswith(f"/stays/{booking.id}")
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    assert fresh(db, booking.id).hold_expires_at is None
    assert entries_of(db, booking.id) == [(EntryKind.SPEND, -COMPANY_PART)]
    payment = payment_of(db, booking.id)
    assert payment.status == PaymentStatus.PAID
    assert payment.paid_at == NOW
    assert payment.stripe_payment_intent_id.startswith("pi_local_")
    page = browser.get(f"/stays/{booking.id}").get_data(as_text=True)
    assert "Your payment of ¥18,000 (tax incl.) was received and your stay is confirmed." in page
    assert 'data-status="paid"' in page and 'data-testid="pay"' not in page

    # The return page again, a second click, the event again: nothing more is charged.
    booking_id = booking.id
    browser.get(f"/stays/{booking_id}/paid")
    again = browser.post(f"/stays/{booking_id}/pay")
    assert again.status_code == 303 and again.location.endswith(f"/stays/{booking_id}")
    local_gateway().deliver_pending()
    assert entries_of(db, booking.id) == [(EntryKind.SPEND, -COMPANY_PART)]
    assert_books_straight(db)


def test_a_double_click_on_pay_opens_one_checkout(db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(current_app, world.employee)

    first = browser.post(f"/stays/{booking.id}/pay").location
    second = browser.post(f"/stays/{booking.id}/pay").location

    assert first == second
    assert payment_of(db, booking.id).stripe_session_id == first.rsplit("/", 1)[1]


def test_backing_out_of_the_checkout_keeps_the_stay_waiting(db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(current_app, world.employee)
    checkout = browser.post(f"/stays/{booking.id}/pay").location

    back = browser.post(checkout, data={"action": "cancel"})

    assert back.location.endswith(f"/stays/{booking.id}")
    assert fresh(db, booking.id).status == BookingStatus.AWAITING_PAYMENT
    page = browser.get(f"/stays/{booking.id}/paid", follow_redirects=True)
    assert "We have not received your payment yet." in page.get_data(as_text=True)
    assert browser.post(f"/stays/{booking.id}/pay").location == checkout  # the same one


def test_nobody_else_pays_or_sees_the_payment(db, world):
    booking = book(db, world.employee, world.unit.id)
    checkout = signed_in(current_app, world.employee).post(f"/stays/{booking.id}/pay").location
    for user in (world.colleague, world.outsider, world.admin):
        browser = signed_in(current_app, user)
        assert browser.post(f"/stays/{booking.id}/pay").status_code == 404
        assert browser.get(f"/stays/{booking.id}/paid").status_code == 404
        assert browser.get(checkout).status_code == 404
        assert browser.post(checkout, data={"action": "pay"}).status_code == 404
    assert browser.post("/stays/999999999999/pay").status_code == 404
    assert payment_of(db, booking.id).status == PaymentStatus.OPEN
    assert fresh(db, booking.id).status == BookingStatus.AWAITING_PAYMENT


def test_a_stay_not_waiting_for_payment_or_out_of_time_cannot_be_paid(db, world, make_user):
    browser = signed_in(current_app, world.employee)
    booking = book(db, world.employee, world.unit.id)
    row = fresh(db, booking.id)
    row.hold_expires_at = NOW - timedelta(seconds=1)  # the job has not run yet
    db.session.commit()

    refused = browser.post(f"/stays/{booking.id}/pay", follow_redirects=True)
    assert "The time to pay for this stay has run out." in refused.get_data(as_text=True)
    assert payment_of(db, booking.id).stripe_session_id is None  # no Checkout made

    # A stay the company pays in full never waits: nothing to pay.
    free_company = make_user(Role.EMPLOYEE, locale="en")
    confirmed = book(db, free_company, world.unit.id, 20, 22)
    assert fresh(db, confirmed.id).status == BookingStatus.CONFIRMED
    refused = signed_in(current_app, free_company).post(
        f"/stays/{confirmed.id}/pay", follow_redirects=True
    )
    assert "This stay is not waiting for your payment." in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(StayPayment)) == 1


def test_only_a_new_checkout_opened_late_lengthens_the_hold_to_stripes_minimum(db, world):
    booking = book(db, world.employee, world.unit.id)
    kwargs = {"success_url": "https://e.example/ok", "cancel_url": "https://e.example/no"}
    late = NOW + timedelta(minutes=10)  # 25 minutes left

    checkout = copay.start_payment(world.employee, booking.id, late, **kwargs)
    db.session.commit()
    assert checkout.expires_at == NOW + copay.PAYMENT_HOLD  # asking to pay changes nothing
    assert fresh(db, booking.id).hold_expires_at == NOW + copay.PAYMENT_HOLD
    assert (checkout.amount, checkout.email) == (EMPLOYEE_PART, "emi@jiko.example")

    # A new session is about to be made: then, and only then, the hold is lengthened.
    until = copay.hold_for_checkout(world.employee, booking.id, late)
    db.session.commit()
    assert until == late + copay.PAYMENT_HOLD == fresh(db, booking.id).hold_expires_at
    # 32 minutes left: enough for a session, kept as it is.
    early = late + timedelta(minutes=3)
    assert copay.hold_for_checkout(world.employee, booking.id, early) == until
    db.session.commit()
    assert fresh(db, booking.id).hold_expires_at == until


# --- Stripe, over HTTP --------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch):
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise OSError(f"a test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    with FakeStripe(api_key=API_KEY, clock=NOW) as server:
        yield server


@pytest.fixture
def stripe_app(app, fake):
    app.config.update(
        BILLING_BACKEND="stripe",
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRET=SECRET,
        STRIPE_API_BASE=fake.url,
    )
    app.extensions.pop("billing_gateway", None)
    yield app
    app.extensions.pop("billing_gateway", None)


def deliver(browser, event: dict) -> str:
    body, header = sign_event(event, SECRET)
    response = browser.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["outcome"]


def completed_events(fake: FakeStripe, session_id: str) -> list[dict]:
    return fake.events_of("checkout.session.completed", session_id)


def test_paying_at_stripe_confirms_the_stay_from_the_signed_webhook_once(
    db, stripe_app, fake, world
):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(stripe_app, world.employee)

    response = browser.post(f"/stays/{booking.id}/pay")

    assert response.status_code == 303
    session_id = payment_of(db, booking.id).stripe_session_id  # committed before the redirect
    assert response.location == f"{fake.url}/pay/{session_id}"
    request = fake.last_request("POST", "/v1/checkout/sessions")
    assert request.idempotency_key == f"engawa-stay-payment-{payment_of(db, booking.id).id}"
    assert request.params["mode"] == "payment"
    assert request.params["line_items"][0]["price_data"]["unit_amount"] == str(EMPLOYEE_PART)
    assert request.params["metadata"] == {
        "booking_id": str(booking.id),
        "stay_payment_id": str(payment_of(db, booking.id).id),
    }
    assert request.params["expires_at"] == str(int((NOW + copay.PAYMENT_HOLD).timestamp()))
    assert request.params["customer_email"] == "emi@jiko.example"
    assert request.params["success_url"].endswith(f"/stays/{booking.id}/paid")

    fake.complete_checkout(session_id)
    (event,) = completed_events(fake, session_id)
    assert deliver(browser, event) == "handled"

    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    assert entries_of(db, booking.id) == [(EntryKind.SPEND, -COMPANY_PART)]
    payment = payment_of(db, booking.id)
    assert payment.status == PaymentStatus.PAID
    assert payment.stripe_payment_intent_id == fake.snapshot(session_id)["payment_intent"]
    assert db.session.get(StripeEvent, event["id"]) is not None

    assert deliver(browser, event) == "duplicate"  # Stripe delivers twice
    # The return page after the webhook: says it is confirmed, changes nothing.
    page = browser.get(f"/stays/{booking.id}/paid", follow_redirects=True)
    assert "your stay is confirmed" in page.get_data(as_text=True)
    assert entries_of(db, booking.id) == [(EntryKind.SPEND, -COMPANY_PART)]
    assert_books_straight(db)


def test_the_return_page_confirms_a_paid_stay_before_its_webhook(db, stripe_app, fake, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(stripe_app, world.employee)
    browser.post(f"/stays/{booking.id}/pay")
    session_id = payment_of(db, booking.id).stripe_session_id
    fake.complete_checkout(session_id)

    page = browser.get(f"/stays/{booking.id}/paid", follow_redirects=True)

    assert "your stay is confirmed" in page.get_data(as_text=True)
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    (event,) = completed_events(fake, session_id)
    assert deliver(browser, event) == "handled"  # recorded; the payment was applied already
    assert entries_of(db, booking.id) == [(EntryKind.SPEND, -COMPANY_PART)]


def test_a_payment_after_the_hold_ran_out_is_refunded_in_full(db, stripe_app, fake, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(stripe_app, world.employee)
    browser.post(f"/stays/{booking.id}/pay")
    session_id = payment_of(db, booking.id).stripe_session_id
    # Paid at Stripe just in time; the event is late and the hold job was quicker.
    fake.complete_checkout(session_id, now=NOW + copay.PAYMENT_HOLD - timedelta(seconds=5))
    assert holds.expire_holds(NOW + copay.PAYMENT_HOLD) != ""
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    assert payment_of(db, booking.id).status == PaymentStatus.EXPIRED

    (event,) = completed_events(fake, session_id)
    assert deliver(browser, event) == "handled"

    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.EXPIRED  # the nights went to others meanwhile
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []  # the company pays nothing
    payment = payment_of(db, booking.id)
    assert (payment.status, payment.refunded) == (PaymentStatus.PAID, EMPLOYEE_PART)
    assert fake.refunded_of(payment.stripe_payment_intent_id) == EMPLOYEE_PART
    assert deliver(browser, event) == "duplicate"
    assert fake.refunded_of(payment.stripe_payment_intent_id) == EMPLOYEE_PART  # once
    page = browser.get(f"/stays/{booking.id}/paid", follow_redirects=True).get_data(as_text=True)
    assert "refunded to your card in full" in page
    assert_books_straight(db)


def test_a_refund_the_provider_refused_is_sent_by_the_reconcile(db, stripe_app, fake, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(stripe_app, world.employee)
    browser.post(f"/stays/{booking.id}/pay")
    session_id = payment_of(db, booking.id).stripe_session_id
    fake.complete_checkout(session_id)
    deliver(browser, completed_events(fake, session_id)[0])
    intent = payment_of(db, booking.id).stripe_payment_intent_id

    fake.api_key = "sk_test_other"  # the provider refuses every call for a while
    result = cancellation.cancel_booking(world.employee, booking.id, NOW)
    db.session.commit()
    assert result.employee_refunded == EMPLOYEE_PART
    assert provider_copay.send_owed_refund(result.payment_id) == 0  # refused: logged
    assert fake.refunded_of(intent) == 0

    fake.api_key = API_KEY
    assert provider_copay.settle_stay_refunds(NOW) == 1
    assert fake.refunded_of(intent) == EMPLOYEE_PART
    assert provider_copay.settle_stay_refunds(NOW) == 0  # nothing more owed


# --- cancelling a co-paid stay ---------------------------------------------------------------


def paid_stay(db, world, start: int = 10, end: int = 10 + NIGHTS):
    booking = book(db, world.employee, world.unit.id, start, end)
    browser = signed_in(current_app, world.employee)
    pay_locally(browser, booking.id)
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED
    return booking, browser


def last_mail_text(db, user: User) -> str:
    """The text of the newest mail to ``user``."""
    return body_of(
        db.session.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.user_id == user.id)
            .order_by(OutgoingMail.id.desc())
        ).first()
    )


def card_refunded(db, booking_id: int) -> int:
    """What the local backend has refunded of the stay's card payment."""
    intent = payment_of(db, booking_id).stripe_payment_intent_id
    db.session.rollback()  # on SQLite an open transaction holds the write lock
    return local_gateway().refunded_amount(intent)


def test_cancelling_while_free_gives_each_payer_everything_back(db, world):
    booking, browser = paid_stay(db, world)

    page = browser.get(f"/stays/{booking.id}/cancel").get_data(as_text=True)
    assert f'data-company-refund="{COMPANY_PART}"' in page
    assert f'data-employee-refund="{EMPLOYEE_PART}"' in page
    assert (
        "¥15,000 (tax incl.) returns to your company's credit and ¥18,000 (tax incl.)"
        " returns to your card" in page
    )

    response = browser.post(
        f"/stays/{booking.id}/cancel",
        data={"expected_refund": COMPANY_PART, "expected_employee_refund": EMPLOYEE_PART},
        follow_redirects=True,
    )

    outcome = response.get_data(as_text=True)
    assert "¥18,000 (tax incl.) of the part you paid is refunded to your card." in outcome
    assert fresh(db, booking.id).status == BookingStatus.CANCELLED
    assert entries_of(db, booking.id) == [
        (EntryKind.SPEND, -COMPANY_PART),
        (EntryKind.REFUND, COMPANY_PART),
    ]
    assert payment_of(db, booking.id).refunded == EMPLOYEE_PART
    assert card_refunded(db, booking.id) == EMPLOYEE_PART
    assert_books_straight(db)


def test_a_late_cancellation_splits_the_half_refund_by_the_parts(db, world):
    booking, browser = paid_stay(db, world, 2, 2 + NIGHTS)  # 50% back from today
    refund = TOTAL // 2  # 16,500
    company = refund * COMPANY_PART // TOTAL  # 7,500
    employee = refund - company  # 9,000

    page = browser.get(f"/stays/{booking.id}/cancel").get_data(as_text=True)
    assert f'data-company-refund="{company}"' in page
    assert f'data-employee-refund="{employee}"' in page
    assert "¥16,500 (tax incl.) (50%) is kept under the cancellation policy" in page

    # A refund other than the one shown is not made unseen.
    stale = browser.post(
        f"/stays/{booking.id}/cancel",
        data={"expected_refund": company, "expected_employee_refund": EMPLOYEE_PART},
    )
    assert stale.location.endswith(f"/stays/{booking.id}/cancel")
    assert fresh(db, booking.id).status == BookingStatus.CONFIRMED

    browser.post(
        f"/stays/{booking.id}/cancel",
        data={"expected_refund": company, "expected_employee_refund": employee},
    )

    assert fresh(db, booking.id).status == BookingStatus.CANCELLED
    assert entries_of(db, booking.id)[-1] == (EntryKind.REFUND, company)
    assert payment_of(db, booking.id).refunded == employee
    assert card_refunded(db, booking.id) == employee
    assert company + employee == refund
    assert_books_straight(db)


def test_a_stay_the_company_ends_gives_both_payers_everything_back(db, world):
    booking, _browser = paid_stay(db, world, 2, 2 + NIGHTS)  # late: still all back

    cancellation.cancel_future_stays(world.employee, NOW, actor_id=world.admin.id)
    db.session.commit()
    assert provider_copay.settle_stay_refunds(NOW) == 1  # no page sent it

    assert entries_of(db, booking.id)[-1] == (EntryKind.REFUND, COMPANY_PART)
    assert payment_of(db, booking.id).refunded == EMPLOYEE_PART
    assert card_refunded(db, booking.id) == EMPLOYEE_PART
    assert_books_straight(db)


def test_cancelling_a_stay_still_waiting_releases_it_and_charges_nothing(db, world):
    booking = book(db, world.employee, world.unit.id)
    browser = signed_in(current_app, world.employee)
    checkout = browser.post(f"/stays/{booking.id}/pay").location
    session_id = checkout.rsplit("/", 1)[1]

    page = browser.get(f"/stays/{booking.id}/cancel").get_data(as_text=True)
    assert "nothing has been charged" in page
    response = browser.post(f"/stays/{booking.id}/cancel", follow_redirects=True)

    assert "Nothing was charged." in response.get_data(as_text=True)
    booking = fresh(db, booking.id)
    assert (booking.status, booking.cancelled_at) == (BookingStatus.CANCELLED, NOW)
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert payment_of(db, booking.id).status == PaymentStatus.EXPIRED
    booking_id = booking.id
    db.session.rollback()
    assert gateway().checkout(session_id).status == "expired"  # it can no longer be paid
    assert browser.post(checkout, data={"action": "pay"}).status_code == 303
    assert payment_of(db, booking_id).status == PaymentStatus.EXPIRED
    assert_books_straight(db)


def test_a_payment_for_a_stay_cancelled_meanwhile_is_refunded(db, world):
    booking = book(db, world.employee, world.unit.id)
    cancellation.cancel_booking(world.employee, booking.id, NOW)
    db.session.commit()
    payment = payment_of(db, booking.id)

    outcome = copay.payment_received(
        payment.id,
        "cs_late",
        "pi_late",
        NOW,
        7,
        confirm=services.confirm_stay,
        release=holds.release_waiting,
    )
    db.session.commit()

    assert outcome == "refunded"
    payment = payment_of(db, booking.id)
    assert (payment.status, payment.refunded) == (PaymentStatus.PAID, EMPLOYEE_PART)
    assert fresh(db, booking.id).status == BookingStatus.CANCELLED
    assert entries_of(db, booking.id) == []


def test_a_paid_stay_the_company_can_no_longer_pay_for_is_released_and_refunded(
    db, world, make_company
):
    booking = book(db, world.employee, world.unit.id)
    account_sub = world.company  # its subscription ends while the employee pays
    from billing import ledger

    account = ledger.account_of(account_sub.id, lock=True)
    account.subscription.status = "canceled"
    db.session.commit()
    payment = payment_of(db, booking.id)

    outcome = copay.payment_received(
        payment.id,
        "cs_x",
        "pi_x",
        NOW,
        7,
        confirm=services.confirm_stay,
        release=holds.release_waiting,
    )
    db.session.commit()

    assert outcome == "refunded"
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert payment_of(db, booking.id).refunded == EMPLOYEE_PART
    # The employee is told their payment comes back, not that nothing was charged.
    dispatch_events(NOW)
    db.session.commit()
    told = last_mail_text(db, world.employee)
    assert "could not pay its part" in told
    assert "Your payment of ¥18,000 (tax incl.) is refunded in full to your card" in told
    assert "nothing was charged" not in told


# --- changes and moves of a co-paid stay -------------------------------------------------------


def test_a_co_paid_stay_is_not_changed_but_cancelled_and_booked_again(db, world):
    booking, browser = paid_stay(db, world)

    with pytest.raises(services.BookingError) as refused:
        changes.change_booking(
            world.employee,
            booking.id,
            services.StayRequest(world.unit.id, days(11), days(14), 1),
            NOW,
        )
    assert refused.value.code == "copaid"
    db.session.rollback()

    page = browser.get(f"/stays/{booking.id}/change", follow_redirects=True)
    assert "cancel it (your part is refunded to your card" in page.get_data(as_text=True)
    preview = browser.get(
        f"/stays/{booking.id}/change/preview",
        query_string={"unit_id": world.unit.id, "check_in": days(11), "check_out": days(14)},
        follow_redirects=True,
    )
    assert "cannot be changed here" in preview.get_data(as_text=True)
    assert fresh(db, booking.id).check_in == days(10)


def test_a_cheaper_move_gives_both_payers_their_share_back(db, world):
    booking, _browser = paid_stay(db, world)

    operator_moves.move_booking(world.operator, booking.id, world.unit.id, days(10), days(12), NOW)
    db.session.commit()

    booking = fresh(db, booking.id)
    dropped = PRICE  # one night fewer
    company = dropped * COMPANY_PART // TOTAL  # 5,000
    employee = dropped - company  # 6,000
    assert booking.total_price == TOTAL - dropped
    assert booking.employee_part == EMPLOYEE_PART - employee
    assert booking.company_part == COMPANY_PART - company
    assert booking.employee_part + booking.company_part == booking.total_price
    assert entries_of(db, booking.id)[-1] == (EntryKind.CHANGE, company)
    assert payment_of(db, booking.id).refunded == employee
    assert provider_copay.settle_stay_refunds(NOW) == 1
    assert card_refunded(db, booking.id) == employee
    assert_books_straight(db)


def test_the_operator_api_moves_a_co_paid_stay_cheaper_and_refunds_the_card_at_once(db, world):
    booking, _browser = paid_stay(db, world)

    answer = current_app.test_client().post(
        f"/api/v1/operator/bookings/{booking.id}/move",
        json={
            "unit_id": world.unit.id,
            "check_in": days(10).isoformat(),
            "check_out": days(12).isoformat(),
        },
        headers=bearer(db, world.operator),
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    employee = PRICE - PRICE * COMPANY_PART // TOTAL  # the card's share of one night
    assert card_refunded(db, booking.id) == employee  # sent without the job
    assert provider_copay.settle_stay_refunds(NOW) == 0  # nothing left owed


def test_the_operator_page_moves_a_co_paid_stay_cheaper_and_refunds_the_card_at_once(db, world):
    booking, _browser = paid_stay(db, world)
    desk = signed_in(current_app, world.operator)
    page = desk.get(
        f"/operator/bookings/{booking.id}/move",
        query_string={
            "unit_id": world.unit.id,
            "check_in": days(10).isoformat(),
            "check_out": days(12).isoformat(),
        },
    ).get_data(as_text=True)
    form = {
        name: value
        for name, value in re.findall(r'name="([a-z_]+)"(?: type="hidden")? value="([^"]*)"', page)
    }

    moved = desk.post(f"/operator/bookings/{booking.id}/move", data=form)

    assert moved.status_code == 303, moved.get_data(as_text=True)
    assert fresh(db, booking.id).check_out == days(12)
    assert card_refunded(db, booking.id) == PRICE - PRICE * COMPANY_PART // TOTAL


# --- the fiscal-year cap under concurrency ---------------------------------------------------


def test_two_bookings_at_once_never_spend_more_than_the_yearly_cap(db, world, make_unit):
    cap = 20_000  # less than the two stays' 30,000 of subsidy
    policy = db.session.scalar(
        select(GroupPolicy).where(GroupPolicy.company_id == world.company.id)
    )
    policy.annual_cap = cap
    other_unit = make_unit(facility=world.unit.facility, base_price=PRICE)
    units = [world.unit.id, other_unit.id]
    employee_id = world.employee.id
    app = current_app._get_current_object()
    db.session.commit()
    db.session.remove()  # on SQLite an open transaction holds the write lock

    def work(i: int, barrier: threading.Barrier):
        with app.app_context():
            try:
                barrier.wait()
                actor = db.session.get(User, employee_id)
                booking = services.book_stay(
                    actor,
                    services.StayRequest(units[i], days(10), days(10 + NIGHTS), 1),
                    NOW,
                )
                result = (booking.id, booking.total_price - booking.employee_part)
                db.session.commit()
                return result
            finally:
                db.session.remove()

    outcomes = race(2, work)

    assert all(isinstance(o[0], int) for o in outcomes), outcomes
    parts = sorted(part for _id, part in outcomes)
    assert parts == [cap - COMPANY_PART, COMPANY_PART]  # the second got what was left
    assert sum(parts) <= cap
    rows = db.session.scalars(select(Booking).where(Booking.user_id == employee_id)).all()
    assert sum(b.company_part for b in rows) == cap
    assert all(b.company_part + b.employee_part == b.total_price for b in rows)


# --- the hold: never longer by pressing "pay", never past the check-in day ------------------

PAY_URLS = {"success_url": "https://e.example/ok", "cancel_url": "https://e.example/no"}
END_OF_TODAY = NOW + timedelta(hours=12)  # 00:00 in Japan after TODAY; NOW is 12:00 there


def pay_at(db, user: User, booking_id: int, now) -> str | None:
    """What the pay button does at ``now`` (``booking.copay_views.pay``): the checks, then
    the open Checkout, or a new one for which the hold may be lengthened."""
    current_app.config["FIXED_NOW"] = now  # the local provider's clock
    checkout = copay.start_payment(user, booking_id, now, **PAY_URLS)
    db.session.commit()
    return provider_copay.checkout_url(
        checkout, hold_for_new=lambda: copay.hold_for_checkout(user, booking_id, now)
    )


def book_tonight(db, user: User, unit_id: int, now) -> Booking:
    """``user`` books one night from TODAY at ``now``."""
    booking = services.book_stay(user, services.StayRequest(unit_id, days(0), days(1), 1), now)
    db.session.commit()
    return booking


def session_closes(db, booking_id: int) -> int:
    """When the stay payment's local Checkout session closes (its ``expires_at``)."""
    session_id = payment_of(db, booking_id).stripe_session_id
    db.session.rollback()  # SQLite: no transaction of ours open while the provider reads
    return local_gateway().raw(session_id, "checkout.session")["expires_at"]


def test_pressing_pay_again_and_again_never_keeps_the_nights_held(db, world):
    booking = book(db, world.employee, world.unit.id)
    first_session = NOW + timedelta(minutes=20)
    urls = set()
    for minutes in (20, 40):  # every 20 minutes
        at = NOW + timedelta(minutes=minutes)
        assert holds.expire_holds(at) == ""
        urls.add(pay_at(db, world.employee, booking.id, at))
    # At 20 minutes no session was open and 15 minutes were left: a new one, the hold
    # lengthened once to close with it. At 40 that session was open: reused as it was.
    assert len(urls) == 1
    hold = fresh(db, booking.id).hold_expires_at
    assert hold == first_session + copay.PAYMENT_HOLD
    assert session_closes(db, booking.id) == int(hold.timestamp())

    at = NOW + timedelta(minutes=60)  # the hold ran out at 55
    assert holds.expire_holds(at) == "1 waiting stays expired and their nights released"
    with pytest.raises(copay.PaymentRefused) as refused:
        pay_at(db, world.employee, booking.id, at)
    assert refused.value.code == "not_awaiting"
    db.session.rollback()
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)


def test_a_local_session_past_its_expiry_is_expired_and_a_new_one_is_made(db, world):
    booking = book(db, world.employee, world.unit.id)
    first = pay_at(db, world.employee, booking.id, NOW)  # closes with the hold, at 35 min
    first_id = payment_of(db, booking.id).stripe_session_id
    assert session_closes(db, booking.id) == int((NOW + copay.PAYMENT_HOLD).timestamp())
    row = fresh(db, booking.id)
    row.hold_expires_at = NOW + timedelta(hours=2)  # a hold outliving its session
    db.session.commit()

    later = NOW + copay.PAYMENT_HOLD
    current_app.config["FIXED_NOW"] = later
    db.session.rollback()
    assert local_gateway().checkout(first_id).status == "expired"  # as Stripe says it
    assert local_gateway().raw(first_id, "checkout.session")["status"] == "expired"

    second = pay_at(db, world.employee, booking.id, later)
    second_id = payment_of(db, booking.id).stripe_session_id
    assert second != first and second_id != first_id
    db.session.rollback()
    assert local_gateway().checkout(second_id).status == "open"
    # 85 minutes left: the new session closes with the hold, which is not lengthened.
    assert session_closes(db, booking.id) == int((NOW + timedelta(hours=2)).timestamp())
    assert fresh(db, booking.id).hold_expires_at == NOW + timedelta(hours=2)


def test_a_stay_for_tonight_waits_for_the_card_no_later_than_its_check_in_day(db, world, make_unit):
    assert copay.hold_cap(TODAY) == END_OF_TODAY
    # Booked when not even the shortest Checkout fits in before the day ends: refused.
    too_late = END_OF_TODAY - copay.CHECKOUT_MIN_LIFETIME
    with pytest.raises(services.BookingError) as refused:
        book_tonight(db, world.employee, world.unit.id, too_late)
    assert refused.value.code == "too_late_to_wait"
    with force_locale("en"):
        assert "check-in day ends before it could be confirmed" in str(refused.value.message)
    db.session.rollback()

    # Booked an hour before: a Checkout opened late lengthens the hold up to midnight only.
    booked_at = END_OF_TODAY - timedelta(hours=1)
    booking = book_tonight(db, world.employee, world.unit.id, booked_at)
    assert fresh(db, booking.id).hold_expires_at == booked_at + copay.PAYMENT_HOLD
    pay_at(db, world.employee, booking.id, END_OF_TODAY - timedelta(minutes=32))
    assert fresh(db, booking.id).hold_expires_at == END_OF_TODAY
    assert session_closes(db, booking.id) == int(END_OF_TODAY.timestamp())

    # Another stay for tonight, whose hold has 20 minutes left and the day 30: a new
    # Checkout would outlive the day, so it cannot be paid for any more.
    other = make_unit(base_price=PRICE, capacity=2)
    booked_at = END_OF_TODAY - timedelta(minutes=40)
    late = book_tonight(db, world.employee, other.id, booked_at)
    with pytest.raises(copay.PaymentRefused) as refused:
        pay_at(db, world.employee, late.id, END_OF_TODAY - timedelta(minutes=30))
    assert refused.value.code == "too_late"
    db.session.rollback()
    assert fresh(db, late.id).hold_expires_at == booked_at + copay.PAYMENT_HOLD
    assert payment_of(db, late.id).stripe_session_id is None  # no Checkout made

    # At midnight both are released; nothing was charged.
    assert holds.expire_holds(END_OF_TODAY) == "2 waiting stays expired and their nights released"
    for stay in (booking, late):
        assert fresh(db, stay.id).status == BookingStatus.EXPIRED
        assert held_nights(db, stay.id) == 0
        assert entries_of(db, stay.id) == []
    assert_books_straight(db)


def test_a_payment_recorded_after_the_check_in_day_is_refunded_not_charged(db, world):
    booking = book(db, world.employee, world.unit.id, 0, 1)
    payment = payment_of(db, booking.id)

    # The job has not released it yet (the scheduler was down): the payment is not taken.
    outcome = copay.payment_received(
        payment.id,
        "cs_after_midnight",
        "pi_after_midnight",
        END_OF_TODAY,
        7,
        confirm=services.confirm_stay,
        release=holds.release_waiting,
    )
    db.session.commit()

    assert outcome == "refunded"
    payment = payment_of(db, booking.id)
    assert (payment.status, payment.refunded) == (PaymentStatus.PAID, payment.amount)
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)
    dispatch_events(END_OF_TODAY)
    db.session.commit()
    told = last_mail_text(db, world.employee)
    assert "arrived after the stay's check-in day had ended" in told
    assert "is refunded in full to your card" in told and "nothing was charged" not in told


def test_the_pay_button_says_when_too_little_of_the_check_in_day_is_left(db, world):
    booked_at = END_OF_TODAY - timedelta(minutes=40)
    booking = book_tonight(db, world.employee, world.unit.id, booked_at)
    current_app.config["FIXED_NOW"] = END_OF_TODAY - timedelta(minutes=30)
    browser = signed_in(current_app, world.employee)

    refused = browser.post(f"/stays/{booking.id}/pay", follow_redirects=True)

    assert "Too little time is left to pay for this stay" in refused.get_data(as_text=True)
    assert payment_of(db, booking.id).stripe_session_id is None
    assert fresh(db, booking.id).hold_expires_at == booked_at + copay.PAYMENT_HOLD
