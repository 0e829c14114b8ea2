"""The tape chart's read model: for one facility and a range of days, each room's bars
(stays by state, closings, imported events with their feed, direct stays) and the
nights in conflict, in a fixed number of queries.

A bar shows the nights something *holds* (``Occupancy``, one holder per room and
night), grouped into runs: so bars never overlap, and a night two blocks want shows
the one that holds it. A stay's bar ends at its ``held_until``: the nights a no-show
or an early check-out gave back are drawn as a thin band of their own along the
bottom of the row (``Band``), under whatever holds them now, and a stay that gave
back every night of the range is only that band. An imported event over a night a
stay holds (a booking or a direct stay) holds nothing there; an open
``CalendarConflict`` marks those nights in red (``Band`` of kind ``conflict``) and
names the feed on the stay's or the direct stay's bar.

Columns are those of a CSS grid: column 1 is the room's name, the first day is
``FIRST_DAY_COLUMN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import jpholiday
from sqlalchemy import select

from accounts.models import User
from availability.models import Block, BlockSource, DirectStay, Occupancy
from booking.models import Booking, BookingStatus
from calendars.models import CalendarConflict, CalendarFeed
from core.extensions import db
from facilities.models import Facility, Unit

FIRST_DAY_COLUMN = 2  # column 1 holds the room's name
MOVABLE = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)


@dataclass(frozen=True)
class Day:
    day: date
    column: int
    holiday: str  # the national holiday's name (jpholiday), "" on other days
    is_today: bool
    is_past: bool

    @property
    def iso(self) -> str:
        return self.day.isoformat()

    @property
    def next_iso(self) -> str:
        return (self.day + timedelta(days=1)).isoformat()

    @property
    def tone(self) -> str:
        """``sun`` for Sundays and holidays (red), ``sat`` for Saturdays (blue)."""
        if self.holiday or self.day.weekday() == 6:
            return "sun"
        return "sat" if self.day.weekday() == 5 else ""

    @property
    def classes(self) -> str:
        """The day's grid column, tone and today mark, as CSS classes."""
        return " ".join(filter(None, (f"c{self.column}", self.tone, self.is_today and "today")))


@dataclass(frozen=True)
class FreeNight:
    """A night nobody holds: a link to close it or record a stay, unless in the past."""

    day: Day
    kind = "free"


@dataclass
class Bar:
    """A run of nights one holder holds in the range. ``start``/``end`` are the holder's
    own dates (a stay's check-in and the day it holds until; a block's dates), which may
    lie beyond the range: the bar is then clipped (``clipped_start``/``clipped_end``)."""

    kind: str  # stay | closed | imported | direct
    column: int
    span: int
    start: date
    end: date
    clipped_start: bool
    clipped_end: bool
    booking_id: int | None = None
    status: str = ""  # a stay's BookingStatus
    guest_name: str = ""  # a stay's guest, a direct stay's guest
    guests: int = 0
    check_out: date | None = None  # a stay's check-out (after ``end`` when nights were released)
    block_id: int | None = None
    reason: str = ""  # a closing's BlockReason
    note: str = ""  # a closing's or a direct stay's note, an imported event's summary
    feed_label: str = ""  # an imported event's external calendar
    direct_id: int | None = None
    conflicts: list[str] = field(default_factory=list)  # feeds in conflict with it

    @property
    def movable(self) -> bool:
        return self.kind == "stay" and self.status in MOVABLE

    @property
    def released_on(self) -> date | None:
        """The day a no-show or an early check-out gave the remaining nights back."""
        if self.kind == "stay" and self.check_out is not None and self.end < self.check_out:
            return self.end
        return None

    @property
    def last_night(self) -> date:
        return self.end - timedelta(days=1)


@dataclass(frozen=True)
class Band:
    """Nights marked along a row, over the bars: ``conflict`` (an open calendar conflict,
    red) or ``released`` (nights a stay gave back, a link to the stay)."""

    kind: str  # conflict | released
    column: int
    span: int
    label: str  # the feed's label (conflict) or the guest's name (released)
    booking_id: int | None = None
    direct_id: int | None = None  # conflict: over this direct stay (booking_id is None)
    start: date | None = None  # released: the day given back from
    status: str = ""  # released: the stay's status


@dataclass(frozen=True)
class Row:
    unit: Unit
    items: list[FreeNight | Bar]  # by column, covering every day once
    bands: list[Band]


@dataclass(frozen=True)
class TapeChart:
    start: date
    end: date  # exclusive
    days: list[Day]
    rows: list[Row]
    today: date

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def today_column(self) -> int | None:
        if self.start <= self.today < self.end:
            return FIRST_DAY_COLUMN + (self.today - self.start).days
        return None


@dataclass(frozen=True)
class _Stay:
    id: int
    unit_id: int
    check_in: date
    check_out: date
    held_until: date
    guests: int
    status: str
    guest_name: str


@dataclass(frozen=True)
class _Block:
    id: int
    start: date
    end: date
    source: str
    reason: str
    note: str
    summary: str
    feed_label: str
    direct_id: int | None
    guest_name: str
    guests: int
    direct_note: str


def chart_days(start: date, end: date, today: date) -> list[Day]:
    days = []
    for i in range((end - start).days):
        day = start + timedelta(days=i)
        days.append(
            Day(
                day=day,
                column=FIRST_DAY_COLUMN + i,
                holiday=jpholiday.is_holiday_name(day) or "",
                is_today=day == today,
                is_past=day < today,
            )
        )
    return days


def load(facility: Facility, start: date, end: date, today: date) -> TapeChart:
    """Every room of ``facility`` (off-sale ones too) over the days [start, end): its bars,
    free nights and bands. Five queries whatever the number of rooms and bars."""
    days = chart_days(start, end, today)
    units = list(facility.units)
    if not units:
        return TapeChart(start, end, days, [], today)
    unit_ids = [u.id for u in units]
    held = _held(unit_ids, start, end)
    stays = _stays(unit_ids, start, end)
    blocks = _blocks(unit_ids, start, end)
    conflicts = _conflicts(unit_ids, start, end)
    released = _released_bands(days, stays)
    rows = []
    for unit in units:
        items = _items(unit.id, days, held, stays, blocks)
        bands = released.get(unit.id, []) + _conflict_bands(days, conflicts.get(unit.id, []), items)
        rows.append(Row(unit, items, bands))
    return TapeChart(start, end, days, rows, today)


# --- the queries --------------------------------------------------------------------------


def _held(unit_ids: list[int], start: date, end: date) -> dict[tuple[int, date], tuple]:
    """(unit, night) → ("stay", booking id) or ("block", block id): who holds it."""
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night, Occupancy.booking_id, Occupancy.block_id).where(
            Occupancy.unit_id.in_(unit_ids), Occupancy.night >= start, Occupancy.night < end
        )
    )
    return {
        (unit_id, night): ("stay", booking_id) if booking_id is not None else ("block", block_id)
        for unit_id, night, booking_id, block_id in rows
    }


def _stays(unit_ids: list[int], start: date, end: date) -> dict[int, _Stay]:
    """The stays over the range that were not cancelled, with their guest's name."""
    rows = db.session.execute(
        select(
            Booking.id,
            Booking.unit_id,
            Booking.check_in,
            Booking.check_out,
            Booking.released_on,
            Booking.guests,
            Booking.status,
            User.name,
        )
        .join(User, User.id == Booking.user_id)
        .where(
            Booking.unit_id.in_(unit_ids),
            Booking.status != BookingStatus.CANCELLED,
            Booking.check_in < end,
            Booking.check_out > start,
        )
        .order_by(Booking.check_in, Booking.id)
    )
    return {
        bid: _Stay(bid, uid, ci, co, released or co, guests, status, name or "")
        for bid, uid, ci, co, released, guests, status, name in rows
    }


def _blocks(unit_ids: list[int], start: date, end: date) -> dict[int, _Block]:
    """The blocks over the range, with their feed's label or their direct stay."""
    rows = db.session.execute(
        select(
            Block.id,
            Block.start_date,
            Block.end_date,
            Block.source,
            Block.reason,
            Block.note,
            Block.summary,
            CalendarFeed.label,
            DirectStay.id,
            DirectStay.guest_name,
            DirectStay.guests,
            DirectStay.note,
        )
        .outerjoin(CalendarFeed, CalendarFeed.id == Block.feed_id)
        .outerjoin(DirectStay, DirectStay.block_id == Block.id)
        .where(Block.unit_id.in_(unit_ids), Block.start_date < end, Block.end_date > start)
    )
    return {
        row[0]: _Block(
            id=row[0],
            start=row[1],
            end=row[2],
            source=row[3],
            reason=row[4],
            note=row[5] or "",
            summary=row[6] or "",
            feed_label=row[7] or "",
            direct_id=row[8],
            guest_name=row[9] or "",
            guests=row[10] or 0,
            direct_note=row[11] or "",
        )
        for row in rows
    }


def _conflicts(unit_ids: list[int], start: date, end: date) -> dict[int, list[tuple]]:
    """Per unit: (booking id, direct stay id, first night, end, feed label) of the open
    conflicts whose nights meet the range (one of the two ids is None)."""
    rows = db.session.execute(
        select(
            CalendarConflict.unit_id,
            CalendarConflict.booking_id,
            CalendarConflict.direct_stay_id,
            CalendarConflict.first_night,
            CalendarConflict.nights,
            CalendarFeed.label,
        )
        .join(CalendarFeed, CalendarFeed.id == CalendarConflict.feed_id)
        .where(
            CalendarConflict.unit_id.in_(unit_ids),
            CalendarConflict.resolved_at.is_(None),
            CalendarConflict.first_night < end,
        )
        .order_by(CalendarConflict.first_night, CalendarConflict.id)
    )
    found: dict[int, list[tuple]] = {}
    for unit_id, booking_id, direct_id, first, nights, label in rows:
        last = first + timedelta(days=nights)
        if last > start:
            found.setdefault(unit_id, []).append((booking_id, direct_id, first, last, label or ""))
    return found


# --- building the rows --------------------------------------------------------------------


def _items(unit_id: int, days: list[Day], held: dict, stays: dict, blocks: dict) -> list:
    """Free nights and runs of one holder, by column."""
    items: list[FreeNight | Bar] = []
    i = 0
    while i < len(days):
        holder = held.get((unit_id, days[i].day))
        if holder is None:
            items.append(FreeNight(days[i]))
            i += 1
            continue
        j = i + 1
        while j < len(days) and held.get((unit_id, days[j].day)) == holder:
            j += 1
        items.append(_bar(holder, days, i, j, stays, blocks))
        i = j
    return items


def _bar(holder: tuple, days: list[Day], i: int, j: int, stays: dict, blocks: dict) -> Bar:
    kind, holder_id = holder
    first, end = days[i].day, days[j - 1].day + timedelta(days=1)
    place = {"column": days[i].column, "span": j - i}
    if kind == "stay":
        stay = stays.get(holder_id)
        start, until = (stay.check_in, stay.held_until) if stay else (first, end)
        return Bar(
            "stay",
            **place,
            start=start,
            end=until,
            clipped_start=i == 0 and start < first,
            clipped_end=j == len(days) and until > end,
            booking_id=holder_id,
            status=stay.status if stay else "",
            guest_name=stay.guest_name if stay else "",
            guests=stay.guests if stay else 0,
            check_out=stay.check_out if stay else end,
        )
    block = blocks.get(holder_id)
    start, until = (block.start, block.end) if block else (first, end)
    bar = Bar(
        "closed",
        **place,
        start=start,
        end=until,
        clipped_start=i == 0 and start < first,
        clipped_end=j == len(days) and until > end,
        block_id=holder_id,
    )
    if block is None:
        return bar
    bar.reason = block.reason
    if block.source == BlockSource.IMPORT:
        bar.kind, bar.feed_label, bar.note = "imported", block.feed_label, block.summary
    elif block.source == BlockSource.DIRECT:
        bar.kind, bar.direct_id = "direct", block.direct_id
        bar.guest_name, bar.guests, bar.note = block.guest_name, block.guests, block.direct_note
    else:
        bar.note = block.note
    return bar


def _span(days: list[Day], first: date, end: date) -> tuple[int, int] | None:
    """(column, span) of the nights [first, end) within the range, or None."""
    start, stop = days[0].day, days[-1].day + timedelta(days=1)
    first, end = max(first, start), min(end, stop)
    if end <= first:
        return None
    return FIRST_DAY_COLUMN + (first - start).days, (end - first).days


def _released_bands(days: list[Day], stays: dict) -> dict[int, list[Band]]:
    """Per unit: the nights stays gave back (a no-show, an early check-out)."""
    bands: dict[int, list[Band]] = {}
    for stay in stays.values():
        if stay.held_until >= stay.check_out:
            continue
        place = _span(days, stay.held_until, stay.check_out)
        if place:
            bands.setdefault(stay.unit_id, []).append(
                Band(
                    "released",
                    *place,
                    label=stay.guest_name,
                    booking_id=stay.id,
                    start=stay.held_until,
                    status=stay.status,
                )
            )
    return bands


def _conflict_bands(days: list[Day], conflicts: list, items: list) -> list[Band]:
    """A row's open conflicts, each named on its stay's (or direct stay's) bar too."""
    bands = []
    for booking_id, direct_id, first, end, label in conflicts:
        place = _span(days, first, end)
        if place is None:
            continue
        bands.append(
            Band("conflict", *place, label=label, booking_id=booking_id, direct_id=direct_id)
        )
        for bar in items:
            if not isinstance(bar, Bar) or label in bar.conflicts:
                continue
            if (bar.kind == "stay" and booking_id is not None and bar.booking_id == booking_id) or (
                bar.kind == "direct" and direct_id is not None and bar.direct_id == direct_id
            ):
                bar.conflicts.append(label)
    return bands
