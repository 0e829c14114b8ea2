"""The operator's accommodation tax report (宿泊税): the basis of each municipality's
monthly return, per municipality and month of the nights, from the stays' frozen nights.

What counts, for the operator's facilities that offer stays:

- a night: a ``BookingNight`` of a stay that keeps its tax (booked, in the house or
  checked out: ``LIVE_STATUSES``) before the day its nights were given back
  (``Booking.held_until``), stayed or still to be stayed. The same rule as
  ``booking.stay_tax.kept_tax``: a cancelled stay and a no-show (no guest lodged,
  whenever it was marked), and the nights an early check-out gave back, had their tax
  refunded in full and are not in it;
- taxable guests: guest-nights of those nights that carry tax (the stay's guests on
  each night whose ``accommodation_tax`` is above 0);
- tax: the sum of those nights' ``accommodation_tax``, yen, as frozen at booking.

Direct stays (walk-ins, phone bookings) are not in it: the desk collects their tax.
A night belongs to the municipality its facility is in today (prefecture code and the
municipality's name as entered). One grouped query: per facility and month, the month
picked by a ``CASE`` over the months' bounds, which SQLite and PostgreSQL read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select

from booking.models import LIVE_STATUSES, Booking, BookingNight
from core.dates import month_bounds
from core.extensions import db
from facilities.models import Facility, FacilityKind, Unit

MAX_MONTHS = 36  # the longest period one report covers


@dataclass
class TaxFigures:
    """Nights, taxable guest-nights and tax (yen) of some nights."""

    nights: int = 0
    taxable_guests: int = 0
    tax: int = 0

    def add(self, other: TaxFigures) -> None:
        self.nights += other.nights
        self.taxable_guests += other.taxable_guests
        self.tax += other.tax


@dataclass
class MunicipalityMonth:
    """One municipality's figures for one month, with each facility's share."""

    prefecture: int
    municipality: str
    month: date  # its first day
    figures: TaxFigures = field(default_factory=TaxFigures)
    facilities: list[tuple[int, TaxFigures]] = field(default_factory=list)  # (facility id, …)


@dataclass
class TaxReport:
    first_month: date
    last_month: date
    rows: list[MunicipalityMonth]
    total: TaxFigures


def months_between(first_month: date, last_month: date) -> list[tuple[date, date]]:
    """[first day, first day of the next month) of each month from first to last."""
    months, month = [], first_month.replace(day=1)
    while month <= last_month:
        start, month = month_bounds(month)
        months.append((start, month))
    return months


def _facility_months(facility_ids: list[int], months: list[tuple[date, date]]):
    """(facility id, month index, nights, taxable guest-nights, tax) per facility and
    month with nights; one query."""
    first, end = months[0][0], months[-1][1]
    month = case(*((BookingNight.night < stop, k) for k, (_start, stop) in enumerate(months)))
    taxed = BookingNight.accommodation_tax > 0
    return db.session.execute(
        select(
            Unit.facility_id,
            month,
            func.count(),
            func.coalesce(func.sum(case((taxed, Booking.guests), else_=0)), 0),
            func.coalesce(func.sum(BookingNight.accommodation_tax), 0),
        )
        .select_from(BookingNight)
        .join(Booking, Booking.id == BookingNight.booking_id)
        .join(Unit, Unit.id == Booking.unit_id)
        .where(
            Unit.facility_id.in_(facility_ids),
            # The nights whose tax the stay keeps (booking.stay_tax.kept_tax).
            Booking.status.in_(LIVE_STATUSES),
            BookingNight.night < func.coalesce(Booking.released_on, Booking.check_out),
            BookingNight.night >= first,
            BookingNight.night < end,
        )
        .group_by(Unit.facility_id, month)
    ).all()


def tax_report(operator_id: int, first_month: date, last_month: date) -> TaxReport:
    """The organisation's accommodation tax figures per municipality and month over the
    months [first_month, last_month] (both included), municipalities by prefecture code
    then name, each with its facilities' shares, and the total."""
    months = months_between(first_month, last_month)
    facilities = {
        f.id: f
        for f in db.session.scalars(
            select(Facility).where(
                Facility.operator_id == operator_id, Facility.kind != FacilityKind.OFFICE
            )
        )
    }
    rows: dict[tuple[int, str, date], MunicipalityMonth] = {}
    total = TaxFigures()
    if facilities and months:
        for facility_id, k, nights, guests, tax in _facility_months(list(facilities), months):
            facility = facilities[facility_id]
            month = months[k][0]
            key = (facility.prefecture, facility.municipality, month)
            row = rows.setdefault(key, MunicipalityMonth(*key))
            figures = TaxFigures(int(nights), int(guests), int(tax))
            row.figures.add(figures)
            row.facilities.append((facility_id, figures))
            total.add(figures)
    for row in rows.values():
        row.facilities.sort(key=lambda item: (facilities[item[0]].name_ja, item[0]))
    ordered = [rows[key] for key in sorted(rows)]
    return TaxReport(first_month.replace(day=1), last_month.replace(day=1), ordered, total)
