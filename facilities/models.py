from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    false,
    or_,
    select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import OperatorOrg
from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.licences import LODGING_LICENCES, is_licensed
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
    postal_code: Mapped[str] = mapped_column(
        String(7), default="", server_default=text("''")
    )  # 7 digits, no hyphen
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
    # What a guest needs on arrival (where the key is, parking, the last bus): in the
    # reminder mail 3 days before check-in and on the stay's page.
    arrival_notes_ja: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    arrival_notes_en: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    # The licence it lodges guests under (facilities.licences): its type and the
    # authority's number, shown on the public page. A facility offering stays is
    # listed only with a lodging licence; an office only carries "none".
    licence_type: Mapped[str] = mapped_column(String(20), default="", server_default=text("''"))
    licence_number: Mapped[str] = mapped_column(String(60), default="", server_default=text("''"))
    active: Mapped[bool] = mapped_column(default=True)
    # When the platform admin reviewed it: a facility is listed (searchable, bookable)
    # only once reviewed, while active and while its operator is not suspended.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
        CheckConstraint(
            "licence_type IN ('', 'hotel', 'simple', 'minpaku', 'special_zone', 'none')",
            name="licence_type_known",
        ),
    )

    @hybrid_property
    def listed(self) -> bool:
        """Employees can find and book it: active, reviewed, licensed if it offers stays,
        its operator not suspended."""
        return (
            self.active
            and self.reviewed_at is not None
            and self.licensed
            and self.operator.suspended_at is None
        )

    @listed.inplace.expression
    @classmethod
    def _listed_expression(cls):
        operator_live = (
            select(OperatorOrg.id)
            .where(OperatorOrg.id == cls.operator_id, OperatorOrg.suspended_at.is_(None))
            .exists()
        )
        return and_(cls.active.is_(True), cls.reviewed_at.is_not(None), cls.licensed, operator_live)

    @hybrid_property
    def licensed(self) -> bool:
        """An office only, or a facility offering stays with a lodging licence and number."""
        return is_licensed(self.kind, self.licence_type, self.licence_number)

    @licensed.inplace.expression
    @classmethod
    def _licensed_expression(cls):
        return or_(
            cls.kind == "office",
            and_(cls.licence_type.in_(LODGING_LICENCES), cls.licence_number != ""),
        )

    @property
    def is_minpaku(self) -> bool:
        """A 住宅宿泊事業 house: at most 180 nights a year (availability.night_cap)."""
        return self.licence_type == "minpaku"

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
    # makes the room dirty again (see consoles.operator.operations.housekeeping_board).
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
    # The operator's order (ascending) and choice of cover: one per facility at most.
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    is_cover: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A photo of one room (shown with that room), or of the facility (None).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="SET NULL"))
    # Widths of the resized copies made at upload ("480,960,1600"), for srcset.
    widths: Mapped[str] = mapped_column(String(40), default="", server_default=text("''"))

    facility: Mapped[Facility] = relationship()

    __table_args__ = (
        Index(
            "uq_facility_photo_one_cover",
            "facility_id",
            unique=True,
            sqlite_where=text("is_cover"),
            postgresql_where=text("is_cover"),
        ),
    )
