"""The operator's stays: the list of a facility's bookings, one stay's page (guest,
company, contact, nights with prices, history, notes) and its actions: move (another
room, other dates; a confirm step shows what moves on the company's credit), shorten
or extend, cancel on the guest's behalf, check in (once the guest register is complete
and the front desk ticks that it checked each guest's identity against it), check out,
no-show (direct stays, walk-ins, are ``direct_stay_views``). Services:
``booking.front_desk``, ``booking.operator_moves``, ``booking.register_listing`` (the
stay's register status). The desks booked with a stay (issue 19) follow it
(``booking.workspace_follow``): the cancel and move pages list the desks the action
cancels and the yen they return (in full: the operator acted, not the employee), and each
outcome says it again; an early check-out cancels the desks of the days after by the
workspace policy, said in its outcome."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from accounts.views import safe_next
from availability.models import Block, DirectStay
from billing.copay import send_owed_refund
from billing.ledger import card_held, paid_for, stay_payment_of
from booking import front_desk, guest_register, operator_moves, register_listing
from booking.cancellation import CancelResult
from booking.models import Booking
from booking.services import BookingError, BookingNotFound, PriceChanged
from booking.workspace_follow import (
    desks_cancelled_at,
    desks_dropped_by_change,
    desks_refund_if_departed,
    desks_refund_if_ended,
    total_refund,
)
from consoles.operator.booking_forms import (
    BookingFilterForm,
    CancelForGuestForm,
    CheckInForm,
    ConfirmMoveForm,
    FrontDeskForm,
    MoveForm,
    NoteForm,
)
from consoles.operator.views import _today, bp, facility_or_404
from core.db import edge_now
from core.extensions import db
from core.i18n import format_day, format_yen
from core.paging import Page
from facilities.models import Facility, Unit

LIST_DAYS = 30  # the stays list reads today to 30 days ahead unless asked
LIST_CAP = 500  # stays read for one list; beyond, the page asks for fewer dates
PER_PAGE = 50
ERROR_FIELDS = {  # which move field a refusal is about, so the form marks it
    "dates_order": "check_out",
    "dates_past": "check_in",
    "dates_horizon": "check_in",
    "not_movable": "check_in",
    "unit_unavailable": "unit_id",
    "capacity": "unit_id",
    "closed": "check_in",
    "taken": "check_in",
}


# --- helpers ------------------------------------------------------------------------------


def booking_or_404(booking_id: int, *, lock: bool = False) -> Booking:
    try:
        return front_desk.operator_booking(current_user, booking_id, lock=lock)
    except BookingNotFound:
        abort(404)


def _rules() -> dict:
    return {
        "horizon_days": current_app.config["BOOKING_HORIZON_DAYS"],
        "grace_days": current_app.config["BILLING_GRACE_DAYS"],
    }


def _back(booking: Booking, target: str | None):
    """Where a front-desk button returns: a page of the console it was pressed on, or
    the stay."""
    stay = url_for("operator.booking", booking_id=booking.id)
    path = safe_next(target, stay)
    console = url_for("operator.dashboard")
    return redirect(path if path.startswith(console) else stay, 303)


def _released_from(booking: Booking, today: date) -> date:
    """The first night a no-show or an early check-out gives back."""
    return max(today, booking.check_in)


def _actions(booking: Booking, today: date) -> dict[str, bool]:
    """The buttons the stay's state and today's date offer (the services decide again)."""
    allowed = front_desk.allowed_actions(booking, today)
    return {a: a in allowed for a in ("check_in", "check_out", "no_show", "move", "cancel")}


def _history_rows(booking: Booking, unit_names: dict[int, str]) -> list[dict]:
    """The stay's history, its ISO dates read as dates and old rooms by name."""
    rows = []
    for entry in front_desk.history(booking):
        data = dict(entry.data or {})
        for key in ("old_check_in", "old_check_out", "released_from"):
            if isinstance(data.get(key), str):
                try:
                    data[key] = date.fromisoformat(data[key])
                except ValueError:
                    data[key] = None
        old_unit = data.get("old_unit_id")
        data["old_unit"] = unit_names.get(old_unit, "") if old_unit is not None else ""
        rows.append({"entry": entry, "data": data})
    return rows


def _stay_page(
    booking: Booking,
    *,
    note_form: NoteForm | None = None,
    check_in_form: FrontDeskForm | None = None,
    status: int = 200,
):
    today = _today()
    facility = booking.unit.facility
    units = sorted(facility.units, key=lambda u: u.name)
    if note_form is None:
        note_form = NoteForm(formdata=None, note=booking.operator_note)
    register = register_listing.stay_register(booking)
    if check_in_form is None:
        check_in_form = (CheckInForm if register.kept else FrontDeskForm)(formdata=None)
    company = front_desk.company_names([booking]).get(booking.company_id)
    # The desks an early check-out today would cancel (the days after today's).
    departure_desks = (
        desks_refund_if_departed(booking, today, edge_now())
        if "check_out" in front_desk.allowed_actions(booking, today)
        else []
    )
    return render_template(
        "operator/booking.html",
        facility=facility,
        booking=booking,
        company=company,
        history=_history_rows(booking, {u.id: u.name for u in units}),
        actions=_actions(booking, today),
        released_from=_released_from(booking, today),
        units=[u for u in units if u.active or u.id == booking.unit_id],
        extend_to=booking.check_out + timedelta(days=1),
        shorten_to=booking.check_out - timedelta(days=1),
        note_form=note_form,
        button=FrontDeskForm(formdata=None),
        check_in_form=check_in_form,
        register=register,
        register_editable=guest_register.editable(booking, today),
        # A stay waiting for its approval or payment, or never confirmed: said plainly.
        state_note=front_desk.state_sentence(booking)
        if front_desk.never_confirmed(booking)
        else None,
        departure_desks=departure_desks,
        departure_desks_refund=total_refund(departure_desks),
        today=today,
        max_note=front_desk.MAX_NOTE,
    ), status


# --- the list -----------------------------------------------------------------------------


def _matches(booking: Booking, query: str) -> bool:
    number = query.lstrip("#")
    if number.isdigit() and int(number) == booking.id:
        return True
    return query.casefold() in (booking.user.name or "").casefold()


def _direct_stays(facility: Facility, start: date, end: date) -> list[DirectStay]:
    """The facility's direct stays overlapping [start, end), by check-in."""
    return list(
        db.session.scalars(
            select(DirectStay)
            .join(Block, Block.id == DirectStay.block_id)
            .join(Unit, Unit.id == Block.unit_id)
            .where(Unit.facility_id == facility.id, Block.start_date < end, Block.end_date > start)
            .options(contains_eager(DirectStay.block).contains_eager(Block.unit))
            .order_by(Block.start_date, Unit.name, DirectStay.id)
            .limit(LIST_CAP)
        )
    )


@bp.get("/facilities/<int:facility_id>/bookings")
def bookings(facility_id: int):
    facility = facility_or_404(facility_id)
    today = _today()
    form = BookingFilterForm(request.args)
    valid = form.validate()
    start, end = form.range(today, LIST_DAYS) if valid else (today, today + timedelta(LIST_DAYS))
    found = front_desk.operator_bookings(
        current_user,
        start,
        end,
        facility_id=facility.id,
        statuses=form.statuses if valid else None,
        limit=LIST_CAP + 1,
    )
    capped = len(found) > LIST_CAP
    found = found[:LIST_CAP]
    query = (form.q.data or "").strip() if valid else ""
    if query:
        found = [b for b in found if _matches(b, query)]
    number = Page.number(request.args.get("page", 1, type=int) or 1, len(found), PER_PAGE)
    first = (number - 1) * PER_PAGE
    page = Page(found[first : first + PER_PAGE], len(found), number, PER_PAGE)
    # The pager repeats the list's own choices only, as read: never the raw query
    # string (a stray ``facility_id`` or ``endpoint`` would clash with url_for's).
    args = {"start": start.isoformat(), "end": end.isoformat()}
    if valid and form.status.data:
        args["status"] = form.status.data
    if query:
        args["q"] = query
    return render_template(
        "operator/bookings.html",
        facility=facility,
        form=form,
        start=start,
        end=end,
        page=page,
        args=args,
        capped=capped,
        cap=LIST_CAP,
        companies=front_desk.company_names(page.items),
        directs=_direct_stays(facility, start, end),
        today=today,
    ), 200 if valid else 400


# --- one stay -----------------------------------------------------------------------------


@bp.get("/bookings/<int:booking_id>")
def booking(booking_id: int):
    return _stay_page(booking_or_404(booking_id))


@bp.post("/bookings/<int:booking_id>/note")
def booking_note(booking_id: int):
    stay = booking_or_404(booking_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _stay_page(stay, note_form=form, status=400)
    try:
        front_desk.set_note(current_user, stay.id, (form.note.data or "").strip())
    except BookingError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back(stay, form.next.data)
    db.session.commit()
    flash(_("The notes have been saved."), "success")
    return _back(stay, form.next.data)


def _front_desk(booking_id: int, act, done):
    """A front-desk button: the stay (404 if not ours), the token, one service, one commit."""
    stay = booking_or_404(booking_id)
    form = FrontDeskForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(stay, form, act, done)


def _act(stay: Booking, form: FrontDeskForm, act, done):
    today = _today()
    try:
        result = act(current_user, stay.id, edge_now())
    except BookingNotFound:
        abort(404)
    except BookingError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back(stay, form.next.data)
    db.session.commit()
    flash(done(result, today), "success")
    return _back(stay, form.next.data)


def _who(stay: Booking) -> dict:
    return {"name": stay.user.name, "room": stay.unit.name}


def _checked_in(stay: Booking, today: date) -> str:
    return _("%(name)s has checked in (room %(room)s).", **_who(stay))


def _checked_out(stay: Booking, today: date) -> str:
    if stay.released_on is not None:
        message = _(
            "%(name)s has checked out (room %(room)s). The nights from %(day)s are free"
            " again; nothing is refunded.",
            day=format_day(stay.released_on, "short"),
            **_who(stay),
        )
    else:
        message = _("%(name)s has checked out (room %(room)s).", **_who(stay))
    desks = desks_cancelled_at(stay.id, stay.checked_out_at) if stay.checked_out_at else []
    if desks:  # the desks of the days after the departure, by the workspace policy
        message += " " + _desks_outcome(desks)
    return message


def _desks_outcome(desks) -> str:
    """The desks an action cancelled with the stay and what they returned."""
    refunded = sum(d.refunded for d in desks)
    if refunded:
        return ngettext(
            "%(num)d desk booked with the stay was cancelled; %(amount)s was returned to"
            " the company's credit.",
            "%(num)d desks booked with the stay were cancelled; %(amount)s was returned to"
            " the company's credit.",
            len(desks),
            amount=format_yen(refunded),
        )
    return ngettext(
        "%(num)d desk booked with the stay was cancelled; nothing was returned for it.",
        "%(num)d desks booked with the stay were cancelled; nothing was returned for them.",
        len(desks),
    )


def _no_show(stay: Booking, today: date) -> str:
    return _(
        "%(name)s is marked as a no-show (room %(room)s). The nights from %(day)s are free"
        " again; nothing is refunded.",
        day=format_day(stay.released_on or _released_from(stay, today), "short"),
        **_who(stay),
    )


@bp.post("/bookings/<int:booking_id>/check-in")
def booking_check_in(booking_id: int):
    """Check in, once the front desk says it checked each guest against the register
    (the box; the service records who and when, and refuses an incomplete register)."""
    stay = booking_or_404(booking_id)
    kept = register_listing.keeps_register(stay.unit.facility)
    form = CheckInForm() if kept else FrontDeskForm()
    if not form.validate_on_submit():
        return _stay_page(stay, check_in_form=form, status=400)
    return _act(stay, form, front_desk.check_in, _checked_in)


@bp.post("/bookings/<int:booking_id>/check-out")
def booking_check_out(booking_id: int):
    return _front_desk(booking_id, front_desk.check_out, _checked_out)


@bp.post("/bookings/<int:booking_id>/no-show")
def booking_no_show(booking_id: int):
    return _front_desk(booking_id, front_desk.mark_no_show, _no_show)


# --- move, shorten, extend ----------------------------------------------------------------


def _move_page(
    stay: Booking,
    form,
    *,
    quote: operator_moves.MoveQuote | None = None,
    error: BookingError | None = None,
    status: int = 200,
):
    facility = stay.unit.facility
    units = sorted(facility.units, key=lambda u: u.name)
    # The desks on days the new dates leave out: the move cancels them, in full.
    desks = (
        desks_dropped_by_change(stay, quote.check_in, quote.check_out, edge_now(), full=True)
        if quote is not None
        else []
    )
    return render_template(
        "operator/booking_move.html",
        facility=facility,
        booking=stay,
        form=form,
        units=[u for u in units if u.active or u.id == stay.unit_id],
        quote=quote,
        desks=desks,
        desks_refund=total_refund(desks),
        confirm=FrontDeskForm(formdata=None),
        error=error,
        error_field=ERROR_FIELDS.get(error.code) if error is not None else None,
        today=_today(),
    ), status


def _quote(stay: Booking, form) -> operator_moves.MoveQuote:
    return operator_moves.quote_move(
        current_user,
        stay.id,
        form.unit_id.data,
        form.check_in.data,
        form.check_out.data,
        edge_now(),
        **_rules(),
    )


@bp.route("/bookings/<int:booking_id>/move", methods=["GET", "POST"])
def booking_move(booking_id: int):
    """The confirm step (GET, also where the tape chart's drag lands): the stay after
    the move night by night, and the money; POST makes the move."""
    stay = booking_or_404(booking_id)
    if request.method == "POST":
        return _move_confirm(stay)
    if not any(k in request.args for k in ("unit_id", "check_in", "check_out")):
        form = MoveForm(
            formdata=None,
            unit_id=stay.unit_id,
            check_in=stay.check_in,
            check_out=stay.check_out,
        )
        return _move_page(stay, form)
    form = MoveForm(request.args)
    if not form.validate():
        error = BookingError(_("Please check the fields below."), "invalid")
        return _move_page(stay, form, error=error, status=400)
    try:
        quote = _quote(stay, form)
    except BookingNotFound:
        abort(404)
    except BookingError as exc:
        db.session.rollback()
        return _move_page(stay, form, error=exc, status=422)
    return _move_page(stay, form, quote=quote)


def _move_confirm(stay: Booking):
    form = ConfirmMoveForm()
    if not form.validate_on_submit():
        error = BookingError(_("The move was incomplete. Please try again."), "invalid")
        return _move_page(stay, form, error=error, status=400)
    now = edge_now()
    try:
        moved = operator_moves.move_booking(
            current_user,
            stay.id,
            form.unit_id.data,
            form.check_in.data,
            form.check_out.data,
            now,
            expected_net=form.expected_net.data,
            expected_tax=form.expected_tax.data,
            **_rules(),
        )
    except BookingNotFound:
        abort(404)
    except BookingError as exc:
        db.session.rollback()
        return _refused_move(stay, form, exc)
    desks = desks_cancelled_at(stay.id, now)
    db.session.commit()
    if moved.card_payment_id is not None:  # the card's share, once our side is committed
        send_owed_refund(moved.card_payment_id)
    message = _move_outcome(moved)
    if desks:
        message += " " + _desks_outcome(desks)
    flash(message, "success")
    return redirect(url_for("operator.booking", booking_id=stay.id), 303)


def _refused_move(stay: Booking, form, exc: BookingError):
    if exc.code == "unchanged":  # sent twice: the first one did it
        flash(_("The stay already has this room and these dates."), "info")
        return redirect(url_for("operator.booking", booking_id=stay.id), 303)
    quote = None
    if isinstance(exc, PriceChanged):  # show the new amounts beside the refusal
        try:
            quote = _quote(stay, form)
        except BookingError:
            db.session.rollback()
    status = 409 if exc.code in ("taken", "price_changed") or quote is not None else 422
    return _move_page(stay, form, quote=quote, error=exc, status=status)


def _move_outcome(moved: operator_moves.MoveQuote) -> str:
    parts = [
        _(
            "The stay has been moved to %(room)s, %(first)s – %(last)s.",
            room=moved.unit.name,
            first=format_day(moved.check_in, "short"),
            last=format_day(moved.check_out, "short"),
        )
    ]
    if moved.charged:
        parts.append(
            _("%(amount)s was charged to the company's credit.", amount=format_yen(moved.charged))
        )
    if moved.refunded:
        parts.append(
            _(
                "%(amount)s was returned to the company's credit.",
                amount=format_yen(moved.refunded),
            )
        )
    if not (moved.charged or moved.refunded):
        parts.append(_("The company's credit did not change."))
    return " ".join(parts)


# --- cancel on the guest's behalf ---------------------------------------------------------


def _cancel_page(stay: Booking, form: CancelForGuestForm, *, error=None, status: int = 200):
    today = _today()
    cancellable = _actions(stay, today)["cancel"]
    # The desks booked with the stay: cancelled with it, everything back.
    desks = desks_refund_if_ended(stay, edge_now(), full=True) if cancellable else []
    return render_template(
        "operator/booking_cancel.html",
        facility=stay.unit.facility,
        booking=stay,
        form=form,
        error=error,
        paid=paid_for([stay.id])[stay.id],
        # A co-paid stay: what the employee paid by card comes back to it too.
        card=card_held(stay_payment_of(stay.id)),
        cancellable=cancellable,
        desks=desks,
        desks_refund=total_refund(desks),
        # Why a stay never confirmed cannot be cancelled here (waiting, refused, expired).
        refusal=front_desk.cancel_refusal(stay) if front_desk.never_confirmed(stay) else None,
        max_reason=front_desk.MAX_CANCEL_REASON,
    ), status


@bp.route("/bookings/<int:booking_id>/cancel", methods=["GET", "POST"])
def booking_cancel(booking_id: int):
    stay = booking_or_404(booking_id)
    form = CancelForGuestForm()
    if not form.validate_on_submit():
        return _cancel_page(stay, form, status=400 if form.is_submitted() else 200)
    now = edge_now()
    try:
        result = front_desk.cancel_for_guest(current_user, stay.id, form.reason.data.strip(), now)
    except BookingNotFound:
        abort(404)
    except BookingError as exc:
        db.session.rollback()
        return _cancel_page(stay, form, error=exc.message, status=422)
    desks = [] if result.already else desks_cancelled_at(stay.id, now)
    db.session.commit()
    # The card's share of a co-paid stay, at the provider once our side is committed (a
    # failed call is retried by billing.copay.settle_stay_refunds).
    if result.payment_id is not None:
        send_owed_refund(result.payment_id)
    message, category = _cancel_outcome(result)
    if desks:
        message += " " + _desks_outcome(desks)
    flash(message, category)
    return redirect(url_for("operator.booking", booking_id=stay.id), 303)


def _cancel_outcome(result: CancelResult) -> tuple[str, str]:
    if result.already:
        return _("This stay was already cancelled."), "info"
    message = _(
        "The stay has been cancelled and its nights released. %(amount)s was"
        " returned to the company's credit.",
        amount=format_yen(result.refunded),
    )
    if result.employee_refunded:
        message += " " + _(
            "The %(amount)s the employee paid by card is refunded to their card in full.",
            amount=format_yen(result.employee_refunded),
        )
    return message, "success"
