"""What the workspace booking tests share: a unit to book, Tokyo wall-clock times.

The fixed clock (tests.conftest.NOW) is Tuesday 1 December 2026, 12:00 in Tokyo; the
days used here are later weekdays of that month with no national holiday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select

from billing.models import CreditEntry, EntryKind
from core.db import TOKYO
from facilities.workspace import WorkspaceUnit

TUESDAY = date(2026, 12, 8)  # a week after NOW
WEDNESDAY = date(2026, 12, 9)
THURSDAY = date(2026, 12, 10)
SATURDAY = date(2026, 12, 12)  # closed (DEFAULT_HOURS: weekdays 09:00–20:00)
HOURLY = 1000  # yen an hour: 30 minutes cost 500


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A Tokyo wall-clock time as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO).astimezone(UTC)


def api_time(day: date, hour: int, minute: int = 0) -> str:
    """The API's form of a Tokyo wall-clock time: ``2026-12-08T14:00:00+09:00``."""
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO).isoformat()


def make_space(db, facility, **kw) -> WorkspaceUnit:
    """A hot desk open weekdays 09:00–20:00 in 30-minute slots, 30 minutes to 11 hours,
    1,000 yen an hour, priced without demand (so the yen are known), released 30 minutes
    after its start when nobody checked in."""
    unit = WorkspaceUnit(
        facility=facility,
        name=kw.pop("name", "Desk A"),
        kind=kw.pop("kind", "hot_desk"),
        hourly_price=kw.pop("hourly_price", HOURLY),
        day_price=kw.pop("day_price", None),
        demand_pricing=kw.pop("demand_pricing", False),
        **kw,
    )
    db.session.add(unit)
    db.session.commit()
    return unit


def workspace_entries(db, booking_id: int) -> list[tuple[str, int]]:
    """The ledger's entries for one workspace booking, as (kind, yen) in order."""
    rows = db.session.execute(
        select(CreditEntry.kind, CreditEntry.amount)
        .where(CreditEntry.workspace_booking_id == booking_id)
        .order_by(CreditEntry.id)
    ).all()
    return [(EntryKind(kind).value, amount) for kind, amount in rows]
