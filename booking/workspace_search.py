"""Finding workspace: units free for a time across the network, and a facility's day.

- ``search_workspace``: the units of listed facilities (by prefecture or region), of a
  kind and with the equipment asked for, open for the whole time ``[starts_at, ends_at)``
  on one Tokyo day and free all of it (no ``SlotHold`` overlaps), with the price.
- ``day_view``: every active unit of a facility on one Tokyo date, slot by slot: free or
  taken (the past counts as taken), and each slot's price.

Both read holds with one query per request, never one per unit or slot.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import joinedload

from availability.slots import SlotError, Span, check_booking, day_slots
from availability.workspace import SlotHold, opening_hours, rules_of
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility
from facilities.regions import prefecture_codes_in
from facilities.workspace import EQUIPMENT, WorkspaceKind, WorkspaceUnit
from pricing.workspace import WorkspaceQuote, facility_policies, quote_workspace, slot_prices

MAX_RESULTS = 200


@dataclass(frozen=True)
class WorkspaceQuery:
    """What an employee looks for: one Tokyo day and a time on it, where, which kind,
    which equipment."""

    day: date
    starts: time
    ends: time | None  # None: midnight
    region: str | None = None
    prefecture: int | None = None
    kind: str | None = None
    equipment: frozenset[str] = frozenset()
    capacity: int = 1

    @property
    def span(self) -> Span:
        """The time asked for, in UTC (``ends`` None: midnight at the end of the day)."""
        start = datetime.combine(self.day, self.starts, tzinfo=TOKYO)
        if self.ends is None:
            end = datetime.combine(self.day + timedelta(days=1), time(0), tzinfo=TOKYO)
        else:
            end = datetime.combine(self.day, self.ends, tzinfo=TOKYO)
        return Span(start.astimezone(UTC), end.astimezone(UTC))


@dataclass(frozen=True)
class WorkspaceOffer:
    unit: WorkspaceUnit
    price: WorkspaceQuote


def _unit_filters(query: WorkspaceQuery) -> list:
    filters = [Facility.listed, WorkspaceUnit.active.is_(True)]
    if query.prefecture:
        filters.append(Facility.prefecture == query.prefecture)
    elif query.region:
        filters.append(Facility.prefecture.in_(prefecture_codes_in(query.region)))
    if query.kind in set(WorkspaceKind):
        filters.append(WorkspaceUnit.kind == query.kind)
    for key in query.equipment & set(EQUIPMENT):
        filters.append(getattr(WorkspaceUnit, f"has_{key}").is_(True))
    if query.capacity > 1:
        filters.append(WorkspaceUnit.capacity >= query.capacity)
    return filters


def search_workspace(query: WorkspaceQuery, *, limit: int = MAX_RESULTS) -> list[WorkspaceOffer]:
    """Units free for the whole time asked (module docstring), cheapest first."""
    start, end = query.span
    taken = exists().where(
        and_(
            SlotHold.unit_id == WorkspaceUnit.id,
            SlotHold.ends_at > start,
            SlotHold.starts_at < end,
        )
    )
    units = db.session.scalars(
        select(WorkspaceUnit)
        .join(Facility, Facility.id == WorkspaceUnit.facility_id)
        .where(~taken, *_unit_filters(query))
        .options(joinedload(WorkspaceUnit.facility))
        .order_by(WorkspaceUnit.facility_id, WorkspaceUnit.id)
    ).all()
    offers = []
    policies = facility_policies({unit.facility_id for unit in units})
    for unit in units:
        try:
            check_booking(start, end, opening_hours(unit), rules_of(unit))
        except SlotError:
            continue  # closed then, off its slots, or too short or long for it
        price = quote_workspace(unit, start, end, policy=policies[unit.facility_id])
        offers.append(WorkspaceOffer(unit, price))
    offers.sort(key=lambda offer: (offer.price.total, offer.unit.facility_id, offer.unit.id))
    return offers[:limit]


@dataclass(frozen=True)
class SlotView:
    """One slot of a day view; its times also as the page shows and posts them: Japan's
    wall clock (``14:00``, ``24:00`` for the midnight ending the day) and the API's form
    (``2026-12-07T14:00:00+09:00``)."""

    start: datetime
    end: datetime
    available: bool
    price: int
    starts_label: str
    ends_label: str
    start_iso: str


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True)
class UnitDay:
    unit: WorkspaceUnit
    slots: list[SlotView]

    @property
    def open(self) -> bool:
        return bool(self.slots)


def facility_units(facility_id: int) -> list[WorkspaceUnit]:
    return list(
        db.session.scalars(
            select(WorkspaceUnit)
            .where(WorkspaceUnit.facility_id == facility_id, WorkspaceUnit.active.is_(True))
            .order_by(WorkspaceUnit.kind, WorkspaceUnit.name, WorkspaceUnit.id)
        )
    )


def day_view(units: list[WorkspaceUnit], day: date, now: datetime | None = None) -> list[UnitDay]:
    """Each unit's slots on a Tokyo date: free or taken (a slot that has ended by ``now``
    is taken), with its price."""
    start = datetime.combine(day, time(0), tzinfo=TOKYO).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=TOKYO).astimezone(UTC)
    held: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    if units:
        rows = db.session.execute(
            select(SlotHold.unit_id, SlotHold.starts_at, SlotHold.ends_at).where(
                SlotHold.unit_id.in_([unit.id for unit in units]),
                SlotHold.ends_at > start,
                SlotHold.starts_at < end,
            )
        ).all()
        for row in rows:
            held[row.unit_id].append((row.starts_at, row.ends_at))
    days = []
    policies = facility_policies({unit.facility_id for unit in units})
    minute, iso_day = timedelta(minutes=1), day.isoformat()
    for unit in units:
        spans = day_slots(opening_hours(unit), day, unit.slot_minutes)
        prices = slot_prices(unit, spans, policy=policies[unit.facility_id])
        slots = []
        for span, price in zip(spans, prices, strict=True):
            starts = (span.start - start) // minute  # Japan keeps no daylight saving
            slots.append(
                SlotView(
                    span.start,
                    span.end,
                    (now is None or span.end > now)
                    and not any(s < span.end and e > span.start for s, e in held[unit.id]),
                    price,
                    _clock(starts),
                    _clock(starts + unit.slot_minutes),
                    f"{iso_day}T{_clock(starts)}:00+09:00",
                )
            )
        days.append(UnitDay(unit, slots))
    return days
