"""The facility operator's front desk: find a stay of their own facilities, check it in
and out, mark a no-show, cancel it on the guest's behalf, keep notes, and read its
history. Moving a stay (another room, other dates) is ``booking.operator_moves``.

Plain values in, models out; services flush, the edge commits. Every lookup is walled
to the actor's operator organisation: another organisation's stay is ``BookingNotFound``
exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from accounts import events
from accounts.models import Company, User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Occupancy
from billing import ledger
from billing.ledger import refund_split_for_cancellation
from booking.announce import acted_by, booking_parties
from booking.cancellation import CancelResult, _cancelled, _release, kept_by_policy
from booking.coupon_jobs import refresh_for_booking as refresh_coupons
from booking.models import WAITING_STATUSES, Booking, BookingStatus
from booking.purpose import drop_work_days_from
from booking.services import BookingError, BookingNotFound
from booking.stay_tax import lodges_guests, refund_unkept_tax
from booking.workspace_follow import desks_follow_departure, desks_follow_ended
from core.db import in_id_range, tokyo_today
from core.extensions import db
from core.i18n import format_day
from facilities.models import Facility, Unit
from lodging import register
from regions.coupons import withdraw_for_stay as withdraw_coupons
from regions.places import lock_sessions_for_stays, release_for_stay

MAX_NOTE = 2000  # characters of the operator's notes on one stay
MAX_CANCEL_REASON = 300  # Booking.cancel_reason


class FrontDeskError(BookingError):
    """A front-desk action the stay's state or date does not allow (code says which)."""


# --- Finding the operator's stays ------------------------------------------------------


def _own_units(actor: User):
    """The ids of the rooms of the actor's organisation's facilities (a subquery)."""
    return (
        select(Unit.id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(Facility.operator_id == actor.operator_id)
    )


def operator_booking(actor: User, booking_id: int, *, lock: bool = False) -> Booking:
    """A stay in one of the actor's organisation's facilities (row-locked if asked).

    Anybody else's, or none: ``BookingNotFound``. The actor must run facilities.
    """
    if not actor.runs_facilities or not in_id_range(booking_id):
        raise BookingNotFound(_l("No such stay."))
    query = select(Booking).where(Booking.id == booking_id, Booking.unit_id.in_(_own_units(actor)))
    if lock:  # read as of the lock, not as this session last saw it
        query = query.with_for_update(of=Booking).execution_options(populate_existing=True)
    booking = db.session.scalar(query)
    if booking is None:
        raise BookingNotFound(_l("No such stay."))
    return booking


def operator_bookings(
    actor: User,
    start: date,
    end: date,
    *,
    facility_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    limit: int = 500,
) -> list[Booking]:
    """Stays of the actor's facilities overlapping [start, end) (all facilities, or one of
    them; a foreign ``facility_id`` gives no rows), by check-in, with room, facility,
    guest and company loaded. ``statuses``: only those (default: all).

    The company's name: ``company_names(bookings)`` (one query for the whole list)."""
    if not actor.runs_facilities or end <= start:
        return []
    query = (
        select(Booking)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            Facility.operator_id == actor.operator_id,
            Booking.check_in < end,
            Booking.check_out > start,
        )
        .options(
            joinedload(Booking.unit).joinedload(Unit.facility),
            joinedload(Booking.user),
        )
        .order_by(Booking.check_in, Booking.id)
        .limit(max(0, limit))
    )
    if facility_id is not None:
        if not in_id_range(facility_id):
            return []
        query = query.where(Facility.id == facility_id)
    if statuses is not None:
        query = query.where(Booking.status.in_(statuses))
    return list(db.session.scalars(query).unique())


def company_names(bookings: Iterable[Booking]) -> dict[int, str]:
    """Company id → name for these stays (one query; a booking has no company relation)."""
    ids = {b.company_id for b in bookings}
    if not ids:
        return {}
    return dict(
        db.session.execute(select(Company.id, Company.name).where(Company.id.in_(ids))).all()
    )


# --- The stay's state at the front desk ------------------------------------------------


def state_sentence(booking: Booking) -> LazyString:
    """Where the stay is, in a sentence (the first half of a refusal). Read by the
    operator and, of their own stay, by the employee: neither is named."""
    return _STATE_SENTENCES[BookingStatus(booking.status)]


_STATE_SENTENCES: dict[BookingStatus, LazyString] = {
    BookingStatus.PENDING_APPROVAL: _l(
        "This stay is waiting for approval and is not confirmed yet."
    ),
    BookingStatus.AWAITING_PAYMENT: _l(
        "This stay is waiting for payment and is not confirmed yet."
    ),
    BookingStatus.CONFIRMED: _l("The guest has not checked in."),
    BookingStatus.CHECKED_IN: _l("The guest is checked in."),
    BookingStatus.CHECKED_OUT: _l("The guest has checked out."),
    BookingStatus.NO_SHOW: _l("This stay was marked as a no-show."),
    BookingStatus.CANCELLED: _l("This stay was cancelled."),
    BookingStatus.REJECTED: _l("This stay was not approved."),
    BookingStatus.EXPIRED: _l("This stay expired before it was confirmed."),
}


def never_confirmed(booking: Booking) -> bool:
    """The stay waits for its approval or payment, or it was refused or ran out before
    it was ever confirmed: the front desk has nothing to do with it (yet)."""
    return booking.status in (*WAITING_STATUSES, BookingStatus.REJECTED, BookingStatus.EXPIRED)


def cancel_refusal(booking: Booking) -> LazyString:
    """Why the front desk cannot cancel a stay in this state (neither confirmed nor
    checked in). A waiting stay is the employee's to withdraw or its approver's to
    reject; left waiting, it gives its nights back when its hold runs out."""
    if booking.status in WAITING_STATUSES:
        return _l(
            "%(state)s It can be cancelled once it is confirmed; if it is not confirmed in"
            " time, its nights are released.",
            state=state_sentence(booking),
        )
    return _l("%(state)s It can no longer be cancelled.", state=state_sentence(booking))


def refuse_begun(booking: Booking, today: date) -> None:
    """A confirmed stay whose check-in day has passed is neither cancelled nor moved: the
    front desk checks the guest in or records a no-show (which refunds nothing) first, so
    a night in the past is never given back. On the check-in day it still may be."""
    if booking.status == BookingStatus.CONFIRMED and booking.check_in < today:
        raise FrontDeskError(
            _l("This stay has begun: check the guest in or mark a no-show first."), "begun"
        )


def allowed_actions(booking: Booking, today: date) -> frozenset[str]:
    """What the front desk may do with the stay on ``today`` (for the buttons a page
    shows; each action checks again): "check_in", "check_out", "no_show", "cancel",
    "move"."""
    status = booking.status
    allowed: set[str] = set()
    if status == BookingStatus.CONFIRMED:
        if booking.check_in <= today < booking.check_out:
            allowed.add("check_in")
        if booking.check_in <= today:
            allowed.add("no_show")
        if today <= booking.check_in:  # once begun: check in or a no-show first
            allowed |= {"cancel", "move"}
    elif status == BookingStatus.CHECKED_IN:
        allowed.add("check_out")
        if today <= booking.check_out:  # past its check-out: check the guest out first
            allowed.add("move")
    return frozenset(allowed)


def _release_from(booking: Booking, first: date, today: date) -> date | None:
    """Give back the stay's nights from ``first`` on (nothing if none remain); the date
    they were given back from, or None. The stay keeps its dates and price."""
    if first >= booking.check_out:
        return None
    db.session.execute(
        delete(Occupancy).where(Occupancy.booking_id == booking.id, Occupancy.night >= first)
    )
    booking.released_on = first
    db.session.flush()
    # A block that wanted these nights (an external calendar) takes them now.
    reconcile_unit(booking.unit_id, today)
    nights_changed(booking.unit.facility_id, first, booking.check_out)
    return first


def _emit(type_: str, booking: Booking, actor: User, now: datetime, data=None) -> None:
    events.emit(
        type_,
        now,
        **booking_parties(booking, actor.id),
        subject=("booking", booking.id),
        data=data,
    )


def check_in(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest has arrived: a confirmed stay, from its check-in day until the day
    before check-out (Japan dates). Anything else: ``FrontDeskError``."""
    booking = operator_booking(actor, booking_id, lock=True)
    today = tokyo_today(now)
    if booking.status == BookingStatus.CHECKED_IN:
        raise FrontDeskError(_l("This guest is already checked in."), "already")
    if booking.status != BookingStatus.CONFIRMED:
        raise FrontDeskError(
            _l("%(state)s It cannot be checked in.", state=state_sentence(booking)),
            "not_confirmed",
        )
    if today < booking.check_in:
        raise FrontDeskError(
            _l(
                "This stay begins on %(day)s: the guest can be checked in from that day.",
                day=LazyString(format_day, booking.check_in),
            ),
            "not_arrival_day",
        )
    if today >= booking.check_out:
        raise FrontDeskError(
            _l(
                "This stay ended on %(day)s, so it can no longer be checked in."
                " Mark it as a no-show instead.",
                day=LazyString(format_day, booking.check_out),
            ),
            "stay_over",
        )
    # A satellite office lodges no one: it keeps no register.
    lodging = lodges_guests(booking.unit.facility)
    missing = register.missing(booking.id, booking.guests) if lodging else []
    if missing:
        raise FrontDeskError(
            _l(
                "The guest register of this stay is not complete (%(missing)s). Fill it in"
                " with the guests before checking them in.",
                missing=LazyString(lambda: "; ".join(str(m) for m in missing)),
            ),
            "register_incomplete",
        )
    booking.status = BookingStatus.CHECKED_IN
    booking.checked_in_at = now
    # Checking in is the front desk's word that it checked each guest's identity
    # against the register (the page asks for it): who did, and when.
    if lodging:
        booking.identity_checked_by_id = actor.id
        booking.identity_checked_at = now
        register.record_read([booking.id], booking.unit.facility_id, actor.id, "check", now)
    db.session.flush()
    _emit(events.BOOKING_CHECKED_IN, booking, actor, now)
    return booking


def check_out(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest has left: a checked-in stay. Leaving before the check-out date gives
    the remaining nights back (``released_on`` = today); nothing is refunded (the
    cancellation policy returns nothing once a stay has begun). A business workation's
    working days after today are not worked: dropped (today, the day the guest left,
    stays one). The stay's desks on the days after today that have not begun are
    cancelled by the workspace policy, as if the employee had cancelled them on leaving
    (``booking.workspace_follow.desks_follow_departure``)."""
    booking = operator_booking(actor, booking_id, lock=True)
    today = tokyo_today(now)
    if booking.status == BookingStatus.CHECKED_OUT:
        raise FrontDeskError(_l("This guest has already checked out."), "already")
    if booking.status != BookingStatus.CHECKED_IN:
        raise FrontDeskError(
            _l(
                "%(state)s Only a guest who is checked in can be checked out.",
                state=state_sentence(booking),
            ),
            "not_checked_in",
        )
    _release_from(booking, max(today, booking.check_in), today)
    drop_work_days_from(booking, today + timedelta(days=1))
    desks_follow_departure(booking, today, now, actor)  # later days' desks, by their policy
    booking.status = BookingStatus.CHECKED_OUT
    booking.checked_out_at = now
    db.session.flush()
    refresh_coupons(booking, now)  # the nights stayed: the later ones' coupons withdrawn
    tax = refund_unkept_tax(booking, now)  # the accommodation tax of the nights not stayed
    _emit(events.BOOKING_CHECKED_OUT, booking, actor, now, {"tax_refund": tax} if tax else None)
    return booking


def mark_no_show(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest never came: a confirmed stay on or after its check-in day. The nights
    from today on (from check-in if later) are given back and may be sold again;
    nothing is refunded (the existing policy). A business workation's working days from
    that day on are not worked: dropped. The employee and the company hear of it."""
    booking = operator_booking(actor, booking_id, lock=True)
    today = tokyo_today(now)
    if booking.status == BookingStatus.NO_SHOW:
        raise FrontDeskError(_l("This stay is already marked as a no-show."), "already")
    if booking.status != BookingStatus.CONFIRMED:
        raise FrontDeskError(
            _l("%(state)s It cannot be marked as a no-show.", state=state_sentence(booking)),
            "not_confirmed",
        )
    if today < booking.check_in:
        raise FrontDeskError(
            _l(
                "This stay begins on %(day)s: a no-show can be recorded from that day on.",
                day=LazyString(format_day, booking.check_in),
            ),
            "not_arrival_day",
        )
    # Its programme sessions before the desks' refunds take the billing account's lock,
    # in the order ``join`` takes them (session, then account).
    lock_sessions_for_stays([booking.id])
    no_show_day = max(today, booking.check_in)
    released = _release_from(booking, no_show_day, today)
    # The guest never came: none of the stay's working days was worked, whichever day
    # the front desk records it (the nights before that day stay charged).
    drop_work_days_from(booking, booking.check_in)
    desks_follow_ended(booking, now, actor)  # desks not yet begun, by their policy
    booking.status = BookingStatus.NO_SHOW
    booking.no_show_at = now
    db.session.flush()
    release_for_stay(booking.id, now)  # its places that need a stay, fees back in full
    withdraw_coupons(booking.id, now)  # nobody came to spend them
    tax = refund_unkept_tax(booking, now)  # no guest lodged: the tax comes back in full
    data = {"released_from": released.isoformat() if released else None}
    if tax:
        data["tax_refund"] = tax
    _emit(events.BOOKING_NO_SHOW, booking, actor, now, data)
    return booking


def cancel_for_guest(actor: User, booking_id: int, reason: str, now: datetime) -> CancelResult:
    """Cancel a confirmed stay that has not begun (its check-in day at the latest) on the
    guest's behalf, with a reason (1–300 characters, told to the guest). Operator-caused:
    everything the stay holds of the company's credit comes back. Cancelling twice
    changes nothing (``already``). A stay whose check-in day has passed is checked in
    or a no-show first (``begun``): a night in the past is never refunded."""
    booking = operator_booking(actor, booking_id, lock=True)
    if booking.status == BookingStatus.CANCELLED:
        return CancelResult(booking, 0, 0, 0, 0, already=True)
    reason = (reason or "").strip()
    if not reason:
        raise FrontDeskError(
            _l("Say why the stay is cancelled: the guest is told."), "reason_required"
        )
    if len(reason) > MAX_CANCEL_REASON:
        raise FrontDeskError(
            _l("Keep the reason to %(n)d characters or fewer.", n=MAX_CANCEL_REASON),
            "reason_too_long",
        )
    if booking.status == BookingStatus.CHECKED_IN:
        raise FrontDeskError(
            _l(
                "The guest is checked in: check them out instead. Leaving early gives the"
                " remaining nights back."
            ),
            "checked_in",
        )
    if booking.status != BookingStatus.CONFIRMED:
        raise FrontDeskError(cancel_refusal(booking), "not_cancellable")
    today = tokyo_today(now)
    if booking.check_out <= today:
        raise FrontDeskError(
            _l(
                "This stay ended on %(day)s and can no longer be cancelled."
                " Mark it as a no-show if the guest never came.",
                day=LazyString(format_day, booking.check_out),
            ),
            "stay_over",
        )
    refuse_begun(booking, today)
    paid = ledger.paid_for([booking.id])[booking.id]
    payment = ledger.stay_payment_of(booking.id)
    employee_paid = ledger.card_held(payment)
    tax = _release(booking, now)  # the accommodation tax comes back in full
    desks_follow_ended(booking, now, actor, full=True)  # its desks too, in full
    # Both payers get everything back: the company to its credit, a co-paid stay's
    # employee to their card (sent after the commit, else by the stay_card_refunds job).
    split = refund_split_for_cancellation(booking, now, full=True)
    kept = kept_by_policy(paid, booking.total_price, employee_paid, split)
    booking.cancel_reason = reason
    db.session.flush()
    _cancelled(booking, actor, split.company, kept, now, tax, split.employee)
    return CancelResult(
        booking,
        paid,
        split.company,
        kept,
        100,
        tax_refunded=tax,
        employee_paid=employee_paid,
        employee_refunded=split.employee,
        payment_id=payment.id if split.employee and payment is not None else None,
    )


def set_note(actor: User, booking_id: int, note: str) -> Booking:
    """Replace the operator's notes on a stay (at most ``MAX_NOTE`` characters)."""
    booking = operator_booking(actor, booking_id, lock=True)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise FrontDeskError(
            _l("Keep the notes to %(n)d characters or fewer.", n=MAX_NOTE), "note_too_long"
        )
    booking.operator_note = note
    db.session.flush()
    return booking


# --- History -------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a stay, read from its domain events."""

    at: datetime
    type: str  # the event type (accounts.events)
    by: str  # "employee" | "company_admin" | "operator" | "system"
    actor_name: str  # who acted, or "" for nobody
    data: dict  # the event's data (old dates and room, money moved, the refund…)


def history(booking: Booking) -> list[HistoryEntry]:
    """Everything that happened to the stay, oldest first: booked, changed or moved (by
    whom, from which dates and room, what moved on the credit), checked in and out, a
    no-show, cancelled (by whom, the refund)."""
    rows = db.session.scalars(
        select(events.Event)
        .where(
            events.Event.subject_type == "booking",
            events.Event.subject_id == booking.id,
            events.Event.type != events.BOOKING_REFUSED,
        )
        .order_by(events.Event.created_at, events.Event.id)
    ).all()
    actor_ids = {e.actor_id for e in rows if e.actor_id is not None}
    actors = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    entries = []
    for event in rows:
        data = event.facts
        actor = actors.get(event.actor_id) if event.actor_id is not None else None
        by = data.get("by") or acted_by(actor, booking)
        entries.append(
            HistoryEntry(event.created_at, event.type, str(by), actor.name if actor else "", data)
        )
    return entries
