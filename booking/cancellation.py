"""Cancelling stays: one of the employee's own (``cancel_booking``) and every stay of an
employee the company deactivates (``cancel_future_stays``). Plain values in; services
flush, the edge commits.

A cancelled stay frees its nights at once (an external calendar's block that wanted
them takes them), gets the company's credit back by the cancellation policy
(``billing.ledger``) and its accommodation tax in full (``booking.stay_tax``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from accounts import events
from accounts.models import User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Occupancy
from billing import ledger
from billing.ledger import refund_for_cancellation
from booking.announce import acted_by, booking_parties
from booking.models import Booking, BookingStatus
from booking.services import BookingError, PriceChanged, booking_of
from booking.stay_tax import refund_unkept_tax
from booking.terms import policy_of
from core.db import tokyo_today
from core.extensions import db
from core.i18n import format_yen


@dataclass(frozen=True)
class CancelResult:
    """What cancelling did to the company's credit, in yen."""

    booking: Booking
    paid: int  # what the stay held of the company's credit before the refund
    refunded: int  # returned to the company's credit
    kept: int  # of the stay's price, kept under the cancellation policy
    refund_percent: int  # the policy's band on the day of cancelling
    already: bool = False  # it was cancelled before: nothing changed now
    tax_refunded: int = 0  # the accommodation tax given back, in full


def cancel_booking(
    actor: User, booking_id: int, now: datetime, *, expected_refund: int | None = None
) -> CancelResult:
    """Cancel one of the actor's own upcoming stays and free its nights at once.

    Cancelling an already cancelled stay changes nothing (``already``). A stay that
    has begun cannot be cancelled here. The company gets its credit back by the
    cancellation policy: all of it until 3 days before check-in, half after, of the
    price of the nights the stay holds (see ``billing.ledger``). With
    ``expected_refund`` (the refund the employee was shown), a refund that changed
    since (the page was opened before midnight of the free date) is refused with
    ``PriceChanged`` and nothing changes.
    """
    booking = booking_of(actor, booking_id, lock=True)
    today = tokyo_today(now)
    if booking.status == BookingStatus.CANCELLED:
        return CancelResult(booking, 0, 0, 0, 0, already=True)
    if booking.check_in <= today:
        raise BookingError(
            _l("This stay has already begun and can no longer be cancelled here."),
            "not_cancellable",
        )
    paid = ledger.paid_for([booking.id])[booking.id]
    if expected_refund is not None:
        refund = ledger.cancellation_refund(booking.total_price, paid, booking.check_in, today)
        if refund != expected_refund:
            raise PriceChanged(
                _l(
                    "What cancelling returns has changed since it was shown: it is now"
                    " %(amount)s. Please check and confirm again.",
                    amount=LazyString(format_yen, refund),
                )
            )
    tax = _release(booking, now)
    refunded = refund_for_cancellation(booking, now)
    percent = policy_of(booking).percent_on(today)
    kept = max(0, min(paid, booking.total_price) - refunded)
    _cancelled(booking, actor, refunded, kept, now, tax)
    return CancelResult(booking, paid, refunded, kept, percent, tax_refunded=tax)


def _cancelled(
    booking: Booking, actor: User | None, refunded: int, kept: int, now: datetime, tax: int = 0
) -> None:
    events.emit(
        events.BOOKING_CANCELLED,
        now,
        **booking_parties(booking, actor.id if actor is not None else None),
        subject=("booking", booking.id),
        data={"refund": refunded, "fee": kept, "by": acted_by(actor, booking)}
        | ({"tax_refund": tax} if tax else {}),  # the accommodation tax, given back in full
    )


def cancel_future_stays(user: User, now: datetime, *, actor_id: int | None = None) -> list[Booking]:
    """Cancel every stay of ``user`` that has not begun, refunding the credit in full.

    For an employee the company deactivates: the company ended the stays, not them.
    ``actor_id``: the admin who did it (None: provisioning or another process), as the
    cancellation events name them.
    """
    actor = db.session.get(User, actor_id) if actor_id is not None else None
    rows = db.session.scalars(
        select(Booking)
        .where(
            Booking.user_id == user.id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.check_in > tokyo_today(now),
        )
        .order_by(Booking.id)
        .with_for_update()
    ).all()
    held = ledger.paid_for(b.id for b in rows)
    for booking in rows:
        tax = _release(booking, now)
        refunded = refund_for_cancellation(booking, now, full=True)
        kept = max(0, min(held[booking.id], booking.total_price) - refunded)
        _cancelled(booking, actor, refunded, kept, now, tax)
    return list(rows)


def _release(booking: Booking, now: datetime) -> int:
    """Cancel the stay and free its nights; its accommodation tax comes back in full
    (the yen returned)."""
    db.session.execute(delete(Occupancy).where(Occupancy.booking_id == booking.id))
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    db.session.flush()
    # A block that wanted these nights (an external calendar over the stay) takes them now.
    reconcile_unit(booking.unit_id, tokyo_today(now))
    nights_changed(booking.unit.facility_id, booking.check_in, booking.check_out)
    return refund_unkept_tax(booking, now)
