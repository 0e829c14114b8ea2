from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import OperatorOrg
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.regions import PREFECTURES_BY_CODE


class FacilityKind(StrEnum):
    STAY = "stay"  # 保養所 (resort stay)
    OFFICE = "office"  # サテライトオフィス
    BOTH = "both"


# The yes/no amenities, as Facility columns (work desks and Wi-Fi are counts).
YES_NO_AMENITIES = ("meeting_room", "parking", "kitchen", "onsen", "family_friendly")


class Facility(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator_org.id"), index=True)
    name_ja: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default=FacilityKind.STAY)
    prefecture: Mapped[int] = mapped_column(index=True)  # JIS X 0401 code, 1–47
    municipality: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    latitude: Mapped[float]
    longitude: Mapped[float]
    # Amenities
    wifi_mbps: Mapped[int] = mapped_column(default=0)
    work_desks: Mapped[int] = mapped_column(default=0)
    meeting_room: Mapped[bool] = mapped_column(default=False)
    parking: Mapped[bool] = mapped_column(default=False)
    kitchen: Mapped[bool] = mapped_column(default=False)
    onsen: Mapped[bool] = mapped_column(default=False)
    family_friendly: Mapped[bool] = mapped_column(default=False)
    check_in_time: Mapped[time] = mapped_column(default=time(15, 0))
    check_out_time: Mapped[time] = mapped_column(default=time(10, 0))
    min_nights: Mapped[int] = mapped_column(default=1)
    max_nights: Mapped[int] = mapped_column(default=30)
    description_ja: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    operator: Mapped[OperatorOrg] = relationship()
    units: Mapped[list[Unit]] = relationship(
        back_populates="facility", order_by="Unit.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("kind IN ('stay', 'office', 'both')", name="kind_known"),
        CheckConstraint("prefecture BETWEEN 1 AND 47", name="prefecture_jis"),
        CheckConstraint(
            "latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180", name="coordinates"
        ),
        CheckConstraint("min_nights >= 1 AND max_nights >= min_nights", name="nights_range"),
        CheckConstraint("wifi_mbps >= 0 AND work_desks >= 0", name="amenity_counts"),
    )

    def name_for(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja

    def description_for(self, locale: str) -> str:
        return self.description_en if locale == "en" else self.description_ja

    def prefecture_name(self, locale: str) -> str:
        pref = PREFECTURES_BY_CODE[self.prefecture]
        return pref.name_en if locale == "en" else pref.name_ja


class Unit(db.Model):
    """A bookable room. ``base_price`` is the nightly price in yen, tax included."""

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[int]
    base_price: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)
    # Housekeeping as last set by staff; a check-out after ``housekeeping_at``
    # makes the room dirty again (see facilities.operations.housekeeping_board).
    housekeeping: Mapped[str] = mapped_column(String(10), default="clean", server_default="clean")
    housekeeping_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bounds of the demand price (yen with tax, multiples of ¥100); None: the
    # facility's maximum discount below, twice the base price above.
    price_floor: Mapped[int | None]
    price_ceiling: Mapped[int | None]

    facility: Mapped[Facility] = relationship(back_populates="units")

    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("base_price >= 0", name="base_price_not_negative"),
        CheckConstraint(
            "housekeeping IN ('clean', 'dirty', 'inspected')", name="housekeeping_known"
        ),
        CheckConstraint(
            "price_floor IS NULL OR price_ceiling IS NULL OR price_floor <= price_ceiling",
            name="price_bounds_ordered",
        ),
    )


class Housekeeping(StrEnum):
    CLEAN = "clean"
    DIRTY = "dirty"
    INSPECTED = "inspected"


class FacilityPhoto(db.Model):
    """A photo uploaded by the operator, stored under ``instance/photos/``."""

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    filename: Mapped[str] = mapped_column(String(80), unique=True)  # random, never user-chosen
    content_type: Mapped[str] = mapped_column(String(30))
    size: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    caption: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facility: Mapped[Facility] = relationship()


class BlockSource(StrEnum):
    MANUAL = "manual"  # closed by an operator in the console
    IMPORT = "import"  # an event of an external calendar feed


class BlockReason(StrEnum):
    MAINTENANCE = "maintenance"
    PRIVATE_USE = "private_use"
    OTHER = "other"
    EXTERNAL = "external"  # imported: booked or closed on another channel


class Block(db.Model):
    """Nights [start_date, end_date) of a unit that cannot be booked, and why.

    A block *wants* its whole range; it *holds* the nights for which it owns an
    ``Occupancy`` row. Nights held by a booking are never taken from it (an
    imported event over a booking becomes a ``CalendarConflict``), and two blocks
    over one night share it: one holds it, the other takes it over when the
    first is gone (``facilities.blocks.reconcile_unit``).
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
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()
    feed: Mapped[CalendarFeed | None] = relationship(back_populates="blocks")

    __table_args__ = (
        CheckConstraint("end_date > start_date", name="dates_ordered"),
        CheckConstraint("source IN ('manual', 'import')", name="source_known"),
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
    # 30, 1 h … 6 h; facilities.calendar_sync.backoff_delay); None after a success.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_imported: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship()
    blocks: Mapped[list[Block]] = relationship(back_populates="feed")


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
    """An imported event over nights an Engawa booking already holds.

    Open until an operator resolves it (or the overlap disappears at a later sync).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("calendar_feed.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"))
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

    __table_args__ = (UniqueConstraint("feed_id", "event_key", "booking_id"),)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
