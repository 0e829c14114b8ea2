"""The company admin's HR pages: one employee's HR details (number, department, group,
manager), the people CSV import and its template, the group policies (which stays each
group may book; on a page of each policy, which stays wait for an approver, what the
company pays and for which companions) with the company's fiscal year, and the monthly
stays export for attendance and leave entry.

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
from consoles.company.hr_forms import (
    COMPANION_HINTS,
    SUBSIDY_HINTS,
    DefaultPolicyForm,
    EmployeeHrForm,
    FiscalYearForm,
    GroupPolicyForm,
    PeopleImportForm,
    PolicySettingsForm,
)
from core import input_guard
from core.csv import csv_download, write_csv
from core.dates import MONTH_ARG, month_bounds
from core.db import edge_now, in_id_range, tokyo_today
from core.extensions import csrf, db
from core.forms import EmptyForm
from core.i18n import current_locale
from facilities.models import Unit
from hr import groups as hr_groups
from hr import people as hr_people
from hr import people_import as hr_import
from hr.approval import REASON_LABELS
from hr.models import DEFAULT_GROUP, PURPOSE_LABELS, CompanionCategory, Purpose
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


# --- group policies ------------------------------------------------------------------------


def _policy_data(policy) -> dict:
    if policy is None:  # no row: both allowed
        return {"leisure_allowed": True, "business_allowed": True}
    return {
        "leisure_allowed": policy.leisure_allowed,
        "business_allowed": policy.business_allowed,
    }


def _groups_page(
    *,
    add_form=None,
    default_form=None,
    year_form=None,
    error=None,
    error_at=None,
    status=200,
):
    """The page; ``error_at`` names the form a refusal is about (a group's name, or
    ``DEFAULT_GROUP``), which then keeps what was posted."""
    company_id = _company_id()
    if year_form is None:
        year_form = FiscalYearForm(formdata=None)
        year_form.fiscal_year_start_month.data = current_user.company.fiscal_year_start_month
    policies = hr_groups.group_policies(company_id)
    default = next((p for p in policies if p.employee_group == DEFAULT_GROUP), None)
    rows = []
    for policy in policies:
        if policy.employee_group == DEFAULT_GROUP:
            continue
        if error_at == policy.employee_group:
            form = GroupPolicyForm()  # what was posted, shown with the refusal
        else:
            form = GroupPolicyForm(
                formdata=None, employee_group=policy.employee_group, **_policy_data(policy)
            )
        rows.append((policy, form))
    with_policy = {policy.employee_group for policy in policies}
    in_use = hr_groups.groups_in_use(company_id)
    return render_template(
        "company/groups.html",
        default=default,
        default_form=default_form or DefaultPolicyForm(formdata=None, **_policy_data(default)),
        rows=rows,
        add_form=add_form or GroupPolicyForm(formdata=None, **_policy_data(None)),
        groups_in_use=in_use,
        without_policy=[group for group in in_use if group not in with_policy],
        button_form=EmptyForm(),
        year_form=year_form,
        error=error,
        error_at=error_at,
        **_policy_words(),
        active="groups",
    ), status


def _back_to_groups():
    return redirect(url_for("company_hr.groups"), 303)


def _save_policy(group: str, leisure: bool, business: bool) -> None:
    hr_groups.save_group_policy(
        _company_id(),
        group,
        leisure_allowed=leisure,
        business_allowed=business,
        actor_id=current_user.id,
        now=edge_now(),
    )


@bp.route("/groups", methods=["GET", "POST"])
def groups():
    """The page, and saving one group's policy: a new one (the add form) or an existing
    one (its row's form, the group in a hidden field)."""
    if request.method == "GET":
        return _groups_page()
    form = GroupPolicyForm()
    existing = {p.employee_group for p in hr_groups.group_policies(_company_id())}
    if not form.validate_on_submit():
        return _groups_page(add_form=form, status=400)
    group = form.group()
    kept = {"add_form": form} if group not in existing else {"error_at": group}
    try:
        _save_policy(group, form.leisure_allowed.data, form.business_allowed.data)
    except hr_people.HrError as exc:
        db.session.rollback()
        if group in existing:
            return _groups_page(error=exc.message, status=422, **kept)
        field = exc.field if exc.field in form else None
        if field is not None:
            form[field].errors.append(exc.message)
        return _groups_page(error=None if field else exc.message, status=422, **kept)
    db.session.commit()
    flash(_("The policy of the group %(group)s has been saved.", group=group), "success")
    return _back_to_groups()


@bp.post("/groups/default")
def default_group():
    form = DefaultPolicyForm()
    if not form.validate_on_submit():
        abort(400)  # only the CSRF token can be wrong: the checkboxes take anything
    try:
        _save_policy(DEFAULT_GROUP, form.leisure_allowed.data, form.business_allowed.data)
    except hr_people.HrError as exc:
        db.session.rollback()
        return _groups_page(
            default_form=form, error=exc.message, error_at=DEFAULT_GROUP, status=422
        )
    db.session.commit()
    flash(_("The company default has been saved."), "success")
    return _back_to_groups()


@bp.post("/groups/<int:policy_id>/delete")
def delete_group(policy_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    company_id = _company_id()
    policy = next((p for p in hr_groups.group_policies(company_id) if p.id == policy_id), None)
    if policy is None:
        abort(404)
    group = policy.employee_group
    try:
        hr_groups.delete_group_policy(
            company_id, policy_id, actor_id=current_user.id, now=edge_now()
        )
    except hr_people.HrNotFound:  # deleted by another admin a moment ago
        db.session.rollback()
        abort(404)
    db.session.commit()
    if group == DEFAULT_GROUP:
        flash(
            _(
                "The company default has been deleted: people whose group has no policy"
                " may now book both kinds of stay."
            ),
            "success",
        )
    else:
        flash(
            _(
                "The policy of the group %(group)s has been deleted: its people now"
                " follow the company default.",
                group=group,
            ),
            "success",
        )
    return _back_to_groups()


# --- one policy's approval, subsidy and companions ----------------------------------------


def _policy_words() -> dict:
    """What the templates need to say a policy in words (``hr.groups``)."""
    return {
        "subsidy_words": hr_groups.subsidy_words,
        "cap_words": hr_groups.cap_words,
        "companion_words": hr_groups.companion_words,
        "companions_matter": hr_groups.companions_matter,
        "example_split": hr_groups.example_split,
        "example_companions": hr_groups.EXAMPLE_COMPANIONS,
        "settings_of": hr_groups.settings_of,
        "companion_categories": list(CompanionCategory),
        "companion_labels": hr_groups.COMPANION_LABELS,
        "reason_labels": REASON_LABELS,
    }


def _people_choices(company_id: int) -> list[tuple[int, str]]:
    return [
        (person.id, f"{person.name} <{person.email}>")
        for person in hr_groups.approver_candidates(company_id)
    ]


def _offered(user_id: int | None, people: list[tuple[int, str]]) -> str:
    """The select's value for a stored approver or deputy: "" when they are no longer
    offered (deactivated, or moved to another company)."""
    offered = {person_id for person_id, _label in people}
    return str(user_id) if user_id in offered else ""


def _policy_or_404(company_id: int, policy_id: int | None):
    """The company's row of that id (None: the default's row, which may not exist yet)."""
    policies = hr_groups.group_policies(company_id)
    if policy_id is None:
        return next((p for p in policies if p.employee_group == DEFAULT_GROUP), None)
    policy = next((p for p in policies if p.id == policy_id), None)
    if policy is None:
        abort(404)
    return policy


def _refusal_on_form(form: PolicySettingsForm, exc: hr_people.HrError) -> str | None:
    """Put the service's refusal on the field it names; the message when none fits."""
    field = FORM_FIELDS.get(exc.field or "", exc.field)
    if field == "subsidy_amount":
        field = "subsidy_percent" if form.subsidy_kind.data == "percent" else "subsidy_yen"
    if field in form:
        form[field].errors.append(exc.message)
        return None
    return exc.message


@bp.route("/groups/default/settings", methods=["GET", "POST"])
def default_settings():
    """The company default's purposes, approval, subsidy and companions (saving them
    makes its row when it has none)."""
    return _settings_page(None)


@bp.route("/groups/<int:policy_id>/settings", methods=["GET", "POST"])
def policy_settings(policy_id: int):
    """One group's purposes, approval, subsidy and companions."""
    return _settings_page(policy_id)


def _settings_page(policy_id: int | None):
    company_id = _company_id()
    policy = _policy_or_404(company_id, policy_id)
    group = policy.employee_group if policy is not None else DEFAULT_GROUP
    people = _people_choices(company_id)
    form = PolicySettingsForm(people=people)
    error, refused = None, False
    if form.validate_on_submit():
        try:
            hr_groups.save_policy_settings(
                company_id, group, form.settings(), actor_id=current_user.id, now=edge_now()
            )
        except hr_people.HrError as exc:
            db.session.rollback()
            refused = True
            error = _refusal_on_form(form, exc)
        else:
            db.session.commit()
            if group == DEFAULT_GROUP:
                flash(_("The company default has been saved."), "success")
            else:
                flash(
                    _("The policy of the group %(group)s has been saved.", group=group), "success"
                )
            return redirect(_settings_url(policy_id), 303)
    stored = hr_groups.settings_of(policy)
    if not form.is_submitted():
        form = PolicySettingsForm(formdata=None, people=people)
        form.fill(stored, _offered(stored.approver_id, people), _offered(stored.deputy_id, people))
    status = 422 if refused else 400 if form.is_submitted() else 200
    return render_template(
        "company/policy_settings.html",
        policy=policy,
        group=group,
        action=_settings_url(policy_id),
        form=form,
        stored=stored,
        error=error,
        lost_approver=stored.approver_id is not None and not _offered(stored.approver_id, people),
        lost_deputy=stored.deputy_id is not None and not _offered(stored.deputy_id, people),
        subsidy_hints=SUBSIDY_HINTS,
        companion_hints=COMPANION_HINTS,
        **_policy_words(),
        active="groups",
    ), status


def _settings_url(policy_id: int | None) -> str:
    if policy_id is None:
        return url_for("company_hr.default_settings")
    return url_for("company_hr.policy_settings", policy_id=policy_id)


@bp.post("/fiscal-year")
def fiscal_year():
    """The month the company's fiscal year begins (the yearly subsidy caps' year)."""
    form = FiscalYearForm()
    if not form.validate_on_submit():
        return _groups_page(year_form=form, status=400)
    try:
        hr_groups.set_fiscal_year_start(
            _company_id(),
            form.fiscal_year_start_month.data,
            actor_id=current_user.id,
            now=edge_now(),
        )
    except hr_people.HrNotFound:
        db.session.rollback()
        abort(404)
    except hr_people.HrError as exc:
        db.session.rollback()
        form.fiscal_year_start_month.errors.append(exc.message)
        return _groups_page(year_form=form, status=422)
    db.session.commit()
    flash(_("The start of your fiscal year has been saved."), "success")
    return _back_to_groups()


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
