"""Check-in at the desk, and releasing booked-but-empty workspace.

- Each unit has a QR code on the operator's printable sheet: the address of its
  check-in page with a code derived from ``SECRET_KEY`` and the unit's id
  (``checkin_code``), so only someone in front of the desk (or holding the sheet) has it.
  The employee opens it on their phone, signed in, and checks in their booking of that
  unit that is under way or starts within ``EARLY_MINUTES``.
- A confirmed booking nobody checked in ``unit.release_after_minutes`` after its start
  (0: never) is a no-show: the ``workspace_no_shows`` job (every 5 minutes) gives its
  time from the next slot boundary back to the pool and returns the price of that time
  to the company (pro rata, rounded down). Rows are claimed with ``SKIP LOCKED`` and
  checked again, so a check-in racing the job has one outcome.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts import events
from accounts.models import User
from availability.workspace import hold_of_booking, reconcile_unit, release_from, round_up
from billing.workspace_ledger import refund_workspace
from booking.services import BookingError, BookingNotFound
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from core.keys import derive_key
from facilities.workspace import WorkspaceUnit

EARLY_MINUTES = 15  # a booking may be checked in this long before its start


def checkin_code(secret_key: str | bytes, unit_id: int) -> str:
    """The code in a unit's check-in address (its QR code): 16 hex characters of an
    HMAC of the id under a key kept for this purpose."""
    key = derive_key(secret_key, "workspace check-in v1")
    return hmac.new(key, str(unit_id).encode(), hashlib.sha256).hexdigest()[:16]


def code_matches(secret_key: str | bytes, unit_id: int, code: str) -> bool:
    return hmac.compare_digest(checkin_code(secret_key, unit_id), code)


def booking_to_check_in(user: User, unit_id: int, now: datetime) -> WorkspaceBooking | None:
    """The employee's confirmed booking of this unit under way or starting within
    ``EARLY_MINUTES``, or None."""
    return db.session.scalar(
        select(WorkspaceBooking)
        .where(
            WorkspaceBooking.user_id == user.id,
            WorkspaceBooking.unit_id == unit_id,
            WorkspaceBooking.status.in_((WorkspaceStatus.CONFIRMED, WorkspaceStatus.CHECKED_IN)),
            WorkspaceBooking.starts_at <= now + timedelta(minutes=EARLY_MINUTES),
            WorkspaceBooking.ends_at > now,
        )
        .order_by(WorkspaceBooking.starts_at)
        .limit(1)
    )


def check_in(user: User, booking_id: int, now: datetime) -> WorkspaceBooking:
    """Record that the employee is at the desk. A booking already checked in stays so;
    one released as a no-show, cancelled or not yet due is refused."""
    booking = db.session.scalar(
        select(WorkspaceBooking)
        .where(WorkspaceBooking.id == booking_id, WorkspaceBooking.user_id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if booking is None:
        raise BookingNotFound(_l("That workspace booking does not exist."))
    if booking.status == WorkspaceStatus.CHECKED_IN:
        return booking
    if booking.status != WorkspaceStatus.CONFIRMED or now >= booking.ends_at:
        raise BookingError(
            _l("This booking can no longer be checked in: its time was released."),
            "released",
        )
    if now < booking.starts_at - timedelta(minutes=EARLY_MINUTES):
        raise BookingError(
            _l("Check in up to %(n)d minutes before your time starts.", n=EARLY_MINUTES),
            "too_early",
        )
    booking.status = WorkspaceStatus.CHECKED_IN
    booking.checked_in_at = now
    return booking


def _unused_refund(booking: WorkspaceBooking, cut: datetime) -> int:
    total_minutes = booking.minutes
    unused = max(0, int((booking.ends_at - max(cut, booking.starts_at)).total_seconds() // 60))
    return booking.total_price * unused // total_minutes if total_minutes else 0


def release_no_show(booking: WorkspaceBooking, now: datetime) -> int:
    """Release a confirmed booking nobody checked in (the caller holds its row lock): its
    time from the next slot boundary is free again, and the company gets back the price
    of that time. The yen returned."""
    unit: WorkspaceUnit = booking.unit
    cut = round_up(now, unit.slot_minutes)
    refund = refund_workspace(booking, _unused_refund(booking, cut), now)
    hold = hold_of_booking(booking.id)
    if hold is not None:
        release_from(hold, now, unit.slot_minutes)
    reconcile_unit(unit, now)  # an imported event waiting for the time takes it
    booking.status = WorkspaceStatus.NO_SHOW
    booking.released_at = now
    booking.refunded = (booking.refunded or 0) + refund
    events.emit(
        events.WORKSPACE_NO_SHOW,
        now,
        company_id=booking.company_id,
        operator_id=unit.facility.operator_id,
        user_id=booking.user_id,
        subject=("workspace_booking", booking.id),
        data={"refund": refund},
    )
    return refund


def release_no_shows(now: datetime, *, batch: int = 1000) -> JobSummary:
    """The ``workspace_no_shows`` job: release every booking due (module docstring);
    commits."""
    candidates = db.session.scalars(
        select(WorkspaceBooking)
        .join(WorkspaceUnit, WorkspaceUnit.id == WorkspaceBooking.unit_id)
        .where(
            WorkspaceBooking.status == WorkspaceStatus.CONFIRMED,
            WorkspaceBooking.starts_at <= now,
            WorkspaceBooking.ends_at > now,
            WorkspaceUnit.release_after_minutes > 0,
        )
        .options(joinedload(WorkspaceBooking.unit).joinedload(WorkspaceUnit.facility))
        .order_by(WorkspaceBooking.starts_at)
        .limit(batch)
        .with_for_update(skip_locked=True, of=WorkspaceBooking)
    ).all()
    released = refunded = 0
    for booking in candidates:
        due = booking.starts_at + timedelta(minutes=booking.unit.release_after_minutes)
        if now < due:
            continue
        refunded += release_no_show(booking, now)
        released += 1
    db.session.commit()
    if not released:
        return NOTHING
    return summary(
        N_("%(n)d workspace bookings nobody checked in released, %(yen)d yen returned"),
        n=released,
        yen=refunded,
    )
