"""Who holds each night: occupancy rows, blocks (closed nights) and the queue of changed nights."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Unit


class Occupancy(db.Model):
    """One claimed night of one unit: the only source of truth for availability.

    ``UNIQUE(unit_id, night)`` makes the database refuse a second claim, on
    SQLite and PostgreSQL alike. A cancelled booking or a removed block deletes its rows.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    night: Mapped[date] = mapped_column(Date)
    # Exactly one claimant: a booking or a block (closed dates, external calendars).
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"), index=True)
    block_id: Mapped[int | None] = mapped_column(ForeignKey("block.id"), index=True)

    __table_args__ = (
        UniqueConstraint("unit_id", "night"),
        CheckConstraint("(booking_id IS NULL) <> (block_id IS NULL)", name="one_claimant"),
    )


class BlockSource(StrEnum):
    MANUAL = "manual"  # closed by an operator in the console
    IMPORT = "import"  # an event of an external calendar feed
    DIRECT = "direct"  # a stay the operator recorded (walk-in, phone): see DirectStay


class BlockReason(StrEnum):
    MAINTENANCE = "maintenance"
    PRIVATE_USE = "private_use"
    OTHER = "other"
    EXTERNAL = "external"  # imported: booked or closed on another channel
    DIRECT = "direct"  # a direct stay (walk-in, phone booking) recorded by the operator


class Block(db.Model):
    """Nights [start_date, end_date) of a unit that cannot be booked, and why.

    A block *wants* its whole range; it *holds* the nights for which it owns an
    ``Occupancy`` row. Nights held by a booking are never taken from it (an
    imported event over a booking becomes a ``CalendarConflict``), and two blocks
    over one night share it: one holds it, the other takes it over when the
    first is gone (``availability.blocks.reconcile_unit``).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)  # exclusive: the night after the last
    source: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(300), default="")
    # Blocks closed together (a whole facility at once) share a group.
    group_key: Mapped[str | None] = mapped_column(String(32), index=True)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("calendar_feed.id"), index=True)
    event_key: Mapped[str | None] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(String(200), default="")  # the external event's
    # Guests lodged on these nights (a direct stay, or an imported event of a feed the
    # operator marked as bookings): they count towards a 住宅宿泊事業 house's 180
    # nights a year (availability.night_cap). A closing does not.
    lodging: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()
    # .feed: the CalendarFeed an imported block came from (calendars.models).

    __table_args__ = (
        CheckConstraint("end_date > start_date", name="dates_ordered"),
        CheckConstraint("source IN ('manual', 'import', 'direct')", name="source_known"),
        CheckConstraint(
            "(source = 'import') = (feed_id IS NOT NULL AND event_key IS NOT NULL)",
            name="import_has_feed",
        ),
        UniqueConstraint("feed_id", "event_key"),
        Index("ix_block_unit_id_end_date", "unit_id", "end_date"),
    )

    @property
    def night_count(self) -> int:
        return (self.end_date - self.start_date).days


class DirectStay(db.Model):
    """A stay that did not come through Engawa (a walk-in, a phone or e-mail booking),
    recorded by the operator so the tape chart is the whole truth.

    Its nights are claimed by a ``Block`` of source ``direct`` that holds every one of
    them (all free, or nothing is recorded), so it is exported as ``Reserved`` and
    counts as sold in the operator's figures. It carries no company and no credit; the
    guest's name is the operator's alone (never exported or logged).
    """

    __tablename__ = "direct_stay"

    id: Mapped[int] = mapped_column(primary_key=True)
    block_id: Mapped[int] = mapped_column(ForeignKey("block.id"), unique=True)
    guest_name: Mapped[str] = mapped_column(String(100))
    guests: Mapped[int]
    nightly_price: Mapped[int] = mapped_column(default=0)  # yen, tax included; for figures
    note: Mapped[str] = mapped_column(String(300), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    block: Mapped[Block] = relationship()

    __table_args__ = (
        CheckConstraint("guests > 0", name="guests_positive"),
        CheckConstraint("nightly_price >= 0", name="price_not_negative"),
    )


class ChangedNights(db.Model):
    """Nights of a facility whose demand changed (a booking, a cancellation, a block):
    the queue pricing reads to re-price them and the nights around them soon.

    Written in the same transaction as the booking, read by the scheduler's refresh
    job after the commit: the booking never waits for pricing, and a refresh is
    never lost if a process stops. (The table keeps its first name.)
    """

    __tablename__ = "pricing_refresh"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)  # exclusive
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
