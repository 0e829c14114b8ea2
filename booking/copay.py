"""A stay that waits for the employee's card payment of their part (co-pay).

While it waits the stay holds its nights (``BookingStatus.AWAITING_PAYMENT``) and
nothing is charged; its hold runs out ``PAYMENT_HOLD`` after it began.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from billing.models import PaymentStatus, StayPayment
from booking.models import Booking, BookingStatus
from core.extensions import db

PAYMENT_HOLD = timedelta(minutes=30)


def await_payment(booking: Booking, now: datetime) -> StayPayment:
    """Make ``booking`` wait for the employee's payment of ``booking.employee_part``."""
    booking.status = BookingStatus.AWAITING_PAYMENT
    booking.hold_expires_at = now + PAYMENT_HOLD
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
