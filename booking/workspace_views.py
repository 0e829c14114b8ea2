"""The employee's workspace pages: search, a facility's day, confirm and book, my
workspace bookings, cancel, and check-in at the desk (change: ``workspace_change_views``,
which uses the helpers here).

Routes on the employee blueprint (``booking.views.bp``, signed-in members only). The
rules and the money are the services' (``booking.workspace``, ``booking.workspace_search``,
``booking.workspace_checkin``, ``billing.workspace_ledger``); these views parse,
authorise (somebody else's booking is 404; only employees book), call one service and
commit once, rolling back on any refusal. Search and the day view are open to every
signed-in member, as the stay search is.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from availability.slots import format_api_time
from availability.workspace import is_free, round_down
from billing.services import credit_notice
from billing.workspace_ledger import workspace_terms
from booking import services
from booking.forms import place_choices
from booking.views import bp
from booking.workspace import (
    WorkspaceRequest,
    book_workspace,
    bookable_unit,
    bookings_of,
    cancel_refund,
    cancel_workspace,
    may_cancel,
    quote_workspace_booking,
    workspace_booking_of,
)
from booking.workspace_change import change_deadline, may_change
from booking.workspace_checkin import booking_to_check_in, check_in, code_matches
from booking.workspace_forms import (
    SEARCH_STEP,
    WorkspaceBookForm,
    WorkspaceCancelForm,
    WorkspaceSearchForm,
    WorkspaceTimeForm,
    duration_label,
    status_label,
)
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from booking.workspace_search import day_view, facility_units, search_workspace
from core import limits
from core.dates import parse_iso_date
from core.db import TOKYO, edge_now, get_by_id, tokyo_today
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale, format_day, format_yen
from facilities.models import Facility
from facilities.workspace import EQUIPMENT, KIND_LABELS, WorkspaceUnit
from pricing.workspace import decode_workspace_reasons, workspace_reason_label

HORIZON_DAYS = 90  # how far ahead workspace is searched and booked (book_workspace's own)
CODE_LENGTH = 16  # booking.workspace_checkin.checkin_code
CURRENT = (WorkspaceStatus.WAITING, WorkspaceStatus.CONFIRMED, WorkspaceStatus.CHECKED_IN)


# -- words for the templates -------------------------------------------------------------


@bp.app_template_filter("ws_time")
def ws_time(moment: datetime) -> str:
    """An instant as Japan's wall-clock time, ``14:00`` (midnight ending a day: 24:00)."""
    tokyo = moment.astimezone(TOKYO)
    return f"{tokyo:%H:%M}"


@bp.app_template_filter("ws_duration")
def ws_duration(minutes: int) -> str:
    return duration_label(minutes)


@bp.app_template_filter("ws_status")
def ws_status(code: str) -> str:
    return status_label(code)


@bp.app_template_filter("ws_reasons")
def ws_reasons(codes) -> list[str]:
    """A price's reason labels, from codes or a booking's stored ``price_reasons``."""
    if isinstance(codes, str):
        codes = decode_workspace_reasons(codes)
    return [workspace_reason_label(code) for code in codes]


@bp.app_template_filter("day_iso")
def day_iso(moment: datetime) -> str:
    """The Japan date of an instant, ``YYYY-MM-DD``."""
    return moment.astimezone(TOKYO).date().isoformat()


@bp.app_template_filter("ws_api_time")
def ws_api_time(moment: datetime) -> str:
    return format_api_time(moment)


def unit_labels() -> dict:
    """The labels of workspace kinds and equipment every workspace template reads."""
    return {"kind_labels": KIND_LABELS, "equipment_labels": EQUIPMENT}


# -- who may -------------------------------------------------------------------------------


def _employee() -> None:
    """Booking pages are for the people of a subscribing company, as stays are."""
    if not current_user.books_stays:
        abort(403)


def own_workspace_booking(booking_id: int) -> WorkspaceBooking:
    """The signed-in employee's own workspace booking; somebody else's (or none) is 404,
    and a member who does not book stays is 403."""
    _employee()
    try:
        return workspace_booking_of(current_user, booking_id)
    except services.BookingNotFound:
        abort(404)


def last_bookable_day(today: date) -> date:
    """The last Tokyo day workspace can be booked (``HORIZON_DAYS`` ahead)."""
    return today + timedelta(days=HORIZON_DAYS)


def billing_grace_days() -> int:
    """Days a company may run on overage after its credit runs out (configuration)."""
    return current_app.config["BILLING_GRACE_DAYS"]


# -- search --------------------------------------------------------------------------------


def _default_time(form: WorkspaceSearchForm, now: datetime) -> None:
    """Two hours from the next half hour today, or tomorrow morning once it is late."""
    start = round_down(now, SEARCH_STEP) + timedelta(minutes=SEARCH_STEP)
    tokyo = start.astimezone(TOKYO)
    if tokyo.date() != tokyo_today(now) or tokyo.hour >= 18:
        form.day.data = tokyo_today(now) + timedelta(days=1)
        form.starts.data, form.ends.data = "10:00", "12:00"
        return
    form.day.data = tokyo.date()
    form.starts.data = f"{tokyo:%H:%M}"
    form.ends.data = f"{tokyo + timedelta(hours=2):%H:%M}"


def _search_refusal(form: WorkspaceSearchForm, now: datetime) -> str | None:
    today = tokyo_today(now)
    if not today <= form.day.data <= last_bookable_day(today):
        return _("Workspace can be booked from today up to %(days)d days ahead.", days=HORIZON_DAYS)
    if form.to_query().span.start < round_down(now, SEARCH_STEP):
        return _("That time has already passed. Please choose a later time.")
    return None


@bp.get("/workspace")
def workspace_search():
    """Desks, booths and meeting rooms free for a time on one day, cheapest first."""
    form = WorkspaceSearchForm(request.args)
    form.place.choices = place_choices(current_locale())
    now = edge_now()
    today = tokyo_today(now)
    searched = "day" in request.args
    if not searched:
        _default_time(form, now)
    query = offers = error = None
    if searched:
        if form.validate():
            error = _search_refusal(form, now)
            if error is None:
                query = form.to_query()
                offers = search_workspace(query)
        else:
            error = _("Please check the search fields.")
    links = {}
    if offers:
        start, end = query.span
        times = {"start": format_api_time(start), "end": format_api_time(end)}
        for offer in offers:
            unit = offer.unit
            links[unit.id] = {
                "day": url_for(
                    "booking.workspace_day",
                    facility_id=unit.facility_id,
                    date=query.day.isoformat(),
                    unit_id=unit.id,
                    **times,
                ),
                "book": url_for("booking.workspace_quote", unit_id=unit.id, **times),
            }
    return render_template(
        "booking/workspace_search.html",
        form=form,
        query=query,
        offers=offers,
        links=links,
        error=error,
        today=today,
        last_day=last_bookable_day(today),
        free_until=workspace_terms(0, query.span.start).free_until if query else None,
        **unit_labels(),
    ), (400 if error else 200)


# -- a facility's day ----------------------------------------------------------------------


def _listed_facility(facility_id: int) -> Facility:
    facility = get_by_id(Facility, facility_id)
    if facility is None or not facility.listed:
        abort(404)
    return facility


def _chosen(args) -> dict | None:
    """The time a search result or a refused booking brought along, to preselect."""
    if "start" not in args:
        return None
    form = WorkspaceTimeForm(args)
    if not form.validate():
        return None
    start, end = form.span()
    return {
        "unit_id": form.unit_id.data,
        "start": start,
        "minutes": (end - start) // timedelta(minutes=1),
    }


@bp.get("/workspace/facilities/<int:facility_id>")
def workspace_day(facility_id: int):
    """Every unit's slots on one day, free or taken, each free slot a choice."""
    facility = _listed_facility(facility_id)
    now = edge_now()
    today = tokyo_today(now)
    raw = request.args.get("date")
    day = parse_iso_date(raw) if raw else today
    error = None
    if day is None:
        error, day = _("That is not a date: choose a day as YYYY-MM-DD."), today
    elif not today <= day <= last_bookable_day(today):
        error = _(
            "Workspace can be booked from today up to %(days)d days ahead.", days=HORIZON_DAYS
        )
        day = today if day < today else last_bookable_day(today)
    units = facility_units(facility.id)
    return render_template(
        "booking/workspace_day.html",
        facility=facility,
        day=day,
        days=day_view(units, day, now),
        chosen=_chosen(request.args),
        error=error,
        prev_day=day - timedelta(days=1) if day > today else None,
        next_day=day + timedelta(days=1) if day < last_bookable_day(today) else None,
        **unit_labels(),
    ), (400 if error else 200)


# -- confirm and book ----------------------------------------------------------------------


def month_hours(quote, line) -> dict:
    """The employee's workspace hours in the booking's month, before and with it."""
    month = line.starts_at.astimezone(TOKYO).date().replace(day=1)
    with_it = quote.minutes_used.get(month, line.minutes)
    return {
        "before": f"{(with_it - line.minutes) / 60:g}",
        "after": f"{with_it / 60:g}",
        "cap": quote.hours_cap,
        "month": month,
    }


def _refusal_unit(unit_id: int | None) -> WorkspaceUnit | None:
    """The unit a refused time was asked of, for the way back to its day."""
    try:
        return bookable_unit(unit_id) if unit_id else None
    except services.BookingNotFound:
        return None


def _confirm_page(quote, form, *, error: RuleError | None = None, unit_id=None, status=200):
    now = edge_now()
    line = quote.lines[0] if quote else None
    free = line is not None and is_free(line.unit.id, line.starts_at, line.ends_at)
    return render_template(
        "booking/workspace_confirm.html",
        quote=quote,
        line=line,
        free=free,
        form=form,
        error=error,
        unit=line.unit if line else _refusal_unit(unit_id),
        hours=month_hours(quote, line) if line else None,
        credit=credit_notice(current_user, now, billing_grace_days()),
        **unit_labels(),
    ), status


def _quote(unit_id: int, start: datetime, end: datetime):
    return quote_workspace_booking(
        current_user, [WorkspaceRequest(unit_id, start, end)], edge_now(), horizon_days=HORIZON_DAYS
    )


def refusal_status(exc: RuleError) -> int:
    """The HTTP status of a page that states a refusal: 403 not allowed, 409 a time taken
    or a price moved meanwhile, 422 any other rule."""
    if isinstance(exc, services.BookingForbidden):
        return 403
    if exc.code in ("taken", "price_changed"):
        return 409
    return 422


@bp.get("/workspace/book")
def workspace_quote():
    """The price, its reasons, the cancellation terms in yen and the month's hours,
    then the confirm button."""
    form = WorkspaceTimeForm(request.args)
    if not form.validate():
        details = [f"{form[name].label.text}: {errors[0]}" for name, errors in form.errors.items()]
        error = RuleError(" ".join([_("Choose a workspace and a time."), *details]), "invalid")
        return _confirm_page(None, form, error=error, unit_id=form.unit_id.data, status=400)
    start, end = form.span()
    try:
        quote = _quote(form.unit_id.data, start, end)
    except services.BookingNotFound:
        abort(404)
    except RuleError as exc:
        return _confirm_page(
            None, form, error=exc, unit_id=form.unit_id.data, status=refusal_status(exc)
        )
    confirm = WorkspaceBookForm(formdata=None)
    confirm.request_key.data = secrets.token_urlsafe(16)
    return _confirm_page(quote, confirm)


@bp.post("/workspace/book")
@limits.booking_action  # BOOKING_RATE_LIMIT per employee, with stays
def workspace_book():
    form = WorkspaceBookForm()
    if not form.validate():
        error = RuleError(
            _("The booking form was incomplete or had expired. Please try again."), "invalid"
        )
        return _confirm_page(None, form, error=error, unit_id=form.unit_id.data, status=400)
    unit_id, start, end = form.unit_id.data, form.start.data, form.end.data
    try:
        booking = book_workspace(
            current_user,
            [WorkspaceRequest(unit_id, start, end)],
            edge_now(),
            request_key=form.request_key.data or None,
            horizon_days=HORIZON_DAYS,
            grace_days=billing_grace_days(),
            expected_total=form.expected_total.data,
        )[0]
    except services.BookingNotFound:
        db.session.rollback()
        abort(404)
    except RuleError as exc:
        db.session.rollback()
        try:
            quote = _quote(unit_id, start, end)
        except RuleError:
            quote = None
        return _confirm_page(quote, form, error=exc, unit_id=unit_id, status=refusal_status(exc))
    db.session.commit()
    flash(
        _(
            "Your workspace is booked: %(unit)s, %(day)s %(start)s–%(end)s. %(total)s was"
            " charged to your company's stay credit.",
            unit=booking.unit.name,
            day=format_day(booking.starts_at),
            start=ws_time(booking.starts_at),
            end=ws_time(booking.ends_at),
            total=format_yen(booking.total_price),
        ),
        "success",
    )
    return redirect(url_for("booking.workspace_booking", booking_id=booking.id), 303)


# -- my workspace bookings -----------------------------------------------------------------


@bp.get("/workspace/bookings")
def workspace_bookings():
    _employee()
    now = edge_now()
    rows = bookings_of(current_user)
    upcoming = [b for b in rows if b.ends_at > now and b.status in CURRENT]
    past = [b for b in reversed(rows) if b not in upcoming]
    return render_template(
        "booking/workspace_mine.html",
        upcoming=upcoming,
        past=past,
        refunds={b.id: cancel_refund(b, now) for b in upcoming if may_cancel(b, now)},
        now=now,
        **unit_labels(),
    )


@bp.get("/workspace/bookings/<int:booking_id>")
def workspace_booking(booking_id: int):
    booking = own_workspace_booking(booking_id)
    now = edge_now()
    cancellable = may_cancel(booking, now)
    return render_template(
        "booking/workspace_booking.html",
        booking=booking,
        terms=workspace_terms(booking.total_price, booking.starts_at),
        cancellable=cancellable,
        changeable=may_change(booking, now),
        change_until=change_deadline(booking) if booking.stay_id is None else None,
        refund=cancel_refund(booking, now) if cancellable else None,
        now=now,
        form=WorkspaceCancelForm(formdata=None),
        **unit_labels(),
    )


@bp.post("/workspace/bookings/<int:booking_id>/cancel")
@limits.booking_action
def workspace_cancel(booking_id: int):
    _employee()
    form = WorkspaceCancelForm()
    if not form.validate_on_submit():
        abort(400)
    now = edge_now()
    back = redirect(url_for("booking.workspace_booking", booking_id=booking_id), 303)
    try:
        booking = workspace_booking_of(current_user, booking_id, lock=True)
    except services.BookingNotFound:
        abort(404)
    if booking.status == WorkspaceStatus.CANCELLED:
        flash(_("This workspace booking was already cancelled."), "info")
        return back
    charged = booking.status != WorkspaceStatus.WAITING
    expected = form.expected_refund.data
    if (
        expected is not None
        and may_cancel(booking, now)
        and cancel_refund(booking, now) != expected
    ):
        db.session.rollback()
        flash(
            _(
                "Cancelling now returns %(amount)s, not what was shown. Please check and"
                " confirm again.",
                amount=format_yen(cancel_refund(booking, now)),
            ),
            "error",
        )
        return back
    try:
        refund = cancel_workspace(booking, now, current_user)
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return back
    db.session.commit()
    flash(_cancel_outcome(booking, refund, charged), "success")
    return back


def _cancel_outcome(booking: WorkspaceBooking, refund: int, charged: bool) -> str:
    if not charged:
        return _(
            "Your workspace booking has been cancelled and its time released. Nothing was charged."
        )
    if refund == booking.total_price:
        return _(
            "Your workspace booking has been cancelled and its time released. The whole"
            " %(amount)s was returned to your company's credit.",
            amount=format_yen(refund),
        )
    return _(
        "Your workspace booking has been cancelled and its time released. %(refunded)s was"
        " returned to your company's credit; %(kept)s was kept under the cancellation terms.",
        refunded=format_yen(refund),
        kept=format_yen(booking.total_price - refund),
    )


# -- check-in at the desk ------------------------------------------------------------------


def _checkin_unit(unit_id: int, code: str) -> WorkspaceUnit:
    """The unit of a QR code; a wrong code is not found, like a unit that is not there."""
    if len(code) != CODE_LENGTH or not code.isascii():
        abort(404)
    if not code_matches(current_app.config["SECRET_KEY"], unit_id, code):
        abort(404)
    unit = get_by_id(WorkspaceUnit, unit_id, options=[joinedload(WorkspaceUnit.facility)])
    if unit is None:
        abort(404)
    _employee()
    return unit


@bp.get("/workspace/check-in/<int:unit_id>/<code>")
def workspace_checkin(unit_id: int, code: str):
    """The page of a unit's QR code: the employee's booking of it now, to check in."""
    unit = _checkin_unit(unit_id, code)
    now = edge_now()
    return render_template(
        "booking/workspace_checkin.html",
        unit=unit,
        code=code,
        booking=booking_to_check_in(current_user, unit.id, now),
        today=tokyo_today(now),
        form=EmptyForm(formdata=None),
        **unit_labels(),
    )


@bp.post("/workspace/check-in/<int:unit_id>/<code>")
@limits.booking_action
def workspace_checkin_confirm(unit_id: int, code: str):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    unit = _checkin_unit(unit_id, code)
    now = edge_now()
    back = redirect(url_for("booking.workspace_checkin", unit_id=unit.id, code=code), 303)
    booking = booking_to_check_in(current_user, unit.id, now)
    if booking is None:
        flash(_("You have no booking of this workspace now."), "error")
        return back
    try:
        booking = check_in(current_user, booking.id, now)
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return back
    db.session.commit()
    flash(
        _(
            "You are checked in at %(unit)s until %(end)s.",
            unit=unit.name,
            end=ws_time(booking.ends_at),
        ),
        "success",
    )
    return redirect(url_for("booking.workspace_booking", booking_id=booking.id), 303)
