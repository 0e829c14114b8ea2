"""The guest register's purge (旅館業法施行規則: kept 3 years): the daily
``register_purge`` job.

A stay's register entry goes once its check-out date is more than
``lodging.register.RETENTION_YEARS`` years behind today (Japan dates: the stay that
checked out 3 years and a day ago goes, the one of exactly 3 years ago stays one more
day), and at once when the stay was cancelled (nobody stayed, nothing need be kept).
``lodging.register.purge`` removes the passport images first, then the guests' lines,
and records what went (``RegisterPurge``, never who). The read log stays: it names
stays by number only.

Idempotent: a stay whose entry is gone has no lines left to find. A run works in
batches of ``BATCH`` stays, each committed, and stops after ``MAX_BATCHES`` (the next
day's run goes on).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists, or_, select

from booking.models import Booking, BookingStatus
from core.db import tokyo_today
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from facilities.models import Unit
from lodging import register
from lodging.models import RegisteredGuest
from lodging.register import retention_cutoff

BATCH = 200  # stays purged per transaction
MAX_BATCHES = 50  # per run: 10,000 stays, far beyond a day's worth


def _due(cutoff: date, limit: int) -> list[tuple[int, int, str]]:
    """(booking id, facility id, reason) of stays whose register is due to go, that
    still have one, by booking number."""
    has_register = exists().where(RegisteredGuest.booking_id == Booking.id)
    rows = db.session.execute(
        select(Booking.id, Unit.facility_id, Booking.status)
        .join(Unit, Unit.id == Booking.unit_id)
        .where(
            has_register,
            or_(Booking.status == BookingStatus.CANCELLED, Booking.check_out < cutoff),
        )
        .order_by(Booking.id)
        .limit(limit)
    ).all()
    return [
        (booking_id, facility_id, "cancelled" if status == BookingStatus.CANCELLED else "retention")
        for booking_id, facility_id, status in rows
    ]


def purge_registers(now: datetime, *, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Purge every register entry due (see the module's rule); the number of stays
    whose entry went. Commits each batch."""
    cutoff = retention_cutoff(tokyo_today(now))
    purged = 0
    for _round in range(max_batches):
        due = _due(cutoff, batch)
        for booking_id, facility_id, reason in due:
            if register.purge(booking_id, facility_id, reason, now) is not None:
                purged += 1
        db.session.commit()
        if len(due) < batch:
            break
    return purged


def purge_job(now: datetime) -> JobSummary:
    """The daily ``register_purge`` job."""
    purged = purge_registers(now)
    if not purged:
        return NOTHING
    return summary(N_("%(n)d guest register entries purged"), n=purged)
