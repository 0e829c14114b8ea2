"""What demand pricing stores: settings, overrides, the prices, their history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Facility, Unit
from pricing.rules import Policy


class PricingPolicy(db.Model):
    """A facility's pricing settings; a facility without a row uses the defaults."""

    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    off_season_months: Mapped[str] = mapped_column(String(40), default="")  # "1,2,11"
    off_season_discount: Mapped[int] = mapped_column(default=Policy.off_season_discount)
    target_occupancy: Mapped[int] = mapped_column(default=Policy.target_occupancy)
    max_discount: Mapped[int] = mapped_column(default=Policy.max_discount)
    last_minute_max: Mapped[int] = mapped_column(default=Policy.last_minute_max)
    gap_discount: Mapped[int] = mapped_column(default=Policy.gap_discount)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    facility: Mapped[Facility] = relationship()

    __table_args__ = (
        CheckConstraint("off_season_discount BETWEEN 0 AND 90", name="off_season_percent"),
        CheckConstraint("target_occupancy BETWEEN 1 AND 100", name="target_percent"),
        CheckConstraint("max_discount BETWEEN 0 AND 90", name="max_discount_percent"),
        CheckConstraint("last_minute_max BETWEEN 0 AND 90", name="last_minute_percent"),
        CheckConstraint("gap_discount BETWEEN 0 AND 90", name="gap_percent"),
    )

    @property
    def months(self) -> frozenset[int]:
        return frozenset(int(m) for m in self.off_season_months.split(",") if m)

    @months.setter
    def months(self, months) -> None:
        self.off_season_months = ",".join(str(m) for m in sorted(set(months)))

    def rules(self) -> Policy:
        return Policy(
            enabled=self.enabled,
            off_season_months=self.months,
            off_season_discount=self.off_season_discount,
            target_occupancy=self.target_occupancy,
            max_discount=self.max_discount,
            last_minute_max=self.last_minute_max,
            gap_discount=self.gap_discount,
        )


class PriceOverride(db.Model):
    """An operator's price for nights [start_date, end_date) of one unit or all units.

    Overrides win over the computed price; a unit's own wins over a facility-wide
    one, and among those the newest.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))  # None: every unit
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)  # exclusive
    price: Mapped[int]
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit | None] = relationship()

    __table_args__ = (
        CheckConstraint("end_date > start_date", name="dates_ordered"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )


class NightlyPrice(db.Model):
    """The current price of one unsold night of one unit, and why.

    Written by the recompute job only when something changed. A booked night
    keeps the price frozen in its ``BookingNight``; its row here is left as it was.
    """

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    night: Mapped[date] = mapped_column(Date, primary_key=True)
    price: Mapped[int]
    base_price: Mapped[int]
    # The off-season percent among the reasons (≤ 0), for search badges and sorting.
    off_season: Mapped[int] = mapped_column(SmallInteger, default=0)
    reasons: Mapped[str] = mapped_column(String(200), default="")  # "off_season:-20,weekend:10"

    __table_args__ = (CheckConstraint("price >= 0", name="price_not_negative"),)


class PriceChange(db.Model):
    """One night's price moved from ``old_price`` to ``new_price``: the history."""

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    night: Mapped[date] = mapped_column(Date)
    old_price: Mapped[int]
    new_price: Mapped[int]
    # nightly, booking (or calendar change), settings, manual (fixed price), cli
    cause: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_price_change_unit_id_changed_at", "unit_id", "changed_at"),
        Index("ix_price_change_changed_at", "changed_at"),
    )


class PricingState(db.Model):
    """What a facility's last full re-pricing was computed from (a digest of its inputs).

    A full run whose inputs digest to the same value would write nothing, so it
    skips the facility without reading its prices.
    """

    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), primary_key=True)
    inputs_digest: Mapped[str] = mapped_column(String(64))
    priced_at: Mapped[datetime] = mapped_column(UTCDateTime)
