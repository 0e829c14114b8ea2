"""The facility operator's console (施設運営者): facilities, rooms, closed dates,
arrivals and departures, housekeeping, occupancy and the facility calendar
(photos are in ``photo_views``, on this same blueprint).

Every page is for signed-in operators of an organisation; any other role gets 403.
Every facility, room, block or photo id is looked up within the operator's own
organisation, so somebody else's id answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from availability import closing, night_cap
from availability.blocks import BlockError, remove_block
from booking import front_desk
from booking import lookups as booking_lookups
from booking.forms import AMENITY_LABELS, KIND_LABELS
from consoles.operator import operations
from consoles.operator.booking_forms import FrontDeskForm
from consoles.operator.forms import (
    HOUSEKEEPING_LABELS,
    REASON_LABELS,
    CloseDatesForm,
    FacilityForm,
    HousekeepingForm,
    UnitForm,
)
from core.csv import csv_download, write_csv
from core.dates import adjacent_months, month_bounds, parse_month
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale, format_day, status_label
from facilities import services
from facilities.licences import LICENCE_LABELS
from facilities.models import Facility, Unit
from pricing.engine import reprice_now

bp = Blueprint("operator", __name__, url_prefix="/operator")

MONTHS_AROUND = 60  # month navigation reaches five years either way


@bp.before_request
@login_required
def _operators_only():
    """Operators of an organisation only (the calendar pages included)."""
    if not current_user.runs_facilities:
        abort(403)


# --- helpers ------------------------------------------------------------------------------


def _today() -> date:
    return tokyo_today(edge_now())


def facility_or_404(facility_id: int) -> Facility:
    facility = services.operator_facility(current_user, facility_id)
    if facility is None:
        abort(404)
    return facility


def reprice(facility_id: int, cause: str = "settings"):
    """After a committed change to rooms or prices: the nights' prices follow at once."""
    horizon = current_app.config["PRICING_HORIZON_DAYS"]
    return reprice_now([facility_id], edge_now(), cause=cause, horizon_days=horizon)


def unit_or_404(unit_id: int) -> Unit:
    unit = services.operator_unit(current_user, unit_id)
    if unit is None:
        abort(404)
    return unit


def require_post_form() -> None:
    """A POST button carries only the CSRF token; without it, nothing happens."""
    if not EmptyForm().validate_on_submit():
        abort(400)


def _month_arg(today: date) -> date:
    return parse_month(request.args.get("month"), today, MONTHS_AROUND)


def _month_links(first: date) -> dict:
    prev_month, next_month = adjacent_months(first)
    return {"month": first, "prev_month": prev_month, "next_month": next_month}


def _upcoming_note(upcoming: int) -> None:
    if upcoming:
        flash(
            ngettext(
                "%(num)d booked stay is still to come: contact the guest or cancel it.",
                "%(num)d booked stays are still to come: contact the guests or cancel them.",
                upcoming,
            ),
            "info",
        )


# --- overview -----------------------------------------------------------------------------


CAP_WARNING = 20  # fewer nights left than this in a lodging year: the panel warns


def _night_cap_years(facility: Facility, today: date) -> list[tuple[date, date, list]]:
    """A 住宅宿泊事業 house's lodged nights per room (``night_cap.CapUse``) in this
    lodging year (April to March), and in the next when stays are already booked in it,
    each with its first and last night; [] for a facility under another licence."""
    if not facility.is_minpaku:
        return []
    ids = [u.id for u in facility.units]
    year = night_cap.lodging_year(today)
    years = [night_cap.cap_use(ids, year), night_cap.cap_use(ids, year + 1)]
    if not any(u.sold for u in years[1]):
        years.pop()
    return [
        (uses[0].bounds[0], uses[0].bounds[1] - timedelta(days=1), uses) for uses in years if uses
    ]


@bp.get("/facilities/<int:facility_id>")
def facility(facility_id: int):
    facility = facility_or_404(facility_id)
    return render_template(
        "operator/facility.html",
        facility=facility,
        photos=services.facility_photos(facility),
        button=EmptyForm(),
        kind_labels=KIND_LABELS,
        amenity_labels=AMENITY_LABELS,
        licence_labels=LICENCE_LABELS,
        cap_years=_night_cap_years(facility, _today()),
        cap_nights=night_cap.CAP_NIGHTS,
        cap_warning=CAP_WARNING,
        unit_names={u.id: u.name for u in facility.units},
    )


# --- facilities ---------------------------------------------------------------------------


def _facility_form_page(form: FacilityForm, facility: Facility | None, error=None, status=200):
    return render_template(
        "operator/facility_form.html", form=form, facility=facility, error=error
    ), status


@bp.route("/facilities/new", methods=["GET", "POST"])
def facility_new():
    form = FacilityForm(locale=current_locale())
    if not form.validate_on_submit():
        return _facility_form_page(form, None, status=400 if form.is_submitted() else 200)
    try:
        facility = services.create_facility(current_user, form.values(), edge_now())
    except services.ConsoleError as exc:
        db.session.rollback()
        return _facility_form_page(form, None, exc.message, 422)
    db.session.commit()
    flash(_("The facility has been created. Add its rooms next."), "success")
    return redirect(url_for("operator.facility", facility_id=facility.id), 303)


@bp.route("/facilities/<int:facility_id>/edit", methods=["GET", "POST"])
def facility_edit(facility_id: int):
    facility = facility_or_404(facility_id)
    form = FacilityForm(obj=facility, locale=current_locale())
    if not form.validate_on_submit():
        return _facility_form_page(form, facility, status=400 if form.is_submitted() else 200)
    try:
        services.update_facility(facility, form.values())
    except services.ConsoleError as exc:
        db.session.rollback()
        return _facility_form_page(form, facility, exc.message, 422)
    db.session.commit()
    flash(_("The facility has been saved."), "success")
    return redirect(url_for("operator.facility", facility_id=facility.id), 303)


@bp.post("/facilities/<int:facility_id>/deactivate")
def facility_deactivate(facility_id: int):
    facility = facility_or_404(facility_id)
    require_post_form()
    services.set_facility_active(facility, False)
    upcoming = booking_lookups.upcoming_stay_count([u.id for u in facility.units], _today())
    db.session.commit()
    flash(_("The facility is closed: it no longer appears in search."), "success")
    _upcoming_note(upcoming)
    return redirect(url_for("operator.facility", facility_id=facility.id), 303)


@bp.post("/facilities/<int:facility_id>/reactivate")
def facility_reactivate(facility_id: int):
    facility = facility_or_404(facility_id)
    require_post_form()
    services.set_facility_active(facility, True)
    db.session.commit()
    reprice(facility.id)  # its prices were left alone while it was closed
    flash(_("The facility is open for booking again."), "success")
    return redirect(url_for("operator.facility", facility_id=facility.id), 303)


# --- rooms --------------------------------------------------------------------------------


def _unit_form_page(form: UnitForm, facility: Facility, unit=None, error=None, status=200):
    return render_template(
        "operator/unit_form.html", form=form, facility=facility, unit=unit, error=error
    ), status


@bp.route("/facilities/<int:facility_id>/units/new", methods=["GET", "POST"])
def unit_new(facility_id: int):
    facility = facility_or_404(facility_id)
    form = UnitForm()
    if not form.validate_on_submit():
        return _unit_form_page(form, facility, status=400 if form.is_submitted() else 200)
    try:
        unit = services.create_unit(facility, form.values())
    except services.ConsoleError as exc:
        db.session.rollback()
        return _unit_form_page(form, facility, error=exc.message, status=422)
    db.session.commit()
    reprice(facility.id)
    flash(_("Room %(name)s has been added.", name=unit.name), "success")
    return redirect(url_for("operator.facility", facility_id=facility.id), 303)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
def unit_edit(unit_id: int):
    unit = unit_or_404(unit_id)
    form = UnitForm(obj=unit)
    if not form.validate_on_submit():
        return _unit_form_page(
            form, unit.facility, unit, status=400 if form.is_submitted() else 200
        )
    try:
        services.update_unit(unit, form.values())
    except services.ConsoleError as exc:
        db.session.rollback()
        return _unit_form_page(form, unit.facility, unit, exc.message, 422)
    db.session.commit()
    reprice(unit.facility_id)
    flash(_("Room %(name)s has been saved.", name=unit.name), "success")
    return redirect(url_for("operator.facility", facility_id=unit.facility_id), 303)


@bp.post("/units/<int:unit_id>/deactivate")
def unit_deactivate(unit_id: int):
    unit = unit_or_404(unit_id)
    require_post_form()
    services.set_unit_active(unit, False)
    upcoming = booking_lookups.upcoming_stay_count([unit.id], _today())
    db.session.commit()
    reprice(unit.facility_id)
    flash(_("Room %(name)s is off sale.", name=unit.name), "success")
    _upcoming_note(upcoming)
    return redirect(url_for("operator.facility", facility_id=unit.facility_id), 303)


@bp.post("/units/<int:unit_id>/reactivate")
def unit_reactivate(unit_id: int):
    unit = unit_or_404(unit_id)
    require_post_form()
    services.set_unit_active(unit, True)
    db.session.commit()
    reprice(unit.facility_id)
    flash(_("Room %(name)s is on sale again.", name=unit.name), "success")
    return redirect(url_for("operator.facility", facility_id=unit.facility_id), 303)


# --- closed dates -------------------------------------------------------------------------


def _close_page(facility: Facility, form: CloseDatesForm, error=None, status=200):
    today = _today()
    return render_template(
        "operator/close.html",
        facility=facility,
        form=form,
        error=error,
        periods=closing.closed_periods(facility, today),
        reason_labels=REASON_LABELS,
        button=EmptyForm(),
        today=today,
        horizon=today + timedelta(days=closing.MAX_CLOSE_AHEAD_DAYS),  # the last date allowed
    ), status


@bp.route("/facilities/<int:facility_id>/close", methods=["GET", "POST"])
def close_dates(facility_id: int):
    facility = facility_or_404(facility_id)
    form = CloseDatesForm(units=[u for u in facility.units if u.active])
    if not form.validate_on_submit():
        return _close_page(facility, form, status=400 if form.is_submitted() else 200)
    try:
        closed = closing.close_facility_dates(
            current_user,
            facility,
            form.unit_id,
            form.first_night.data,
            form.last_night.data,
            form.reason.data,
            form.note.data or "",
            edge_now(),
        )
    except BlockError as exc:
        db.session.rollback()
        return _close_page(facility, form, exc.message, 409 if exc.code == "booked" else 422)
    db.session.commit()
    rooms = (
        closed[0].unit.name
        if form.unit_id is not None
        else ngettext("%(num)d room", "%(num)d rooms", len(closed))
    )
    flash(
        _(
            "Closed the nights of %(first)s to %(last)s for %(rooms)s.",
            first=format_day(form.first_night.data, "short"),
            last=format_day(form.last_night.data, "short"),
            rooms=rooms,
        ),
        "success",
    )
    month = form.first_night.data.strftime("%Y-%m")
    return redirect(url_for("operator.calendar", facility_id=facility.id, month=month), 303)


@bp.post("/blocks/<int:block_id>/reopen")
def block_reopen(block_id: int):
    block = closing.operator_block(current_user, block_id)
    if block is None:
        abort(404)
    require_post_form()
    facility_id = block.unit.facility_id
    try:
        removed = remove_block(block, _today())
    except BlockError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("operator.close_dates", facility_id=facility_id), 303)
    db.session.commit()
    flash(
        ngettext(
            "The nights are open again (%(num)d room).",
            "The nights are open again (%(num)d rooms).",
            removed,
        ),
        "success",
    )
    return redirect(url_for("operator.close_dates", facility_id=facility_id), 303)


# --- the daily pages ----------------------------------------------------------------------


@bp.get("/facilities/<int:facility_id>/today")
def today(facility_id: int):
    facility = facility_or_404(facility_id)
    today = _today()
    # Today's stays (departures too) and where each is at the front desk, for its buttons.
    desk = front_desk.operator_bookings(
        current_user, today - timedelta(days=1), today + timedelta(days=1), facility_id=facility.id
    )
    return render_template(
        "operator/today.html",
        facility=facility,
        agenda=operations.days_ahead(facility, today),
        today=today,
        statuses={b.id: b.status for b in desk},
        button=FrontDeskForm(formdata=None, next=request.path),
    )


@bp.get("/facilities/<int:facility_id>/housekeeping")
def housekeeping(facility_id: int):
    facility = facility_or_404(facility_id)
    return render_template(
        "operator/housekeeping.html",
        facility=facility,
        board=operations.housekeeping_board(facility, edge_now()),
        labels=HOUSEKEEPING_LABELS,
        form=HousekeepingForm(formdata=None),
    )


@bp.post("/units/<int:unit_id>/housekeeping")
def housekeeping_set(unit_id: int):
    unit = unit_or_404(unit_id)
    form = HousekeepingForm()
    if not form.validate_on_submit():
        abort(400)
    operations.set_housekeeping(unit, form.status.data, edge_now())
    db.session.commit()
    flash(
        _(
            "Room %(name)s: %(status)s.",
            name=unit.name,
            status=HOUSEKEEPING_LABELS[form.status.data],
        ),
        "success",
    )
    return redirect(url_for("operator.housekeeping", facility_id=unit.facility_id), 303)


@bp.get("/facilities/<int:facility_id>/occupancy")
def occupancy(facility_id: int):
    facility = facility_or_404(facility_id)
    first = _month_arg(_today())
    return render_template(
        "operator/occupancy.html",
        facility=facility,
        occupancy=operations.month_occupancy(facility, first.year, first.month),
        **_month_links(first),
    )


@bp.get("/facilities/<int:facility_id>/bookings.csv")
def bookings_csv(facility_id: int):
    facility = facility_or_404(facility_id)
    first = _month_arg(_today())
    _first, end = month_bounds(first)
    header = [
        _("Booking number"),
        _("Room"),
        _("Check-in"),
        _("Check-out"),
        _("Nights"),
        _("Guests"),
        _("Company"),
        _("Guest name"),
        _("Total (yen, tax included)"),
        _("Status"),
    ]
    rows = [
        [
            b.booking_id,
            b.unit,
            b.check_in.isoformat(),
            b.check_out.isoformat(),
            b.nights,
            b.guests,
            b.company,
            b.guest_name,
            b.total_yen,
            status_label("operator_booking", b.status),
        ]
        for b in operations.bookings_for_csv(facility, first, end)
    ]
    filename = f"engawa-bookings-{facility.id}-{first:%Y-%m}.csv"
    return csv_download(write_csv(header, rows), filename)
