"""The operator's pricing pages: settings, room bounds, overrides, a room's price
calendar and the history of price changes.

They hang on the console's blueprint, so its sign-in and role check cover them, and
every id is looked up within the operator's organisation (somebody else's: 404).
A change is committed first, then the facility is re-priced at once
(``engine.reprice_now``), so the next page already shows the new prices.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from consoles.operator import price_calendar
from consoles.operator.pricing_forms import (
    BoundsForm,
    OverrideForm,
    PolicyForm,
    cause_label,
    override_ahead_days,
)
from consoles.operator.views import (
    MONTHS_AROUND,
    facility_or_404,
    reprice,
    require_post_form,
    unit_or_404,
)
from consoles.operator.views import bp as operator_bp
from core.dates import adjacent_months, month_bounds, month_weeks, parse_month
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale, format_day, format_yen_plain
from facilities.models import Facility, Unit
from pricing import services
from pricing.rules import default_ceiling

RECENT_CHANGES = 10
HISTORY_PER_PAGE = 50


def _active_units(facility: Facility) -> list[Unit]:
    return [u for u in facility.units if u.active]


def _bounds_form(unit: Unit) -> BoundsForm:
    return BoundsForm(
        formdata=None, data={"floor": unit.price_floor, "ceiling": unit.price_ceiling}
    )


def _back(facility_id: int, anchor: str | None = None):
    return redirect(url_for("operator.pricing", facility_id=facility_id, _anchor=anchor), 303)


def _repriced(facility_id: int, cause: str) -> None:
    """Re-price the facility now and say how many nights changed."""
    counts = reprice(facility_id, cause)
    flash(
        ngettext(
            "%(num)d night has a new price.",
            "%(num)d nights have a new price.",
            counts.changed,
        ),
        "info",
    )


def _pricing_page(
    facility: Facility,
    *,
    policy_form: PolicyForm | None = None,
    override_form: OverrideForm | None = None,
    failed_unit: Unit | None = None,
    bounds_form: BoundsForm | None = None,
    error=None,
    error_at: str | None = None,
    status: int = 200,
):
    """The settings page; a form that failed is shown with what was typed and why."""
    today = tokyo_today(edge_now())
    units = _active_units(facility)
    if policy_form is None:
        row = services.policy_of(facility)
        policy_form = PolicyForm(
            formdata=None, data=PolicyForm.data_of(row), locale=current_locale()
        )
    bounds_forms = {u.id: _bounds_form(u) for u in units}
    if failed_unit is not None and bounds_form is not None:
        bounds_forms[failed_unit.id] = bounds_form
    if override_form is None:
        override_form = OverrideForm(formdata=None, units=units)
    overrides = [
        (o, o.end_date - timedelta(days=1)) for o in services.overrides_of(facility, today)
    ]
    recent = services.history(facility, 1, per_page=RECENT_CHANGES)
    return render_template(
        "operator/pricing.html",
        facility=facility,
        units=units,
        policy_form=policy_form,
        bounds_forms=bounds_forms,
        failed_unit_id=failed_unit.id if failed_unit is not None else None,
        override_form=override_form,
        overrides=overrides,
        recent=recent,
        cause_label=cause_label,
        default_ceiling=default_ceiling,
        button=EmptyForm(),
        error=error,
        error_at=error_at,
        today=today,
        override_horizon=today + timedelta(days=override_ahead_days()),  # the last date allowed
    ), status


# --- settings -----------------------------------------------------------------------


@operator_bp.route("/facilities/<int:facility_id>/pricing", methods=["GET", "POST"])
def pricing(facility_id: int):
    facility = facility_or_404(facility_id)
    if request.method == "GET":
        return _pricing_page(facility)
    form = PolicyForm(locale=current_locale())
    if not form.validate_on_submit():
        return _pricing_page(facility, policy_form=form, error_at="settings", status=400)
    try:
        services.save_policy(current_user, facility, now=edge_now(), **form.values())
    except services.PricingError as exc:
        db.session.rollback()
        return _pricing_page(
            facility, policy_form=form, error=exc.message, error_at="settings", status=422
        )
    db.session.commit()
    flash(_("The pricing settings have been saved."), "success")
    _repriced(facility.id, "settings")
    return _back(facility.id)


# --- a room's floor and ceiling -------------------------------------------------------


@operator_bp.post("/units/<int:unit_id>/price-bounds")
def price_bounds(unit_id: int):
    unit = unit_or_404(unit_id)
    facility = unit.facility
    form = BoundsForm()
    if not form.validate_on_submit():
        return _pricing_page(
            facility, failed_unit=unit, bounds_form=form, error_at="bounds", status=400
        )
    try:
        services.set_bounds(unit, form.floor.data, form.ceiling.data)
    except services.PricingError as exc:
        db.session.rollback()
        return _pricing_page(
            facility,
            failed_unit=unit,
            bounds_form=form,
            error=exc.message,
            error_at="bounds",
            status=422,
        )
    db.session.commit()
    flash(_("Room %(name)s: floor and ceiling saved.", name=unit.name), "success")
    _repriced(facility.id, "settings")
    return _back(facility.id, f"unit-{unit.id}")


# --- overrides ------------------------------------------------------------------------


@operator_bp.post("/facilities/<int:facility_id>/pricing/overrides")
def add_price_override(facility_id: int):
    facility = facility_or_404(facility_id)
    form = OverrideForm(units=_active_units(facility))
    if not form.validate_on_submit():
        return _pricing_page(facility, override_form=form, error_at="override", status=400)
    unit = None
    if form.unit_id is not None:
        unit = next((u for u in facility.units if u.id == form.unit_id), None)
        if unit is None:  # the form's choices are this facility's rooms: cannot happen
            abort(400)
    try:
        services.add_override(
            current_user,
            facility,
            unit=unit,
            first_night=form.first_night.data,
            last_night=form.last_night.data,
            price=form.price.data,
            note=form.note.data or "",
            today=tokyo_today(edge_now()),
        )
    except services.PricingError as exc:
        db.session.rollback()
        return _pricing_page(
            facility, override_form=form, error=exc.message, error_at="override", status=422
        )
    db.session.commit()
    flash(
        _(
            "Fixed price of %(price)s a night for %(rooms)s, %(first)s to %(last)s.",
            rooms=unit.name if unit is not None else _("all rooms"),
            price=format_yen_plain(form.price.data),
            first=format_day(form.first_night.data, "short"),
            last=format_day(form.last_night.data, "short"),
        ),
        "success",
    )
    _repriced(facility.id, "manual")
    return _back(facility.id, "overrides")


@operator_bp.post("/price-overrides/<int:override_id>/delete")
def delete_price_override(override_id: int):
    override = services.operator_override(current_user, override_id)
    if override is None:
        abort(404)
    require_post_form()
    facility_id = services.delete_override(override)
    db.session.commit()
    flash(_("The fixed price has been removed: these nights get computed prices again."), "success")
    _repriced(facility_id, "manual")
    return _back(facility_id, "overrides")


# --- a room's price calendar ---------------------------------------------------------


@operator_bp.get("/units/<int:unit_id>/prices")
def unit_prices(unit_id: int):
    unit = unit_or_404(unit_id)
    today = tokyo_today(edge_now())
    first = parse_month(request.args.get("month"), today, MONTHS_AROUND)
    start, end = month_bounds(first)
    nights = {n.night: n for n in price_calendar.price_calendar(unit, start, end, today)}
    weeks = month_weeks(first)
    prev_month, next_month = adjacent_months(first)
    return render_template(
        "operator/unit_prices.html",
        facility=unit.facility,
        unit=unit,
        units=_active_units(unit.facility),
        weeks=weeks,
        nights=nights,
        month=first,
        prev_month=prev_month,
        next_month=next_month,
        today=today,
        default_ceiling=default_ceiling,
    )


# --- history -------------------------------------------------------------------------


def _page_arg() -> int:
    raw = request.args.get("page", "")
    return int(raw) if raw.isdigit() and len(raw) <= 9 else 1


@operator_bp.get("/facilities/<int:facility_id>/pricing/history")
def pricing_history(facility_id: int):
    facility = facility_or_404(facility_id)
    page = services.history(facility, _page_arg(), per_page=HISTORY_PER_PAGE)
    return render_template(
        "operator/pricing_history.html",
        facility=facility,
        history=page,
        cause_label=cause_label,
    )
