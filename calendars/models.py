"""External calendars imported into units, the export addresses, and conflicts with stays."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from availability.models import Block, DirectStay
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Facility, Unit


class CalendarFeed(db.Model):
    """An external calendar (Airbnb, Booking.com, Google…) imported into one unit.

    ``url`` often carries a secret token: it is shown masked and never logged.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    label: Mapped[str] = mapped_column(String(60))
    url: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(default=True)
    # Conditional-request validators and a digest of the last body read.
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive
    # Back-off: after failures in a row the feed is skipped until then (15 min,
    # 30, 1 h … 6 h; calendars.sync.backoff_delay); None after a success.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_imported: Mapped[int] = mapped_column(default=0)
    # The feed's events are stays on another channel (Airbnb, Booking.com), not
    # closings: their nights count towards a 住宅宿泊事業 house's 180 nights a year.
    # Sync copies it to each block it imports (``Block.lodging``).
    counts_as_lodging: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()
    # The blocks this feed imported; adds ``Block.feed`` (availability sits below calendars).
    blocks: Mapped[list[Block]] = relationship(backref="feed")


class CalendarExport(db.Model):
    """The secret, rotatable address of a unit's or a facility's iCal feed."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), unique=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facility.id"), unique=True)
    # Off by default: re-exporting what was imported makes two systems echo
    # each other's blocks for ever.
    include_imported: Mapped[bool] = mapped_column(default=False)
    # Validators of the body last served, for ETag / Last-Modified.
    etag: Mapped[str | None] = mapped_column(String(64))
    last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit | None] = relationship()
    facility: Mapped[Facility | None] = relationship()

    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) <> (facility_id IS NULL)", name="one_target"),
    )

    @property
    def path(self) -> str:
        return f"/calendars/{self.token}.ics"


class CalendarConflict(db.Model):
    """An imported event over nights a stay already holds: an Engawa booking or a direct
    stay the operator recorded (exactly one of ``booking_id`` and ``direct_stay_id``).

    Open until an operator resolves it (or the overlap disappears at a later sync). A
    direct stay that is removed takes its conflicts with it (``ON DELETE CASCADE``); a
    booking is never deleted, only cancelled, and its conflict clears at the next sync.
    Each kind is unique per (feed, event key, stay): NULLs are distinct, so each of the
    two unique constraints binds only its own kind.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("calendar_feed.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id"))
    direct_stay_id: Mapped[int | None] = mapped_column(
        ForeignKey("direct_stay.id", ondelete="CASCADE"), index=True
    )
    event_key: Mapped[str] = mapped_column(String(255))
    event_summary: Mapped[str] = mapped_column(String(200), default="")
    event_start: Mapped[date] = mapped_column(Date)
    event_end: Mapped[date] = mapped_column(Date)
    first_night: Mapped[date] = mapped_column(Date)
    nights: Mapped[int]
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # "operator" (marked handled) or "cleared" (the overlap went away by itself)
    resolution: Mapped[str | None] = mapped_column(String(10))

    feed: Mapped[CalendarFeed] = relationship()
    unit: Mapped[Unit] = relationship()
    booking = relationship("Booking")
    direct_stay: Mapped[DirectStay | None] = relationship()

    __table_args__ = (
        CheckConstraint("(booking_id IS NULL) <> (direct_stay_id IS NULL)", name="one_stay"),
        UniqueConstraint("feed_id", "event_key", "booking_id"),
        UniqueConstraint("feed_id", "event_key", "direct_stay_id"),
    )

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_direct(self) -> bool:
        """Over a direct stay (a walk-in, a phone booking), not an Engawa booking."""
        return self.direct_stay_id is not None

    @property
    def stay_dates(self) -> tuple[date, date] | None:
        """(check-in, check-out) of the stay in conflict; None if it is gone."""
        if self.direct_stay is not None:
            block = self.direct_stay.block
            return block.start_date, block.end_date
        if self.booking is not None:
            return self.booking.check_in, self.booking.check_out
        return None
