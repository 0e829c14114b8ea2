"""The employee's card payment of their part of a stay (co-pay), at the payment provider.

A stay the employee pays part of (``Booking.employee_part``) waits for that payment
(``billing.models.StayPayment``) before it is confirmed. The round trips here follow
``billing.flows``: nothing is asked of the provider while a transaction of ours holds
locks, so each step commits first, asks the provider with an idempotency key derived
from our own row, and stores the answer in a short transaction of its own.

- ``checkout_url``: a Checkout session in payment mode for the payment (one line,
  ``LINE_NAME``, the facility below it; integer yen; the payment's and the stay's ids
  as metadata; closing when the stay's hold runs out), keyed by the payment's id, so
  a double click opens one session. An open session is reused as it is; a completed
  one is never paid twice. Only for a new session does the booking layer's
  ``hold_for_new`` lengthen the stay's hold (committed before the provider is asked),
  so the session and the hold close together. The session's id is committed before
  the employee is sent to it.
- ``apply_checkout_payment``: the provider says such a session was paid (its
  ``checkout.session.completed`` webhook, re-read from the provider by
  ``billing.provider_sync``, or the return page re-reading the session). Billing sits
  below booking and cannot confirm a stay itself: the booking layer registers at
  start-up the handler that does (``set_payment_handler``; ``booking.copay_views``
  registers ``booking.copay.payment_received`` with its blueprint), a callback as
  docs/ARCHITECTURE.md allows a lower layer to tell a higher one. The handler runs in
  the webhook's transaction, under the stay's row lock, and is idempotent: a payment
  recorded as paid is never applied twice.
- ``send_owed_refund``: what we recorded as given back to the employee
  (``StayPayment.refunded``: their share of a cancellation, a late payment for a stay
  that is gone, a cheaper move) and the provider has not refunded yet is refunded now,
  keyed by the payment and the total to reach (a retry after a lost answer refunds
  once). The pages that refund call it after their commit; ``settle_stay_refunds``
  (run by the billing reconcile) sends whatever a failed call or another edge left.
- ``expire_checkout``: a waiting stay cancelled by the employee ends its open session,
  so it cannot be paid afterwards (if it is paid anyway, it is refunded in full).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from billing.models import PaymentStatus, StayPayment
from billing.providers import gateway
from billing.providers.base import CheckoutRecord, GatewayError, ObjectMissing
from billing.services import BillingError
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary

log = logging.getLogger(__name__)

# The Checkout's one line (the provider shows it to the employee, and so do receipts).
LINE_NAME = "宿泊費（自己負担分）"
# How long after a payment a refund recorded for it is checked at the provider again
# (``settle_stay_refunds``): stays are booked up to a year ahead and cancelled until then.
REFUND_RECHECK = timedelta(days=400)
HANDLER = "billing.stay_payment_handler"

# (payment id, the session's id, its PaymentIntent, now, grace days): records the
# payment and confirms the stay, or records it as owed back in full.
PaymentHandler = Callable[[int, str, str | None, datetime, int], object]


def set_payment_handler(app: Flask, handler: PaymentHandler) -> None:
    """Register what a paid stay payment does to its stay (the booking layer's, at start-up)."""
    app.extensions[HANDLER] = handler


def _handler() -> PaymentHandler:
    found = current_app.extensions.get(HANDLER)
    if found is None:  # the booking package registers it; without it nothing may be recorded
        raise RuntimeError("no stay payment handler is registered")
    return found


def _provider_error(exc: GatewayError) -> BillingError:
    # The provider's message can quote personal details: the log gets its kind only.
    cause = exc.__cause__
    log.warning(
        "payment provider refused a stay payment call: %s (%s)",
        type(cause or exc).__name__,
        getattr(cause, "code", None) or "-",
    )
    return BillingError(
        _l(
            "The payment service could not be reached or refused the request."
            " Nothing was charged; please try again."
        ),
        "provider",
    )


# --- Checkout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StayCheckout:
    """What the provider's Checkout for one stay payment needs (``booking.copay`` fills it)."""

    payment_id: int
    booking_id: int
    amount: int  # yen
    description: str  # the facility and the dates, under the line
    email: str  # the employee's, so the provider can send the receipt
    expires_at: datetime  # when the stay's hold runs out
    success_url: str
    cancel_url: str


# Asked, after our commit and before the provider is, when a new session must be made:
# the booking layer checks the stay again, lengthens its hold if a session needs it to
# (``booking.copay.hold_for_checkout``) and answers when the session closes; flushes only.
HoldForNew = Callable[[], datetime]


def checkout_url(checkout: StayCheckout, *, hold_for_new: HoldForNew | None = None) -> str | None:
    """The URL of the payment's Checkout, made if needed; None if it was paid already.
    Commits (see the module). Raises ``BillingError`` when the provider cannot be used,
    and whatever ``hold_for_new`` raises (the caller rolls back)."""
    payment = db.session.get(StayPayment, checkout.payment_id)
    status, session_id = payment.status, payment.stripe_session_id
    db.session.commit()
    if status != PaymentStatus.OPEN:
        return None
    gw = gateway()
    key = f"engawa-stay-payment-{checkout.payment_id}"
    if session_id:
        try:
            found = gw.checkout(session_id)
        except ObjectMissing:
            found = None  # not the provider's (another backend's): a new one
        except GatewayError as exc:
            raise _provider_error(exc) from None
        if found is not None and found.status == "open" and found.url:
            return found.url
        if found is not None and found.status == "complete":
            return None  # paid: the webhook or the return page applies it
        key = f"{key}-after-{session_id}"  # that one ended: a new session, a new key
    if hold_for_new is not None:
        checkout = replace(checkout, expires_at=hold_for_new())
        db.session.commit()  # the hold as the new session will close, before it is made
    metadata = {
        "booking_id": str(checkout.booking_id),
        "stay_payment_id": str(checkout.payment_id),
    }
    try:
        session = gw.create_payment_checkout(
            amount=checkout.amount,
            name=LINE_NAME,
            description=checkout.description,
            email=checkout.email,
            metadata=metadata,
            success_url=checkout.success_url,
            cancel_url=checkout.cancel_url,
            expires_at=checkout.expires_at,
            key=key,
        )
    except GatewayError as exc:
        raise _provider_error(exc) from None
    payment = db.session.scalar(
        select(StayPayment)
        .where(StayPayment.id == checkout.payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment.status == PaymentStatus.OPEN:
        payment.stripe_session_id = session.id
    db.session.commit()
    return session.url


def read_checkout(session_id: str) -> CheckoutRecord | None:
    """The session as the provider has it now (None if it cannot be read). Commits first."""
    db.session.commit()
    try:
        return gateway().checkout(session_id)
    except GatewayError as exc:
        log.info("stay payment session not read: %s", type(exc).__name__)
        return None


def expire_checkout(session_id: str) -> None:
    """End an open session so it can no longer be paid (best effort: a session the
    provider ends by itself at the hold's end anyway). Commits first."""
    db.session.commit()
    gw = gateway()
    try:
        if gw.checkout(session_id).status == "open":
            gw.expire_checkout(session_id)
    except GatewayError as exc:
        log.warning("stay payment session not expired: %s", type(exc).__name__)


def apply_checkout_payment(record: CheckoutRecord, now: datetime, grace_days: int) -> int | None:
    """A payment-mode session of ours the provider says is paid: its ``StayPayment`` is
    recorded by the booking layer's handler (the stay confirmed, or the payment owed back
    in full). Returns the payment's id (its refund, if owed, is sent after the commit by
    ``send_owed_refund``), or None for a session that is not a paid one of ours. Flushes
    only: the caller commits."""
    if record.mode != "payment" or record.stay_payment_id is None:
        return None
    if record.payment_status != "paid":
        return None  # not paid yet (an asynchronous method): nothing to record
    payment = db.session.get(StayPayment, record.stay_payment_id)
    if payment is None or payment.booking_id != record.booking_id:
        log.warning("paid session %s names no stay payment of ours; ignored", record.id)
        return None
    if record.amount_total is not None and record.amount_total != payment.amount:
        log.warning("paid session %s is not for the amount asked", record.id)
    _handler()(payment.id, record.id, record.payment_intent, now, grace_days)
    db.session.flush()
    return payment.id


# --- Refunds ------------------------------------------------------------------------------


def send_owed_refund(payment_id: int) -> int:
    """Refund at the provider what ``StayPayment.refunded`` says is owed to the employee
    and the provider has not refunded yet; the yen sent (0: nothing owed, or the provider
    refused, logged: ``settle_stay_refunds`` tries again). Commits first."""
    payment = db.session.get(StayPayment, payment_id)
    if payment is None:
        db.session.commit()
        return 0
    intent, recorded, booking_id = (
        payment.stripe_payment_intent_id,
        payment.refunded,
        payment.booking_id,
    )
    db.session.commit()
    if not intent or recorded <= 0:
        return 0
    gw = gateway()
    try:
        owed = recorded - gw.refunded_amount(intent)
        if owed <= 0:
            return 0
        gw.refund_payment(
            intent,
            owed,
            # The total to reach keys it: a retry refunds once, a later share anew.
            key=f"engawa-stay-refund-{payment_id}-{recorded}",
            metadata={"booking_id": str(booking_id), "stay_payment_id": str(payment_id)},
        )
    except GatewayError as exc:
        log.warning("stay refund %s not sent yet: %s", payment_id, type(exc).__name__)
        return 0
    return owed


def settle_stay_refunds(now: datetime) -> int:
    """Send every refund owed to an employee that is not at the provider yet (a call that
    failed, or an edge that does not send its own: the front desk, a deactivation); the
    number of payments refunded."""
    ids = db.session.scalars(
        select(StayPayment.id)
        .where(
            StayPayment.refunded > 0,
            StayPayment.stripe_payment_intent_id.is_not(None),
            StayPayment.paid_at >= now - REFUND_RECHECK,
        )
        .order_by(StayPayment.id)
    ).all()
    db.session.commit()
    return sum(1 for payment_id in ids if send_owed_refund(payment_id) > 0)


def stay_refunds_job(now: datetime) -> JobSummary:
    """A job's wrapper of ``settle_stay_refunds``."""
    sent = settle_stay_refunds(now)
    return summary(N_("%(n)d card refunds sent to employees"), n=sent) if sent else NOTHING
