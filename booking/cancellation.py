"""Cancelling stays: one of the employee's own (``cancel_booking``) and every stay of an
employee the company deactivates (``cancel_future_stays``). Plain values in; services
flush, the edge commits.

A cancelled stay frees its nights at once (an external calendar's block that wanted
them takes them), gets the company's credit back by the cancellation policy
(``billing.ledger``) and its accommodation tax in full (``booking.stay_tax``). Its
places in programmes that require a stay are given up, their credit-paid fees back in
full (``regions.places.release_for_stay``).

A co-paid stay (the employee paid ``Booking.employee_part`` by card) splits the
policy's refund ``R`` between its two payers in proportion to their parts
(``billing.refunds.split_refund``): the company gets ``R × company part ÷ total``,
rounded down, to its credit, the employee the rest, to their card (recorded on their
``StayPayment``; ``billing.copay.send_owed_refund`` sends it after the commit), each at
most what they paid. A stay the company ends (``cancel_future_stays``) gives both
everything back.

A stay still waiting for its approver or for the employee's payment is withdrawn
(``booking.approvals.withdraw``; for a deactivated employee, by the company): its
nights are released, nothing was charged so nothing is refunded and no fee is kept, its
approval is closed as withdrawn and its payment abandoned (an open Checkout session is
returned in ``CancelResult.checkout_to_expire``, for the edge to end at the provider
after its commit; paid anyway, it would be refunded in full, ``booking.copay``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from accounts import events
from accounts.models import User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Occupancy
from billing import ledger, refunds
from billing.ledger import refund_split_for_cancellation
from billing.refunds import RefundSplit
from booking.announce import acted_by, booking_parties
from booking.approvals import withdraw
from booking.holds import withdraw_waiting
from booking.lookups import booking_of
from booking.models import WAITING_STATUSES, Booking, BookingStatus
from booking.services import BookingError, PriceChanged
from booking.stay_tax import refund_unkept_tax
from booking.terms import policy_of
from booking.workspace_follow import desks_follow_ended
from core.db import tokyo_today
from core.extensions import db
from core.i18n import format_yen
from regions.coupons import withdraw_for_stay as withdraw_coupons
from regions.places import lock_sessions_for_stays, release_for_stay


@dataclass(frozen=True)
class CancelResult:
    """What cancelling did to the company's credit and the employee's card, in yen."""

    booking: Booking
    paid: int  # what the stay held of the company's credit before the refund
    refunded: int  # returned to the company's credit
    kept: int  # of the stay's price, kept under the cancellation policy (both payers)
    refund_percent: int  # the policy's band on the day of cancelling
    already: bool = False  # it was cancelled before: nothing changed now
    tax_refunded: int = 0  # the accommodation tax given back, in full
    # A co-paid stay: what the employee had paid by card and what returns to it (sent by
    # ``billing.copay.send_owed_refund(payment_id)`` after the commit).
    employee_paid: int = 0
    employee_refunded: int = 0
    payment_id: int | None = None
    # A stay that was still waiting (approval, payment): nothing had been charged.
    waiting: bool = False
    checkout_to_expire: str | None = None  # its open Checkout, to end after the commit


def refund_preview(booking: Booking, today: date) -> RefundSplit:
    """What cancelling ``booking`` on ``today`` would give back to the company's credit
    and to the employee's card (nothing for a stay that waits: nothing was charged)."""
    if booking.status != BookingStatus.CONFIRMED or booking.check_in <= today:
        return RefundSplit(0, 0)
    return refunds.cancellation_split(
        booking.total_price,
        booking.employee_part,
        booking.check_in,
        today,
        company_held=ledger.paid_for([booking.id])[booking.id],
        employee_held=ledger.card_held(ledger.stay_payment_of(booking.id)),
    )


def cancel_booking(
    actor: User,
    booking_id: int,
    now: datetime,
    *,
    expected_refund: int | None = None,
    expected_employee_refund: int | None = None,
) -> CancelResult:
    """Cancel one of the actor's own upcoming stays and free its nights at once.

    Cancelling an already cancelled stay changes nothing (``already``). A stay that
    has begun cannot be cancelled here, nor one that was never confirmed (rejected,
    expired). The company gets its credit back by the cancellation policy: all of it
    until 3 days before check-in, half after, of the price of the nights the stay
    holds (see ``billing.ledger``); of a co-paid stay the refund is split with the
    employee's card (see the module). With ``expected_refund`` and
    ``expected_employee_refund`` (the refunds the employee was shown), a refund that
    changed since (the page was opened before midnight of the free date) is refused
    with ``PriceChanged`` and nothing changes. A stay still waiting is withdrawn (see
    the module), whatever its dates.
    """
    booking = booking_of(actor, booking_id, lock=True)
    today = tokyo_today(now)
    if booking.status == BookingStatus.CANCELLED:
        return CancelResult(booking, 0, 0, 0, 0, already=True)
    if booking.status in WAITING_STATUSES:
        withdraw(actor, booking.id, now)  # the employee's own withdrawal (approvals)
        return _withdrawn(booking)
    if booking.status in (BookingStatus.REJECTED, BookingStatus.EXPIRED):
        raise BookingError(
            _l("This stay was never confirmed, so there is nothing to cancel."),
            "not_cancellable",
        )
    if booking.check_in <= today:
        raise BookingError(
            _l("This stay has already begun and can no longer be cancelled here."),
            "not_cancellable",
        )
    paid = ledger.paid_for([booking.id])[booking.id]
    preview = refund_preview(booking, today)
    if (expected_refund is not None and expected_refund != preview.company) or (
        expected_employee_refund is not None and expected_employee_refund != preview.employee
    ):
        raise PriceChanged(
            _l(
                "What cancelling returns has changed since it was shown: it is now"
                " %(amount)s. Please check and confirm again.",
                amount=LazyString(format_yen, preview.total),
            )
        )
    employee_paid = ledger.card_held(ledger.stay_payment_of(booking.id))
    tax = _release(booking, now)
    desks_follow_ended(booking, now, actor)  # its desks, by the workspace policy
    split = refund_split_for_cancellation(booking, now)
    percent = policy_of(booking).percent_on(today)
    kept = kept_by_policy(paid, booking.total_price, employee_paid, split)
    _cancelled(booking, actor, split.company, kept, now, tax, split.employee)
    return CancelResult(
        booking,
        paid,
        split.company,
        kept,
        percent,
        tax_refunded=tax,
        employee_paid=employee_paid,
        employee_refunded=split.employee,
        payment_id=_payment_id(booking) if split.employee else None,
    )


def kept_by_policy(paid: int, total: int, employee_paid: int, split: RefundSplit) -> int:
    """What the policy keeps of what both payers paid for the stay's price: ``paid`` of the
    company's credit (at most the price), ``employee_paid`` by card, less ``split``."""
    return max(0, min(paid, total) - split.company) + max(0, employee_paid - split.employee)


def _payment_id(booking: Booking) -> int | None:
    payment = ledger.stay_payment_of(booking.id)
    return payment.id if payment is not None else None


def _withdrawn(booking: Booking) -> CancelResult:
    """A waiting stay just withdrawn: nothing charged, refunded or kept; its Checkout (if
    one was opened) to end at the provider."""
    payment = ledger.stay_payment_of(booking.id)
    session_id = payment.stripe_session_id if payment is not None else None
    return CancelResult(booking, 0, 0, 0, 100, waiting=True, checkout_to_expire=session_id)


def _cancelled(
    booking: Booking,
    actor: User | None,
    refunded: int,
    kept: int,
    now: datetime,
    tax: int = 0,
    employee_refund: int = 0,
) -> None:
    events.emit(
        events.BOOKING_CANCELLED,
        now,
        **booking_parties(booking, actor.id if actor is not None else None),
        subject=("booking", booking.id),
        data={"refund": refunded, "fee": kept, "by": acted_by(actor, booking)}
        | ({"tax_refund": tax} if tax else {})  # the accommodation tax, given back in full
        # a co-paid stay: the employee's share, back to their card
        | ({"employee_refund": employee_refund} if employee_refund else {}),
    )


def cancel_future_stays(user: User, now: datetime, *, actor_id: int | None = None) -> list[Booking]:
    """Cancel every stay of ``user`` that has not begun, refunding the credit in full (and a
    co-paid stay's card payment in full); withdraw the stays that still wait.

    For an employee the company deactivates: the company ended the stays, not them.
    ``actor_id``: the admin who did it (None: provisioning or another process), as the
    cancellation events name them. The employees' card refunds are sent by
    ``billing.copay.settle_stay_refunds``.
    """
    actor = db.session.get(User, actor_id) if actor_id is not None else None
    rows = db.session.scalars(
        select(Booking)
        .where(
            Booking.user_id == user.id,
            ((Booking.status == BookingStatus.CONFIRMED) & (Booking.check_in > tokyo_today(now)))
            | Booking.status.in_(WAITING_STATUSES),
        )
        .order_by(Booking.id)
        .with_for_update()
    ).all()
    held = ledger.paid_for(b.id for b in rows)
    # Every stay's programme sessions before the first stay's money (account lock): see
    # ``_release``.
    lock_sessions_for_stays(b.id for b in rows if b.status not in WAITING_STATUSES)
    for booking in rows:
        if booking.status in WAITING_STATUSES:
            withdraw_waiting(booking, actor, now)
            continue
        employee_paid = ledger.card_held(ledger.stay_payment_of(booking.id))
        tax = _release(booking, now)
        desks_follow_ended(booking, now, actor, full=True)  # the company ended it
        split = refund_split_for_cancellation(booking, now, full=True)
        kept = kept_by_policy(held[booking.id], booking.total_price, employee_paid, split)
        _cancelled(booking, actor, split.company, kept, now, tax, split.employee)
    return list(rows)


def _release(booking: Booking, now: datetime) -> int:
    """Cancel the stay and free its nights; its accommodation tax comes back in full
    (the yen returned)."""
    db.session.execute(delete(Occupancy).where(Occupancy.booking_id == booking.id))
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    db.session.flush()
    # Its places in programmes that need a stay go (their credit fees back in full).
    # Lock order: only the booking's row is held here in cancel_booking and
    # cancel_for_guest (the tax refund below and the stay's refund after take the billing
    # account), so the sessions' locks come before the account's as in ``join``;
    # cancel_future_stays took its stays' sessions before any stay's money.
    release_for_stay(booking.id, now)
    withdraw_coupons(booking.id, now)  # its local coupons can no longer be spent
    # A block that wanted these nights (an external calendar over the stay) takes them now.
    reconcile_unit(booking.unit_id, tokyo_today(now))
    nights_changed(booking.unit.facility_id, booking.check_in, booking.check_out)
    return refund_unkept_tax(booking, now)
