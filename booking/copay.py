"""A stay that waits for the employee's card payment of their part (co-pay).

While it waits the stay holds its nights (``BookingStatus.AWAITING_PAYMENT``) and
nothing is charged; its hold runs out ``PAYMENT_HOLD`` after it began (the
``expire_holds`` job then releases it, ``booking.holds``).

No stay waits past its check-in day: every hold (for the approver, for the card, and
any lengthening of it) ends at the latest at ``hold_cap``, 00:00 in Japan after the
check-in day, so a stay is never approved, paid for or charged once the guest should
have arrived. A stay booked so late that its wait would not fit before then is not
booked at all (``may_wait``, checked by ``booking.services.book_stay``).

Paying (``start_payment``, then ``billing.copay.checkout_url`` with
``hold_for_checkout``): only the employee's own stay, still waiting for this payment,
before its hold runs out. The provider's Checkout closes when the hold does, so a
payment the provider takes always finds its stay held. An open session is reused as
it is. Stripe wants a session to live at least 30 minutes: only when a new session is
made, with less than ``CHECKOUT_MIN_LIFETIME`` of the hold left, is the hold
lengthened, to ``PAYMENT_HOLD`` from then (never past ``hold_cap``; if even that is too
short, the payment is refused). The new session closes with the lengthened hold, and
no session is made while one is open, so pressing "pay" again and again never keeps
the nights held: an abandoned payment still releases them.

The provider's word that the payment went through (``payment_received``, the handler
``booking.copay_views`` registers with ``billing.copay``): under the stay's row lock, a
stay still waiting for this payment is confirmed, the company's part charged to its
credit (``booking.services.confirm_stay``); a stay no longer waiting (its hold ran out,
the employee cancelled it) gets the whole payment back, and so do one whose check-in
day is over (``hold_cap``: it expires, its nights released, even if the job has not
run yet) and one the company's credit can no longer pay its part of (it expires, its
nights released): the employee never pays for a stay they did not get. It takes
``confirm`` and ``release`` as arguments because ``booking.services`` and
``booking.holds`` import this module.

An operator's move that makes a co-paid stay cheaper (``share_move_refund``) gives the
difference back to both payers in proportion to their parts, as a cancellation's
refund is split (``billing.refunds.split_refund``): the employee's part shrinks by their
share (sent back to their card), so it never exceeds the stay's new total.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import events
from accounts.models import User
from billing import ledger, refunds
from billing.copay import StayCheckout
from billing.models import PaymentStatus, StayPayment
from booking.announce import booking_parties
from booking.models import Booking, BookingStatus
from core.db import TOKYO
from core.errors import RuleError
from core.extensions import db

log = logging.getLogger(__name__)

PAYMENT_HOLD = timedelta(minutes=35)
# Stripe refuses a Checkout that closes sooner than 30 minutes after it is made; one
# minute more for the time between our clock and the provider's.
CHECKOUT_MIN_LIFETIME = timedelta(minutes=31)


class PaymentRefused(RuleError):
    """The stay cannot be paid for now (not waiting for a payment, or its hold ran out)."""

    code = "not_awaiting"


# After an approval the employee may read of it hours later: their part waits longer
# (within the 24 hours a Checkout session may last at most).
APPROVED_PAYMENT_HOLD = timedelta(hours=23)

TOO_LATE_TO_WAIT = _l(
    "This stay begins too soon to wait for an approval or a card payment: its check-in"
    " day ends before it could be confirmed. Please choose later dates."
)


def hold_cap(check_in: date) -> datetime:
    """The latest any hold of a stay checking in on ``check_in`` may last: the end of its
    check-in day in Japan (00:00 JST the day after). Past it the stay is never
    approved, paid for or charged; it expires."""
    return datetime.combine(check_in + timedelta(days=1), time.min, tzinfo=TOKYO)


def decision_cap(check_in: date, employee_part: int) -> datetime:
    """The latest a stay may wait for its approver: ``hold_cap``, or, when the employee
    then pays a part, ``CHECKOUT_MIN_LIFETIME`` before it (the shortest Checkout must
    still fit in after the approval)."""
    margin = CHECKOUT_MIN_LIFETIME if employee_part > 0 else timedelta(0)
    return hold_cap(check_in) - margin


def may_wait(check_in: date, employee_part: int, now: datetime) -> bool:
    """Whether a stay booked at ``now`` may wait at all, for its approver or for the
    employee's card: its approval, or its first Checkout, must still fit in before its
    check-in day ends (else ``TOO_LATE_TO_WAIT``)."""
    return now < decision_cap(check_in, employee_part)


def await_payment(
    booking: Booking, now: datetime, *, hold: timedelta = PAYMENT_HOLD
) -> StayPayment:
    """Make ``booking`` wait ``hold`` for the employee's payment of ``booking.employee_part``
    (``APPROVED_PAYMENT_HOLD`` once approved: the employee may not be at their desk),
    never past ``hold_cap``."""
    booking.status = BookingStatus.AWAITING_PAYMENT
    booking.hold_expires_at = min(now + hold, hold_cap(booking.check_in))
    payment = StayPayment(
        booking_id=booking.id,
        company_id=booking.company_id,
        user_id=booking.user_id,
        amount=booking.employee_part,
        status=PaymentStatus.OPEN,
        created_at=now,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def payment_of(booking_id: int) -> StayPayment | None:
    """The stay's card payment (None: the employee pays nothing of it)."""
    return ledger.stay_payment_of(booking_id)


def payment_hold_expired(booking: Booking, now: datetime) -> None:
    """The stay's hold ran out before the employee paid: its payment can no longer be
    made (the stay's nights are released by the caller)."""
    close_payment(booking)


def close_payment(booking: Booking) -> str | None:
    """A waiting stay ends unpaid (its hold ran out, or it was cancelled): its payment is
    abandoned. Returns the Checkout session to end at the provider, if one was opened."""
    payment = ledger.stay_payment_of(booking.id, lock=True)
    if payment is None or payment.status != PaymentStatus.OPEN:
        return None
    payment.status = PaymentStatus.EXPIRED
    return payment.stripe_session_id


def _own_locked(user: User, booking_id: int) -> Booking | None:
    return db.session.scalar(
        select(Booking)
        .where(Booking.id == booking_id, Booking.user_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _payable(user: User, booking_id: int, now: datetime) -> tuple[Booking, StayPayment]:
    """The employee's own stay and its payment, locked, if it may be paid for now; else
    ``PaymentRefused`` (``not_found``, ``not_awaiting``, ``hold_expired``)."""
    booking = _own_locked(user, booking_id)
    if booking is None:
        raise PaymentRefused(_l("No such stay."), "not_found")
    payment = ledger.stay_payment_of(booking.id, lock=True)
    if booking.status != BookingStatus.AWAITING_PAYMENT or payment is None:
        raise PaymentRefused(_l("This stay is not waiting for your payment."), "not_awaiting")
    if booking.hold_expires_at is None or booking.hold_expires_at <= now:
        raise PaymentRefused(
            _l(
                "The time to pay for this stay has run out. Its nights are released and"
                " nothing was charged. Please book again."
            ),
            "hold_expired",
        )
    if payment.status != PaymentStatus.OPEN:
        raise PaymentRefused(_l("This stay is not waiting for your payment."), "not_awaiting")
    return booking, payment


def start_payment(
    user: User, booking_id: int, now: datetime, *, success_url: str, cancel_url: str
) -> StayCheckout:
    """Check, under the stay's row lock, that ``user`` may pay for their stay now, and say
    what its Checkout needs (``billing.copay.checkout_url`` reuses the open session or
    makes one after the commit; pass it ``hold_for_checkout`` for a new one). Refused
    (``PaymentRefused``): a stay that is not waiting for the employee's payment
    (``not_awaiting``), or whose hold ran out (``hold_expired``). Changes nothing: the
    hold is lengthened only for a new session (``hold_for_checkout``)."""
    booking, payment = _payable(user, booking_id, now)
    facility = booking.unit.facility
    return StayCheckout(
        payment_id=payment.id,
        booking_id=booking.id,
        amount=payment.amount,
        description=f"{facility.name_ja} {booking.check_in:%Y/%m/%d}–{booking.check_out:%Y/%m/%d}",
        email=user.email,
        expires_at=booking.hold_expires_at,
        success_url=success_url,
        cancel_url=cancel_url,
    )


def hold_for_checkout(user: User, booking_id: int, now: datetime) -> datetime:
    """A new Checkout session is about to be made for ``user``'s stay (none is open):
    checked again under the stay's row lock (as ``start_payment``), its hold lengthened
    to ``PAYMENT_HOLD`` from ``now`` if less than ``CHECKOUT_MIN_LIFETIME`` is left, never
    past ``hold_cap``; when the session closes (the hold's end). Refused
    (``PaymentRefused``, ``too_late``) when the check-in day ends too soon for the
    shortest session. Flushes only; the caller commits before asking the provider."""
    booking, _payment = _payable(user, booking_id, now)
    if booking.hold_expires_at - now < CHECKOUT_MIN_LIFETIME:
        longer = min(now + PAYMENT_HOLD, hold_cap(booking.check_in))
        if longer - now < CHECKOUT_MIN_LIFETIME:
            raise PaymentRefused(
                _l(
                    "Too little time is left to pay for this stay before its check-in day"
                    " ends, so it cannot be paid for any more. Its nights are released"
                    " when its hold runs out, and nothing was charged."
                ),
                "too_late",
            )
        booking.hold_expires_at = longer
    db.session.flush()
    return booking.hold_expires_at


# (booking, employee, now, grace days): ``booking.services.confirm_stay``
Confirm = Callable[[Booking, User, datetime, int], None]
# (booking, status, now): ``booking.holds.release_waiting``
Release = Callable[[Booking, BookingStatus, datetime], None]


def payment_received(
    payment_id: int,
    session_id: str,
    payment_intent: str | None,
    now: datetime,
    grace_days: int,
    *,
    confirm: Confirm,
    release: Release,
) -> str:
    """Record the stay payment as paid and act on its stay (see the module), once: what
    was done ("confirmed", "refunded", or "already" for a payment recorded before).
    Flushes only; the webhook's edge commits and then sends any refund owed."""
    booking_id = db.session.scalar(
        select(StayPayment.booking_id).where(StayPayment.id == payment_id)
    )
    booking = db.session.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    payment = ledger.stay_payment_of(booking.id, lock=True)
    if payment.status == PaymentStatus.PAID:
        if payment.stripe_payment_intent_id not in (None, payment_intent):
            log.warning("a second payment for stay payment %s; not recorded", payment.id)
        return "already"
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    payment.stripe_payment_intent_id = payment_intent
    payment.stripe_session_id = session_id
    db.session.flush()
    if booking.status == BookingStatus.AWAITING_PAYMENT and now >= hold_cap(booking.check_in):
        # Its check-in day is over and the job has not released it yet: it is released
        # now, as the job would, and never confirmed.
        log.info("stay %s paid after its check-in day; not confirmed", booking.id)
        release(booking, BookingStatus.EXPIRED, now)
        events.emit(
            events.BOOKING_EXPIRED,
            now,
            **booking_parties(booking, None),
            subject=("booking", booking.id),
            data={"waited_for": "payment", "refund": payment.amount},
        )
    elif booking.status == BookingStatus.AWAITING_PAYMENT:
        employee = db.session.get(User, booking.user_id)
        try:
            with db.session.begin_nested():
                confirm(booking, employee, now, grace_days)
            return "confirmed"
        except RuleError as exc:
            # The company's credit or subscription no longer pays its part: the stay
            # cannot be had, so it ends and the employee gets their payment back.
            log.info("paid stay %s not confirmed: %s", booking.id, exc.code)
            release(booking, BookingStatus.EXPIRED, now)
            events.emit(
                events.BOOKING_EXPIRED,
                now,
                **booking_parties(booking, None),
                subject=("booking", booking.id),
                # Paid, but the company could not pay its part: the card is refunded.
                data={"waited_for": "credit", "refund": payment.amount},
            )
    payment.refunded = payment.amount  # a stay not had: all of it back
    db.session.flush()
    return "refunded"


def share_move_refund(booking: Booking, old_total: int, refund: int) -> int:
    """Split ``refund`` (a move made the stay, which cost ``old_total``, cheaper) between
    its payers (see the module): the employee's share lowers their part and is recorded
    as owed to their card; returns the company's share, to its credit. Call before the
    stay's new total is set (its part must never exceed the total)."""
    if refund <= 0 or not booking.employee_part:
        return refund
    payment = ledger.stay_payment_of(booking.id, lock=True)
    employee = refund - refunds.company_share(refund, old_total, booking.employee_part)
    employee = min(employee, ledger.card_held(payment), booking.employee_part)
    if employee <= 0:
        return refund
    booking.employee_part -= employee
    payment.refunded += employee
    db.session.flush()
    return refund - employee
