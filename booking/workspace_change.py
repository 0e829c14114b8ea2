"""Change a workspace booking: another time, or another unit of the same facility.

Rules:

- Only the booking's own employee changes it (someone else's is not found), while it is
  confirmed and until ``FREE_CANCELLATION_HOURS`` (24) before its current start, the end
  of its free cancellation (``change_deadline``). After that it can only be cancelled,
  under the terms (half back until it begins): otherwise a booking within 24 hours of
  its start could be moved far ahead at the same price and then cancelled in full,
  dodging the late-cancellation half. A desk booked with a stay (``stay_id``) follows its
  stay (``booking.workspace_follow``) and is changed with it, not on its own.
- The new time keeps the rules of a new booking (``booking.workspace``: the unit
  bookable, its slots and hours, not past, within the horizon) at a unit of the same
  facility. The monthly workspace hours count the booking at its new length instead of
  its old one.
- The new price is today's (``pricing.workspace.quote_workspace``); the difference is
  settled on the company's stay credit (``billing.workspace_ledger.WorkspaceChangeMoney``):
  a dearer time is charged in full, a cheaper one refunded in full, as cancelling the
  difference in the free window would be. With ``expected_difference`` (or
  ``expected_total``), what the employee was shown, a moved price is refused
  (``PriceChanged``) rather than settled.
- The booking keeps its id. Under its row lock the old hold is released and the new time
  claimed in one savepoint: a new time that overlaps the old one is free to take, and a
  time held by anyone else (``SlotTaken``) leaves the old time held and nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import events
from accounts.models import User
from availability.workspace import (
    claim,
    hold_of_booking,
    holds_between,
    reconcile_unit,
    release,
)
from billing.workspace_ledger import (
    FREE_CANCELLATION_HOURS,
    WorkspaceChangeMoney,
    charge_difference,
    refund_difference,
    workspace_terms,
)
from booking.services import BookingError, BookingForbidden, PriceChanged
from booking.workspace import (
    WorkspaceLine,
    WorkspaceRequest,
    booker_company,
    check_hours_cap,
    checked_lines,
    emit_workspace_event,
    workspace_booking_of,
)
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from core.extensions import db
from core.i18n import format_yen

STAY_DESK = _l(
    "This desk was booked with your stay and follows it: change or cancel the stay instead."
)
NOT_CHANGEABLE = _l(
    "This workspace booking has begun or was cancelled, so it can no longer be changed."
)


@dataclass(frozen=True)
class WorkspaceChangeQuote:
    """The booking as it would be: its new time and price (``line``), the money the
    change settles, the employee's hours in the new time's month with it (``hours_cap``
    None: no cap) and whether the new time is free (its own old time does not count)."""

    booking: WorkspaceBooking
    line: WorkspaceLine
    money: WorkspaceChangeMoney
    hours_cap: int | None
    minutes_used: dict
    available: bool


@dataclass(frozen=True)
class WorkspaceChangeResult:
    """A change made: the booking (now at its new time) and what it was before."""

    booking: WorkspaceBooking
    old_unit_id: int
    old_starts_at: datetime
    old_ends_at: datetime
    money: WorkspaceChangeMoney


def change_deadline(booking: WorkspaceBooking) -> datetime:
    """The last moment the booking may be changed: the end of its free cancellation,
    ``FREE_CANCELLATION_HOURS`` before its current start."""
    return workspace_terms(booking.total_price, booking.starts_at).free_until


def _too_late(booking: WorkspaceBooking) -> LazyString:
    terms = workspace_terms(booking.total_price, booking.starts_at)
    return _l(
        "A workspace booking can be changed only until %(hours)d hours before its start,"
        " so this one can no longer be changed. You can still cancel it until it begins:"
        " %(percent)d%% of its price (%(amount)s) returns to your company's credit under the"
        " cancellation terms.",
        hours=FREE_CANCELLATION_HOURS,
        amount=LazyString(format_yen, terms.late_refund),
        percent=terms.late_percent,
    )


def why_not_changeable(booking: WorkspaceBooking, now: datetime) -> LazyString | None:
    """Why the booking cannot be changed at ``now`` (None: it can): a desk of a stay, a
    booking not confirmed or begun, or one past its ``change_deadline``."""
    if booking.stay_id is not None:
        return STAY_DESK
    if booking.status != WorkspaceStatus.CONFIRMED or now >= booking.starts_at:
        return NOT_CHANGEABLE
    if now >= change_deadline(booking):
        return _too_late(booking)
    return None


def may_change(booking: WorkspaceBooking, now: datetime) -> bool:
    """Confirmed, not a desk of a stay, and before its ``change_deadline``."""
    return why_not_changeable(booking, now) is None


def _check_changeable(booking: WorkspaceBooking, now: datetime) -> None:
    reason = why_not_changeable(booking, now)
    if reason is not None:
        raise BookingError(reason, "not_changeable")


def _new_line(
    actor: User,
    booking: WorkspaceBooking,
    new_unit_id: int,
    new_start: datetime,
    new_end: datetime,
    now: datetime,
    horizon_days: int,
):
    """The new time checked as a new booking would be, at the booking's facility, and
    the employee's hours with it instead of the old time."""
    company = booker_company(actor)
    (line,) = checked_lines([WorkspaceRequest(new_unit_id, new_start, new_end)], now, horizon_days)
    if line.unit.facility_id != booking.unit.facility_id:
        raise BookingError(
            _l("A workspace booking can only move to another space of the same facility."),
            "other_facility",
        )
    if (line.unit.id, line.starts_at, line.ends_at) == (
        booking.unit_id,
        booking.starts_at,
        booking.ends_at,
    ):
        raise BookingError(_l("Your booking already has this time and space."), "unchanged")
    used = check_hours_cap(actor, company, [line], excluding=[booking.id])
    return company, line, used


def _free_but_for(booking: WorkspaceBooking, line: WorkspaceLine) -> bool:
    holds = holds_between([line.unit.id], line.starts_at, line.ends_at)
    return all(hold.booking_id == booking.id for hold in holds)


def quote_change(
    actor: User,
    booking_id: int,
    new_unit_id: int,
    new_start: datetime,
    new_end: datetime,
    now: datetime,
    *,
    horizon_days: int = 90,
) -> WorkspaceChangeQuote:
    """What moving the booking to this time would cost or return, before confirming
    (nothing is written)."""
    booking = workspace_booking_of(actor, booking_id)
    _check_changeable(booking, now)
    company, line, used = _new_line(
        actor, booking, new_unit_id, new_start, new_end, now, horizon_days
    )
    money = WorkspaceChangeMoney(booking.total_price, line.price.total)
    return WorkspaceChangeQuote(
        booking,
        line,
        money,
        company.max_workspace_hours_per_month,
        used,
        _free_but_for(booking, line),
    )


def _check_expected(
    money: WorkspaceChangeMoney, expected_difference: int | None, expected_total: int | None
) -> None:
    if (expected_difference is None or money.difference == expected_difference) and (
        expected_total is None or money.new_total == expected_total
    ):
        return
    raise PriceChanged(
        _l(
            "The price of this time has changed to %(total)s since it was shown (a"
            " difference of %(difference)s). Please check the new price and confirm again.",
            total=LazyString(format_yen, money.new_total),
            difference=LazyString(format_yen, money.difference),
        )
    )


def change_workspace(
    actor: User,
    booking_id: int,
    new_unit_id: int,
    new_start: datetime,
    new_end: datetime,
    now: datetime,
    *,
    expected_difference: int | None = None,
    expected_total: int | None = None,
    horizon_days: int = 90,
    grace_days: int = 7,
) -> WorkspaceChangeResult:
    """Move the booking to the new time (see the module's rules); only flushes, and the
    caller rolls back on any error (``SlotTaken``, ``PriceChanged``, ``BookingError``,
    ``CreditRefused``)."""
    active = db.session.scalar(select(User.active).where(User.id == actor.id).with_for_update())
    booking = workspace_booking_of(actor, booking_id, lock=True)
    if not active:
        raise BookingForbidden(_l("This account has been deactivated by your company."))
    _check_changeable(booking, now)
    _, line, _used = _new_line(actor, booking, new_unit_id, new_start, new_end, now, horizon_days)
    # Checked changeable under the row lock: within the free cancellation, so a cheaper
    # time returns the whole difference.
    money = WorkspaceChangeMoney(booking.total_price, line.price.total)
    _check_expected(money, expected_difference, expected_total)
    old = (booking.unit_id, booking.starts_at, booking.ends_at)
    old_unit = booking.unit
    # Give the old time back and take the new one together: the new time may overlap the
    # old, and a refusal restores the old hold with the savepoint.
    with db.session.begin_nested():
        hold = hold_of_booking(booking.id)
        if hold is not None:
            release(hold)
        claim(line.unit, line.starts_at, line.ends_at, booking_id=booking.id)
    booking.unit = line.unit
    booking.starts_at, booking.ends_at = line.starts_at, line.ends_at
    booking.total_price = line.price.total
    booking.base_price = line.price.base
    booking.price_reasons = ",".join(line.price.reasons)
    db.session.flush()
    reconcile_unit(old_unit, now)  # an imported event waiting for the old time takes it
    refund_difference(booking, money.refunded, now)
    charge_difference(booking, actor, money.charged, now, grace_days)
    emit_workspace_event(
        booking,
        events.WORKSPACE_CHANGED,
        now,
        actor,
        old_unit_id=old[0],
        old_start=old[1].isoformat(),
        old_end=old[2].isoformat(),
        charged=money.charged,
        refunded=money.refunded,
        kept=0,  # the event's documented shape (accounts.events): a change keeps nothing
    )
    return WorkspaceChangeResult(booking, old[0], old[1], old[2], money)
