"""The employee's own stays, read: one of them (``booking_of``, anybody else's is not
found), all of them (``bookings_of``), whether one may still change (``can_change``);
and how many stays of some rooms are still to come (``upcoming_stay_count``, for the
operator before a room or facility is retired).
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.models import User
from booking.models import OPEN_STATUSES, Booking
from booking.services import BookingNotFound
from core.db import in_id_range
from core.extensions import db
from facilities.models import Unit


def can_change(booking: Booking, today: date) -> bool:
    """Whether the stay may still be changed or cancelled: confirmed and not begun."""
    return booking.is_confirmed and booking.check_in > today


def bookings_of(
    user: User, today: date, *, with_nights: bool = False
) -> tuple[list[Booking], list[Booking]]:
    """The user's stays: upcoming (incl. in progress and cancelled-upcoming) and past.

    Rooms, facilities and working days come loaded; the nights too when asked (the API
    lists them).
    """
    options = [
        selectinload(Booking.unit).selectinload(Unit.facility),
        selectinload(Booking.work_days),
    ]
    if with_nights:
        options.append(selectinload(Booking.nights))
    rows = db.session.scalars(
        select(Booking)
        .where(Booking.user_id == user.id)
        .options(*options)
        .order_by(Booking.check_in)
    ).all()
    upcoming = [b for b in rows if b.check_out > today]
    past = [b for b in rows if b.check_out <= today][::-1]
    return upcoming, past


def booking_of(user: User, booking_id: int, *, lock: bool = False) -> Booking:
    """One of the user's own bookings (row-locked if asked); anybody else's is not found."""
    query = select(Booking).where(Booking.id == booking_id, Booking.user_id == user.id)
    if lock:  # read as of the lock, not as this session last saw it
        query = query.with_for_update().execution_options(populate_existing=True)
    booking = db.session.scalar(query) if in_id_range(booking_id) else None
    if booking is None:
        raise BookingNotFound(_l("No such stay."))
    return booking


def upcoming_stay_count(unit_ids: list[int], today: date) -> int:
    """Stays of these rooms that have not ended yet (booked or in the house)."""
    if not unit_ids:
        return 0
    return db.session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.unit_id.in_(unit_ids),
            Booking.status.in_(OPEN_STATUSES),
            Booking.check_out > today,
        )
    )
