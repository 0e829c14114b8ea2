"""The operator's workspace day and its utilisation: a facility's desks, booths and
meeting rooms across one Tokyo day (bookings, closed or imported times, free time), and
how much of their open time was booked over the weeks up to that day, by hour of the day
and by weekday, with the yen those bookings kept.

No Flask here: the view passes the facility, its units, the day and the number of weeks
in. Two queries whatever the period: the bookings of the whole period (the day is its
last day; guest and company names joined) and the held blocks of the day. The rest is
arithmetic on the Tokyo wall clock, in minutes from midnight.

Rules:

- The day's timeline shows the units on sale, and those off sale only when they have
  bookings that day. It runs from the earliest opening to the latest closing of those
  units that day (whole hours), stretched over any booking or block outside it.
- A booking shows from its start to its end, with its status; a cancelled one does not
  show. A no-show shows up to the slot boundary where its time was released (the rest
  is free again and may be booked by someone else). A waiting booking (part of a stay
  not yet approved or paid) holds its time, so it shows too, marked.
- A block shows while it holds its time (``WorkspaceBlock.held``): the operator's
  closing or an imported calendar event. An imported event kept unheld over a booking is
  a conflict, listed on the unit's calendar page, not here.
- Utilisation = minutes booked inside the unit's opening ÷ minutes open, per unit, per
  hour of the day and per weekday. Open minutes follow the unit's hours rule day by day
  (a national holiday closed or open as the rule says: ``OpeningHours.opening_on``).
  Booked: confirmed, checked in, and no-shows up to their release. Waiting bookings are
  not sold yet; blocks are not bookings. A unit off sale counts only if it has booked
  time in the period. A unit whose stored hours cannot be read counts as closed.
- Revenue (yen, tax included) is what the period's bookings kept: ``total_price -
  refunded`` of every confirmed, checked-in, no-show or cancelled booking (a
  cancellation keeps its fee), by the Tokyo day it starts on. Waiting ones paid nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

import jpholiday
from sqlalchemy import select

from accounts.models import Company, User
from availability.slots import Opening, ScheduleError
from availability.workspace import WorkspaceBlock, opening_hours, round_up
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from calendars.workspace_models import WorkspaceFeed
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility
from facilities.workspace import WorkspaceUnit

DAY_MINUTES = 24 * 60
QUARTER = 15  # the timeline's grid column: both slot sizes (15, 30) fall on it
WEEK_CHOICES = (4, 8, 12)
DEFAULT_WEEKS = 4

# Statuses whose time was sold (utilisation) and whose money was kept (revenue).
SOLD = (WorkspaceStatus.CONFIRMED, WorkspaceStatus.CHECKED_IN, WorkspaceStatus.NO_SHOW)
KEPT = (*SOLD, WorkspaceStatus.CANCELLED)


# --- times --------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TOKYO)


def _minute_of(moment: datetime, day: date) -> int:
    """Minutes from the start of the Tokyo ``day`` to ``moment``, within 0–1440."""
    minutes = (moment.astimezone(TOKYO) - _midnight(day)) // timedelta(minutes=1)
    return max(0, min(DAY_MINUTES, minutes))


def _tokyo_day(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()


def clock(minute: int) -> str:
    """Minutes from midnight as a wall-clock time, 24:00 for midnight at the end."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def hours_text(minutes: int) -> str:
    """Minutes as hours with one decimal, rounded half up: 90 → "1.5"."""
    tenths = (minutes * 10 + 30) // 60
    return f"{tenths // 10}.{tenths % 10}"


def percent(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` in whole per cent (half up); None when nothing was open."""
    if whole <= 0:
        return None
    return (part * 200 + whole) // (whole * 2)


def _opening(unit: WorkspaceUnit, day: date) -> tuple[Opening | None, bool]:
    """The unit's opening that day and whether its stored hours could be read (a unit
    whose hours cannot be read is treated as closed)."""
    try:
        return opening_hours(unit).opening_on(day), True
    except (ScheduleError, KeyError, TypeError, ValueError, IndexError):
        return None, False


def _by_hour(start: int, end: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` (minutes of a day) cut at the hours: (hour, minutes) pairs."""
    minute = start
    while minute < end:
        hour = minute // 60
        upto = min(end, (hour + 1) * 60)
        yield hour, upto - minute
        minute = upto


# --- the period's bookings: one query -----------------------------------------------------


class BookingRow(NamedTuple):
    id: int
    unit_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    total_price: int
    refunded: int
    released_at: datetime | None
    guest: str
    company: str


def period_bookings(facility: Facility, first: date, last: date) -> list[BookingRow]:
    """Every booking of the facility's workspace units starting on the Tokyo days
    ``first``–``last`` (a booking never spans midnight), by unit and start."""
    start = _midnight(first).astimezone(UTC)
    end = _midnight(last + timedelta(days=1)).astimezone(UTC)
    rows = db.session.execute(
        select(
            WorkspaceBooking.id,
            WorkspaceBooking.unit_id,
            WorkspaceBooking.starts_at,
            WorkspaceBooking.ends_at,
            WorkspaceBooking.status,
            WorkspaceBooking.total_price,
            WorkspaceBooking.refunded,
            WorkspaceBooking.released_at,
            User.name,
            Company.name,
        )
        .join(User, User.id == WorkspaceBooking.user_id)
        .join(Company, Company.id == WorkspaceBooking.company_id)
        .where(
            WorkspaceBooking.unit_id.in_(
                select(WorkspaceUnit.id).where(WorkspaceUnit.facility_id == facility.id)
            ),
            WorkspaceBooking.starts_at < end,
            WorkspaceBooking.ends_at > start,
        )
        .order_by(WorkspaceBooking.unit_id, WorkspaceBooking.starts_at, WorkspaceBooking.id)
    ).all()
    return [BookingRow(*row) for row in rows]


def held_until(booking: BookingRow, slot_minutes: int) -> datetime:
    """Where a booking's time ends: a no-show's at the slot boundary it was released
    from (``booking.workspace_checkin.release_no_show``), any other's at its end."""
    if booking.status == WorkspaceStatus.NO_SHOW and booking.released_at is not None:
        cut = round_up(booking.released_at, slot_minutes)
        return max(booking.starts_at, min(booking.ends_at, cut))
    return booking.ends_at


# --- the day's timeline ------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A stretch ``[start, end)`` (minutes of the day) of one unit's row.

    ``kind``: ``booking``, ``block`` (closed by the operator, ``source`` manual, or an
    imported event, ``source`` import), ``free`` (open and not held) or ``closed``
    (outside the unit's hours). ``column`` and ``span`` place it on the timeline's grid
    of quarter hours (the first column is 1)."""

    kind: str
    start: int
    end: int
    column: int = 1
    span: int = 1
    status: str = ""
    guest: str = ""
    company: str = ""
    booking_id: int | None = None
    source: str = ""
    label: str = ""  # a block's feed label or note

    @property
    def minutes(self) -> int:
        return self.end - self.start

    @property
    def times(self) -> str:
        return f"{clock(self.start)}–{clock(self.end)}"


@dataclass(frozen=True)
class UnitDay:
    unit: WorkspaceUnit
    opening: Opening | None
    hours_readable: bool
    segments: list[Segment]

    @property
    def hours(self) -> str:
        """The unit's opening that day as ``09:00–20:00`` ('' when closed)."""
        if self.opening is None:
            return ""
        return f"{clock(self.opening.opens_minute)}–{clock(self.opening.closes_minute)}"


@dataclass(frozen=True)
class Tick:
    label: str
    column: int
    span: int


@dataclass(frozen=True)
class DayTimeline:
    day: date
    holiday: str | None  # the national holiday's name (jpholiday), if the day is one
    start: int | None  # the window in minutes of the day; None when nothing opens
    end: int | None
    rows: list[UnitDay]

    @property
    def quarters(self) -> int:
        if self.start is None or self.end is None:
            return 0
        return (self.end - self.start) // QUARTER

    @property
    def ticks(self) -> list[Tick]:
        """The hour labels over the grid (the window starts and ends on whole hours)."""
        if self.start is None or self.end is None:
            return []
        return [
            Tick(clock(minute), (minute - self.start) // QUARTER + 1, 60 // QUARTER)
            for minute in range(self.start, self.end, 60)
        ]


class _Item(NamedTuple):
    start: int
    end: int
    segment: Segment


def _day_items(
    unit: WorkspaceUnit,
    day: date,
    bookings: Iterable[BookingRow],
    blocks: Iterable[tuple[WorkspaceBlock, str | None]],
) -> list[_Item]:
    """The unit's bookings and held blocks that day, by start, never overlapping (the
    holds never do; a later item is cut where an earlier one ends, to be safe)."""
    items = []
    for booking in bookings:
        if booking.status == WorkspaceStatus.CANCELLED:
            continue
        start = _minute_of(booking.starts_at, day)
        end = _minute_of(held_until(booking, unit.slot_minutes), day)
        seg = Segment(
            "booking",
            start,
            end,
            status=booking.status,
            guest=booking.guest,
            company=booking.company,
            booking_id=booking.id,
        )
        items.append(_Item(start, end, seg))
    for block, feed_label in blocks:
        start, end = _minute_of(block.starts_at, day), _minute_of(block.ends_at, day)
        label = feed_label or block.summary or block.note
        seg = Segment("block", start, end, source=block.source, label=label)
        items.append(_Item(start, end, seg))
    items.sort(key=lambda item: (item.start, item.end))
    kept: list[_Item] = []
    for item in items:
        start = max(item.start, kept[-1].end if kept else 0)
        if start < item.end:
            kept.append(_Item(start, item.end, item.segment))
    return kept


def _fill(items: list[_Item], opening: Opening | None, window: tuple[int, int]) -> list[Segment]:
    """The whole window of one row: its items, and between them free time inside the
    opening and closed time outside it, each placed on the grid."""
    first, last = window
    opens, closes = (
        (opening.opens_minute, opening.closes_minute) if opening is not None else (first, first)
    )
    # The moments where a row may change: the window, the opening, every item's edges.
    cuts = {first, last, opens, closes}
    for item in items:
        cuts |= {item.start, item.end}
    cuts = sorted(c for c in cuts if first <= c <= last)
    raw: list[Segment] = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        held = next((i for i in items if i.start <= start and end <= i.end), None)
        if held is not None:
            piece = replace(held.segment, start=held.start, end=held.end)
        else:
            kind = "free" if opens <= start and end <= closes else "closed"
            piece = Segment(kind, start, end)
        if raw and raw[-1].kind == piece.kind and piece.kind in ("free", "closed"):
            raw[-1] = Segment(piece.kind, raw[-1].start, end)
        elif raw and piece.kind in ("booking", "block") and raw[-1] == piece:
            continue  # the same item, cut by another row's edge
        else:
            raw.append(piece)
    return [_place(piece, first) for piece in raw]


def _place(piece: Segment, first: int) -> Segment:
    column = (piece.start - first) // QUARTER + 1
    end_column = -(-(piece.end - first) // QUARTER) + 1  # rounded up
    return replace(piece, column=column, span=max(1, end_column - column))


def _day_blocks(unit_ids: list[int], day: date) -> dict[int, list]:
    start = _midnight(day).astimezone(UTC)
    end = _midnight(day + timedelta(days=1)).astimezone(UTC)
    by_unit: dict[int, list] = {uid: [] for uid in unit_ids}
    if not unit_ids:
        return by_unit
    rows = db.session.execute(
        select(WorkspaceBlock, WorkspaceFeed.label)
        .outerjoin(WorkspaceFeed, WorkspaceFeed.id == WorkspaceBlock.feed_id)
        .where(
            WorkspaceBlock.unit_id.in_(unit_ids),
            WorkspaceBlock.held.is_(True),
            WorkspaceBlock.starts_at < end,
            WorkspaceBlock.ends_at > start,
        )
        .order_by(WorkspaceBlock.unit_id, WorkspaceBlock.starts_at)
    ).all()
    for block, label in rows:
        by_unit[block.unit_id].append((block, label))
    return by_unit


def day_timeline(
    units: list[WorkspaceUnit], day: date, bookings: Iterable[BookingRow]
) -> DayTimeline:
    """One row per unit on sale (and per unit off sale with bookings that day) across
    the day's window; ``bookings`` may hold other days' too (the period's)."""
    todays: dict[int, list[BookingRow]] = {}
    for booking in bookings:
        if _tokyo_day(booking.starts_at) == day:
            todays.setdefault(booking.unit_id, []).append(booking)
    shown = [
        u
        for u in units
        if u.active or any(b.status != WorkspaceStatus.CANCELLED for b in todays.get(u.id, []))
    ]
    blocks = _day_blocks([u.id for u in shown], day)
    prepared = []
    edges: list[int] = []
    for unit in shown:
        opening, readable = _opening(unit, day)
        items = _day_items(unit, day, todays.get(unit.id, []), blocks[unit.id])
        if opening is not None:
            edges += [opening.opens_minute, opening.closes_minute]
        for item in items:
            edges += [item.start, item.end]
        prepared.append((unit, opening, readable, items))
    holiday = jpholiday.is_holiday_name(day)
    if not edges:
        rows = [UnitDay(unit, opening, ok, []) for unit, opening, ok, _items in prepared]
        return DayTimeline(day, holiday, None, None, rows)
    window = (min(edges) // 60 * 60, min(DAY_MINUTES, -(-max(edges) // 60) * 60))
    rows = [
        UnitDay(unit, opening, ok, _fill(items, opening, window))
        for unit, opening, ok, items in prepared
    ]
    return DayTimeline(day, holiday, window[0], window[1], rows)


# --- utilisation over the period ----------------------------------------------------------


@dataclass
class Use:
    """Open and booked minutes by hour of the day (24) and by weekday (7, Monday
    first), with the bookings' counts and the yen they kept. ``unit`` is None for the
    facility's total."""

    unit: WorkspaceUnit | None
    open_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    booked_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    open_by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    booked_by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    bookings: int = 0
    no_shows: int = 0
    cancelled: int = 0
    revenue: int = 0
    hours_readable: bool = True

    @property
    def open_minutes(self) -> int:
        return sum(self.open_by_weekday)

    @property
    def booked_minutes(self) -> int:
        return sum(self.booked_by_weekday)

    @property
    def share(self) -> int | None:
        return percent(self.booked_minutes, self.open_minutes)

    def hour_share(self, hour: int) -> int | None:
        return percent(self.booked_by_hour[hour], self.open_by_hour[hour])

    def weekday_share(self, weekday: int) -> int | None:
        return percent(self.booked_by_weekday[weekday], self.open_by_weekday[weekday])

    def add(self, other: Use) -> None:
        for mine, theirs in (
            (self.open_by_hour, other.open_by_hour),
            (self.booked_by_hour, other.booked_by_hour),
            (self.open_by_weekday, other.open_by_weekday),
            (self.booked_by_weekday, other.booked_by_weekday),
        ):
            for i, value in enumerate(theirs):
                mine[i] += value
        self.bookings += other.bookings
        self.no_shows += other.no_shows
        self.cancelled += other.cancelled
        self.revenue += other.revenue


@dataclass(frozen=True)
class Utilisation:
    first: date
    last: date  # inclusive: the chosen day
    weeks: int
    units: list[Use]
    total: Use
    hours: list[int]  # the hours of the day any unit opened in the period

    @property
    def revenue(self) -> int:
        return self.total.revenue


def period_of(day: date, weeks: int) -> tuple[date, date]:
    """The ``weeks`` weeks ending with ``day``: its first and last (``day``) dates."""
    return day - timedelta(days=weeks * 7 - 1), day


def _unit_use(unit: WorkspaceUnit, days: list[date], bookings: list[BookingRow]) -> Use:
    use = Use(unit)
    openings: dict[date, Opening | None] = {}
    for day in days:
        opening, readable = _opening(unit, day)
        use.hours_readable = use.hours_readable and readable
        openings[day] = opening
        if opening is None:
            continue
        for hour, minutes in _by_hour(opening.opens_minute, opening.closes_minute):
            use.open_by_hour[hour] += minutes
        use.open_by_weekday[day.weekday()] += opening.closes_minute - opening.opens_minute
    for booking in bookings:
        day = _tokyo_day(booking.starts_at)
        if day not in openings:
            continue
        if booking.status in KEPT:
            use.revenue += booking.total_price - booking.refunded
        if booking.status == WorkspaceStatus.CANCELLED:
            use.cancelled += 1
        if booking.status not in SOLD:
            continue
        use.bookings += 1
        use.no_shows += booking.status == WorkspaceStatus.NO_SHOW
        opening = openings[day]
        if opening is None:
            continue  # booked when the unit still opened that day: no open time to fill
        start = max(_minute_of(booking.starts_at, day), opening.opens_minute)
        end = min(_minute_of(held_until(booking, unit.slot_minutes), day), opening.closes_minute)
        for hour, minutes in _by_hour(start, end):
            use.booked_by_hour[hour] += minutes
            use.booked_by_weekday[day.weekday()] += minutes
    return use


def utilisation(
    units: list[WorkspaceUnit], day: date, weeks: int, bookings: Iterable[BookingRow]
) -> Utilisation:
    """Each unit's use over the ``weeks`` weeks up to ``day`` (see the module's rules),
    from the period's bookings as ``period_bookings`` reads them."""
    first, last = period_of(day, weeks)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    by_unit: dict[int, list[BookingRow]] = {}
    for booking in bookings:
        by_unit.setdefault(booking.unit_id, []).append(booking)
    uses = []
    for unit in units:
        use = _unit_use(unit, days, by_unit.get(unit.id, []))
        if unit.active or use.booked_minutes or use.revenue:
            uses.append(use)
    total = Use(None)
    for use in uses:
        total.add(use)
    open_hours = [hour for hour in range(24) if total.open_by_hour[hour]]
    hours = list(range(open_hours[0], open_hours[-1] + 1)) if open_hours else []
    return Utilisation(first, last, weeks, uses, total, hours)


@dataclass(frozen=True)
class WorkspaceDay:
    timeline: DayTimeline
    use: Utilisation


def workspace_day(
    facility: Facility, units: list[WorkspaceUnit], day: date, weeks: int = DEFAULT_WEEKS
) -> WorkspaceDay:
    """The page's figures for the facility's ``units`` (all of them, on sale or not):
    the day's timeline and the use of the ``weeks`` weeks up to it, from one query of
    bookings."""
    if weeks not in WEEK_CHOICES:
        raise ValueError(f"weeks must be one of {WEEK_CHOICES}, not {weeks!r}")
    first, last = period_of(day, weeks)
    bookings = period_bookings(facility, first, last)
    return WorkspaceDay(
        day_timeline(units, day, bookings), utilisation(units, day, weeks, bookings)
    )
