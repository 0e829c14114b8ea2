"""Search and availability, read straight from the occupancy table."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import jpholiday
from flask_babel import LazyString, lazy_ngettext
from sqlalchemy import and_, exists, func, select

from availability.models import Occupancy
from availability.night_cap import CAP_NIGHTS, lodging_year, sold_nights, year_bounds
from core.dates import month_weeks, stay_nights
from core.extensions import db
from core.i18n import format_day
from core.paging import Page
from facilities.licences import LicenceType
from facilities.models import YES_NO_AMENITIES, Facility, FacilityKind, Unit
from facilities.regions import prefecture_codes_in
from pricing.models import NightlyPrice
from pricing.prices import NightPrice, night_prices
from regions.programmes import facility_ids_with_sessions

AMENITIES = (*YES_NO_AMENITIES, "work_desks")


@dataclass(frozen=True)
class SearchQuery:
    check_in: date
    check_out: date
    guests: int = 1
    region: str | None = None
    prefecture: int | None = None
    kind: str | None = None
    amenities: frozenset[str] = frozenset()
    min_wifi_mbps: int = 0
    sort: str = "price"  # "price", "price_desc" or "saving" (biggest saving first)

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days


SORTS = ("price", "price_desc", "saving")


@dataclass(frozen=True)
class UnitOffer:
    id: int
    name: str
    capacity: int
    total_price: int
    base_total: int = 0  # the same nights at the base price
    off_season: int = 0  # the deepest off-season percent among its nights (≤ 0)
    base_price: int = 0

    @property
    def saving(self) -> int:
        return max(0, self.base_total - self.total_price)


@dataclass
class FacilityResult:
    facility_id: int
    units: list[UnitOffer]
    nights: int
    facility: Facility | None = None
    # Each night's price of the cheapest unit (loaded for the page shown).
    night_prices: list[tuple[date, NightPrice]] = field(default_factory=list)

    @property
    def offer(self) -> UnitOffer:
        """The unit shown for the facility: the cheapest (``search`` sorts them)."""
        return self.units[0]

    @property
    def lowest_total(self) -> int:
        return self.offer.total_price

    @property
    def best_saving(self) -> int:
        """What the offer shown saves against its base price."""
        return self.offer.saving

    @property
    def off_season(self) -> int:
        """The off-season discount (a positive percent) of the offer shown, or 0."""
        return -self.offer.off_season


def _facility_filters(query: SearchQuery) -> list:
    filters = [
        Facility.listed,
        Facility.min_nights <= query.nights,
        Facility.max_nights >= query.nights,
    ]
    if query.prefecture:
        filters.append(Facility.prefecture == query.prefecture)
    elif query.region:
        filters.append(Facility.prefecture.in_(prefecture_codes_in(query.region)))
    if query.kind == FacilityKind.STAY:
        filters.append(Facility.kind.in_((FacilityKind.STAY, FacilityKind.BOTH)))
    elif query.kind == FacilityKind.OFFICE:
        filters.append(Facility.kind.in_((FacilityKind.OFFICE, FacilityKind.BOTH)))
    for amenity in query.amenities:
        column = getattr(Facility, amenity)
        filters.append(column > 0 if amenity == "work_desks" else column.is_(True))
    if query.min_wifi_mbps:
        filters.append(Facility.wifi_mbps >= query.min_wifi_mbps)
    return filters


def _free_units(query: SearchQuery) -> list:
    """Active units big enough for the party, free every night, in facilities that match."""
    taken = exists().where(
        and_(
            Occupancy.unit_id == Unit.id,
            Occupancy.night >= query.check_in,
            Occupancy.night < query.check_out,
        )
    )
    return db.session.execute(
        select(
            Unit.id,
            Unit.facility_id,
            Unit.name,
            Unit.capacity,
            Unit.base_price,
            Facility.licence_type,
        )
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            Unit.active.is_(True), Unit.capacity >= query.guests, ~taken, *_facility_filters(query)
        )
        .order_by(Unit.facility_id, Unit.id)
    ).all()


# --- the 180-night cap of a 住宅宿泊事業 house (availability.night_cap) ------------------


@dataclass(frozen=True)
class CapRefusal:
    """A room the cap refuses for a stay: the first lodging year it would go past in,
    and the nights it has left in that year."""

    unit_id: int
    year: int
    left: int


def _nights_left(unit_ids: list[int], years: Iterable[int]) -> dict[tuple[int, int], int]:
    """Nights each unit may still lodge guests on, per (unit, lodging year): one grouped
    query per year, whatever the number of units."""
    left: dict[tuple[int, int], int] = {}
    if unit_ids:
        for year in sorted(set(years)):
            for unit_id, sold in sold_nights(unit_ids, year).items():
                left[unit_id, year] = max(0, CAP_NIGHTS - sold)
    return left


def cap_refusals(unit_ids: Iterable[int], check_in: date, check_out: date) -> dict[int, CapRefusal]:
    """Those of the (capped) units whose nights [check_in, check_out) would go past the
    cap in one of their lodging years. The caller passes only units of 住宅宿泊事業 houses."""
    need = Counter(lodging_year(n) for n in stay_nights(check_in, check_out))
    left = _nights_left(list(unit_ids), need)
    refused: dict[int, CapRefusal] = {}
    for (unit_id, year), nights in sorted(left.items(), key=lambda item: item[0][1]):
        if nights < need[year] and unit_id not in refused:
            refused[unit_id] = CapRefusal(unit_id, year, nights)
    return refused


def _within_night_cap(rows: list, check_in: date, check_out: date) -> list:
    """The free units of ``_free_units`` less those the cap refuses for the stay."""
    capped = [r.id for r in rows if r.licence_type == LicenceType.MINPAKU]
    refused = cap_refusals(capped, check_in, check_out) if capped else {}
    return [r for r in rows if r.id not in refused] if refused else rows


def _facility_cap(facility: Facility, units: list[Unit], start: date, end: date) -> dict:
    """Nights left per (unit, lodging year) over [start, end) for a 住宅宿泊事業 house's
    units; empty (no cap) for a facility under any other licence."""
    if facility.licence_type != LicenceType.MINPAKU:
        return {}
    years = range(lodging_year(start), lodging_year(max(start, end - timedelta(days=1))) + 1)
    return _nights_left([u.id for u in units], years)


def night_cap_notice(facility: Facility, check_in: date, check_out: date) -> LazyString | None:
    """Why a room of a 住宅宿泊事業 house is not offered for these dates when the cap is
    the reason (the nights left in the year the stay would go past it); None otherwise."""
    if facility.licence_type != LicenceType.MINPAKU or check_out <= check_in:
        return None
    refused = cap_refusals([u.id for u in facility.units if u.active], check_in, check_out)
    if not refused:
        return None
    # The room closest to fitting, in the earliest year it runs short in.
    best = max(refused.values(), key=lambda r: (r.left, -r.year))
    return lazy_ngettext(
        "This house is a private lodging (minpaku): it may host guests on at most %(cap)d"
        " nights a year (April to March), and %(num)d night remains in the year from"
        " %(date)s, too few for these dates.",
        "This house is a private lodging (minpaku): it may host guests on at most %(cap)d"
        " nights a year (April to March), and %(num)d nights remain in the year from"
        " %(date)s, too few for these dates.",
        best.left,
        cap=CAP_NIGHTS,
        date=LazyString(format_day, year_bounds(best.year)[0], "date"),
    )


def _stored_totals(unit_ids: list[int], check_in: date, check_out: date) -> dict:
    """The stored nightly prices of the stay summed per unit id."""
    # The stay's price per free unit, summed in the database (nights without a
    # stored price cost the base price). By unit id: the primary key's order.
    stored = {}
    for i in range(0, len(unit_ids), 10_000):
        stored.update(
            (r.unit_id, r)
            for r in db.session.execute(
                select(
                    NightlyPrice.unit_id,
                    func.sum(NightlyPrice.price).label("total"),
                    func.sum(NightlyPrice.base_price).label("base_total"),
                    func.count().label("nights"),
                    func.min(NightlyPrice.off_season).label("off_season"),
                )
                .where(
                    NightlyPrice.unit_id.in_(unit_ids[i : i + 10_000]),
                    NightlyPrice.night >= check_in,
                    NightlyPrice.night < check_out,
                )
                .group_by(NightlyPrice.unit_id)
            )
        )
    return stored


def _facility_results(rows: list, stored: dict, nights: int) -> list[FacilityResult]:
    """The free units grouped by facility, each facility's units cheapest first."""
    by_facility: dict[int, FacilityResult] = {}
    for r in rows:
        result = by_facility.setdefault(r.facility_id, FacilityResult(r.facility_id, [], nights))
        p = stored.get(r.id)
        unpriced = nights - (p.nights if p else 0)
        result.units.append(
            UnitOffer(
                r.id,
                r.name,
                r.capacity,
                (p.total if p else 0) + unpriced * r.base_price,
                (p.base_total if p else 0) + unpriced * r.base_price,
                p.off_season if p else 0,
                r.base_price,
            )
        )
    results = list(by_facility.values())
    for result in results:
        result.units.sort(key=lambda u: (u.total_price, u.id))
    return results


def search(query: SearchQuery) -> list[FacilityResult]:
    """Facilities with at least one unit free for every night of the stay, and those units.

    Each facility carries its free units and their stay totals; the list is sorted by
    the lowest total (or as ``query.sort`` says). Facilities are not loaded here.
    """
    rows = _within_night_cap(_free_units(query), query.check_in, query.check_out)
    stored = _stored_totals([r.id for r in rows], query.check_in, query.check_out)
    results = _facility_results(rows, stored, query.nights)
    if query.sort == "price_desc":
        results.sort(key=lambda r: (-r.lowest_total, r.facility_id))
    elif query.sort == "saving":
        results.sort(key=lambda r: (-r.best_saving, r.lowest_total, r.facility_id))
    else:
        results.sort(key=lambda r: (r.lowest_total, r.facility_id))
    return results


def attach_night_prices(results: list[FacilityResult], check_in: date, check_out: date) -> None:
    """Each result's cheapest unit, night by night, in one query."""
    nights = stay_nights(check_in, check_out)
    prices = night_prices(((r.offer.id, r.offer.base_price) for r in results), nights)
    for r in results:
        r.night_prices = list(zip(nights, prices[r.offer.id], strict=True))


def attach_facilities(results: list[FacilityResult]) -> None:
    """Load the facilities of ``results`` in one query."""
    ids = [r.facility_id for r in results]
    if not ids:
        return
    facilities = {f.id: f for f in db.session.scalars(select(Facility).where(Facility.id.in_(ids)))}
    for r in results:
        r.facility = facilities[r.facility_id]


def facilities_with_programmes(
    facility_ids: list[int], check_in: date, check_out: date, now: datetime
) -> set[int]:
    """Of these facilities, those with a regional programme's session within 20 km from
    check-in to check-out day (issue 20: the search's filter and badge)."""
    if not facility_ids:
        return set()
    rows = db.session.execute(
        select(Facility.id, Facility.latitude, Facility.longitude).where(
            Facility.id.in_(facility_ids)
        )
    ).all()
    return facility_ids_with_sessions([tuple(r) for r in rows], check_in, check_out, now)


def search_page(
    query: SearchQuery, page: int, per_page: int, *, programmes_at: datetime | None = None
) -> Page:
    """A page of ``search``; with ``programmes_at`` (now), only the facilities with a
    programme session nearby during the stay."""
    results = search(query)
    if programmes_at is not None:
        near = facilities_with_programmes(
            [r.facility_id for r in results], query.check_in, query.check_out, programmes_at
        )
        results = [r for r in results if r.facility_id in near]
    page = Page.number(page, len(results), per_page)
    items = results[(page - 1) * per_page : page * per_page]
    attach_facilities(items)
    attach_night_prices(items, query.check_in, query.check_out)
    return Page(items, len(results), page, per_page)


# --- Availability --------------------------------------------------------------------


@dataclass(frozen=True)
class NightStatus:
    night: date
    available: bool
    price: int
    base_price: int = 0
    reasons: tuple[tuple[str, int], ...] = ()
    off_season: int = 0  # the off-season discount shown, a positive percent


@dataclass
class UnitAvailability:
    unit: Unit
    nights: list[NightStatus] = field(default_factory=list)


def _taken_nights(unit_ids: list[int], start: date, end: date) -> set[tuple[int, date]]:
    if not unit_ids:
        return set()
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night).where(
            Occupancy.unit_id.in_(unit_ids), Occupancy.night >= start, Occupancy.night < end
        )
    )
    return {(r.unit_id, r.night) for r in rows}


def facility_availability(
    facility: Facility, start: date, end: date, nights_left: dict | None = None
) -> list[UnitAvailability]:
    """Each active unit's nights in [start, end): free or not, and the night's price.

    A night of a 住宅宿泊事業 house's room with no nights left in its lodging year is
    not free (``nights_left``: per (unit, year), computed here when not given).
    """
    units = [u for u in facility.units if u.active]
    nights = stay_nights(start, end)
    taken = _taken_nights([u.id for u in units], start, end)
    if nights_left is None:
        nights_left = _facility_cap(facility, units, start, end)
    prices = night_prices(((u.id, u.base_price) for u in units), nights)
    return [
        UnitAvailability(
            u,
            [
                NightStatus(
                    n,
                    (u.id, n) not in taken
                    and (not nights_left or nights_left.get((u.id, lodging_year(n)), 1) > 0),
                    p.price,
                    p.base_price,
                    p.reasons,
                    -p.off_season,
                )
                for n, p in zip(nights, prices[u.id], strict=True)
            ],
        )
        for u in units
    ]


def units_free_for_stay(facility: Facility, check_in: date, check_out: date) -> set[int]:
    """Ids of the facility's active units with every night of the stay free (and, in a
    住宅宿泊事業 house, nights enough left under the cap)."""
    unit_ids = [u.id for u in facility.units if u.active]
    taken = {unit_id for unit_id, _night in _taken_nights(unit_ids, check_in, check_out)}
    free = set(unit_ids) - taken
    if free and facility.licence_type == LicenceType.MINPAKU:
        free -= set(cap_refusals(free, check_in, check_out))
    return free


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    free_units: int  # units that sleep the guests, free this night
    total_units: int  # active units that sleep the guests
    price_from: int | None
    past: bool
    off_season: int = 0  # off-season discount of the night, a positive percent
    holiday: str | None = None  # the national holiday's name (祝日, from jpholiday)
    free_unit_ids: tuple[int, ...] = ()  # the free units that sleep the guests
    check_in_ok: bool = False  # a stay of the minimum nights may start this day
    check_out_ok: bool = False  # a stay from the chosen check-in may end this day

    @property
    def status(self) -> str:
        if self.past:
            return "past"
        if self.free_units == 0:
            return "full"
        if self.free_units <= max(1, self.total_units // 4):
            return "few"
        return "free"

    @property
    def saturday(self) -> bool:
        return self.day.weekday() == 5

    @property
    def sunday(self) -> bool:
        return self.day.weekday() == 6


def month_calendar(
    facility: Facility,
    year: int,
    month: int,
    today: date,
    *,
    guests: int = 1,
    check_in: date | None = None,
    last_check_in: date | None = None,
) -> list[list[CalendarDay]]:
    """Weeks (Sunday first, as Japanese calendars are) of one month's nights.

    Each day counts the units that sleep ``guests`` and are free that night. A day is a
    possible check-in when it is neither past nor after ``last_check_in`` (the booking
    horizon) and one unit is free for the facility's minimum nights from it; with
    ``check_in`` chosen (and itself possible), a day is a possible check-out when one
    unit is free every night in between and the length is within the facility's
    minimum and maximum nights, as the booking rules require.
    """
    weeks = month_weeks(date(year, month, 1))
    first, last = weeks[0][0], weeks[-1][-1]
    min_nights, max_nights = max(1, facility.min_nights), max(1, facility.max_nights)
    # The grid's nights, the minimum stay past its last day, and back to a check-in
    # before the grid whose stay may still end inside it.
    start = first
    if check_in and first - timedelta(days=max_nights) <= check_in < first:
        start = check_in
    end = last + timedelta(days=min_nights)
    # Nights left under the cap (a 住宅宿泊事業 house), also for a stay running past the grid.
    active = [u for u in facility.units if u.active]
    reach = check_in or start
    stay_end = (
        reach + timedelta(days=max_nights) if reach < date.max - timedelta(max_nights) else end
    )
    nights_left = _facility_cap(facility, active, start, max(end, stay_end))
    availability = [
        ua
        for ua in facility_availability(facility, start, end, nights_left)
        if ua.unit.capacity >= guests
    ]
    free: dict[date, set[int]] = defaultdict(set)
    prices: dict[date, list[int]] = defaultdict(list)
    off_season: dict[date, int] = defaultdict(int)
    for ua in availability:
        for n in ua.nights:
            if n.available:
                free[n.night].add(ua.unit.id)
                prices[n.night].append(n.price)
                off_season[n.night] = max(off_season[n.night], n.off_season)

    def within_cap(units: set[int], first: date, count: int) -> set[int]:
        """Those of ``units`` with nights enough left for ``count`` nights from ``first``."""
        if not nights_left:
            return units
        need = Counter(lodging_year(first + timedelta(days=n)) for n in range(count))
        return {u for u in units if all(nights_left.get((u, y), n) >= n for y, n in need.items())}

    def can_check_in(d: date) -> bool:
        if d < today or (last_check_in is not None and d > last_check_in):
            return False
        units = set(free.get(d, ()))
        for n in range(1, min_nights):
            units &= free.get(d + timedelta(days=n), set())
        return bool(within_cap(units, d, min_nights))

    # The days a stay from the check-in may end on: one unit free every night between
    # (and, under the cap, with nights enough left).
    check_outs: set[date] = set()
    if check_in and can_check_in(check_in):
        units = set(free.get(check_in, ()))
        for n in range(1, max_nights + 1):
            units = within_cap(units, check_in, n)
            if not units:
                break
            if n >= min_nights:
                check_outs.add(check_in + timedelta(days=n))
            units &= free.get(check_in + timedelta(days=n), set())
    return [
        [
            CalendarDay(
                day=d,
                in_month=d.month == month,
                free_units=len(prices[d]),
                total_units=len(availability),
                price_from=min(prices[d]) if prices[d] and d >= today else None,
                past=d < today,
                off_season=off_season[d] if d >= today else 0,
                holiday=jpholiday.is_holiday_name(d),
                free_unit_ids=tuple(sorted(free[d])) if d >= today else (),
                check_in_ok=can_check_in(d),
                check_out_ok=d in check_outs,
            )
            for d in week
        ]
        for week in weeks
    ]
