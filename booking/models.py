from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Unit


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Booking(db.Model):
    """A stay of one unit over the half-open range [check_in, check_out)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    check_in: Mapped[date] = mapped_column(Date)
    check_out: Mapped[date] = mapped_column(Date)
    guests: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default=BookingStatus.CONFIRMED)
    total_price: Mapped[int]  # yen, tax included; the sum of the frozen nightly prices
    # Client-chosen key so a re-submitted form or retried API call books once.
    request_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
    unit: Mapped[Unit] = relationship()
    nights: Mapped[list[BookingNight]] = relationship(
        order_by="BookingNight.night", cascade="all, delete-orphan", back_populates="booking"
    )

    __table_args__ = (
        CheckConstraint("check_out > check_in", name="dates_ordered"),
        CheckConstraint("guests > 0", name="guests_positive"),
        CheckConstraint("total_price >= 0", name="total_not_negative"),
        CheckConstraint("status IN ('confirmed', 'cancelled')", name="status_known"),
        UniqueConstraint("user_id", "request_key"),
        Index("ix_booking_user_id_check_in", "user_id", "check_in"),
    )

    @property
    def night_count(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def is_confirmed(self) -> bool:
        return self.status == BookingStatus.CONFIRMED


class BookingNight(db.Model):
    """The price of one night of a booking, frozen when it was booked."""

    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), primary_key=True)
    night: Mapped[date] = mapped_column(Date, primary_key=True)
    price: Mapped[int]

    booking: Mapped[Booking] = relationship(back_populates="nights")


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
