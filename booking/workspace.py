"""Workspace bookings: quote, book (one time or a series in one action), cancel.

Rules:

- A unit is bookable while it is active and its facility is listed. A booking keeps the
  unit's slot rules (``availability.slots.check_booking``: slot boundaries, opening
  hours and holidays, never past closing, shortest and longest length), starts no
  earlier than the current slot and at most ``horizon_days`` ahead.
- Each employee has a monthly cap of workspace hours (``Company.max_workspace_hours_
  per_month``, by the Tokyo month of each booking's start; None: no cap), counted over
  bookings that hold or held their time (``COUNTED_WORKSPACE``), apart from the nights.
- The price is frozen at booking: ``pricing.workspace.quote_workspace`` (the hourly
  price pro rata, moved by demand where the unit allows, capped by the day price). With
  ``expected_total`` (what the employee was shown) a moved price is refused
  (``PriceChanged``) rather than charged.
- The company pays from its stay credit (``billing.workspace_ledger``); the time is
  claimed in ``availability.workspace`` and a taken slot refuses the whole request
  (``SlotTaken``, API 409 ``taken``). Several times in one request (a series: the same
  desk every working day) are all booked or none: the caller rolls back on any error.
- Cancelling before the start returns by the workspace policy (all until 24 hours
  before, half after) and gives the time back at once.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts import events
from accounts.models import Company, User
from availability.slots import check_booking
from availability.workspace import (
    claim,
    give_back,
    hold_of_booking,
    opening_hours,
    round_down,
    rules_of,
)
from billing.workspace_ledger import (
    WorkspaceTerms,
    refund_workspace,
    spend_for_workspace,
    workspace_terms,
)
from booking.models import WAITING_STATUSES, Booking
from booking.services import (
    BookingError,
    BookingForbidden,
    BookingNotFound,
    PriceChanged,
    require_booker,
)
from booking.workspace_models import (
    COUNTED_WORKSPACE,
    OPEN_WORKSPACE,
    WorkspaceBooking,
    WorkspaceStatus,
)
from core.db import TOKYO, get_by_id
from core.extensions import db
from core.i18n import format_yen
from facilities.workspace import WorkspaceUnit
from pricing.workspace import WorkspaceQuote, quote_workspace

MAX_SERIES = 31  # times one request may book (a month of working days)


@dataclass(frozen=True)
class WorkspaceRequest:
    """A time asked for: one unit, ``[starts_at, ends_at)`` as aware datetimes."""

    unit_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class WorkspaceLine:
    """One time of a quote: the unit, the time in UTC, its price and terms."""

    unit: WorkspaceUnit
    starts_at: datetime
    ends_at: datetime
    price: WorkspaceQuote
    terms: WorkspaceTerms

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclass(frozen=True)
class WorkspaceQuoteResult:
    """What a request would cost: each line, the total, and the employee's hours this
    month with it against their company's cap (None: no cap)."""

    lines: tuple[WorkspaceLine, ...]
    hours_cap: int | None
    minutes_used: dict[date, int]

    @property
    def total(self) -> int:
        return sum(line.price.total for line in self.lines)


def bookable_unit(unit_id: int) -> WorkspaceUnit:
    unit = get_by_id(WorkspaceUnit, unit_id, options=[joinedload(WorkspaceUnit.facility)])
    if unit is None or not unit.active or not unit.facility.listed:
        raise BookingNotFound(_l("That workspace does not exist or is no longer offered."))
    return unit


def _check_time(unit: WorkspaceUnit, request: WorkspaceRequest, now: datetime, horizon_days: int):
    span = check_booking(request.starts_at, request.ends_at, opening_hours(unit), rules_of(unit))
    if span.start < round_down(now, unit.slot_minutes):
        raise BookingError(_l("That time has already passed."), "in_past")
    if span.start.astimezone(TOKYO).date() > now.astimezone(TOKYO).date() + timedelta(
        days=horizon_days
    ):
        raise BookingError(
            _l("Workspace can be booked up to %(days)d days ahead.", days=horizon_days),
            "horizon",
        )
    return span


def _month_of(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date().replace(day=1)


def _tokyo_month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=TOKYO)
    following = (month + timedelta(days=32)).replace(day=1)
    end = datetime(following.year, following.month, 1, tzinfo=TOKYO)
    return start.astimezone(UTC), end.astimezone(UTC)


def minutes_booked(user_id: int, month: date, *, excluding: Sequence[int] = ()) -> int:
    """Workspace minutes the employee booked starting in this Tokyo month."""
    start, end = _tokyo_month_bounds(month)
    rows = db.session.execute(
        select(WorkspaceBooking.starts_at, WorkspaceBooking.ends_at).where(
            WorkspaceBooking.user_id == user_id,
            WorkspaceBooking.status.in_(COUNTED_WORKSPACE),
            WorkspaceBooking.starts_at >= start,
            WorkspaceBooking.starts_at < end,
            WorkspaceBooking.id.not_in(list(excluding) or [0]),
        )
    ).all()
    return sum(int((row.ends_at - row.starts_at).total_seconds() // 60) for row in rows)


def _minutes_by_month(lines) -> dict[date, int]:
    wanted: dict[date, int] = defaultdict(int)
    for line in lines:
        wanted[_month_of(line.starts_at)] += line.minutes
    return dict(wanted)


def check_hours_cap(user: User, company: Company, lines, *, excluding: Sequence[int] = ()):
    """Refuse times beyond the employee's monthly workspace hours; the minutes used per
    month with them."""
    used = {}
    for month, minutes in _minutes_by_month(lines).items():
        booked = minutes_booked(user.id, month, excluding=excluding)
        used[month] = booked + minutes
        cap = company.max_workspace_hours_per_month
        if cap is not None and booked + minutes > cap * 60:
            raise BookingError(
                _l(
                    "Your company allows %(cap)d hours of workspace a month; you already have"
                    " %(booked)s hours booked in that month.",
                    cap=cap,
                    booked=f"{booked / 60:g}",
                ),
                "policy_workspace_month",
            )
    return used


def booker_company(actor: User) -> Company:
    """The company of an employee who may book (``require_booker``), refused while its
    subscription is not active (``company_inactive``)."""
    require_booker(actor)
    company = db.session.get(Company, actor.company_id)
    if not company.active:
        raise BookingForbidden(
            _l("Your company's subscription is not active, so workspace cannot be booked."),
            "company_inactive",
        )
    return company


def checked_lines(
    requests: Sequence[WorkspaceRequest], now: datetime, horizon_days: int
) -> list[WorkspaceLine]:
    """Each time asked for checked by the rules of a new booking (the unit bookable, its
    slots and hours, not past, within ``horizon_days``) and priced today, as quote lines;
    at most ``MAX_SERIES`` of them, none overlapping another of the same unit."""
    if not requests:
        raise BookingError(_l("Choose a time to book."), "invalid")
    if len(requests) > MAX_SERIES:
        raise BookingError(
            _l("At most %(n)d times can be booked at once.", n=MAX_SERIES), "series_too_long"
        )
    lines = []
    for request in requests:
        unit = bookable_unit(request.unit_id)
        span = _check_time(unit, request, now, horizon_days)
        price = quote_workspace(unit, span.start, span.end)
        lines.append(
            WorkspaceLine(
                unit, span.start, span.end, price, workspace_terms(price.total, span.start)
            )
        )
    seen = sorted((line.unit.id, line.starts_at, line.ends_at) for line in lines)
    for (unit_a, _, end_a), (unit_b, start_b, _) in zip(seen, seen[1:], strict=False):
        if unit_a == unit_b and start_b < end_a:
            raise BookingError(_l("The times asked for overlap each other."), "overlap")
    return lines


def quote_workspace_booking(
    actor: User, requests: Sequence[WorkspaceRequest], now: datetime, *, horizon_days: int = 90
) -> WorkspaceQuoteResult:
    """What booking these times would cost and count, before confirming (nothing held)."""
    company = booker_company(actor)
    lines = checked_lines(requests, now, horizon_days)
    used = check_hours_cap(actor, company, lines)
    return WorkspaceQuoteResult(tuple(lines), company.max_workspace_hours_per_month, used)


def _replay(actor: User, request_key: str, requests: Sequence[WorkspaceRequest]):
    earlier = list(
        db.session.scalars(
            select(WorkspaceBooking)
            .where(
                WorkspaceBooking.user_id == actor.id, WorkspaceBooking.request_key == request_key
            )
            .order_by(WorkspaceBooking.starts_at)
        )
    )
    if not earlier:
        return None
    asked = sorted(
        (r.unit_id, r.starts_at.astimezone(UTC), r.ends_at.astimezone(UTC)) for r in requests
    )
    if asked != [(b.unit_id, b.starts_at, b.ends_at) for b in earlier]:
        raise BookingError(
            _l("This request key was already used for a different booking."),
            "idempotency_mismatch",
        )
    return earlier


def book_workspace(
    actor: User,
    requests: Sequence[WorkspaceRequest],
    now: datetime,
    *,
    request_key: str | None = None,
    horizon_days: int = 90,
    grace_days: int = 7,
    expected_total: int | None = None,
    stay: Booking | None = None,
) -> list[WorkspaceBooking]:
    """Book every time asked for, or none (the caller rolls back on any error).

    With ``stay``, the times are part of that stay (a desk for each working day): they
    wait with it while it waits (held, not charged) and follow it afterwards. The same
    ``request_key`` from the same employee returns the first answer."""
    company = booker_company(actor)
    active = db.session.scalar(select(User.active).where(User.id == actor.id).with_for_update())
    if not active:
        raise BookingForbidden(_l("This account has been deactivated by your company."))
    if request_key:
        earlier = _replay(actor, request_key, requests)
        if earlier is not None:
            return earlier
    lines = checked_lines(requests, now, horizon_days)
    check_hours_cap(actor, company, lines)
    total = sum(line.price.total for line in lines)
    if expected_total is not None and total != expected_total:
        raise PriceChanged(
            _l(
                "The price of this workspace has changed to %(total)s since it was shown."
                " Please check the new price and confirm again.",
                total=LazyString(format_yen, total),
            )
        )
    waiting = stay is not None and stay.status in WAITING_STATUSES
    series_key = secrets.token_hex(8) if len(lines) > 1 else None
    bookings = []
    for line in sorted(lines, key=lambda item: (item.starts_at, item.unit.id)):
        booking = WorkspaceBooking(
            user_id=actor.id,
            company_id=company.id,
            unit_id=line.unit.id,
            starts_at=line.starts_at,
            ends_at=line.ends_at,
            status=WorkspaceStatus.WAITING if waiting else WorkspaceStatus.CONFIRMED,
            total_price=line.price.total,
            base_price=line.price.base,
            price_reasons=",".join(line.price.reasons),
            request_key=request_key,
            series_key=series_key,
            stay_id=stay.id if stay is not None else None,
            created_at=now,
        )
        db.session.add(booking)
        db.session.flush()
        claim(line.unit, line.starts_at, line.ends_at, booking_id=booking.id)
        bookings.append(booking)
    if not waiting:
        spend_for_workspace(bookings, actor, now, grace_days)
    for booking in bookings:
        emit_workspace_event(booking, events.WORKSPACE_BOOKED, now, actor, series=series_key)
    return bookings


def emit_workspace_event(
    booking: WorkspaceBooking, kind: str, now: datetime, actor: User | None, **data
) -> None:
    """Record an event of ``kind`` about the booking (``accounts.events``: the employee,
    their company and the facility's operator concerned; ``actor`` who acted, None for a
    job) with ``data``, its facts."""
    events.emit(
        kind,
        now,
        company_id=booking.company_id,
        operator_id=booking.unit.facility.operator_id,
        user_id=booking.user_id,
        actor_id=actor.id if actor is not None else None,
        subject=("workspace_booking", booking.id),
        data=data,
    )


def workspace_booking_of(actor: User, booking_id: int, *, lock: bool = False) -> WorkspaceBooking:
    """The employee's own workspace booking; someone else's is not found."""
    query = select(WorkspaceBooking).where(
        WorkspaceBooking.id == booking_id, WorkspaceBooking.user_id == actor.id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    booking = db.session.scalar(query) if 0 < booking_id < 2**31 else None
    if booking is None:
        raise BookingNotFound(_l("That workspace booking does not exist."))
    return booking


def may_cancel(booking: WorkspaceBooking, now: datetime) -> bool:
    return booking.status in OPEN_WORKSPACE and now < booking.starts_at


def cancel_refund(booking: WorkspaceBooking, now: datetime) -> int:
    """What cancelling now returns to the company (nothing was charged while waiting)."""
    if booking.status == WorkspaceStatus.WAITING:
        return 0
    return workspace_terms(booking.total_price, booking.starts_at).refund_at(now)


def cancel_workspace(
    booking: WorkspaceBooking, now: datetime, actor: User | None, *, full: bool = False
) -> int:
    """Cancel a booking before its start: its time is free again at once and the company
    gets back what the policy returns (everything with ``full``: the stay it belonged to
    was ended by the operator or the company). The yen returned."""
    db.session.refresh(booking, with_for_update=True)
    if booking.status not in OPEN_WORKSPACE or (not full and now >= booking.starts_at):
        raise BookingError(
            _l("This workspace booking can no longer be cancelled."), "not_cancellable"
        )
    charged = booking.status != WorkspaceStatus.WAITING
    refund = 0
    if charged:
        amount = booking.total_price if full else cancel_refund(booking, now)
        refund = refund_workspace(booking, amount, now)
    booking.refunded = (booking.refunded or 0) + refund
    booking.status = WorkspaceStatus.CANCELLED
    booking.cancelled_at = now
    # The time is free at once: for bookings, and for an imported event that waited for it.
    give_back(hold_of_booking(booking.id), booking.unit, now)
    emit_workspace_event(booking, events.WORKSPACE_CANCELLED, now, actor, refund=refund)
    return refund


def bookings_of(user: User, *, upcoming_from: datetime | None = None) -> list[WorkspaceBooking]:
    """The employee's workspace bookings, soonest first; only those not yet ended with
    ``upcoming_from``."""
    query = (
        select(WorkspaceBooking)
        .where(WorkspaceBooking.user_id == user.id)
        .options(joinedload(WorkspaceBooking.unit).joinedload(WorkspaceUnit.facility))
        .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
    )
    if upcoming_from is not None:
        query = query.where(WorkspaceBooking.ends_at > upcoming_from)
    return list(db.session.scalars(query))
