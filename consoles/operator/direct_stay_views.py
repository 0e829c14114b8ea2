"""The operator's direct stays (walk-ins, phone bookings): recorded from a facility or the
tape chart, shown, and removed while they have not begun (``availability.direct``)."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from availability import direct
from availability.blocks import BlockError
from availability.models import DirectStay
from consoles.operator.booking_forms import DirectStayForm
from consoles.operator.views import _today, bp, facility_or_404
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_day
from facilities.models import Facility


def direct_or_404(direct_id: int) -> DirectStay:
    found = direct.operator_direct_stay(current_user, direct_id)
    if found is None:
        abort(404)
    return found


# --- direct stays (walk-ins) --------------------------------------------------------------


def _direct_form_page(facility: Facility, form: DirectStayForm, *, error=None, status=200):
    return render_template(
        "operator/direct_stay_form.html",
        facility=facility,
        form=form,
        error=error,
        today=_today(),
    ), status


@bp.route("/facilities/<int:facility_id>/direct-stays/new", methods=["GET", "POST"])
def direct_stay_new(facility_id: int):
    facility = facility_or_404(facility_id)
    units = sorted((u for u in facility.units if u.active), key=lambda u: u.name)
    if request.method == "GET":
        form = DirectStayForm(
            formdata=None,
            units=units,
            unit=request.args.get("unit_id", type=int),
            check_in=_date_arg("start"),
            check_out=_date_arg("end"),
        )
        return _direct_form_page(facility, form)
    form = DirectStayForm(units=units)
    if not form.validate_on_submit():
        return _direct_form_page(facility, form, status=400)
    try:
        recorded = direct.record_direct_stay(
            current_user,
            form.chosen_unit,
            form.check_in.data,
            form.check_out.data,
            guest_name=form.guest_name.data,
            guests=form.guests.data,
            nightly_price=form.nightly_price.data or 0,
            note=form.note.data or "",
            now=edge_now(),
        )
    except BlockError as exc:
        db.session.rollback()
        status = 409 if exc.code == "taken" else 422
        return _direct_form_page(facility, form, error=exc.message, status=status)
    db.session.commit()
    flash(
        _(
            "The stay of %(name)s has been recorded: %(room)s, %(first)s – %(last)s.",
            name=recorded.guest_name,
            room=recorded.block.unit.name,
            first=format_day(recorded.block.start_date, "short"),
            last=format_day(recorded.block.end_date, "short"),
        ),
        "success",
    )
    return redirect(url_for("operator.direct_stay", direct_id=recorded.id), 303)


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/direct-stays/<int:direct_id>")
def direct_stay(direct_id: int):
    found = direct_or_404(direct_id)
    return render_template(
        "operator/direct_stay.html",
        facility=found.block.unit.facility,
        stay=found,
        block=found.block,
        button=EmptyForm(formdata=None),
        today=_today(),  # a stay begun before today is kept (no Remove button)
    )


@bp.post("/direct-stays/<int:direct_id>/cancel")
def direct_stay_cancel(direct_id: int):
    found = direct_or_404(direct_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    facility_id = found.block.unit.facility_id
    start = found.block.start_date
    try:
        direct.cancel_direct_stay(found, edge_now())
    except BlockError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("operator.direct_stay", direct_id=direct_id), 303)
    db.session.commit()
    flash(_("The direct stay has been removed; its nights are free again."), "success")
    return redirect(
        url_for("operator.bookings", facility_id=facility_id, start=start.isoformat()), 303
    )
