"""The operator's workspace units (desks, booths and meeting rooms sold by the slot,
``facilities.workspace``), managed like rooms: the list of a facility's units, add,
edit, take off sale and back, and the printable sheet of their check-in QR codes.

Pages hang on the console's blueprint (``views.bp``): signed-in operators only, others
get 403. A facility or unit of another organisation answers 404, like one that does not
exist. Rooms are not audited, so neither are these units.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from accounts.two_factor import qr_svg
from availability.slots import ScheduleError
from availability.workspace import SlotHold, opening_hours
from booking.workspace_checkin import checkin_code
from booking.workspace_models import OPEN_WORKSPACE, WorkspaceBooking
from consoles.operator.views import bp, facility_or_404, require_post_form
from consoles.operator.workspace_forms import WorkspaceUnitForm, hours_summary
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale
from core.urls import public_url
from facilities import services
from facilities.models import Facility
from facilities.workspace import EQUIPMENT, WorkspaceUnit

# --- lookups ------------------------------------------------------------------------------


def workspace_unit_or_404(unit_id: int) -> WorkspaceUnit:
    unit = services.owned(
        current_user, WorkspaceUnit, unit_id, lambda u: u.facility, WorkspaceUnit.facility
    )
    if unit is None:
        abort(404)
    return unit


def facility_units(facility: Facility) -> list[WorkspaceUnit]:
    """The facility's workspace units, on sale first, by name."""
    return list(
        db.session.scalars(
            select(WorkspaceUnit)
            .where(WorkspaceUnit.facility_id == facility.id)
            .order_by(WorkspaceUnit.active.desc(), WorkspaceUnit.name, WorkspaceUnit.id)
        )
    )


def _other_names(facility: Facility, unit: WorkspaceUnit | None = None) -> list[str]:
    return [u.name for u in facility_units(facility) if unit is None or u.id != unit.id]


def _summary(unit: WorkspaceUnit) -> list[str] | None:
    """The unit's hours in a few lines, or None when the stored hours cannot be read."""
    try:
        return hours_summary(opening_hours(unit), current_locale())
    except (ScheduleError, KeyError, TypeError, ValueError, IndexError):
        return None


def _holds_ahead(unit: WorkspaceUnit, now: datetime) -> bool:
    """Whether bookings or closed times still hold some of the unit's time from now on."""
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(SlotHold)
            .where(SlotHold.unit_id == unit.id, SlotHold.ends_at > now)
        )
    )


def _bookings_ahead(unit: WorkspaceUnit, now: datetime) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WorkspaceBooking)
        .where(
            WorkspaceBooking.unit_id == unit.id,
            WorkspaceBooking.status.in_(OPEN_WORKSPACE),
            WorkspaceBooking.ends_at > now,
        )
    )


def _assign(unit: WorkspaceUnit, values: dict) -> None:
    for name, value in values.items():
        setattr(unit, name, value)


# --- the list -----------------------------------------------------------------------------


@bp.get("/facilities/<int:facility_id>/workspace")
def workspace_units(facility_id: int):
    facility = facility_or_404(facility_id)
    units = facility_units(facility)
    return render_template(
        "operator/workspace_units.html",
        facility=facility,
        units=units,
        summaries={u.id: _summary(u) for u in units},
        equipment_labels=EQUIPMENT,
        button=EmptyForm(),
    )


# --- add and edit -------------------------------------------------------------------------


def _form_page(form, facility: Facility, unit=None, error=None, status=200):
    return render_template(
        "operator/workspace_unit_form.html",
        form=form,
        facility=facility,
        unit=unit,
        error=error,
    ), status


def _stored_hours(unit: WorkspaceUnit) -> dict | None:
    """The unit's stored hours if they can be read (None: show the defaults)."""
    return unit.hours if _summary(unit) is not None else None


@bp.route("/facilities/<int:facility_id>/workspace/new", methods=["GET", "POST"])
def workspace_unit_new(facility_id: int):
    facility = facility_or_404(facility_id)
    form = WorkspaceUnitForm(locale=current_locale(), taken_names=_other_names(facility))
    if not form.is_submitted():
        form.fill_hours(None)
    if not form.validate_on_submit():
        return _form_page(form, facility, status=400 if form.is_submitted() else 200)
    unit = WorkspaceUnit(facility_id=facility.id, active=True)
    _assign(unit, form.values())
    db.session.add(unit)
    db.session.commit()
    flash(_("Workspace unit %(name)s has been added.", name=unit.name), "success")
    return redirect(url_for("operator.workspace_units", facility_id=facility.id), 303)


@bp.route("/workspace-units/<int:unit_id>/edit", methods=["GET", "POST"])
def workspace_unit_edit(unit_id: int):
    unit = workspace_unit_or_404(unit_id)
    facility = unit.facility
    form = WorkspaceUnitForm(
        obj=unit, locale=current_locale(), taken_names=_other_names(facility, unit)
    )
    if not form.is_submitted():
        stored = _stored_hours(unit)
        form.fill_hours(stored)
        error = (
            None
            if stored is not None
            else _("The saved opening hours could not be read: set them again and save.")
        )
        return _form_page(form, facility, unit, error)
    if not form.validate():
        return _form_page(form, facility, unit, status=400)
    values = form.values()
    if values["slot_minutes"] != unit.slot_minutes and _holds_ahead(unit, edge_now()):
        # Bookings and closed times ahead lie on the old slots (on SQLite each holds one
        # row per slot): a new size would let a booking overlap them unseen.
        form.slot_minutes.errors = [
            *form.slot_minutes.errors,
            _("The slot size cannot change while bookings or closed times lie ahead."),
        ]
        return _form_page(form, facility, unit, status=409)
    _assign(unit, values)
    db.session.commit()
    flash(_("Workspace unit %(name)s has been saved.", name=unit.name), "success")
    return redirect(url_for("operator.workspace_units", facility_id=facility.id), 303)


# --- off sale and back --------------------------------------------------------------------


@bp.post("/workspace-units/<int:unit_id>/deactivate")
def workspace_unit_deactivate(unit_id: int):
    unit = workspace_unit_or_404(unit_id)
    require_post_form()
    unit.active = False
    upcoming = _bookings_ahead(unit, edge_now())
    db.session.commit()
    flash(_("Workspace unit %(name)s is off sale.", name=unit.name), "success")
    if upcoming:
        flash(
            ngettext(
                "%(num)d booking of it is still to come: contact the guest or cancel it.",
                "%(num)d bookings of it are still to come: contact the guests or cancel them.",
                upcoming,
            ),
            "info",
        )
    return redirect(url_for("operator.workspace_units", facility_id=unit.facility_id), 303)


@bp.post("/workspace-units/<int:unit_id>/reactivate")
def workspace_unit_reactivate(unit_id: int):
    unit = workspace_unit_or_404(unit_id)
    require_post_form()
    unit.active = True
    db.session.commit()
    flash(_("Workspace unit %(name)s is on sale again.", name=unit.name), "success")
    return redirect(url_for("operator.workspace_units", facility_id=unit.facility_id), 303)


# --- the check-in QR codes ----------------------------------------------------------------


@dataclass(frozen=True)
class QrCard:
    unit: WorkspaceUnit
    url: str
    svg: Markup


def checkin_url(unit: WorkspaceUnit) -> str:
    """The absolute check-in address of a unit, at the public address (``BASE_URL``):
    a printed code must lead to Engawa whichever host served the sheet."""
    code = checkin_code(current_app.config["SECRET_KEY"], unit.id)
    return public_url("booking.workspace_checkin", unit_id=unit.id, code=code)


@bp.get("/facilities/<int:facility_id>/workspace/qr")
def workspace_qr(facility_id: int):
    """A sheet to print: one card per unit on sale, its name, kind and check-in code."""
    facility = facility_or_404(facility_id)
    cards = []
    for unit in facility_units(facility):
        if unit.active:
            url = checkin_url(unit)
            title = _("QR code to check in at %(name)s", name=unit.name)
            cards.append(QrCard(unit, url, qr_svg(url, title)))
    return render_template("operator/workspace_qr.html", facility=facility, cards=cards)
