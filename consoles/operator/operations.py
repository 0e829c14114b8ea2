"""Read models for the operator's daily pages: arrivals, housekeeping, occupancy, calendar.

Each function answers for one facility in a fixed, small number of queries,
whatever the number of rooms or bookings (no query per room or per night).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from accounts.models import Company, User
from availability.models import Block, BlockSource, Occupancy
from booking.models import Booking
from core.dates import month_bounds, stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.models import Facility, Housekeeping, Unit

# --- today and the days ahead -------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    booking_id: int
    unit_id: int
    unit_name: str
    guest_name: str
    company: str
    check_in: date
    check_out: date
    guests: int

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


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
    """Confirmed stays of the facility touching the days first..last (check-out included)."""
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
        )
        .where(
            Booking.is_live,
            Booking.check_in <= last,
            Booking.check_out >= first,
        )
        .order_by(Booking.check_in, Unit.name, Booking.id)
    )
    return [Stay(*row) for row in rows]


def days_ahead(facility: Facility, today: date, days: int = 8) -> list[DayOps]:
    """Today and the following days (8 in all by default), in one query."""
    last = today + timedelta(days=days - 1)
    agenda = [DayOps(today + timedelta(days=i)) for i in range(days)]
    for stay in _stays(facility, today, last):
        for ops in agenda:
            if stay.check_in == ops.day:
                ops.arrivals.append(stay)
            elif stay.check_out == ops.day:
                ops.departures.append(stay)
            elif stay.check_in < ops.day < stay.check_out:
                ops.staying.append(stay)
    return agenda


@dataclass(frozen=True)
class TodayCounts:
    arrivals: int = 0
    departures: int = 0
    in_house: int = 0


def today_counts(facility_ids: Sequence[int], today: date) -> dict[int, TodayCounts]:
    """Per facility: arrivals, departures and guests' stays holding tonight; one query."""
    if not facility_ids:
        return {}
    arriving = Booking.check_in == today
    rows = db.session.execute(
        select(
            Unit.facility_id,
            func.sum(case((arriving, 1), else_=0)),
            func.sum(case((Booking.check_out == today, 1), else_=0)),
            func.sum(
                case((and_(Booking.check_in <= today, Booking.check_out > today), 1), else_=0)
            ),
        )
        .join(Unit, Unit.id == Booking.unit_id)
        .where(
            Unit.facility_id.in_(list(facility_ids)),
            Booking.is_live,
            Booking.check_in <= today,
            Booking.check_out >= today,
        )
        .group_by(Unit.facility_id)
    )
    return {fid: TodayCounts(int(a or 0), int(d or 0), int(h or 0)) for fid, a, d, h in rows}


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


def _checkout_instant(facility: Facility, check_out: date) -> datetime:
    return datetime.combine(check_out, facility.check_out_time, tzinfo=TOKYO)


def _last_checkouts(unit_ids: list[int], last_done: date) -> dict[int, date]:
    """Each unit's latest confirmed check-out date on or before ``last_done``."""
    return dict(
        db.session.execute(
            select(Booking.unit_id, func.max(Booking.check_out))
            .where(
                Booking.unit_id.in_(unit_ids),
                Booking.is_live,
                Booking.check_out <= last_done,
            )
            .group_by(Booking.unit_id)
        ).all()
    )


def _stays_around(unit_ids: list[int], today: date) -> list:
    """(unit id, check-in, check-out) of the confirmed stays that touch ``today``."""
    return db.session.execute(
        select(Booking.unit_id, Booking.check_in, Booking.check_out).where(
            Booking.unit_id.in_(unit_ids),
            Booking.is_live,
            Booking.check_in <= today,
            Booking.check_out >= today,
        )
    ).all()


def housekeeping_board(facility: Facility, now: datetime) -> list[RoomStatus]:
    """Each open room's housekeeping status as it stands at ``now``.

    A room is dirty when a guest has checked out since staff last set its status:
    a confirmed stay's check-out instant (its check-out date at the facility's
    check-out time, Tokyo) is at or before ``now`` and after ``housekeeping_at``.
    A room nobody has marked yet (``housekeeping_at`` None) counts as set at the
    start of today in Tokyo: departures of earlier days are taken as turned over,
    so a new console does not show every room dirty from its history; today's
    departures do make it dirty. Otherwise the stored status stands.
    """
    today = tokyo_today(now)
    units = [u for u in facility.units if u.active]
    if not units:
        return []
    unit_ids = [u.id for u in units]
    # The last day whose check-out has already happened (all rooms share the time).
    last_done = today if _checkout_instant(facility, today) <= now else today - timedelta(days=1)
    last_checkout = _last_checkouts(unit_ids, last_done)
    around_today = _stays_around(unit_ids, today)
    start_of_today = datetime.combine(today, datetime.min.time(), tzinfo=TOKYO)

    board = []
    for unit in units:
        status = unit.housekeeping
        dirty_since = None
        checkout = last_checkout.get(unit.id)
        if checkout is not None:
            instant = _checkout_instant(facility, checkout)
            if instant > (unit.housekeeping_at or start_of_today):
                status, dirty_since = Housekeeping.DIRTY.value, instant
        stays = [(ci, co) for uid, ci, co in around_today if uid == unit.id]
        board.append(
            RoomStatus(
                unit=unit,
                status=status,
                stored=unit.housekeeping,
                checked_out_at=dirty_since,
                occupied_tonight=any(ci <= today < co for ci, co in stays),
                arriving_today=any(ci == today for ci, _co in stays),
                departing_today=any(co == today for _ci, co in stays),
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
    """Per night of the month: rooms sold (held by bookings), closed (held by blocks)
    and available (open rooms minus closed ones), over the facility's open rooms."""
    first, following = month_bounds(date(year, month, 1))
    unit_ids = [u.id for u in facility.units if u.active]
    counts: dict[date, tuple[int, int]] = {}
    if unit_ids:
        rows = db.session.execute(
            select(
                Occupancy.night, func.count(Occupancy.booking_id), func.count(Occupancy.block_id)
            )
            .where(
                Occupancy.unit_id.in_(unit_ids),
                Occupancy.night >= first,
                Occupancy.night < following,
            )
            .group_by(Occupancy.night)
        )
        counts = {night: (sold, closed) for night, sold, closed in rows}
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
    """Bookings (confirmed and cancelled) with a night in [first, end), by check-in."""
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
