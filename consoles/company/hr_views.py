"""The company admin's HR pages: one employee's HR details (number, department, group,
manager), the people CSV import and its template, and the monthly stays export for
attendance and leave entry. The group policies and the fiscal year hang on the same
blueprint from ``policy_views``.

For company admins only, and only ever of their own company (``current_user.company_id``):
another company's person or policy is not found (404). The rules and their audit entries
are ``hr.people``, ``hr.people_import`` and ``hr.groups``; each change commits once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from accounts.models import COMPANY_ROLES, Role, User
from booking.models import CHARGED_STATUSES, Booking
from consoles.company.hr_forms import EmployeeHrForm, PeopleImportForm
from core import input_guard
from core.csv import csv_download, write_csv
from core.dates import MONTH_ARG, month_bounds
from core.db import edge_now, in_id_range, tokyo_today
from core.extensions import csrf, db
from core.i18n import current_locale
from facilities.models import Unit
from hr import groups as hr_groups
from hr import people as hr_people
from hr import people_import as hr_import
from hr.models import PURPOSE_LABELS, Purpose
from identity import members

bp = Blueprint("company_hr", __name__, url_prefix="/company")

# Room in an upload's body for the form's other fields and the multipart framing.
BODY_ROOM = 64 * 1024
# The form fields the service's refusals name (``HrError.field``), where they differ.
FORM_FIELDS = {"manager_id": "manager", "approver_id": "approver", "deputy_id": "deputy"}


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


@bp.context_processor
def _helpers() -> dict:
    return {"test_mode": current_app.config["BILLING_BACKEND"] == "local"}


def _company_id() -> int:
    return current_user.company_id


def _back_to_employees():
    return redirect(url_for("members.employees"), 303)


# --- one employee's HR details ------------------------------------------------------------


def _member_or_404(company_id: int, user_id: int) -> User:
    person = (
        db.session.scalar(
            select(User).where(
                User.id == user_id,
                User.company_id == company_id,
                User.role.in_(COMPANY_ROLES),
            )
        )
        if in_id_range(user_id)
        else None
    )
    if person is None:
        abort(404)
    return person


def _manager_choices(company_id: int, person: User) -> list[tuple[int, str]]:
    """The company's active people but ``person``; their current manager too when that
    one has since been deactivated, so saving the other facts does not drop them."""
    choices = []
    for member in members.members_of(company_id):
        if member.id == person.id or not (member.active or member.id == person.manager_id):
            continue
        label = f"{member.name} <{member.email}>"
        if not member.active:
            label = _("%(name)s (deactivated)", name=label)
        choices.append((member.id, label))
    return choices


def _filled_hr_form(person: User, managers) -> EmployeeHrForm:
    form = EmployeeHrForm(formdata=None, managers=managers)
    form.employee_number.data = person.employee_number or ""
    form.department.data = person.department or ""
    form.employee_group.data = person.employee_group or ""
    form.manager.data = str(person.manager_id) if person.manager_id else ""
    return form


@bp.route("/employees/<int:user_id>/hr", methods=["GET", "POST"])
def employee_hr(user_id: int):
    company_id = _company_id()
    person = _member_or_404(company_id, user_id)
    managers = _manager_choices(company_id, person)
    form = EmployeeHrForm(managers=managers)
    error, refused = None, False
    if form.validate_on_submit():
        try:
            hr_people.set_hr_facts(
                company_id,
                person.id,
                **form.values(),
                actor_id=current_user.id,
                now=edge_now(),
            )
        except hr_people.HrNotFound:
            db.session.rollback()
            abort(404)
        except hr_people.HrError as exc:
            db.session.rollback()
            refused = True
            field = FORM_FIELDS.get(exc.field or "", exc.field)
            if field in form:
                form[field].errors.append(exc.message)
            else:
                error = exc.message
        else:
            db.session.commit()
            flash(_("The HR details of %(name)s have been saved.", name=person.name), "success")
            return _back_to_employees()
    if not form.is_submitted():
        form = _filled_hr_form(person, managers)
    status = 422 if refused else 400 if form.is_submitted() else 200
    return render_template(
        "company/employee_hr.html",
        person=person,
        form=form,
        error=error,
        groups=hr_groups.groups_in_use(company_id),
        active="employees",
    ), status


# --- the people CSV import ------------------------------------------------------------------


def _import_page(form: PeopleImportForm, *, error=None, row_errors=(), status: int = 200):
    return render_template(
        "company/people_import.html",
        form=form,
        error=error,
        row_errors=row_errors,
        columns=hr_import.CSV_COLUMNS,
        max_mb=hr_import.MAX_IMPORT_BYTES // (1024 * 1024),
        max_rows=hr_import.MAX_IMPORT_ROWS,
        active="employees",
    ), status


def _too_large() -> str:
    return _(
        "Nothing was changed: the file can be at most %(mb)d MB.",
        mb=hr_import.MAX_IMPORT_BYTES // (1024 * 1024),
    )


@bp.route("/employees/import", methods=["GET", "POST"])
@csrf.exempt  # checked below, once the larger body limit for the file applies
@input_guard.defer_body_check  # likewise
def people_import():
    if request.method == "GET":
        return _import_page(PeopleImportForm(formdata=None))
    # The application's body limit is 1 MB; this form takes a file of up to 2 MB, refused
    # while the body is read (never read whole first).
    request.max_content_length = hr_import.MAX_IMPORT_BYTES + BODY_ROOM
    try:
        input_guard.check_body()
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
        form = PeopleImportForm()
        valid = form.validate()
    except RequestEntityTooLarge:
        return _import_page(PeopleImportForm(formdata=None), error=_too_large(), status=413)
    if not valid:
        return _import_page(form, status=400)
    data = form.file.data.stream.read(hr_import.MAX_IMPORT_BYTES + 1)
    if len(data) > hr_import.MAX_IMPORT_BYTES:
        return _import_page(form, error=_too_large(), status=413)
    try:
        result = hr_import.import_people_csv(
            _company_id(), data, actor_id=current_user.id, now=edge_now()
        )
    except hr_people.HrError as exc:  # the file as a whole: encoding, first line, size
        db.session.rollback()
        return _import_page(form, error=exc.message, status=422)
    if result.errors:
        db.session.rollback()
        return _import_page(form, row_errors=result.errors, status=422)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d employee updated.",
            "%(num)d employees updated.",
            result.updated,
        ),
        "success",
    )
    if result.unchanged:
        flash(
            ngettext(
                "%(num)d employee was already up to date.",
                "%(num)d employees were already up to date.",
                result.unchanged,
            ),
            "info",
        )
    return _back_to_employees()


@bp.get("/employees/import/template.csv")
def people_template():
    return csv_download(hr_import.people_csv_template(), "engawa-people-template.csv")


# --- the monthly stays export ---------------------------------------------------------------

STAY_COLUMNS = (
    "employee_number",
    "name",
    "email",
    "department",
    "group",
    "check_in",
    "check_out",
    "nights_in_month",
    "purpose",
    "purpose_label",
    "working_days_in_month",
    "working_days",
    "facility",
    "prefecture",
    "status",
)


@dataclass(frozen=True)
class StayInMonth:
    """A stay's share of one month: its nights in it and its working days in it."""

    booking: Booking
    nights: int
    work_days: list[date]


@dataclass(frozen=True)
class ChosenMonth:
    """The month asked for (its first day), or this month and ``error`` saying why the
    one asked for was refused; ``raw`` is what was asked for, shown back."""

    first: date
    raw: str = ""
    error: str | None = None


def month_code(first: date) -> str:
    """``YYYY-MM``, the year in four digits whatever it is (strftime does not pad)."""
    return f"{first.year:04d}-{first.month:02d}"


def chosen_month(today: date) -> ChosenMonth:
    """``?month=YYYY-MM``; this month (Asia/Tokyo) without it. Any real month is fine,
    however far away: it simply has no stays."""
    this_month = today.replace(day=1)
    raw = request.args.get("month", "").strip()[:20]
    if not raw:
        return ChosenMonth(this_month)
    found = MONTH_ARG.fullmatch(raw)
    if found and 1 <= int(found.group(1)) and 1 <= int(found.group(2)) <= 12:
        first = date(int(found.group(1)), int(found.group(2)), 1)
        try:
            month_bounds(first)
        except OverflowError:  # December of the year 9999
            pass
        else:
            return ChosenMonth(first, raw)
    error = _("Enter the month as a year and month (2026-04).")
    return ChosenMonth(this_month, raw, error)


def stays_in_month(company_id: int, first: date) -> list[StayInMonth]:
    """The company's stays with nights or working days in the month of ``first``, by
    check-in, then employee number.

    Charged stays (``CHARGED_STATUSES``: confirmed, checked in, checked out, and
    no-shows), not cancelled ones: a no-show's nights were booked and paid for, and
    its nights count in the employee's month as they do in the company's usage, so HR
    sees it (the ``status`` column says what happened). Nights are counted over the
    booked dates. A stay whose check-out day is the month's first day has no night in
    the month but may have a working day on it (a business stay's working days run to
    its check-out day, ``hr.policy``): it is listed then, so no working day is lost."""
    following = month_bounds(first)[1]
    bookings = db.session.scalars(
        select(Booking)
        .options(
            joinedload(Booking.user),
            joinedload(Booking.unit).joinedload(Unit.facility),
            selectinload(Booking.work_days),
        )
        .where(
            Booking.company_id == company_id,
            Booking.status.in_(CHARGED_STATUSES),
            Booking.check_in < following,
            Booking.check_out >= first,
        )
    ).unique()
    stays = []
    for booking in bookings:
        nights = (min(booking.check_out, following) - max(booking.check_in, first)).days
        days = [d.day for d in booking.work_days if first <= d.day < following]
        if nights > 0 or days:
            stays.append(StayInMonth(booking, max(nights, 0), days))
    stays.sort(
        key=lambda s: (
            s.booking.check_in,
            s.booking.user.employee_number is None,
            s.booking.user.employee_number or "",
            s.booking.user.name,
            s.booking.id,
        )
    )
    return stays


def stays_csv_rows(stays: list[StayInMonth], locale: str) -> list[list]:
    rows = []
    for stay in stays:
        booking, user = stay.booking, stay.booking.user
        facility = booking.unit.facility
        purpose = Purpose(booking.purpose)
        rows.append(
            [
                user.employee_number or "",
                user.name,
                user.email,
                user.department or "",
                user.employee_group or "",
                booking.check_in.isoformat(),
                booking.check_out.isoformat(),
                stay.nights,
                purpose.value,
                str(PURPOSE_LABELS[purpose]),
                len(stay.work_days),
                " ".join(day.isoformat() for day in stay.work_days),
                facility.name_for(locale),
                facility.prefecture_name(locale),
                booking.status,
            ]
        )
    return rows


def _export_page(chosen: ChosenMonth):
    return render_template(
        "company/stays_export.html",
        chosen=chosen,
        columns=STAY_COLUMNS,
        active="stays_export",
    ), 400 if chosen.error else 200


@bp.get("/stays/export")
def stays_export():
    return _export_page(chosen_month(tokyo_today(edge_now())))


@bp.get("/stays.csv")
def stays_csv():
    """One row per stay of the month (``?month=YYYY-MM``); a bad month answers the
    export page with the reason (400)."""
    chosen = chosen_month(tokyo_today(edge_now()))
    if chosen.error:
        return _export_page(chosen)
    stays = stays_in_month(_company_id(), chosen.first)
    body = write_csv(STAY_COLUMNS, stays_csv_rows(stays, current_locale()))
    return csv_download(body, f"engawa-stays-{month_code(chosen.first)}.csv")
