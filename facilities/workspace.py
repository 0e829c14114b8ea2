"""Workspace units: the desks, booths and meeting rooms of a facility, sold by the slot.

A facility of any kind (an office, a stay, both) may have workspace units beside its
rooms. A unit carries its kind, capacity and equipment, its opening hours per weekday
and on national holidays, its slot size, the shortest and longest booking, and its
hourly and day prices (integer yen, tax included). The time arithmetic lives in
``availability.slots`` (``availability.workspace.opening_hours(unit)`` reads a unit's
hours); who holds which slot in ``availability.workspace``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, false, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.models import Facility


class WorkspaceKind(StrEnum):
    HOT_DESK = "hot_desk"  # フリーアドレス席
    FIXED_DESK = "fixed_desk"  # 固定席
    PHONE_BOOTH = "phone_booth"  # 個室ブース
    MEETING_ROOM = "meeting_room"  # 会議室


KIND_LABELS = {
    WorkspaceKind.HOT_DESK: _l("Hot desk"),
    WorkspaceKind.FIXED_DESK: _l("Fixed desk"),
    WorkspaceKind.PHONE_BOOTH: _l("Phone booth"),
    WorkspaceKind.MEETING_ROOM: _l("Meeting room"),
}

# The equipment a unit may have: its column and its label.
EQUIPMENT = {
    "monitor": _l("Monitor"),
    "web_meeting": _l("Web-meeting kit"),
    "whiteboard": _l("Whiteboard"),
}

# Weekdays 09:00–20:00, closed at weekends and on national holidays: a new unit's hours,
# as stored: ``{"week": [[opens, closes] | null] × 7 (Monday first, minutes from
# midnight), "holiday": weekday index | null}``.
DEFAULT_HOURS = {"week": [[540, 1200]] * 5 + [None, None], "holiday": None}


class WorkspaceUnit(db.Model):
    """A desk, booth or meeting room booked by the slot (``availability.slots``).

    ``hourly_price`` and ``day_price`` are yen, tax included; a booking costs the hourly
    price pro rata, capped at the day price. ``demand_pricing``: the price moves with
    demand as nights do (``pricing.workspace``). A booking not checked in
    ``release_after_minutes`` after its start is released (0: never)."""

    __tablename__ = "workspace_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facility.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(default=1)
    has_monitor: Mapped[bool] = mapped_column(default=False, server_default=false())
    has_web_meeting: Mapped[bool] = mapped_column(default=False, server_default=false())
    has_whiteboard: Mapped[bool] = mapped_column(default=False, server_default=false())
    hours: Mapped[dict] = mapped_column(JSON, default=lambda: dict(DEFAULT_HOURS))
    slot_minutes: Mapped[int] = mapped_column(default=30)
    min_minutes: Mapped[int] = mapped_column(default=30)
    max_minutes: Mapped[int] = mapped_column(default=660)
    hourly_price: Mapped[int]
    day_price: Mapped[int | None]
    demand_pricing: Mapped[bool] = mapped_column(default=True, server_default=true())
    release_after_minutes: Mapped[int] = mapped_column(default=30, server_default=text("30"))
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    # The room this unit was before workspace was sold by the slot (migration 0014):
    # that room's past bookings stay readable under it.
    legacy_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facility: Mapped[Facility] = relationship()

    __table_args__ = (
        CheckConstraint(
            "kind IN ('hot_desk', 'fixed_desk', 'phone_booth', 'meeting_room')",
            name="kind_known",
        ),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("slot_minutes IN (15, 30)", name="slot_size_known"),
        CheckConstraint(
            "min_minutes >= slot_minutes AND max_minutes >= min_minutes AND max_minutes <= 1440",
            name="length_range",
        ),
        CheckConstraint(
            "hourly_price >= 0 AND (day_price IS NULL OR day_price >= 0)", name="prices"
        ),
        CheckConstraint("release_after_minutes >= 0", name="release_not_negative"),
    )

    @property
    def equipment(self) -> list[str]:
        """The keys of ``EQUIPMENT`` this unit has."""
        return [key for key in EQUIPMENT if getattr(self, f"has_{key}")]

    @property
    def kind_label(self):
        return KIND_LABELS[WorkspaceKind(self.kind)]
