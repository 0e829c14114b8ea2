"""The 180-night cap of a 住宅宿泊事業 (private lodging) house (住宅宿泊事業法 §2-3).

Rules it enforces:

- A unit of a facility whose licence is ``minpaku`` lodges guests on at most
  ``CAP_NIGHTS`` nights in each year that runs from April 1 noon to the next April 1
  noon: the night of March 31 belongs to the year that began the April before, the
  night of April 1 to the new one (``lodging_year``).
- A night counts when it is held by a booking, a direct stay, or an imported event
  of a feed the operator marked as bookings (``Block.lodging``); a closing does not.
  Nights given back (a no-show, an early check-out) hold nothing and do not count.
- A new claim is checked under the unit's row lock, so two bookings racing for the
  180th night cannot both win: the second counts the first's night and is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select

from availability.models import Block, Occupancy
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day
from facilities.models import Facility, Unit

CAP_NIGHTS = 180


class NightCapReached(RuleError):
    """A 住宅宿泊事業 house has no nights left this year for the stay asked for."""

    code = "night_cap"


def lodging_year(night: date) -> int:
    """The year (by the April it starts in) that a night belongs to."""
    return night.year if night.month >= 4 else night.year - 1


def year_bounds(year: int) -> tuple[date, date]:
    """The nights [April 1, next April 1) of the lodging year starting in ``year``."""
    return date(year, 4, 1), date(year + 1, 4, 1)


def _counted_nights(unit_ids: Iterable[int], start: date, end: date):
    """Occupancy rows of the units in [start, end) that count as lodged nights."""
    return (
        select(Occupancy.unit_id, Occupancy.night)
        .outerjoin(Block, Block.id == Occupancy.block_id)
        .where(
            Occupancy.unit_id.in_(list(unit_ids)),
            Occupancy.night >= start,
            Occupancy.night < end,
            or_(Occupancy.booking_id.is_not(None), Block.lodging.is_(True)),
        )
    )


def sold_nights(unit_ids: Iterable[int], year: int) -> dict[int, int]:
    """Nights counted towards the cap per unit in the lodging year starting in ``year``."""
    ids = list(unit_ids)
    counts = dict.fromkeys(ids, 0)
    if not ids:
        return counts
    start, end = year_bounds(year)
    rows = _counted_nights(ids, start, end).subquery()
    for unit_id, count in db.session.execute(
        select(rows.c.unit_id, func.count()).group_by(rows.c.unit_id)
    ):
        counts[unit_id] = count
    return counts


@dataclass(frozen=True)
class CapUse:
    """One unit's use of its cap in one lodging year."""

    unit_id: int
    year: int
    sold: int

    @property
    def remaining(self) -> int:
        return max(0, CAP_NIGHTS - self.sold)

    @property
    def bounds(self) -> tuple[date, date]:
        return year_bounds(self.year)


def cap_use(unit_ids: Iterable[int], year: int) -> list[CapUse]:
    """Each unit's sold and remaining nights in a lodging year (for the operator)."""
    return [CapUse(u, year, n) for u, n in sold_nights(unit_ids, year).items()]


def capped_unit_ids(unit_ids: Iterable[int]) -> set[int]:
    """Those of the units whose facility is a 住宅宿泊事業 house."""
    ids = list(unit_ids)
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(Unit.id)
            .join(Facility, Facility.id == Unit.facility_id)
            .where(Unit.id.in_(ids), Facility.licence_type == "minpaku")
        )
    )


def first_year_over_cap(
    unit_id: int, nights: Iterable[date], held: Iterable[date] = ()
) -> CapUse | None:
    """The first lodging year in which the unit would go past the cap if the stay held
    ``nights`` instead of ``held`` (the nights it holds on this unit now, counted among
    the sold ones, which a change gives back unless it asks for them again), with what
    the unit has sold in it without ``held``; None when all fit. A year whose count the
    stay does not raise is never refused (a house over the cap keeps its stays)."""
    wanted, holding = Counter(map(lodging_year, set(nights))), Counter(map(lodging_year, set(held)))
    for year in sorted(wanted):
        if wanted[year] <= holding[year]:
            continue
        others = sold_nights([unit_id], year)[unit_id] - holding[year]
        if others + wanted[year] > CAP_NIGHTS:
            return CapUse(unit_id, year, others)
    return None


def check_night_cap(
    unit: Unit, nights: Iterable[date], held: Iterable[date] = (), *, lock: bool = True
) -> None:
    """Refuse nights a 住宅宿泊事業 house may not sell any more this year.

    Takes the unit's row lock first (released at commit), then counts: of two claims
    racing for the last night, the second waits and then sees the first. Nothing is
    locked or counted for a facility under another licence. ``lock=False``: the same
    answer without the lock, for a quote that writes nothing.
    """
    if unit.facility.licence_type != "minpaku":
        return
    if lock:
        # FOR NO KEY UPDATE: claims of the unit's nights wait for each other, while a
        # plain insert of an occupancy row (which takes the unit's key-share lock for
        # its foreign key) does not.
        db.session.execute(
            select(Unit.id).where(Unit.id == unit.id).with_for_update(key_share=True)
        )
    over = first_year_over_cap(unit.id, nights, held)
    if over is not None:
        start, _end = over.bounds
        raise NightCapReached(
            _l(
                "This house is a private lodging (minpaku) and may host guests on at most"
                " %(cap)d nights a year (April to March). From %(start)s it has %(left)d"
                " nights left, too few for this stay.",
                cap=CAP_NIGHTS,
                start=LazyString(format_day, start),
                left=over.remaining,
            )
        )
