"""An operator's own feeds, conflicts and export addresses; None for another's id."""

from __future__ import annotations

from accounts.models import User
from calendars.models import CalendarConflict, CalendarExport, CalendarFeed
from facilities.models import Unit
from facilities.services import owned


def operator_feed(actor: User, feed_id: int) -> CalendarFeed | None:
    return owned(
        actor, CalendarFeed, feed_id, lambda f: f.unit.facility, CalendarFeed.unit, Unit.facility
    )


def operator_conflict(actor: User, conflict_id: int) -> CalendarConflict | None:
    """A conflict (over a booking or a direct stay) in a room of the actor's facilities."""
    return owned(
        actor,
        CalendarConflict,
        conflict_id,
        lambda c: c.unit.facility,
        CalendarConflict.unit,
        Unit.facility,
    )


def operator_export(actor: User, export_id: int) -> CalendarExport | None:
    """A unit's or a facility's calendar export."""
    return owned(
        actor,
        CalendarExport,
        export_id,
        lambda e: e.facility if e.facility_id else e.unit.facility,
    )
