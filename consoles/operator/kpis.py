"""The operator's hotel figures, for one facility or many at once, in a fixed number of
queries whatever the number of facilities, rooms or nights.

Every figure is counted from ``Occupancy`` rows, the one truth of who holds a night
(a cancelled stay, or the nights a no-show or an early check-out gave back, have none):

- nights available: rooms on sale × nights, less the nights closed (manual closings and
  imported external events) in those rooms; a room off sale is not available. A night
  still sold in a room taken off sale counts as available too, so occupancy never
  passes 100 %;
- nights sold: nights held by stays (booked, in the house, checked out) and by direct
  stays the operator recorded. A no-show is not a night sold: the room stood empty;
- room revenue: the frozen nightly prices of the nights sold (tax included; a direct
  stay's nightly price as recorded); a night sold at ¥0 is sold and earns nothing;
- occupancy = sold ÷ available (a fraction 0–1), ADR = revenue ÷ sold, RevPAR =
  revenue ÷ available (both rounded to the yen; 0 when the divisor is 0);
- pickup: nights of the period sold by stays (or direct stays) made in the last 7 days
  before ``now``.

Last year's figures are the same dates a year earlier (29 February becomes the 28th),
with ``now`` a year earlier too for the pickup. They count as data only where last year
sold at least one night (``Figures.has_data``): rooms are counted as they are today, so
a facility new to Engawa would otherwise seem to have stood empty.

Also here, for the dashboard's top line: how many rooms need cleaning at each facility
(the rule of ``operations.housekeeping_board``, for many facilities at once), and
the forward occupancy per night for the dashboard's chart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select

from accounts.models import User
from availability.models import Block, BlockSource, DirectStay, Occupancy
from booking.models import LIVE_STATUSES, Booking, BookingNight
from consoles.operator import operations
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.models import Facility, Housekeeping, Unit

PICKUP_DAYS = 7
MAX_PERIOD_DAYS = 366  # the longest period the dashboard and its CSV compute
CLOSING_SOURCES = (BlockSource.MANUAL.value, BlockSource.IMPORT.value)


@dataclass(frozen=True)
class Figures:
    """The hotel figures of one facility (or of several summed) over [start, end)."""

    start: date
    end: date  # exclusive
    nights_available: int
    nights_sold: int
    room_revenue: int  # yen, tax included
    pickup: int  # nights of the period booked in the last PICKUP_DAYS days

    @property
    def occupancy(self) -> float:
        """Nights sold ÷ nights available (0–1; 0 when nothing was available)."""
        return self.nights_sold / self.nights_available if self.nights_available else 0.0

    @property
    def adr(self) -> int:
        """Average daily rate: room revenue ÷ nights sold, rounded to the yen."""
        return round(self.room_revenue / self.nights_sold) if self.nights_sold else 0

    @property
    def revpar(self) -> int:
        """Revenue per available room night, rounded to the yen."""
        return round(self.room_revenue / self.nights_available) if self.nights_available else 0

    @property
    def occupancy_percent(self) -> float:
        """Occupancy in percent, one decimal (as pages and the CSV show it)."""
        return round(100 * self.occupancy, 1)

    @property
    def has_data(self) -> bool:
        """Something was sold: the figures say how the period went, not that Engawa had
        no record of it (see the module's note on last year)."""
        return self.nights_sold > 0


def organisation_facilities(actor: User) -> list[Facility]:
    """The actor's organisation's facilities in ``facilities.services.operator_facilities``'
    order (open ones first), without their rooms: the dashboard counts rooms on sale in
    one query (``rooms_on_sale``) rather than loading every room of a large chain."""
    if not actor.runs_facilities:
        return []
    return list(
        db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == actor.operator_id)
            .order_by(Facility.active.desc(), Facility.name_ja, Facility.id)
        )
    )


# --- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The nights [start, end), with the instant its pickup is counted back from."""

    start: date
    end: date  # exclusive
    now: datetime

    @property
    def nights(self) -> int:
        return max(0, (self.end - self.start).days)

    def last_year(self) -> Window:
        return Window(year_earlier(self.start), year_earlier(self.end), year_earlier(self.now))


def year_earlier(value):
    """The same date (or instant) a year earlier; 29 February becomes the 28th."""
    try:
        return value.replace(year=value.year - 1)
    except ValueError:  # 29 February
        return value.replace(year=value.year - 1, day=28)


def _segments(windows: Iterable[Window]) -> list[tuple[date, date]]:
    """The nights the windows cover, cut at every window's ends: disjoint ranges, in
    order, each wholly inside or outside each window."""
    spans = [(w.start, w.end) for w in windows if w.end > w.start]
    bounds = sorted({day for span in spans for day in span})
    return [
        (a, b)
        for a, b in zip(bounds, bounds[1:], strict=False)
        if any(start <= a and b <= end for start, end in spans)
    ]


def _within(column, ranges: list[tuple[date, date]]):
    """``column`` (a night) in one of the ranges, adjacent ones joined."""
    joined: list[tuple[date, date]] = []
    for a, b in ranges:
        if joined and joined[-1][1] == a:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return or_(*(and_(column >= a, column < b) for a, b in joined))


# --- the two kinds of claimed night -------------------------------------------------------
#
# Stays and blocks are counted apart: each query joins only what its nights need, and a
# planner that hashes a joined table (PostgreSQL) reads only the nights asked for, since
# the ranges are repeated where they always hold.


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _picked_up(made_at, now: datetime):
    return _count(and_(made_at > now - timedelta(days=PICKUP_DAYS), made_at <= now))


def _stay_nights(ranges: list[tuple[date, date]], *columns, priced: bool = True):
    """``columns`` over the nights in ``ranges`` held by live stays, each with its stay,
    room and (if ``priced``) frozen price (a price missing counts as ¥0, never loses the
    night)."""
    first, last = ranges[0][0], ranges[-1][1]
    query = (
        select(*columns)
        .select_from(Occupancy)
        .join(Unit, Unit.id == Occupancy.unit_id)
        .join(
            Booking,
            and_(
                Booking.id == Occupancy.booking_id,
                Booking.status.in_(LIVE_STATUSES),
                Booking.check_in < last,
                Booking.check_out > first,
            ),
        )
        .where(_within(Occupancy.night, ranges))
    )
    if not priced:
        return query
    return query.outerjoin(
        BookingNight,
        and_(
            BookingNight.booking_id == Occupancy.booking_id,
            BookingNight.night == Occupancy.night,
            _within(BookingNight.night, ranges),
        ),
    )


_direct = Block.source == BlockSource.DIRECT.value
_closing = and_(Block.source.in_(CLOSING_SOURCES), Unit.active.is_(True))


def _block_nights(ranges: list[tuple[date, date]], *columns):
    """``columns`` over the nights in ``ranges`` held by blocks (closings, imported
    events, direct stays), each with its block, room and direct stay if it is one."""
    first, last = ranges[0][0], ranges[-1][1]
    return (
        select(*columns)
        .select_from(Block)
        .join(Occupancy, Occupancy.block_id == Block.id)
        .join(Unit, Unit.id == Block.unit_id)
        .outerjoin(DirectStay, DirectStay.block_id == Block.id)
        .where(Block.start_date < last, Block.end_date > first, _within(Occupancy.night, ranges))
    )


def rooms_on_sale(facility_ids: Sequence[int]) -> dict[int, int]:
    """Each facility's rooms on sale (every id present); one query."""
    rooms = dict.fromkeys(facility_ids, 0)
    if facility_ids:
        rows = db.session.execute(
            select(Unit.facility_id, func.count())
            .where(Unit.facility_id.in_(list(facility_ids)), Unit.active.is_(True))
            .group_by(Unit.facility_id)
        )
        rooms.update({fid: int(n) for fid, n in rows})
    return rooms


@dataclass
class _Tally:
    """What one facility's claimed nights of one segment come to."""

    sold: int = 0
    closed: int = 0
    sold_off_sale: int = 0
    revenue: int = 0
    pickup: dict[datetime, int] = field(default_factory=dict)

    def add(self, sold, closed, sold_off_sale, revenue, picked: dict[datetime, int]) -> None:
        self.sold += int(sold)
        self.closed += int(closed)
        self.sold_off_sale += int(sold_off_sale)
        self.revenue += int(revenue)
        for now, n in picked.items():
            self.pickup[now] = self.pickup.get(now, 0) + int(n)


def _tallies(
    ids: list[int], segments: list[tuple[date, date]], nows: list[datetime]
) -> dict[tuple[int, int], _Tally]:
    """Per (facility, segment): nights sold, closed, sold in rooms off sale, revenue,
    and the pickup as of each of ``nows``; two queries (stays, blocks), one row per
    facility and segment each."""
    tallies: dict[tuple[int, int], _Tally] = defaultdict(_Tally)
    segment = case(*((Occupancy.night < end, k) for k, (_start, end) in enumerate(segments)))
    off_sale = Unit.active.is_(False)
    stays = db.session.execute(
        _stay_nights(
            segments,
            Unit.facility_id,
            segment,
            func.count(),
            _count(off_sale),
            func.coalesce(func.sum(BookingNight.price), 0),
            *(_picked_up(Booking.created_at, now) for now in nows),
        )
        .where(Unit.facility_id.in_(ids))
        .group_by(Unit.facility_id, segment)
    )
    for fid, k, sold, sold_off_sale, revenue, *picked in stays:
        tallies[fid, k].add(sold, 0, sold_off_sale, revenue, dict(zip(nows, picked, strict=True)))
    blocks = db.session.execute(
        _block_nights(
            segments,
            Unit.facility_id,
            segment,
            _count(_direct),
            _count(_closing),
            _count(and_(_direct, off_sale)),
            func.coalesce(func.sum(case((_direct, DirectStay.nightly_price), else_=0)), 0),
            *(_picked_up(case((_direct, DirectStay.created_at)), now) for now in nows),
        )
        .where(Unit.facility_id.in_(ids))
        .group_by(Unit.facility_id, segment)
    )
    for fid, k, sold, closed, sold_off_sale, revenue, *picked in blocks:
        tallies[fid, k].add(
            sold, closed, sold_off_sale, revenue, dict(zip(nows, picked, strict=True))
        )
    return tallies


def windows_figures(
    facility_ids: Sequence[int], windows: Sequence[Window], rooms: dict[int, int] | None = None
) -> list[dict[int, Figures]]:
    """For each window, the figures of each facility (every id present, zeros when
    nothing happened): three queries whatever the number of facilities and windows (two
    if ``rooms``, from ``rooms_on_sale``, is given).

    The windows are cut into disjoint segments; each claimed night is counted once, in
    its segment, and each window sums its segments."""
    ids = list(dict.fromkeys(facility_ids))
    if rooms is None:
        rooms = rooms_on_sale(ids)
    segments = _segments(windows)
    nows = sorted({w.now for w in windows})
    tallies = _tallies(ids, segments, nows) if ids and segments else {}
    answer = []
    for window in windows:
        inside = [k for k, (a, b) in enumerate(segments) if window.start <= a and b <= window.end]
        per_facility = {}
        for fid in ids:
            found = [t for k in inside if (t := tallies.get((fid, k))) is not None]
            closed = sum(t.closed for t in found)
            sold_off_sale = sum(t.sold_off_sale for t in found)
            per_facility[fid] = Figures(
                window.start,
                window.end,
                rooms.get(fid, 0) * window.nights - closed + sold_off_sale,
                sum(t.sold for t in found),
                sum(t.revenue for t in found),
                sum(t.pickup.get(window.now, 0) for t in found),
            )
        answer.append(per_facility)
    return answer


def period_figures(
    facility_ids: list[int], start: date, end: date, now: datetime
) -> dict[int, Figures]:
    """The figures of each facility over [start, end) (every id present, zeros when
    nothing happened), in a fixed number of queries. The caller has checked the
    facilities are the operator's."""
    return windows_figures(facility_ids, [Window(start, end, now)])[0]


def total(figures: list[Figures], start: date, end: date) -> Figures:
    """Several facilities' figures summed (the organisation's line)."""
    return Figures(
        start,
        end,
        sum(f.nights_available for f in figures),
        sum(f.nights_sold for f in figures),
        sum(f.room_revenue for f in figures),
        sum(f.pickup for f in figures),
    )


# --- against last year --------------------------------------------------------------------


@dataclass(frozen=True)
class Compared:
    """A period's figures beside the same dates last year."""

    current: Figures
    last_year: Figures

    @property
    def previous(self) -> Figures | None:
        """Last year's figures where last year has data (see the module's note)."""
        return self.last_year if self.last_year.has_data else None

    @property
    def occupancy_points(self) -> float | None:
        """The change in occupancy, in percentage points (one decimal)."""
        if self.previous is None:
            return None
        return round(self.current.occupancy_percent - self.previous.occupancy_percent, 1)

    def change(self, name: str) -> int | None:
        """The change of an integer figure (``adr``, ``revpar``, ``room_revenue``,
        ``pickup``, ``nights_sold``…) since last year, or None without last year's data."""
        if self.previous is None:
            return None
        return getattr(self.current, name) - getattr(self.previous, name)


@dataclass(frozen=True)
class PeriodReport:
    """One period for the dashboard: each facility's figures and the organisation's,
    each against last year."""

    window: Window
    facilities: dict[int, Compared]
    organisation: Compared


def compare_with_last_year(
    facility_ids: Sequence[int], windows: Sequence[Window], rooms: dict[int, int] | None = None
) -> list[PeriodReport]:
    """Each window and the same dates last year, per facility and in total; the queries
    of one ``windows_figures`` call."""
    ids = list(dict.fromkeys(facility_ids))
    everything = [*windows, *(w.last_year() for w in windows)]
    figures = windows_figures(ids, everything, rooms)
    current, previous = figures[: len(windows)], figures[len(windows) :]
    reports = []
    for window, now_by_id, then_by_id in zip(windows, current, previous, strict=True):
        then_window = window.last_year()
        reports.append(
            PeriodReport(
                window,
                {fid: Compared(now_by_id[fid], then_by_id[fid]) for fid in ids},
                Compared(
                    total(list(now_by_id.values()), window.start, window.end),
                    total(list(then_by_id.values()), then_window.start, then_window.end),
                ),
            )
        )
    return reports


# --- the nights ahead ---------------------------------------------------------------------


@dataclass(frozen=True)
class NightFigures:
    night: date
    available: int
    sold: int

    @property
    def occupancy_percent(self) -> float:
        return round(100 * self.sold / self.available, 1) if self.available else 0.0


def nightly_occupancy(
    facility_ids: Sequence[int], start: date, end: date, rooms: dict[int, int] | None = None
) -> list[NightFigures]:
    """Each night of [start, end): rooms available and sold over these facilities
    together (the same rules as ``Figures``); three queries (two if ``rooms`` is given)."""
    ids = list(facility_ids)
    if rooms is None:
        rooms = rooms_on_sale(ids)
    on_sale = sum(rooms.get(fid, 0) for fid in ids)
    counted: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    if ids and end > start:
        ranges = [(start, end)]
        off_sale = Unit.active.is_(False)
        stays = db.session.execute(
            _stay_nights(ranges, Occupancy.night, func.count(), _count(off_sale), priced=False)
            .where(Unit.facility_id.in_(ids))
            .group_by(Occupancy.night)
        )
        for night, sold, sold_off_sale in stays:
            counted[night][0] += int(sold)
            counted[night][2] += int(sold_off_sale)
        blocks = db.session.execute(
            _block_nights(
                ranges,
                Occupancy.night,
                _count(_direct),
                _count(_closing),
                _count(and_(_direct, off_sale)),
            )
            .where(Unit.facility_id.in_(ids))
            .group_by(Occupancy.night)
        )
        for night, sold, closed, sold_off_sale in blocks:
            counted[night][0] += int(sold)
            counted[night][1] += int(closed)
            counted[night][2] += int(sold_off_sale)
    nights = []
    for i in range((end - start).days):
        night = start + timedelta(days=i)
        sold, closed, sold_off_sale = counted.get(night, (0, 0, 0))
        nights.append(NightFigures(night, on_sale - closed + sold_off_sale, sold))
    return nights


# --- rooms to clean -----------------------------------------------------------------------


def rooms_to_clean(facility_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Per facility, its rooms on sale that need cleaning at ``now``: the rule of
    ``operations.housekeeping_board`` (set dirty by staff, or left by a guest since
    staff last set the room's status), for every facility at once in two queries (the
    rooms, and ``operations.last_departures`` of them all)."""
    if not facility_ids:
        return {}
    on_sale = and_(Unit.facility_id.in_(list(facility_ids)), Unit.active.is_(True))
    rooms = db.session.execute(
        select(
            Unit.id,
            Unit.facility_id,
            Unit.housekeeping,
            Unit.housekeeping_at,
            Facility.check_out_time,
        )
        .join(Facility, Facility.id == Unit.facility_id)
        .where(on_sale)
    ).all()
    left = operations.last_departures(select(Unit.id).where(on_sale), now)
    start_of_today = datetime.combine(tokyo_today(now), time.min, tzinfo=TOKYO)
    counts = dict.fromkeys(facility_ids, 0)
    for unit_id, facility_id, status, marked_at, check_out_time in rooms:
        last = left.get(unit_id)
        instant = last.instant(check_out_time, now) if last is not None else None
        left_since = instant is not None and instant > (marked_at or start_of_today)
        counts[facility_id] += status == Housekeeping.DIRTY.value or left_since
    return counts
