"""What an employee can choose next: each room's price and accommodation tax for the
chosen dates, the tax of each search result, whether a stay's guest register is still
to be filled in, and, when a search finds nothing, the nearby dates, nearby places and
filters that would."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.models import User
from booking import guest_register
from booking.models import OPEN_STATUSES, Booking
from booking.search import FacilityResult, SearchQuery, search
from booking.stay_tax import night_taxes
from core.dates import stay_nights
from core.extensions import db
from facilities.models import Facility, Unit
from facilities.regions import PREFECTURES_BY_CODE, REGIONS_BY_SLUG, prefecture_codes_in
from lodging import register
from lodging.tax import TaxTable
from pricing.prices import night_prices


@dataclass(frozen=True)
class RoomOffer:
    """One room of a facility for the chosen nights: free or not, and what the stay costs."""

    unit: Unit
    free: bool
    fits: bool  # sleeps the party
    total: int
    nights: int
    tax: int = 0  # the stay's accommodation tax (宿泊税), outside the price

    @property
    def per_night(self) -> int:
        """The average night, rounded down (the total is what is charged)."""
        return self.total // self.nights if self.nights else 0

    @property
    def offered(self) -> bool:
        return self.free and self.fits


def room_offers(
    facility: Facility,
    check_in: date,
    check_out: date,
    guests: int,
    free_ids: set[int],
    table: TaxTable | None = None,
) -> list[RoomOffer]:
    """Each active room's total for [check_in, check_out) at today's nightly prices, and
    the accommodation tax those nights would carry for ``guests``."""
    units = [u for u in facility.units if u.active]
    nights = stay_nights(check_in, check_out)
    prices = night_prices(((u.id, u.base_price) for u in units), nights)
    table = table if table is not None else TaxTable.load()
    offers = []
    for u in units:
        priced = [(night, p.price) for night, p in zip(nights, prices[u.id], strict=True)]
        offers.append(
            RoomOffer(
                u,
                u.id in free_ids,
                u.capacity >= guests,
                sum(price for _night, price in priced),
                len(nights),
                sum(night_taxes(facility, priced, guests, table)),
            )
        )
    return offers


def result_taxes(results: list[FacilityResult], guests: int, table: TaxTable) -> dict[int, int]:
    """The accommodation tax of each search result's stay (its cheapest room, whose
    nights ``attach_night_prices`` loaded), by facility id."""
    return {
        r.facility_id: sum(
            night_taxes(r.facility, [(n, p.price) for n, p in r.night_prices], guests, table)
        )
        for r in results
    }


# --- The guest register (宿泊者名簿) -----------------------------------------------------


def register_missing(booking: Booking, today: date) -> list | None:
    """What the stay's guest register still lacks ([] when complete), or None when the
    employee has no register to fill in for it (a satellite office, a stay cancelled
    or ended: ``guest_register.editable``). Checking in needs it complete."""
    if not guest_register.editable(booking, today):
        return None
    return register.missing(booking.id, booking.guests)


def register_complete(bookings: list[Booking], today: date) -> dict[int, bool]:
    """For each of the stays whose register can still be filled in, whether it is
    complete (one read; nothing of the register is shown, so nothing is logged)."""
    return guest_register.register_complete(
        b for b in bookings if guest_register.editable(b, today)
    )


def next_stay(user: User, today: date) -> Booking | None:
    """The employee's next confirmed stay that has not ended (shown above the search)."""
    return db.session.scalar(
        select(Booking)
        .where(
            Booking.user_id == user.id,
            Booking.status.in_(OPEN_STATUSES),
            Booking.check_out > today,
        )
        .options(selectinload(Booking.unit).selectinload(Unit.facility))
        .order_by(Booking.check_in, Booking.id)
        .limit(1)
    )


# --- When nothing is found -----------------------------------------------------------


@dataclass(frozen=True)
class DateSuggestion:
    check_in: date
    check_out: date
    facilities: int


@dataclass(frozen=True)
class PlaceSuggestion:
    place: str  # the search form's value: "p:13", "r:kanto" or "" (anywhere)
    name_ja: str
    name_en: str
    facilities: int

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


@dataclass(frozen=True)
class FilterSuggestion:
    field: str  # the filter to drop: "kind", "min_wifi", "guests" or "amenity:<name>"
    facilities: int


@dataclass(frozen=True)
class Suggestions:
    dates: list[DateSuggestion]
    places: list[PlaceSuggestion]
    filters: list[FilterSuggestion]

    def __bool__(self) -> bool:
        return bool(self.dates or self.places or self.filters)


DATE_SHIFTS = (-7, -3, -1, 1, 3, 7, 14, 21)
MAX_DATE_SUGGESTIONS = 3
MAX_PLACE_SUGGESTIONS = 4


def _count(query: SearchQuery) -> int:
    return len(search(query))


def _nearby_dates(query: SearchQuery, today: date, last_check_in: date) -> list[DateSuggestion]:
    """The same length of stay a few days earlier or later, closest first."""
    found = []
    for shift in sorted(DATE_SHIFTS, key=abs):
        check_in = query.check_in + timedelta(days=shift)
        if check_in < today or check_in > last_check_in:
            continue
        moved = replace(query, check_in=check_in, check_out=query.check_out + timedelta(days=shift))
        count = _count(moved)
        if count:
            found.append(DateSuggestion(moved.check_in, moved.check_out, count))
        if len(found) == MAX_DATE_SUGGESTIONS:
            break
    return sorted(found, key=lambda s: s.check_in)


def _nearby_places(query: SearchQuery) -> list[PlaceSuggestion]:
    """The same dates in the other prefectures of the region (or anywhere, for a region)."""
    if not (query.prefecture or query.region):
        return []
    wider = replace(query, prefecture=None, region=None)
    facility_ids = [r.facility_id for r in search(wider)]
    if not facility_ids:
        return []
    counts = dict(
        db.session.execute(
            select(Facility.prefecture, func.count())
            .where(Facility.id.in_(facility_ids))
            .group_by(Facility.prefecture)
        ).all()
    )
    if query.prefecture:
        region = REGIONS_BY_SLUG[PREFECTURES_BY_CODE[query.prefecture].region]
        nearby = [code for code in prefecture_codes_in(region.slug) if code != query.prefecture]
        places = [
            PlaceSuggestion(
                f"p:{code}",
                PREFECTURES_BY_CODE[code].name_ja,
                PREFECTURES_BY_CODE[code].name_en,
                counts[code],
            )
            for code in nearby
            if counts.get(code)
        ]
        places.sort(key=lambda p: -p.facilities)
        in_region = sum(counts.get(code, 0) for code in prefecture_codes_in(region.slug))
        if in_region and len(places) > 1:
            places.append(
                PlaceSuggestion(f"r:{region.slug}", region.name_ja, region.name_en, in_region)
            )
        return places[:MAX_PLACE_SUGGESTIONS]
    others = []
    for slug, region in REGIONS_BY_SLUG.items():
        if slug == query.region:
            continue
        count = sum(counts.get(code, 0) for code in prefecture_codes_in(slug))
        if count:
            others.append(PlaceSuggestion(f"r:{slug}", region.name_ja, region.name_en, count))
    others.sort(key=lambda p: -p.facilities)
    return others[:MAX_PLACE_SUGGESTIONS]


def _filters_to_drop(query: SearchQuery) -> list[FilterSuggestion]:
    """Each filter the employee set, and how many facilities the search finds without it."""
    candidates: list[tuple[str, SearchQuery]] = []
    if query.kind:
        candidates.append(("kind", replace(query, kind=None)))
    if query.min_wifi_mbps:
        candidates.append(("min_wifi", replace(query, min_wifi_mbps=0)))
    for amenity in sorted(query.amenities):
        candidates.append(
            (f"amenity:{amenity}", replace(query, amenities=query.amenities - {amenity}))
        )
    if query.guests > 1:
        candidates.append(("guests", replace(query, guests=1)))
    found = []
    for name, wider in candidates:
        count = _count(wider)
        if count:
            found.append(FilterSuggestion(name, count))
    return found


def suggestions(query: SearchQuery, today: date, last_check_in: date) -> Suggestions:
    """What would find a stay when ``query`` finds none: nearby dates, places, fewer filters."""
    return Suggestions(
        _nearby_dates(query, today, last_check_in),
        _nearby_places(query),
        _filters_to_drop(query),
    )
