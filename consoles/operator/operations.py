"""Read models for the operator's daily pages: arrivals, housekeeping, occupancy, calendar.

Each function answers for one facility in a fixed, small number of queries,
whatever the number of rooms or bookings (no query per room or per night).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, not_, null, or_, select, union_all
from sqlalchemy.orm import aliased

from accounts.models import Company, User
from availability.models import Block, BlockSource, DirectStay, Occupancy
from booking.models import Booking, BookingStatus
from core.dates import month_bounds, stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.models import Facility, Housekeeping, Unit

# --- what a stay holds and when its guest leaves ------------------------------------------
#
# A stay holds the nights [check_in, held_until): its check-out, or the day a no-show or
# an early check-out gave the rest back (``Booking.held_until``, as SQL here). Its guest
# leaves on ``held_until``, except a guest who has checked out: they left on the Japan
# date of ``checked_out_at`` (a late check-out, after the booked date, included).
# A no-show is not live: never in house, never leaving.

HELD_UNTIL = func.coalesce(Booking.released_on, Booking.check_out)
_CHECKED_OUT = and_(
    Booking.status == BookingStatus.CHECKED_OUT.value, Booking.checked_out_at.is_not(None)
)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=TOKYO)


def _departs_on(day: date):
    """SQL: the stay's guest leaves (or left) on ``day``."""
    return or_(
        and_(
            _CHECKED_OUT,
            Booking.checked_out_at >= _day_start(day),
            Booking.checked_out_at < _day_start(day + timedelta(days=1)),
        ),
        and_(not_(_CHECKED_OUT), HELD_UNTIL == day),
    )


def _touching(first: date, last: date):
    """SQL: a live stay that holds a night of, or leaves on, a day of first..last."""
    return and_(
        Booking.is_live,
        Booking.check_in <= last,
        or_(HELD_UNTIL >= first, Booking.checked_out_at >= _day_start(first)),
    )


def departure_day(held_until: date, status: str, checked_out_at: datetime | None) -> date:
    """The day the guest leaves or left."""
    if status == BookingStatus.CHECKED_OUT and checked_out_at is not None:
        return tokyo_today(checked_out_at)
    return held_until


# Direct stays (walk-ins) are held by a block of source ``direct`` over their whole range.
_IS_DIRECT = Block.source == BlockSource.DIRECT.value


# --- today and the days ahead -------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    """A stay on the front desk's agenda: a booking, or a direct stay (``direct_id``)."""

    booking_id: int | None
    unit_id: int
    unit_name: str
    guest_name: str
    company: str  # "" for a direct stay
    check_in: date
    check_out: date  # as booked
    guests: int
    held_until: date  # the day after the last night held
    departure: date  # the day the guest leaves (or left)
    direct_id: int | None = None
    status: str = ""  # the booking's

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    @property
    def left_early(self) -> bool:
        return self.departure < self.check_out

    def holds(self, night: date) -> bool:
        return self.check_in <= night < self.held_until


@dataclass
class DayOps:
    """One day at the front desk: who arrives, who leaves, who stays on."""

    day: date
    arrivals: list[Stay] = field(default_factory=list)
    departures: list[Stay] = field(default_factory=list)
    staying: list[Stay] = field(default_factory=list)  # arrived earlier, leave later

    @property
    def in_house(self) -> int:
        """Stays holding this night: tonight's arrivals plus those staying on."""
        return len(self.arrivals) + len(self.staying)


def _facility_bookings(facility: Facility, *columns):
    """``columns`` of the facility's bookings, with room, guest and company joined."""
    return (
        select(*columns)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(User, User.id == Booking.user_id)
        .join(Company, Company.id == Booking.company_id)
        .where(Unit.facility_id == facility.id)
    )


def _stays(facility: Facility, first: date, last: date) -> list[Stay]:
    """Live stays of the facility holding a night of, or leaving on, a day of
    first..last, and its direct stays touching those days; two queries."""
    rows = db.session.execute(
        _facility_bookings(
            facility,
            Booking.id,
            Booking.unit_id,
            Unit.name,
            User.name,
            Company.name,
            Booking.check_in,
            Booking.check_out,
            Booking.guests,
            HELD_UNTIL,
            Booking.status,
            Booking.checked_out_at,
        )
        .where(_touching(first, last))
        .order_by(Booking.check_in, Unit.name, Booking.id)
    )
    # Each row: the Stay's first nine fields, then its status and checked_out_at.
    stays = [Stay(*row[:9], departure_day(*row[8:]), None, row.status) for row in rows]
    directs = db.session.execute(
        select(
            DirectStay.id,
            Block.unit_id,
            Unit.name,
            DirectStay.guest_name,
            Block.start_date,
            Block.end_date,
            DirectStay.guests,
        )
        .join(Block, Block.id == DirectStay.block_id)
        .join(Unit, Unit.id == Block.unit_id)
        .where(
            Unit.facility_id == facility.id,
            _IS_DIRECT,
            Block.start_date <= last,
            Block.end_date >= first,
        )
    )
    stays += [
        Stay(None, uid, unit, guest, "", start, end, guests, end, end, direct_id=did)
        for did, uid, unit, guest, start, end, guests in directs
    ]
    stays.sort(key=lambda s: (s.check_in, s.unit_name, s.booking_id is None, s.booking_id or 0))
    return stays


def days_ahead(facility: Facility, today: date, days: int = 8) -> list[DayOps]:
    """Today and the following days (8 in all by default), in two queries. A stay
    arrives on its check-in day if it holds that night, leaves on its departure day
    (an early leaver on the day they left), and stays on the nights between."""
    last = today + timedelta(days=days - 1)
    agenda = [DayOps(today + timedelta(days=i)) for i in range(days)]
    for stay in _stays(facility, today, last):
        for ops in agenda:
            if stay.departure == ops.day:
                ops.departures.append(stay)
            elif stay.holds(ops.day):
                (ops.arrivals if stay.check_in == ops.day else ops.staying).append(stay)
    return agenda


@dataclass(frozen=True)
class TodayCounts:
    arrivals: int = 0
    departures: int = 0
    in_house: int = 0


def _sum(condition):
    return func.sum(case((condition, 1), else_=0))


def today_counts(facility_ids: Sequence[int], today: date) -> dict[int, TodayCounts]:
    """Per facility: arrivals, departures and stays holding tonight, bookings and direct
    stays alike (by the rules of ``days_ahead``); two queries."""
    if not facility_ids:
        return {}
    ids = list(facility_ids)
    # A guest who leaves today holds no night from today (a checked-out stay was
    # given back from the day it left), so the two never overlap.
    holds_tonight = and_(Booking.check_in <= today, HELD_UNTIL > today)
    departs = _departs_on(today)
    booked = db.session.execute(
        select(
            Unit.facility_id,
            _sum(and_(Booking.check_in == today, holds_tonight)),
            _sum(departs),
            _sum(holds_tonight),
        )
        .join(Unit, Unit.id == Booking.unit_id)
        .where(Unit.facility_id.in_(ids), _touching(today, today))
        .group_by(Unit.facility_id)
    )
    direct = db.session.execute(
        select(
            Unit.facility_id,
            _sum(Block.start_date == today),
            _sum(Block.end_date == today),
            _sum(Block.end_date > today),
        )
        .join(Unit, Unit.id == Block.unit_id)
        .where(
            Unit.facility_id.in_(ids),
            _IS_DIRECT,
            Block.start_date <= today,
            Block.end_date >= today,
        )
        .group_by(Unit.facility_id)
    )
    totals: dict[int, list[int]] = {}
    for fid, *counts in [*booked, *direct]:
        running = totals.setdefault(fid, [0, 0, 0])
        for i, n in enumerate(counts):
            running[i] += int(n or 0)
    return {fid: TodayCounts(*counts) for fid, counts in totals.items()}


# --- housekeeping -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomStatus:
    unit: Unit
    status: str  # the effective one: Housekeeping
    stored: str  # as staff last set it
    checked_out_at: datetime | None  # the check-out that made it dirty, if one did
    occupied_tonight: bool
    arriving_today: bool
    departing_today: bool


@dataclass(frozen=True)
class LastDeparture:
    """What is known of a room's latest departure, whatever its facility's check-out
    time: the latest departure day before today and whether one is today (each at
    the check-out time; stays and direct stays), and the latest actual check-out of a
    guest checked out at the front desk."""

    before_today: date | None
    today: bool
    checked_out_at: datetime | None

    def instant(self, check_out_time: time, now: datetime) -> datetime | None:
        """When the room was last left, as of ``now`` (Japan time), if ever."""
        today = tokyo_today(now)
        at_today = datetime.combine(today, check_out_time, tzinfo=TOKYO)
        instants = []
        if self.checked_out_at is not None:
            instants.append(self.checked_out_at.astimezone(TOKYO))
        if self.today and at_today <= now:
            instants.append(at_today)
        elif self.before_today is not None:
            instants.append(datetime.combine(self.before_today, check_out_time, tzinfo=TOKYO))
        return max(instants, default=None)


def last_departures(units, now: datetime) -> dict[int, LastDeparture]:
    """Per room of ``units`` (ids, or a SELECT of ids), its ``LastDeparture`` as of
    ``now``, in one query: the rule of the housekeeping board, for one facility or
    many (``kpis.rooms_to_clean``). A no-show or a cancelled stay never left."""
    today = tokyo_today(now)
    not_out = not_(_CHECKED_OUT)
    booked = (
        select(
            Booking.unit_id,
            func.max(case((and_(not_out, HELD_UNTIL < today), HELD_UNTIL))),
            func.max(case((and_(not_out, HELD_UNTIL == today), 1), else_=0)),
            func.max(case((_CHECKED_OUT, Booking.checked_out_at))),
        )
        .where(
            Booking.unit_id.in_(units),
            Booking.is_live,
            or_(
                and_(_CHECKED_OUT, Booking.checked_out_at <= now),
                and_(not_out, HELD_UNTIL <= today),
            ),
        )
        .group_by(Booking.unit_id)
    )
    direct = (
        select(
            Block.unit_id,
            func.max(case((Block.end_date < today, Block.end_date))),
            func.max(case((Block.end_date == today, 1), else_=0)),
            null(),
        )
        .where(Block.unit_id.in_(units), _IS_DIRECT, Block.end_date <= today)
        .group_by(Block.unit_id)
    )
    latest: dict[int, LastDeparture] = {}
    for unit_id, before, leaves_today, at in db.session.execute(union_all(booked, direct)):
        known = latest.get(unit_id, LastDeparture(None, False, None))
        latest[unit_id] = LastDeparture(
            max((d for d in (before, known.before_today) if d is not None), default=None),
            bool(leaves_today) or known.today,
            max((t for t in (at, known.checked_out_at) if t is not None), default=None),
        )
    return latest


def _stays_around(unit_ids: list[int], today: date) -> list:
    """(unit id, first night, held until, leaves today) of the live stays and direct
    stays holding tonight or leaving today; one query."""
    booked = select(Booking.unit_id, Booking.check_in, HELD_UNTIL, _departs_on(today)).where(
        Booking.unit_id.in_(unit_ids), _touching(today, today)
    )
    direct = select(Block.unit_id, Block.start_date, Block.end_date, Block.end_date == today).where(
        Block.unit_id.in_(unit_ids),
        _IS_DIRECT,
        Block.start_date <= today,
        Block.end_date >= today,
    )
    return db.session.execute(union_all(booked, direct)).all()


def housekeeping_board(facility: Facility, now: datetime) -> list[RoomStatus]:
    """Each open room's housekeeping status as it stands at ``now``.

    A room is dirty when a guest has checked out since staff last set its status:
    the actual check-out of a guest checked out at the front desk (an early leaver
    at the moment they left), or else a stay's (or direct stay's) departure day at
    the facility's check-out time (Tokyo), at or before ``now`` and after
    ``housekeeping_at``. A no-show never stayed and dirties nothing. A room nobody
    has marked yet (``housekeeping_at`` None) counts as set at the start of today in
    Tokyo: departures of earlier days are taken as turned over, so a new console
    does not show every room dirty from its history; today's departures do make it
    dirty. Otherwise the stored status stands.
    """
    today = tokyo_today(now)
    units = [u for u in facility.units if u.active]
    if not units:
        return []
    unit_ids = [u.id for u in units]
    left = last_departures(unit_ids, now)
    around_today = _stays_around(unit_ids, today)
    start_of_today = _day_start(today)

    board = []
    for unit in units:
        status = unit.housekeeping
        dirty_since = None
        last = left.get(unit.id)
        instant = last.instant(facility.check_out_time, now) if last is not None else None
        if instant is not None and instant > (unit.housekeeping_at or start_of_today):
            status, dirty_since = Housekeeping.DIRTY.value, instant
        stays = [(ci, held, leaves) for uid, ci, held, leaves in around_today if uid == unit.id]
        board.append(
            RoomStatus(
                unit=unit,
                status=status,
                stored=unit.housekeeping,
                checked_out_at=dirty_since,
                occupied_tonight=any(ci <= today < held for ci, held, _ in stays),
                arriving_today=any(ci == today < held for ci, held, _ in stays),
                departing_today=any(bool(leaves) for _ci, _held, leaves in stays),
            )
        )
    return board


def set_housekeeping(unit: Unit, status: str, now: datetime) -> None:
    """Record what staff found or did; a later check-out makes the room dirty again."""
    if status not in {s.value for s in Housekeeping}:
        raise ValueError(f"unknown housekeeping status {status!r}")
    unit.housekeeping = status
    unit.housekeeping_at = now
    db.session.flush()


# --- occupancy ----------------------------------------------------------------------------


def month_nights(year: int, month: int) -> list[date]:
    return stay_nights(*month_bounds(date(year, month, 1)))


@dataclass(frozen=True)
class NightOccupancy:
    night: date
    sold: int
    closed: int
    available: int  # open rooms minus closed ones

    @property
    def free(self) -> int:
        return max(0, self.available - self.sold)


@dataclass(frozen=True)
class MonthOccupancy:
    first: date
    units: int  # open rooms
    nights: list[NightOccupancy]

    @property
    def sold(self) -> int:
        return sum(n.sold for n in self.nights)

    @property
    def closed(self) -> int:
        return sum(n.closed for n in self.nights)

    @property
    def available(self) -> int:
        return sum(n.available for n in self.nights)

    @property
    def rate(self) -> float | None:
        """Nights sold per night available, in percent (one decimal); None if none was."""
        return round(100 * self.sold / self.available, 1) if self.available else None


def month_occupancy(facility: Facility, year: int, month: int) -> MonthOccupancy:
    """Per night of the month, over the facility's open rooms: rooms sold (held by a
    live stay or a direct stay; a no-show's night stood empty and is not sold), closed
    (held by a closing or an imported event) and available (open rooms minus closed
    ones); the rules of the dashboard's figures (``kpis``). One query."""
    first, following = month_bounds(date(year, month, 1))
    unit_ids = [u.id for u in facility.units if u.active]
    counts: dict[date, tuple[int, int]] = {}
    if unit_ids:
        sold = or_(and_(Occupancy.booking_id.is_not(None), Booking.is_live), _IS_DIRECT)
        closed = Block.source.in_([BlockSource.MANUAL.value, BlockSource.IMPORT.value])
        rows = db.session.execute(
            select(Occupancy.night, _sum(sold), _sum(closed))
            .outerjoin(Booking, Booking.id == Occupancy.booking_id)
            .outerjoin(Block, Block.id == Occupancy.block_id)
            .where(
                Occupancy.unit_id.in_(unit_ids),
                Occupancy.night >= first,
                Occupancy.night < following,
            )
            .group_by(Occupancy.night)
        )
        counts = {night: (int(sold or 0), int(closed or 0)) for night, sold, closed in rows}
    nights = []
    for night in month_nights(year, month):
        sold, closed = counts.get(night, (0, 0))
        nights.append(NightOccupancy(night, sold, closed, max(0, len(unit_ids) - closed)))
    return MonthOccupancy(first, len(unit_ids), nights)


# --- bookings export ----------------------------------------------------------------------


@dataclass(frozen=True)
class CsvBooking:
    booking_id: int
    unit: str
    check_in: date
    check_out: date
    nights: int
    guests: int
    company: str
    guest_name: str
    total_yen: int
    status: str


def bookings_for_csv(facility: Facility, first: date, end: date) -> list[CsvBooking]:
    """Bookings in every state (cancelled ones too) with a night in [first, end), by check-in."""
    rows = db.session.execute(
        _facility_bookings(
            facility,
            Booking.id,
            Unit.name,
            Booking.check_in,
            Booking.check_out,
            Booking.guests,
            Company.name,
            User.name,
            Booking.total_price,
            Booking.status,
        )
        .where(
            Booking.check_in < end,
            Booking.check_out > first,
        )
        .order_by(Booking.check_in, Booking.id)
    )
    return [
        CsvBooking(bid, unit, ci, co, (co - ci).days, guests, company, guest, total, status)
        for bid, unit, ci, co, guests, company, guest, total, status in rows
    ]


# --- facility calendar --------------------------------------------------------------------


@dataclass(frozen=True)
class GridCell:
    night: date
    status: str  # booked | closed | external | free
    booking_id: int | None = None
    guest_name: str = ""
    reason: str = ""  # BlockReason of a closed or external night
    note: str = ""  # the operator's note, or the external event's summary


@dataclass(frozen=True)
class GridRow:
    unit: Unit
    cells: list[GridCell]


@dataclass(frozen=True)
class MonthGrid:
    first: date
    nights: list[date]
    rows: list[GridRow]


def facility_month_grid(facility: Facility, year: int, month: int) -> MonthGrid:
    """Every room × every night of the month: booked, closed, external or free; one query."""
    nights = month_nights(year, month)
    units = list(facility.units)
    held: dict[tuple[int, date], GridCell] = {}
    if units:
        guest = aliased(User)
        rows = db.session.execute(
            select(
                Occupancy.unit_id,
                Occupancy.night,
                Occupancy.booking_id,
                guest.name,
                Block.source,
                Block.reason,
                Block.note,
                Block.summary,
            )
            .outerjoin(Booking, Booking.id == Occupancy.booking_id)
            .outerjoin(guest, guest.id == Booking.user_id)
            .outerjoin(Block, Block.id == Occupancy.block_id)
            .where(
                Occupancy.unit_id.in_([u.id for u in units]),
                Occupancy.night >= nights[0],
                Occupancy.night <= nights[-1],
            )
        )
        for unit_id, night, booking_id, guest_name, source, reason, note, summary in rows:
            if booking_id is not None:
                cell = GridCell(night, "booked", booking_id, guest_name or "")
            elif source == BlockSource.IMPORT:
                cell = GridCell(night, "external", reason=reason, note=summary or "")
            else:
                cell = GridCell(night, "closed", reason=reason, note=note or "")
            held[(unit_id, night)] = cell
    grid_rows = [
        GridRow(unit, [held.get((unit.id, n)) or GridCell(n, "free") for n in nights])
        for unit in units
    ]
    return MonthGrid(nights[0], nights, grid_rows)
