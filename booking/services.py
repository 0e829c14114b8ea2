"""Booking rules. Plain values in, models out; services flush, the edge commits.

The database is the last word on double booking: ``Occupancy`` has
``UNIQUE(unit_id, night)``, and a refused insert becomes ``BookingConflict``.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from accounts import events
from accounts.models import Company, User
from availability.changes import nights_changed
from availability.models import Occupancy
from availability.night_cap import NightCapReached, check_night_cap
from billing import ledger
from billing.ledger import CreditRefused, spend_for_booking
from booking.announce import booking_parties
from booking.copay import TOO_LATE_TO_WAIT, await_payment, may_wait
from booking.coupon_jobs import issue_for_booking
from booking.holds import request_approval
from booking.models import (
    COUNTED_STATUSES,
    Booking,
    BookingNight,
    BookingStatus,
    StayWorkDay,
)
from booking.purpose import retried_as_stored, stay_purpose
from booking.stay_tax import night_taxes
from booking.subsidy_use import stay_split
from booking.workspace_follow import desks_follow_confirmed
from core import metrics
from core.dates import month_bounds, stay_nights
from core.db import get_by_id, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.i18n import format_day, format_yen, format_yen_plain
from facilities.models import Facility, Unit
from hr.approval import stay_reasons
from hr.models import Purpose
from hr.policy import PolicyRefused, allowed_purposes
from hr.subsidy import NO_COMPANIONS, Companions, Split
from pricing.engine import lock_prices
from pricing.prices import NightPrice, unit_night_prices

MAX_GUESTS = 20
OCCUPANCY_UNIQUE = "uq_occupancy_unit_id_night"  # from the naming convention


# Days a past-due subscription may still book (the edge passes BILLING_GRACE_DAYS).
DEFAULT_GRACE_DAYS = 7


class BookingError(RuleError):
    """A booking rule refused the request."""


class BookingConflict(BookingError):
    """Another booking or block holds at least one of the nights."""

    code = "taken"


class BookingNotFound(BookingError):
    code = "not_found"


class BookingForbidden(BookingError):
    code = "forbidden"


class BillingRefused(BookingError):
    """The company's subscription, stay credit or credit policy does not cover the stay."""

    code = "credit"


class PriceChanged(BookingError):
    """The stay's price moved since the guest saw it: they confirm the new one."""

    code = "price_changed"


def validate_stay_dates(check_in: date, check_out: date, today: date, horizon_days: int) -> None:
    """Dates every stay must satisfy, for search and booking alike."""
    if check_out <= check_in:
        raise BookingError(_l("Check-out must be after check-in."), "dates_order")
    if check_in < today:
        raise BookingError(_l("Check-in cannot be in the past."), "dates_past")
    if check_in > today + timedelta(days=horizon_days):
        raise BookingError(
            _l("Stays can be booked up to %(days)d days ahead.", days=horizon_days),
            "dates_horizon",
        )


def _bookable_unit(unit_id: int) -> Unit:
    unit = get_by_id(Unit, unit_id, options=[joinedload(Unit.facility)])
    if unit is None or not unit.active or not unit.facility.listed:
        raise BookingNotFound(_l("That room does not exist or is no longer offered."))
    return unit


def _check_stay_rules(
    unit: Unit, company: Company, nights: int, guests: int, companions: Companions
) -> None:
    facility: Facility = unit.facility
    if not company.active:
        raise BookingForbidden(
            _l("Your company's subscription is not active, so new stays cannot be booked."),
            "company_inactive",
        )
    if nights < facility.min_nights:
        raise BookingError(
            _l("This facility needs a stay of at least %(n)d nights.", n=facility.min_nights),
            "min_nights",
        )
    if nights > facility.max_nights:
        raise BookingError(
            _l("This facility takes stays of at most %(n)d nights.", n=facility.max_nights),
            "max_nights",
        )
    if nights > company.max_nights_per_stay:
        raise BookingError(
            _l("Your company allows at most %(n)d nights per stay.", n=company.max_nights_per_stay),
            "policy_stay",
        )
    if guests < 1:
        raise BookingError(_l("At least one guest is needed."), "guests")
    if guests < 1 + companions.count:
        raise BookingError(_l("The guests must count you and each companion."), "companions")
    if guests > unit.capacity:
        raise BookingError(_l("This room sleeps at most %(num)d.", num=unit.capacity), "capacity")


def check_monthly_cap(
    user: User, company: Company, nights: list[date], *, excluding: int | None = None
) -> None:
    """Nights per employee per calendar month, counting charged stays and those that wait
    for approval or payment (but not the stay ``excluding``, whose nights a change
    replaces)."""
    wanted = Counter(night.replace(day=1) for night in nights)
    for month_start, count in wanted.items():
        start, end = month_bounds(month_start)
        booked = db.session.scalar(
            select(func.count())
            .select_from(BookingNight)
            .join(Booking, Booking.id == BookingNight.booking_id)
            .where(
                Booking.user_id == user.id,
                Booking.status.in_(COUNTED_STATUSES),
                Booking.id != (excluding or 0),
                BookingNight.night >= start,
                BookingNight.night < end,
            )
        )
        if booked + count > company.max_nights_per_month:
            raise BookingError(
                _l(
                    "Your company allows %(cap)d nights per month; you already have %(booked)d"
                    " in %(month)s.",
                    cap=company.max_nights_per_month,
                    booked=booked,
                    month=LazyString(format_day, month_start, "month"),
                ),
                "policy_month",
            )


@dataclass(frozen=True)
class StayRequest:
    """The stay a guest asks for: one unit, the nights [check_in, check_out), how many
    guests, what it is for (``hr.models.Purpose``; None: the company policy's default),
    a business workation's working days (None: the default ones) and the companions
    among the guests by category (``hr.subsidy.Companions``)."""

    unit_id: int
    check_in: date
    check_out: date
    guests: int
    purpose: str | None = None
    work_days: tuple[date, ...] | None = None
    companions: Companions = NO_COMPANIONS

    @property
    def stay_key(self) -> tuple[int, date, date, int]:
        """The room, the dates and the guests: what a change compares with the stay (and
        a retried request key with the stay it made, with ``purpose.retried_as_stored``)."""
        return (self.unit_id, self.check_in, self.check_out, self.guests)


@dataclass(frozen=True)
class Quote:
    """What a stay would cost, night by night, and whether it is free right now."""

    unit: Unit
    check_in: date
    check_out: date
    guests: int
    explained: list[tuple[date, NightPrice]]  # each night's price and its reasons
    available: bool
    # Each night's accommodation tax (宿泊税), outside the price: paid from the credit too.
    taxes: list[int] = field(default_factory=list)
    # What the stay is for (hr.policy): the purposes the employee may choose, the one
    # asked for (else the policy's default) and a business workation's working days. A
    # refusal of them is stated on the page beside the choice, as a taken night is, not
    # raised: the stay itself can still be quoted.
    purposes: tuple[Purpose, ...] = ()
    purpose: Purpose = Purpose.LEISURE
    work_days: tuple[date, ...] = ()
    purpose_refusal: BookingError | None = None
    # Who pays what (hr.subsidy): the company's part from the stay credit, the
    # employee's by card before the stay is confirmed; and the policy's rules that make
    # the stay wait for approval (hr.approval; empty: none).
    split: Split | None = None
    approval_reasons: tuple[str, ...] = ()
    # The same rules for each purpose the employee may choose (the radio on the quote
    # page says which purpose would make the stay wait).
    approval_by_purpose: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def nights(self) -> list[tuple[date, int]]:
        return [(night, p.price) for night, p in self.explained]

    @property
    def total(self) -> int:
        return sum(p.price for _night, p in self.explained)

    @property
    def accommodation_tax(self) -> int:
        return sum(self.taxes)


def require_booker(actor: User) -> None:
    # (The database ties employees and company admins to a company.)
    if not actor.books_stays:
        raise BookingForbidden(_l("Only employees of a subscribing company can book stays."))


def check_request(
    actor: User,
    stay: StayRequest,
    now: datetime,
    horizon_days: int,
    *,
    facility_id: int | None = None,
) -> tuple[Unit, Company, list[date]]:
    """The rules of a stay; with ``facility_id``, its room must belong to that facility."""
    require_booker(actor)
    check_in, check_out = stay.check_in, stay.check_out
    validate_stay_dates(check_in, check_out, tokyo_today(now), horizon_days)
    unit = _bookable_unit(stay.unit_id)
    if facility_id is not None and unit.facility_id != facility_id:
        raise BookingError(
            _l(
                "A stay can move only to another room of the same facility. To stay"
                " elsewhere, book the new stay and cancel this one."
            ),
            "other_facility",
        )
    company = db.session.get(Company, actor.company_id)
    # Rules first, on the count alone: an absurd range is refused before it is expanded.
    _check_stay_rules(unit, company, (check_out - check_in).days, stay.guests, stay.companions)
    return unit, company, stay_nights(check_in, check_out)


def quote_stay(
    actor: User,
    stay: StayRequest,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> Quote:
    """Every rule ``book_stay`` applies, without booking: for the confirmation page."""
    unit, company, nights = check_request(actor, stay, now, horizon_days)
    check_monthly_cap(actor, company, nights)
    with night_cap_refusal():
        check_night_cap(unit, nights, lock=False)
    taken = db.session.scalar(
        select(func.count())
        .select_from(Occupancy)
        .where(
            Occupancy.unit_id == unit.id,
            Occupancy.night >= stay.check_in,
            Occupancy.night < stay.check_out,
        )
    )
    prices = unit_night_prices(unit, nights)
    taxes = night_taxes(
        unit.facility, zip(nights, [p.price for p in prices], strict=True), stay.guests
    )
    split = stay_split(actor, stay.check_in, [p.price for p in prices], stay.companions)
    _check_credit(actor, split.company, now, grace_days, tax=sum(taxes))
    allowed = allowed_purposes(actor)
    try:
        with policy_refusals():
            purpose, work_days = stay_purpose(actor, stay)
        refusal = None
    except BookingError as exc:
        purpose = Purpose(stay.purpose) if stay.purpose in allowed else allowed.default
        work_days, refusal = [], exc
    return Quote(
        unit,
        stay.check_in,
        stay.check_out,
        stay.guests,
        list(zip(nights, prices, strict=True)),
        available=taken == 0,
        taxes=taxes,
        purposes=allowed.purposes,
        purpose=purpose,
        work_days=tuple(work_days),
        purpose_refusal=refusal,
        split=split,
        approval_reasons=stay_reasons(actor, purpose, nights, split.employee),
        approval_by_purpose={
            str(p): stay_reasons(actor, p, nights, split.employee) for p in allowed.purposes
        },
    )


# The codes of the company's HR policy (hr.policy.PolicyRefused), refused as booking rules.
PURPOSE_CODES = frozenset(
    ("purpose_unknown", "purpose_not_allowed", "work_days", "work_days_for_leisure")
)


@contextmanager
def policy_refusals():
    """The HR policy refuses as a booking rule, with its own code (each named here: the
    API documents them, docs/openapi.yaml, and tests/booking/test_openapi.py reads them
    from this module). The purpose and working days themselves: ``booking.purpose``."""
    try:
        yield
    except PolicyRefused as exc:
        if exc.code == "purpose_unknown":
            raise BookingError(exc.message, "purpose_unknown") from None
        if exc.code == "purpose_not_allowed":
            raise BookingError(exc.message, "purpose_not_allowed") from None
        if exc.code == "work_days_for_leisure":
            raise BookingError(exc.message, "work_days_for_leisure") from None
        raise BookingError(exc.message, "work_days") from None  # (the policy's last code)


def _check_credit(actor: User, total: int, now: datetime, grace_days: int, *, tax: int) -> None:
    """The company's subscription, credit and the employee's cap allow this stay and its
    accommodation tax (unlocked)."""
    account = ledger.account_of(actor.company_id)
    with billing_refusals():
        ledger.check_spend(account, actor, total, now, grace_days, tax=tax)


@contextmanager
def billing_refusals():
    try:
        yield
    except CreditRefused as exc:
        raise BillingRefused(exc.message, exc.code) from None


@contextmanager
def night_cap_refusal():
    """A 住宅宿泊事業 house past its 180 nights refuses as a booking rule (``night_cap``)."""
    try:
        yield
    except NightCapReached as exc:
        raise BookingError(exc.message, "night_cap") from None  # (its only code)


def _is_night_already_claimed(exc: IntegrityError) -> bool:
    """The refusal came from ``UNIQUE(unit_id, night)``, not from any other rule."""
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL names the constraint
    if diag is not None:
        return diag.constraint_name == OCCUPANCY_UNIQUE
    return "UNIQUE constraint failed: occupancy.unit_id, occupancy.night" in str(exc.orig)


def book_stay(
    actor: User,
    stay: StayRequest,
    now: datetime,
    *,
    request_key: str | None = None,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
    expected_total: int | None = None,
    expected_tax: int | None = None,
    expected_employee_part: int | None = None,
) -> Booking:
    """Book ``stay.unit_id`` for [check_in, check_out) for ``actor``.

    Rules: dates ordered, not past, within the horizon; facility min/max nights;
    company active and its nights-per-stay and nights-per-month caps; guests within
    capacity. Every night must be free: the unique occupancy row decides.

    The stay is confirmed and the company's part charged at once, unless the policy
    asks for approval (it waits, ``PENDING_APPROVAL``) or the employee pays a part of
    it (it waits for the card, ``AWAITING_PAYMENT``); a waiting stay holds its nights
    and is charged by ``confirm_stay`` once approved and paid. The same
    ``request_key`` from the same user returns the first booking instead of a second.
    With ``expected_total`` (the total the guest was shown), a stay whose price has
    moved since (demand pricing) is refused with ``PriceChanged`` rather than
    charged at a price the guest never saw; with ``expected_tax`` (the accommodation
    tax shown), so is a stay whose tax is now another (its rule was edited since); with
    ``expected_employee_part`` (the employee's own part shown), so is a stay whose split
    moved (another stay used the subsidy, or the policy changed).
    """
    require_booker(actor)
    # Lock the employee's row: one booking decision per employee at a time, so
    # the request key and the monthly cap are checked against settled data (and a
    # deactivation that committed a moment ago is seen).
    active = db.session.scalar(select(User.active).where(User.id == actor.id).with_for_update())
    if not active:
        raise BookingForbidden(_l("This account has been deactivated by your company."))
    if request_key:
        earlier = _replay(actor, request_key, stay)
        if earlier is not None:
            return earlier
    unit, company, nights = check_request(actor, stay, now, horizon_days)
    with policy_refusals():
        purpose, work_days = stay_purpose(actor, stay)
    check_monthly_cap(actor, company, nights)
    with night_cap_refusal():  # under the unit's lock until the commit
        check_night_cap(unit, nights)

    lock_prices(unit.facility_id, shared=True)  # no pricing run between read and commit
    prices = _prices_as_shown(unit, nights, expected_total)
    taxes = night_taxes(unit.facility, zip(nights, prices, strict=True), stay.guests)
    _check_tax_as_shown(sum(taxes), expected_tax)
    split = stay_split(actor, stay.check_in, prices, stay.companions)  # under the user lock
    _check_part_as_shown(split.employee, expected_employee_part)
    booking = Booking(
        user_id=actor.id,
        company_id=company.id,
        unit_id=unit.id,
        check_in=stay.check_in,
        check_out=stay.check_out,
        guests=stay.guests,
        status=BookingStatus.CONFIRMED,
        total_price=sum(prices),
        accommodation_tax=sum(taxes),
        request_key=request_key,
        created_at=now,
        nights=[
            BookingNight(night=n, price=p, accommodation_tax=t)
            for n, p, t in zip(nights, prices, taxes, strict=True)
        ],
        purpose=purpose,
        work_days=[StayWorkDay(day=day) for day in work_days],
        employee_part=split.employee,
        companion_adults=stay.companions.adults,
        companion_children=stay.companions.children,
        companion_infants=stay.companions.infants,
    )
    _claim_nights(booking, nights)
    # Demand around these nights changed: re-price them once this commits.
    nights_changed(unit.facility_id, stay.check_in, stay.check_out)
    reasons = stay_reasons(actor, purpose, nights, split.employee)
    if (reasons or split.employee) and not may_wait(stay.check_in, split.employee, now):
        raise BookingError(TOO_LATE_TO_WAIT, "too_late_to_wait")  # its check-in day ends first
    if reasons:
        # Nothing is charged until it is approved, but a stay the company cannot pay
        # for now is refused now rather than after the approver's decision.
        _check_credit(actor, split.company, now, grace_days, tax=booking.accommodation_tax)
        request_approval(booking, actor, reasons, now)
    elif split.employee:
        _check_credit(actor, split.company, now, grace_days, tax=booking.accommodation_tax)
        await_payment(booking, now)
    else:
        confirm_stay(booking, actor, now, grace_days)
    return booking


def confirm_stay(booking: Booking, actor: User, now: datetime, grace_days: int) -> None:
    """Confirm a stay whose nights are claimed: issue the local coupons funds pay for it,
    charge the company's part and the accommodation tax to the stay credit under its
    account lock (refused if short), and tell those it concerns. ``actor``: the employee
    whose stay it is. The coupons' funds are locked before the account, as a change of
    the stay takes them (``coupon_jobs.refresh_for_booking``)."""
    booking.status = BookingStatus.CONFIRMED
    booking.hold_expires_at = None
    issue_for_booking(booking, now)
    with billing_refusals():
        spend_for_booking(booking, actor, now, grace_days)
        desks_follow_confirmed(booking, actor, now, grace_days)  # its desks, charged with it
    events.emit(
        events.BOOKING_CREATED,
        now,
        **booking_parties(booking, actor.id),
        subject=("booking", booking.id),
    )


def _replay(actor: User, request_key: str, stay: StayRequest) -> Booking | None:
    """The booking an earlier request with this key made, or None.

    A retry gets the first answer, even if the rules would refuse it now
    (midnight has passed, the company paused its subscription); the same key for
    another stay (room, dates, guests, purpose or working days) is refused.
    """
    earlier = db.session.scalar(
        select(Booking).where(Booking.user_id == actor.id, Booking.request_key == request_key)
    )
    if earlier is None:
        return None
    stored = (earlier.unit_id, earlier.check_in, earlier.check_out, earlier.guests)
    if stay.stay_key != stored or not retried_as_stored(earlier, stay.purpose, stay.work_days):
        raise BookingError(
            _l("This request key was already used for a different stay."),
            "idempotency_mismatch",
        )
    return earlier


def _prices_as_shown(unit: Unit, nights: list[date], expected_total: int | None) -> list[int]:
    """Each night's price now; refused when the total moved from the one the guest saw."""
    prices = [p.price for p in unit_night_prices(unit, nights)]
    if expected_total is not None and sum(prices) != expected_total:
        raise PriceChanged(
            _l(
                "The price of this stay has changed to %(total)s since it was shown."
                " Please check the new price and confirm again.",
                total=LazyString(format_yen, sum(prices)),
            )
        )
    return prices


def _check_part_as_shown(part: int, expected_part: int | None) -> None:
    """Refused when the employee's own part of the stay is not the one they saw."""
    if expected_part is not None and part != expected_part:
        raise PriceChanged(
            _l(
                "Your own part of this stay has changed to %(part)s since it was shown"
                " (your subsidy for the year was used meanwhile, or your company's policy"
                " changed). Please check the new amount and confirm again.",
                part=LazyString(format_yen, part),
            )
        )


def _check_tax_as_shown(tax: int, expected_tax: int | None) -> None:
    """Refused when the stay's accommodation tax is not the one the guest saw."""
    if expected_tax is not None and tax != expected_tax:
        raise PriceChanged(
            _l(
                "The accommodation tax of this stay has changed to %(tax)s since it was"
                " shown. Please check the new amount and confirm again.",
                tax=LazyString(format_yen_plain, tax),
            )
        )


def _claim_nights(booking: Booking, nights: list[date]) -> None:
    """Add the booking and claim its nights; the unique occupancy row refuses a taken one."""
    with taken_refusal(), db.session.begin_nested():
        db.session.add(booking)
        db.session.flush()
        insert_occupancy(booking.id, booking.unit_id, nights)


def insert_occupancy(booking_id: int, unit_id: int, nights: list[date]) -> None:
    if not nights:
        return
    # One multi-row INSERT, not an executemany: psycopg 3 runs executemany in
    # pipeline mode, and a refused row there aborts the pipeline, which psycopg
    # logs as a warning ("pipeline aborted") although the refusal is expected.
    db.session.execute(
        insert(Occupancy).values(
            [{"unit_id": unit_id, "night": n, "booking_id": booking_id} for n in nights]
        )
    )


@contextmanager
def taken_refusal():
    """A refused claim of a night (``UNIQUE(unit_id, night)``) becomes ``BookingConflict``."""
    try:
        yield
    except IntegrityError as exc:
        if not _is_night_already_claimed(exc):
            raise
        metrics.BOOKING_CONFLICTS.inc()  # booking, change and move alike: 409 "taken"
        raise BookingConflict(
            _l(
                "Sorry, this room was just taken for some of those nights."
                " Please choose other dates or another room."
            )
        ) from None
