"""Paying the employee's part of a stay (co-pay): the pay button's round trip to the
payment provider's Checkout, and the page the provider sends the employee back to.

- ``POST /stays/<id>/pay``: the employee's own stay, waiting for their payment, its
  hold not run out (``booking.copay.start_payment``); commits, then reuses the open
  Checkout or opens a new one (``billing.copay.checkout_url``; only a new one may
  lengthen the hold, ``booking.copay.hold_for_checkout``; the session's id is committed
  before the employee is sent to it) and redirects there. The Checkout's cancel button
  comes back to the stay's page; its session stays open until the hold runs out.
- ``GET /stays/<id>/paid``: the provider's return. The session is read again from the
  provider and, if paid, applied at once (the webhook that follows changes nothing
  more): the stay is confirmed, or, if the payment came too late, refunded in full.
  While the provider has not finished, the stay's page says the payment is being
  confirmed.

The provider's webhook reaches the booking side through the handler this blueprint
registers with billing when the app registers it (``billing.copay.set_payment_handler``
with ``booking.copay.payment_received``): billing is a lower layer and cannot import
booking. The handler is given ``booking.services.confirm_stay`` and
``booking.holds.release_waiting``, which import ``booking.copay`` themselves.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, current_app, flash, redirect, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user, login_required

from billing import copay as provider_copay
from billing.ledger import stay_payment_of
from billing.models import PaymentStatus, StayPayment
from billing.services import BillingError
from booking import copay, holds, lookups, services
from booking.models import Booking, BookingStatus
from core import limits
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_yen
from core.urls import public_url

bp = Blueprint("copay", __name__)


def _register_payment_handler(state: BlueprintSetupState) -> None:
    """What a paid stay payment does to its stay (see the module)."""
    provider_copay.set_payment_handler(
        state.app,
        partial(
            copay.payment_received,
            confirm=services.confirm_stay,
            release=holds.release_waiting,
        ),
    )


bp.record_once(_register_payment_handler)


@bp.app_template_global("stay_payment")
def stay_payment(booking: Booking) -> StayPayment | None:
    """The card payment of a stay's employee part, for its page (None: nothing to pay)."""
    return stay_payment_of(booking.id) if booking.employee_part else None


@bp.before_request
@login_required
def _signed_in():
    """The employee's own stays only (``_own``)."""


def _own(booking_id: int) -> Booking:
    try:
        return lookups.booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


def _to_stay(booking_id: int):
    return redirect(url_for("booking.stay", booking_id=booking_id), 303)


@bp.post("/stays/<int:booking_id>/pay")
@limits.booking_action
def pay(booking_id: int):
    booking = _own(booking_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        checkout = copay.start_payment(
            current_user,
            booking.id,
            edge_now(),
            success_url=public_url("copay.paid", booking_id=booking.id),
            cancel_url=public_url("booking.stay", booking_id=booking.id),
        )
    except copay.PaymentRefused as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _to_stay(booking_id)
    db.session.commit()  # no transaction of ours open while the provider is asked
    try:
        url = provider_copay.checkout_url(
            checkout,
            hold_for_new=lambda: copay.hold_for_checkout(current_user, booking_id, edge_now()),
        )
    except (BillingError, copay.PaymentRefused) as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _to_stay(booking_id)
    if url is None:  # paid already: the return page applies it
        return redirect(url_for("copay.paid", booking_id=booking_id), 303)
    return redirect(url, 303)


@bp.get("/stays/<int:booking_id>/paid")
def paid(booking_id: int):
    booking = _own(booking_id)
    payment = stay_payment_of(booking.id)
    if payment is None:
        return _to_stay(booking_id)
    session_id = payment.stripe_session_id
    if payment.status == PaymentStatus.OPEN and session_id:
        _apply_if_paid(session_id)
        booking = _own(booking_id)
        payment = stay_payment_of(booking.id)
    flash(*_payment_outcome(booking, payment))
    return _to_stay(booking_id)


def _apply_if_paid(session_id: str) -> None:
    """Read the session from the provider and, if it is paid, record it now (as its
    webhook would; whichever comes second changes nothing)."""
    record = provider_copay.read_checkout(session_id)  # commits first
    if record is None or record.status != "complete":
        return
    grace_days = current_app.config["BILLING_GRACE_DAYS"]
    payment_id = provider_copay.apply_checkout_payment(record, edge_now(), grace_days)
    db.session.commit()
    if payment_id is not None:
        provider_copay.send_owed_refund(payment_id)


def _payment_outcome(booking: Booking, payment: StayPayment) -> tuple[str, str]:
    if payment.status == PaymentStatus.PAID:
        if booking.status == BookingStatus.CONFIRMED:
            return _(
                "Your payment of %(amount)s was received and your stay is confirmed.",
                amount=format_yen(payment.amount),
            ), "success"
        if payment.refunded >= payment.amount and booking.status in (
            BookingStatus.EXPIRED,
            BookingStatus.CANCELLED,
        ):
            return _(
                "Your payment of %(amount)s arrived after this stay was released, so it is"
                " refunded to your card in full.",
                amount=format_yen(payment.amount),
            ), "error"
        return _("Your payment was received."), "info"
    if booking.status == BookingStatus.AWAITING_PAYMENT:
        return _(
            "We have not received your payment yet. If you paid, your stay is confirmed"
            " in a moment: reload this page. If not, pay before the time shown."
        ), "info"
    return _("This stay is no longer waiting for your payment."), "info"
