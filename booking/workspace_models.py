"""Workspace bookings: a desk, booth or meeting room for a time on one day."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.workspace import WorkspaceUnit


class WorkspaceStatus(StrEnum):
    """Where a workspace booking is.

    ``WAITING``: part of a stay that waits (for approval or the employee's card); it holds
    its time, nothing is charged, and it follows its stay: confirmed with it, or given back
    when the stay is rejected or runs out. ``CONFIRMED``, then ``CHECKED_IN`` at the desk
    (the unit's QR code), or ``NO_SHOW`` when nobody checked in in time (the rest of its
    time released, ``booking.workspace_checkin``); ``CANCELLED`` before it began."""

    WAITING = "waiting"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


# Holding (or held) its time and counted in the employee's monthly hours.
COUNTED_WORKSPACE = (
    WorkspaceStatus.WAITING,
    WorkspaceStatus.CONFIRMED,
    WorkspaceStatus.CHECKED_IN,
    WorkspaceStatus.NO_SHOW,
)
# Still ahead or under way: may be cancelled (before its start) or checked in.
OPEN_WORKSPACE = (WorkspaceStatus.WAITING, WorkspaceStatus.CONFIRMED)


class WorkspaceBooking(db.Model):
    """A unit's time ``[starts_at, ends_at)`` booked by an employee, on one Tokyo day.

    ``total_price`` (yen, tax included) is frozen at booking: the base price
    (``availability.slots.booking_price``) moved by demand where the unit allows
    (``pricing.workspace``), with the reasons in ``price_reasons``. The company pays it
    from its stay credit (``billing.ledger``, entries with ``workspace_booking_id``).
    ``series_key`` groups the bookings made in one action (the same desk every working
    day); ``stay_id`` ties a desk to the stay it was booked with, and it follows that
    stay (cancelled, changed, confirmed with it)."""

    __tablename__ = "workspace_booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default=WorkspaceStatus.CONFIRMED)
    total_price: Mapped[int]
    base_price: Mapped[int]
    # Why the price differs from the base (pricing.workspace reason codes, comma-joined).
    price_reasons: Mapped[str] = mapped_column(String(100), default="", server_default=text("''"))
    request_key: Mapped[str | None] = mapped_column(String(64))
    series_key: Mapped[str | None] = mapped_column(String(32), index=True)
    stay_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A no-show: when its time from then on was given back.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Yen returned to the company's credit (a cancellation, a no-show's unused time).
    refunded: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    user: Mapped[User] = relationship()
    unit: Mapped[WorkspaceUnit] = relationship()

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
        CheckConstraint(
            "status IN ('waiting', 'confirmed', 'checked_in', 'no_show', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint(
            "total_price >= 0 AND base_price >= 0 AND refunded >= 0 AND refunded <= total_price",
            name="money",
        ),
        Index("ix_workspace_booking_unit_id_starts_at", "unit_id", "starts_at"),
        # A retried request finds what it booked (one row, or a series' rows), under the
        # employee's row lock.
        Index("ix_workspace_booking_user_id_request_key", "user_id", "request_key"),
    )

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)
