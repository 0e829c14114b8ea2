"""The company admin's group policy pages: which stays each group may book, the company
default, and on a page of each policy which stays wait for an approver, what the company
pays and for which companions; and the company's fiscal year.

Routes on the company HR blueprint (``hr_views.bp``, company admins only, their own
company's policies: another company's is 404). The rules and their audit entries are
``hr.groups``; each change commits once, here.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consoles.company.hr_forms import (
    COMPANION_HINTS,
    SUBSIDY_HINTS,
    DefaultPolicyForm,
    FiscalYearForm,
    GroupPolicyForm,
    PolicySettingsForm,
)
from consoles.company.hr_views import FORM_FIELDS, _company_id, bp
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from hr import groups as hr_groups
from hr import people as hr_people
from hr.approval import REASON_LABELS
from hr.models import DEFAULT_GROUP, CompanionCategory

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
