"""The outcome report (成果レポート, issue 18): what a company's workation programme
brought over a period. Participation, nights and stays by stay type, region and month,
the share of nights in the regions' off-season, what it cost the company and the
employees, the subsidy used against its budget, the guests' ratings and the top
facilities. Read-only; the pages, the CSV file, the printable summary and
``GET /api/v1/company/report`` all show this one ``OutcomeReport``.

The rules, each decided once here:

- **Period.** The nights ``[first, end)``: ``first`` included, ``end`` excluded. The pages
  ask for the first and the last night; the API takes ``to`` as the night after the
  last, as the API's other periods do. By default the company's current fiscal year
  (``Company.fiscal_year_start_month``, ``hr.subsidy.fiscal_year``).
- **Scope.** A company admin's report covers the whole company; a manager's the stays of
  the people who report to them (``User.manager_id``), in their own company. Another
  company's stays never count: every query is walled by ``Booking.company_id``.
- **Which stays.** Stays in ``CHARGED_STATUSES`` (confirmed, checked in, checked out,
  no-show: the company paid for them and got nothing back) with at least one booked night
  in the period. Stays waiting for an approval or the employee's payment, rejected and
  expired ones were never charged: left out. A cancelled stay counts in no figure but
  the money: its kept cancellation fee is company cost (below). A stay counts its booked
  nights ``[check_in, check_out)`` that fall in the period, a no-show's too and those an
  early check-out gave back: they were booked and paid for, as on the usage page and in
  the stays export.
- **Participation.** Participants: the distinct people with a counted stay. For the
  company the rate is participants ÷ seats (the live subscription's seats; 0 without);
  for a manager, ÷ the people in scope. By department and by employee group (as the
  person's HR details say today): participants ÷ members, a member being an active person
  in scope or anyone with a counted stay (so no rate passes 1).
- **Money** (integer yen). The company's cost of a stay is what it holds of the stay
  credit: its spend and changes less its refunds (``billing.ledger``), i.e. the company's
  part of the stay's price. The accommodation tax, though paid from the credit too, is
  left out, as it is out of the subsidy (the usage page shows it). A cancelled stay's
  kept fee is company cost (``cancellation_fees``, included in ``company_cost``). The
  employees' cost: their card payments (``StayPayment``, paid) less what was refunded to
  them. A stay reaching over the period's edge brings the share of its nights inside it,
  rounded down on a running count of its nights, so that back-to-back periods add up to
  the whole stay. Per participant and per night: rounded to the yen (half up); 0 when
  there are none. ``cost_per_participant`` (the API's) is the company's cost per
  participant.
- **Off-season.** A night is off-season when its month is one of its facility's
  off-season months (閑散期, ``pricing.models.PricingPolicy.off_season_months``; none for
  a facility without a pricing policy). Share = off-season nights ÷ nights, 0 without
  nights.
- **Subsidy.** The budget is the sum of the yearly caps (``GroupPolicy.annual_cap``) of the
  active people in scope whose policy (their group's, else the company default, as
  ``hr.policy.policy_for`` chooses) sets one, counted once for every fiscal year the
  period touches; ``None`` ("no cap") when nobody has a cap. Used: the company's cost of
  those people's stays with a check-in in the period (charged, and cancelled ones' kept
  fees), the rule the cap itself counts by (``booking.subsidy_use``). People without a cap
  are counted apart.
- **Ratings.** The guests' 1–5 ratings (``StayRating``) of the counted stays: the average
  to two decimals, ``None`` without any; the latest comments with their rating, facility
  and month, never who wrote them.
- **Average stay length.** The mean booked length, in nights, of the counted stays, to one
  decimal (a stay reaching over the period's edge counts its whole length).
- **Regional programmes and local spend** (issue 20): the scope's people's sign-ups to
  programme sessions and the local coupons of its stays redeemed in the period, by the
  rules of ``consoles.company.report_regions``.
- Rates are fractions 0–1 rounded to 4 decimals (``report_numbers.ratio``; yen per
  participant or night: ``report_numbers.per``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, func, select

from accounts.models import COMPANY_ROLES, Company, User
from billing.ledger import STAY_KINDS
from billing.models import BillingAccount, CreditEntry, EntryKind, PaymentStatus, StayPayment
from billing.services import is_live
from booking.models import CHARGED_STATUSES, Booking, BookingStatus, StayRating
from consoles.company.report_numbers import per, ratio
from consoles.company.report_regions import LocalSpend, ProgrammeUse, local_spend, programme_use
from consoles.company.report_scope import (  # noqa: F401 (the pages read them here)
    MAX_PERIOD_DAYS,
    YEARS_AROUND,
    Period,
    Scope,
    fiscal_year_period,
    period_problem,
    scope_of,
)
from core.extensions import db
from facilities.models import Facility, Unit
from facilities.regions import PREFECTURES_BY_CODE, REGIONS, REGIONS_BY_SLUG
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose
from pricing.models import PricingPolicy

RATING_DIGITS = 2
LENGTH_DIGITS = 1
LATEST_COMMENTS = 5
TOP_FACILITIES = 5


# --- the figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareRow:
    """Participation in one department or employee group (``key`` "" for none)."""

    key: str
    members: int
    participants: int

    @property
    def rate(self) -> float:
        return ratio(self.participants, self.members)


@dataclass(frozen=True)
class RegionRow:
    slug: str
    stays: int
    nights: int

    def name_for(self, locale: str) -> str:
        region = REGIONS_BY_SLUG[self.slug]
        return region.name_en if locale == "en" else region.name_ja


@dataclass(frozen=True)
class MonthRow:
    """The nights of one month by stay type, and the stays whose first night in the
    period falls in it (so the months' stays add up to the period's)."""

    first: date
    leisure_nights: int
    business_nights: int
    stays: int

    @property
    def nights(self) -> int:
        return self.leisure_nights + self.business_nights

    @property
    def key(self) -> str:
        return self.first.strftime("%Y-%m")


@dataclass(frozen=True)
class FacilityRow:
    facility_id: int
    name_ja: str
    name_en: str
    prefecture: int
    stays: int
    nights: int

    def name_for(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja

    def prefecture_name(self, locale: str) -> str:
        pref = PREFECTURES_BY_CODE[self.prefecture]
        return pref.name_en if locale == "en" else pref.name_ja


@dataclass(frozen=True)
class RatingComment:
    """A guest's comment after a stay: never who wrote it."""

    rating: int
    comment: str
    facility_ja: str
    facility_en: str
    month: date  # the month of the stay's check-in

    def facility_for(self, locale: str) -> str:
        return self.facility_en if locale == "en" else self.facility_ja


@dataclass(frozen=True)
class SubsidyUse:
    """The subsidy used against the yearly caps of the people who have one."""

    budget: int | None  # None: nobody in scope has a cap
    used: int
    capped_people: int
    uncapped_people: int
    fiscal_years: int

    @property
    def share(self) -> float | None:
        if self.budget is None:
            return None
        return ratio(self.used, self.budget) if self.budget else 0.0


@dataclass(frozen=True)
class OutcomeReport:
    period: Period
    scope: Scope
    seats: int | None  # the company's; None for a manager's report
    people: int  # in scope: active people, and anyone with a counted stay
    participants: int
    stays: int
    nights: int
    leisure_stays: int
    leisure_nights: int
    business_stays: int
    business_nights: int
    off_season_nights: int
    total_stay_nights: int  # the counted stays' whole lengths (average stay length)
    company_cost: int
    cancellation_fees: int  # of company_cost
    employee_cost: int
    subsidy: SubsidyUse
    ratings: int
    rating_sum: int
    by_department: list[ShareRow] = field(default_factory=list)
    by_group: list[ShareRow] = field(default_factory=list)
    by_region: list[RegionRow] = field(default_factory=list)
    by_month: list[MonthRow] = field(default_factory=list)
    top_facilities: list[FacilityRow] = field(default_factory=list)
    comments: list[RatingComment] = field(default_factory=list)
    programmes: ProgrammeUse = field(default_factory=ProgrammeUse)
    local_spend: LocalSpend = field(default_factory=LocalSpend)

    @property
    def participation_base(self) -> int:
        """What participation is measured against: seats, or a manager's people."""
        return self.seats if self.seats is not None else self.people

    @property
    def participation_rate(self) -> float:
        return ratio(self.participants, self.participation_base)

    @property
    def off_season_share(self) -> float:
        return ratio(self.off_season_nights, self.nights)

    @property
    def average_stay_nights(self) -> float:
        return round(self.total_stay_nights / self.stays, LENGTH_DIGITS) if self.stays else 0.0

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.ratings, RATING_DIGITS) if self.ratings else None

    @property
    def company_cost_per_participant(self) -> int:
        return per(self.company_cost, self.participants)

    @property
    def company_cost_per_night(self) -> int:
        return per(self.company_cost, self.nights)

    @property
    def employee_cost_per_participant(self) -> int:
        return per(self.employee_cost, self.participants)

    @property
    def employee_cost_per_night(self) -> int:
        return per(self.employee_cost, self.nights)

    def as_json(self) -> dict:
        """The ``GET /api/v1/company/report`` contract (``to``: the night after the last)."""
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.end.isoformat(),
            "seats": self.participation_base,
            "participants": self.participants,
            "participation_rate": self.participation_rate,
            "stays": self.stays,
            "nights": self.nights,
            "leisure_nights": self.leisure_nights,
            "business_nights": self.business_nights,
            "off_season_share": self.off_season_share,
            "company_cost": self.company_cost,
            "employee_cost": self.employee_cost,
            "cost_per_participant": self.company_cost_per_participant,
            "average_rating": self.average_rating,
            "programme_participants": self.programmes.participants,
            "local_spend": self.local_spend.yen,
        }


# --- reading --------------------------------------------------------------------------


def _stays_query(scope: Scope, period: Period, columns) -> Select:
    """The scope's stays with a booked night in the period (any status)."""
    query = (
        select(*columns)
        .join(User, User.id == Booking.user_id)
        .where(
            Booking.company_id == scope.company_id,
            User.company_id == scope.company_id,
            Booking.check_in < period.end,
            Booking.check_out > period.first,
            Booking.status.in_((*CHARGED_STATUSES, BookingStatus.CANCELLED)),
        )
    )
    if scope.manager_id is not None:
        query = query.where(User.manager_id == scope.manager_id)
    return query


def _company_held(scope: Scope, ids: Select) -> dict[int, int]:
    """What each stay holds of the company's credit: spend and changes less refunds."""
    rows = db.session.execute(
        select(CreditEntry.booking_id, func.sum(CreditEntry.amount))
        .where(
            CreditEntry.company_id == scope.company_id,
            CreditEntry.booking_id.in_(ids),
            CreditEntry.kind.in_((*STAY_KINDS, EntryKind.REFUND)),
        )
        .group_by(CreditEntry.booking_id)
    )
    return {booking_id: max(0, -int(amount)) for booking_id, amount in rows}


def _employee_paid(scope: Scope, ids: Select) -> dict[int, int]:
    """What each stay's employee paid by card and kept paid (refunds deducted)."""
    rows = db.session.execute(
        select(StayPayment.booking_id, StayPayment.amount - StayPayment.refunded).where(
            StayPayment.company_id == scope.company_id,
            StayPayment.booking_id.in_(ids),
            StayPayment.status == PaymentStatus.PAID,
        )
    )
    return {booking_id: int(amount) for booking_id, amount in rows}


def _off_season_months(facility_ids: set[int]) -> dict[int, frozenset[int]]:
    if not facility_ids:
        return {}
    rows = db.session.scalars(
        select(PricingPolicy).where(PricingPolicy.facility_id.in_(facility_ids))
    )
    return {row.facility_id: row.months for row in rows}


def _seats(company_id: int) -> int:
    account = db.session.scalar(
        select(BillingAccount).where(BillingAccount.company_id == company_id)
    )
    subscription = account.subscription if account is not None else None
    return subscription.seats if is_live(subscription) else 0


def _people(scope: Scope) -> list[User]:
    query = select(User).where(User.company_id == scope.company_id, User.role.in_(COMPANY_ROLES))
    if scope.manager_id is not None:
        query = query.where(User.manager_id == scope.manager_id)
    return list(db.session.scalars(query))


def _yearly_caps(company_id: int, people: list[User]) -> dict[int, int | None]:
    """Each person's yearly cap by the policy that applies to them, as
    ``hr.policy.policy_for`` chooses it (their group's row, else the company default),
    read for everyone at once."""
    policies = {
        row.employee_group: row
        for row in db.session.scalars(
            select(GroupPolicy).where(GroupPolicy.company_id == company_id)
        )
    }
    caps = {}
    for person in people:
        policy = policies.get(person.employee_group or DEFAULT_GROUP) or policies.get(DEFAULT_GROUP)
        caps[person.id] = policy.annual_cap if policy is not None else None
    return caps


def _share_rows(members: dict[int, str], participants: set[int]) -> list[ShareRow]:
    """Participation by ``members``' key (department or group), the largest first, the
    people without one last."""
    counts = Counter(members.values())
    joined = Counter(key for user_id, key in members.items() if user_id in participants)
    rows = [ShareRow(key, counts[key], joined[key]) for key in counts]
    return sorted(rows, key=lambda r: (r.key == "", -r.members, r.key))


def _share(amount: int, before: int, through: int, length: int) -> int:
    """The part of a stay's ``amount`` that its nights ``before`` to ``through`` (of its
    ``length``) bring: rounded down on the running count, so the parts of a stay's
    nights split at any points add up to ``amount``."""
    return amount * through // length - amount * before // length


@dataclass
class _Tally:
    stays: int = 0
    nights: int = 0


def outcome_report(scope: Scope, period: Period) -> OutcomeReport:
    """The report of ``scope``'s stays over ``period`` (the rules: this module's doc)."""
    ids = _stays_query(scope, period, (Booking.id,))
    rows = db.session.execute(
        _stays_query(scope, period, (Booking, Facility))
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
    ).all()
    held = _company_held(scope, ids)
    paid = _employee_paid(scope, ids)
    off_months = _off_season_months({facility.id for _b, facility in rows})
    months = {month: [0, 0, 0] for month in period.months()}  # leisure, business, stays
    regions: dict[str, _Tally] = {}
    facilities: dict[int, tuple[Facility, _Tally]] = {}
    purposes = {purpose: _Tally() for purpose in Purpose}
    counted: set[int] = set()
    participants: set[int] = set()
    nights = off_nights = whole_nights = company = fees = employee = 0
    subsidy_by_person: Counter[int] = Counter()

    for booking, facility in rows:
        length = (booking.check_out - booking.check_in).days
        lo, hi = max(booking.check_in, period.first), min(booking.check_out, period.end)
        before, through = (lo - booking.check_in).days, (hi - booking.check_in).days
        company_share = _share(held.get(booking.id, 0), before, through, length)
        employee += _share(paid.get(booking.id, 0), before, through, length)
        company += company_share
        if period.first <= booking.check_in < period.end:
            subsidy_by_person[booking.user_id] += held.get(booking.id, 0)
        if booking.status == BookingStatus.CANCELLED:
            fees += company_share
            continue

        counted.add(booking.id)
        participants.add(booking.user_id)
        in_period = through - before
        nights += in_period
        whole_nights += length
        purpose = Purpose(booking.purpose)
        purposes[purpose].stays += 1
        purposes[purpose].nights += in_period
        slug = PREFECTURES_BY_CODE[facility.prefecture].region
        region = regions.setdefault(slug, _Tally())
        region.stays += 1
        region.nights += in_period
        place = facilities.setdefault(facility.id, (facility, _Tally()))[1]
        place.stays += 1
        place.nights += in_period
        months[lo.replace(day=1)][2] += 1
        off = off_months.get(facility.id, frozenset())
        for offset in range(in_period):
            night = lo + timedelta(days=offset)
            months[night.replace(day=1)][0 if purpose is Purpose.LEISURE else 1] += 1
            off_nights += night.month in off

    people = _people(scope)
    in_scope = [p for p in people if p.active or p.id in participants]
    ratings = _ratings(scope, ids, counted)
    return OutcomeReport(
        period=period,
        scope=scope,
        seats=_seats(scope.company_id) if scope.is_company else None,
        people=len(in_scope),
        participants=len(participants),
        stays=len(counted),
        nights=nights,
        leisure_stays=purposes[Purpose.LEISURE].stays,
        leisure_nights=purposes[Purpose.LEISURE].nights,
        business_stays=purposes[Purpose.BUSINESS].stays,
        business_nights=purposes[Purpose.BUSINESS].nights,
        off_season_nights=off_nights,
        total_stay_nights=whole_nights,
        company_cost=company,
        cancellation_fees=fees,
        employee_cost=employee,
        subsidy=_subsidy(scope, period, people, subsidy_by_person),
        ratings=len(ratings),
        rating_sum=sum(r.rating for r, _f, _b in ratings),
        by_department=_share_rows({p.id: p.department or "" for p in in_scope}, participants),
        by_group=_share_rows({p.id: p.employee_group or "" for p in in_scope}, participants),
        by_region=[
            RegionRow(r.slug, regions[r.slug].stays, regions[r.slug].nights)
            for r in REGIONS
            if r.slug in regions
        ],
        by_month=[MonthRow(month, *figures) for month, figures in months.items()],
        top_facilities=_top_facilities(facilities),
        comments=[
            RatingComment(
                r.rating, r.comment.strip(), f.name_ja, f.name_en, b.check_in.replace(day=1)
            )
            for r, f, b in ratings
            if r.comment.strip()
        ][:LATEST_COMMENTS],
        programmes=programme_use(scope, period),
        local_spend=local_spend(scope, period),
    )


def _ratings(scope: Scope, ids: Select, counted: set[int]):
    """The counted stays' ratings with their facility and stay, the latest first."""
    rows = db.session.execute(
        select(StayRating, Facility, Booking)
        .join(Facility, Facility.id == StayRating.facility_id)
        .join(Booking, Booking.id == StayRating.booking_id)
        .where(StayRating.booking_id.in_(ids), Booking.company_id == scope.company_id)
        .order_by(StayRating.updated_at.desc(), StayRating.id.desc())
    ).all()
    return [(r, f, b) for r, f, b in rows if b.id in counted]


def _top_facilities(facilities: dict[int, tuple[Facility, _Tally]]) -> list[FacilityRow]:
    rows = [
        FacilityRow(f.id, f.name_ja, f.name_en, f.prefecture, tally.stays, tally.nights)
        for f, tally in facilities.values()
    ]
    rows.sort(key=lambda r: (-r.nights, -r.stays, r.name_ja, r.facility_id))
    return rows[:TOP_FACILITIES]


def _subsidy(scope: Scope, period: Period, people: list[User], used_by: Counter[int]) -> SubsidyUse:
    company = db.session.get(Company, scope.company_id)
    years = period.fiscal_years(company.fiscal_year_start_month)
    active = [p for p in people if p.active]
    caps = _yearly_caps(scope.company_id, active)
    capped = [p.id for p in active if caps[p.id] is not None]
    budget = sum(caps[i] for i in capped) * years if capped else None
    return SubsidyUse(
        budget=budget,
        used=sum(used_by[i] for i in capped),
        capped_people=len(capped),
        uncapped_people=len(active) - len(capped),
        fiscal_years=years,
    )
