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
(the rule of ``operations.housekeeping_board``, for many facilities in one query), and
the forward occupancy per night for the dashboard's chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, literal, or_, select

from availability.models import Block, BlockSource, DirectStay, Occupancy
from booking.models import LIVE_STATUSES, Booking, BookingNight
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


# --- periods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The nights [start, end), with the instant its pickup is counted back from."""

    start: date
    end: date  # exclusive
    now: datetime

    @property
    def nights(self) -> int:
        return (self.end - self.start).days

    def last_year(self) -> Window:
        return Window(year_earlier(self.start), year_earlier(self.end), year_earlier(self.now))


def year_earlier(value):
    """The same date (or instant) a year earlier; 29 February becomes the 28th."""
    try:
        return value.replace(year=value.year - 1)
    except ValueError:  # 29 February
        return value.replace(year=value.year - 1, day=28)


def _merged(windows: Iterable[Window]) -> list[tuple[date, date]]:
    """The nights the windows cover, as few disjoint ranges as possible."""
    ranges: list[tuple[date, date]] = []
    for start, end in sorted((w.start, w.end) for w in windows if w.end > w.start):
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
        else:
            ranges.append((start, end))
    return ranges


def _in_ranges(ranges: list[tuple[date, date]]):
    return or_(*(and_(Occupancy.night >= s, Occupancy.night < e) for s, e in ranges))


# --- what each claimed night is -----------------------------------------------------------

_booked = and_(Occupancy.booking_id.is_not(None), Booking.status.in_(LIVE_STATUSES))
_direct = Block.source == BlockSource.DIRECT.value
_sold = or_(_booked, _direct)
_closed = and_(Block.source.in_(CLOSING_SOURCES), Unit.active.is_(True))
_sold_off_sale = and_(_sold, Unit.active.is_(False))
_price = case(
    (_booked, func.coalesce(BookingNight.price, 0)),
    (_direct, func.coalesce(DirectStay.nightly_price, 0)),
    else_=0,
)
_made_at = func.coalesce(Booking.created_at, DirectStay.created_at, Block.created_at)


def _claimed_nights(*columns):
    """``columns`` over every claimed night with what claims it joined (one row each)."""
    return (
        select(*columns)
        .select_from(Occupancy)
        .join(Unit, Unit.id == Occupancy.unit_id)
        .outerjoin(Booking, Booking.id == Occupancy.booking_id)
        .outerjoin(
            BookingNight,
            and_(
                BookingNight.booking_id == Occupancy.booking_id,
                BookingNight.night == Occupancy.night,
            ),
        )
        .outerjoin(Block, Block.id == Occupancy.block_id)
        .outerjoin(DirectStay, DirectStay.block_id == Occupancy.block_id)
    )


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _window_columns(window: Window) -> list:
    inside = and_(Occupancy.night >= window.start, Occupancy.night < window.end)
    since = window.now - timedelta(days=PICKUP_DAYS)
    picked_up = and_(inside, _sold, _made_at > since, _made_at <= window.now)
    return [
        _count(and_(inside, _sold)),
        _count(and_(inside, _closed)),
        _count(and_(inside, _sold_off_sale)),
        func.coalesce(func.sum(case((inside, _price), else_=0)), 0),
        _count(picked_up),
    ]


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


def windows_figures(
    facility_ids: Sequence[int], windows: Sequence[Window], rooms: dict[int, int] | None = None
) -> list[dict[int, Figures]]:
    """For each window, the figures of each facility (every id present, zeros when
    nothing happened): two queries whatever the number of facilities and windows (one
    if ``rooms``, from ``rooms_on_sale``, is given)."""
    ids = list(dict.fromkeys(facility_ids))
    if rooms is None:
        rooms = rooms_on_sale(ids)
    counted: dict[int, tuple] = {}
    ranges = _merged(windows)
    if ids and ranges:
        columns = [c for w in windows for c in _window_columns(w)]
        rows = db.session.execute(
            _claimed_nights(Unit.facility_id, *columns)
            .where(Unit.facility_id.in_(ids), _in_ranges(ranges))
            .group_by(Unit.facility_id)
        )
        counted = {row[0]: tuple(int(v) for v in row[1:]) for row in rows}
    zeros = (0,) * (5 * len(windows))
    answer = []
    for k, window in enumerate(windows):
        per_facility = {}
        for fid in ids:
            sold, closed, sold_off_sale, revenue, pickup = counted.get(fid, zeros)[
                5 * k : 5 * k + 5
            ]
            available = rooms.get(fid, 0) * window.nights - closed + sold_off_sale
            per_facility[fid] = Figures(window.start, window.end, available, sold, revenue, pickup)
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
    together (the same rules as ``Figures``); two queries (one if ``rooms`` is given)."""
    ids = list(facility_ids)
    if rooms is None:
        rooms = rooms_on_sale(ids)
    on_sale = sum(rooms.get(fid, 0) for fid in ids)
    counted: dict[date, tuple[int, int, int]] = {}
    if ids and end > start:
        rows = db.session.execute(
            select(Occupancy.night, _count(_sold), _count(_closed), _count(_sold_off_sale))
            .select_from(Occupancy)
            .join(Unit, Unit.id == Occupancy.unit_id)
            .outerjoin(Booking, Booking.id == Occupancy.booking_id)
            .outerjoin(Block, Block.id == Occupancy.block_id)
            .where(Unit.facility_id.in_(ids), Occupancy.night >= start, Occupancy.night < end)
            .group_by(Occupancy.night)
        )
        counted = {night: (int(s), int(c), int(o)) for night, s, c, o in rows}
    nights = []
    for i in range((end - start).days):
        night = start + timedelta(days=i)
        sold, closed, sold_off_sale = counted.get(night, (0, 0, 0))
        nights.append(NightFigures(night, on_sale - closed + sold_off_sale, sold))
    return nights


# --- rooms to clean -----------------------------------------------------------------------


def rooms_to_clean(facility_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """Per facility, its rooms on sale that need cleaning at ``now`` by the rule of
    ``operations.housekeeping_board`` (set dirty by staff, or a guest checked out since
    staff last set the room's status); one query whatever the number of facilities."""
    if not facility_ids:
        return {}
    today = tokyo_today(now)
    earlier_checkout = (
        select(func.max(Booking.check_out))
        .where(Booking.unit_id == Unit.id, Booking.is_live, Booking.check_out < today)
        .scalar_subquery()
    )
    leaves_today = (
        select(literal(1))
        .where(Booking.unit_id == Unit.id, Booking.is_live, Booking.check_out == today)
        .exists()
    )
    rows = db.session.execute(
        select(
            Unit.facility_id,
            Unit.housekeeping,
            Unit.housekeeping_at,
            Facility.check_out_time,
            earlier_checkout,
            leaves_today,
        )
        .join(Facility, Facility.id == Unit.facility_id)
        .where(Unit.facility_id.in_(list(facility_ids)), Unit.active.is_(True))
    )
    start_of_today = datetime.combine(today, time.min, tzinfo=TOKYO)
    counts = dict.fromkeys(facility_ids, 0)
    for facility_id, status, marked_at, check_out_time, earlier, today_too in rows:
        last = None
        if today_too and datetime.combine(today, check_out_time, tzinfo=TOKYO) <= now:
            last = today
        elif earlier is not None:
            last = earlier
        dirty = status == Housekeeping.DIRTY.value
        if last is not None:
            left_at = datetime.combine(last, check_out_time, tzinfo=TOKYO)
            dirty = dirty or left_at > (marked_at or start_of_today)
        counts[facility_id] += dirty
    return counts
