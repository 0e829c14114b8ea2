from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Unit
from hr.models import Purpose


class BookingStatus(StrEnum):
    """Where a stay is. Booked (confirmed), then at the front desk: checked in, checked
    out, or a no-show; or cancelled before it began (by the guest, their company or
    the operator).

    Before it is confirmed a stay may wait, holding its nights but charging nothing:
    for its approver (``PENDING_APPROVAL``, until ``Booking.hold_expires_at``), then for
    the employee's card payment of their part (``AWAITING_PAYMENT``). A stay refused by
    its approver is ``REJECTED``; one whose wait ran out is ``EXPIRED``. Both gave their
    nights back and were never charged."""

    PENDING_APPROVAL = "pending_approval"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    CHECKED_OUT = "checked_out"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# A stay holding its nights while it waits (approval, the employee's payment): nothing
# charged yet; its hold runs out at ``Booking.hold_expires_at``.
WAITING_STATUSES = (BookingStatus.PENDING_APPROVAL, BookingStatus.AWAITING_PAYMENT)


# A stay that holds (or held) its nights: booked, in the house, or gone home.
LIVE_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.CHECKED_OUT)
# A stay still ahead of or in the house: the guest may yet come or is here.
OPEN_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)
# A stay the company paid for and did not get back: live ones and no-shows (their
# nights count in the employee's month and the company's usage).
CHARGED_STATUSES = (*LIVE_STATUSES, BookingStatus.NO_SHOW)
# Stays whose nights count in the employee's monthly cap: charged ones and those that
# wait (they will be charged once approved or paid).
COUNTED_STATUSES = (*WAITING_STATUSES, *CHARGED_STATUSES)
# Stays that hold their nights now or held them (occupancy rows unless given back).
HOLDING_STATUSES = (*WAITING_STATUSES, *LIVE_STATUSES)


class Booking(db.Model):
    """A stay of one unit over the half-open range [check_in, check_out)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    check_in: Mapped[date] = mapped_column(Date)
    check_out: Mapped[date] = mapped_column(Date)
    guests: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default=BookingStatus.CONFIRMED)
    total_price: Mapped[int]  # yen, tax included; the sum of the frozen nightly prices
    # 宿泊税 (municipal accommodation tax) of the nights, in yen: the sum of the nights'
    # own, outside the consumption-tax-inclusive price (lodging.tax).
    accommodation_tax: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # Client-chosen key so a re-submitted form or retried API call books once.
    request_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The front desk (the facility's operator).
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Nights from this date on were given back (a no-show, an early check-out): the
    # stay keeps its dates and price (nothing is refunded) but no longer holds them.
    released_on: Mapped[date | None] = mapped_column(Date)
    # Why the operator cancelled the stay on the guest's behalf (told to the guest).
    cancel_reason: Mapped[str] = mapped_column(String(300), default="", server_default=text("''"))
    # The operator's own notes on the stay; never shown to the guest or their company.
    operator_note: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # Who at the front desk checked the guests' identity against the register at check-in
    # (旅館業法: the register is kept by the operator; lodging.register).
    identity_checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    identity_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the stay is for (hr.models.Purpose): the employee's own time (休暇型) or a
    # business workation (業務型), whose working days are ``work_days``.
    purpose: Mapped[str] = mapped_column(
        String(10), default=Purpose.LEISURE, server_default=text("'leisure'")
    )
    # When a waiting stay (WAITING_STATUSES) gives its nights back if still waiting.
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The employee's part of ``total_price`` (hr.subsidy: beyond the company's subsidy),
    # paid by card (billing.models.StayPayment); the company's part is the rest, paid
    # from the stay credit with the accommodation tax. The two always add up.
    employee_part: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # Companions by category (hr.models.CompanionCategory); ``guests`` counts the
    # employee and them (and, for stays booked before companions, other guests).
    companion_adults: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    companion_children: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    companion_infants: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    unit: Mapped[Unit] = relationship()
    nights: Mapped[list[BookingNight]] = relationship(
        order_by="BookingNight.night", cascade="all, delete-orphan", back_populates="booking"
    )
    work_days: Mapped[list[StayWorkDay]] = relationship(
        order_by="StayWorkDay.day", cascade="all, delete-orphan", back_populates="booking"
    )

    __table_args__ = (
        CheckConstraint("check_out > check_in", name="dates_ordered"),
        CheckConstraint("guests > 0", name="guests_positive"),
        CheckConstraint("total_price >= 0", name="total_not_negative"),
        CheckConstraint("accommodation_tax >= 0", name="tax_not_negative"),
        CheckConstraint(
            "status IN ('pending_approval', 'awaiting_payment', 'confirmed', 'checked_in',"
            " 'checked_out', 'no_show', 'cancelled', 'rejected', 'expired')",
            name="status_known",
        ),
        CheckConstraint(
            "employee_part >= 0 AND employee_part <= total_price", name="employee_part_range"
        ),
        CheckConstraint(
            "companion_adults >= 0 AND companion_children >= 0 AND companion_infants >= 0"
            " AND guests >= 1 + companion_adults + companion_children + companion_infants",
            name="companions_counted",
        ),
        CheckConstraint("purpose IN ('leisure', 'business')", name="purpose_known"),
        UniqueConstraint("user_id", "request_key"),
        Index("ix_booking_user_id_check_in", "user_id", "check_in"),
    )

    @property
    def night_count(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def is_confirmed(self) -> bool:
        """Booked and not yet at the front desk (neither checked in nor a no-show)."""
        return self.status == BookingStatus.CONFIRMED

    @hybrid_property
    def is_live(self) -> bool:
        """The stay holds (or held) its nights: confirmed, checked in or checked out."""
        return self.status in LIVE_STATUSES

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls):
        return cls.status.in_(LIVE_STATUSES)

    @property
    def company_part(self) -> int:
        """What the company pays of the stay's price (the rest is the employee's part)."""
        return self.total_price - self.employee_part

    @property
    def is_waiting(self) -> bool:
        """Holding its nights for an approval or the employee's payment."""
        return self.status in WAITING_STATUSES

    @property
    def held_until(self) -> date:
        """The day after the last night the stay holds (its check-out, or the day its
        remaining nights were given back)."""
        return self.released_on if self.released_on is not None else self.check_out


class BookingNight(db.Model):
    """The price of one night of a booking, frozen when it was booked."""

    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), primary_key=True)
    night: Mapped[date] = mapped_column(Date, primary_key=True)
    price: Mapped[int]
    # The night's 宿泊税 for all its guests, in yen, by the rate in force that night
    # (lodging.tax.night_tax), frozen with the price.
    accommodation_tax: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    booking: Mapped[Booking] = relationship(back_populates="nights")


class StayWorkDay(db.Model):
    """A working day of a business stay (業務型): a date from its check-in to its
    check-out, both included, that the employee works at the facility."""

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)

    booking: Mapped[Booking] = relationship(back_populates="work_days")


class ApprovalDecision(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # nobody decided in time
    WITHDRAWN = "withdrawn"  # the employee cancelled the request


class StayApproval(db.Model):
    """A stay's request for approval (hr.models.GroupPolicy): why it needs one, who
    decides, and the decision with its comment. One per stay."""

    __tablename__ = "stay_approval"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), primary_key=True
    )
    # The policy's rules the stay met (hr.models.APPROVAL_REASONS), comma-separated.
    reasons: Mapped[str] = mapped_column(String(100))
    # Who decides (the named approver, else the manager; None: the company's admins),
    # and who may instead while they are away.
    approver_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    deputy_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(
        String(10), default=ApprovalDecision.PENDING, server_default=text("'pending'")
    )
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(String(1000), default="", server_default=text("''"))

    booking: Mapped[Booking] = relationship()
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id])
    deputy: Mapped[User | None] = relationship(foreign_keys=[deputy_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        CheckConstraint(
            "decision IN ('pending', 'approved', 'rejected', 'expired', 'withdrawn')",
            name="decision_known",
        ),
        CheckConstraint(
            "(decision = 'pending') = (decided_at IS NULL)", name="decided_when_decided"
        ),
    )


class StayRating(db.Model):
    """The guest's answer to the thank-you mail after a stay: 1–5 and a comment.

    One per stay (answering again replaces it). Kept for the reports on what the
    network brings each region.
    """

    __tablename__ = "stay_rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), unique=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)
