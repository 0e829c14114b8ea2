"""The Engawa team's pages for operator organisations: the list (search, paging), an
organisation's page with its facilities (reviewed or not, listed or not), making one
with its first operator, suspending and unsuspending it, setting the municipality code
of a municipality's organisation, and marking a facility reviewed. On the ``admin``
blueprint (platform admins only)."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import StringField
from wtforms.validators import Length, Optional

from accounts import audit
from accounts.models import OperatorOrg, User
from consoles.admin import network
from consoles.admin.company_views import actor, created_page
from consoles.admin.forms import OPERATOR_KIND_LABELS, OperatorCreateForm
from consoles.admin.views import bp
from core.db import edge_now, get_by_id
from core.errors import RuleError
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale
from facilities.models import Facility
from facilities.municipalities import MunicipalityCodeError, by_code, normalise_code
from identity import orgs
from identity.audit_log import page_number


@bp.context_processor
def _kind_labels() -> dict:
    return {"operator_kind_label": lambda kind: OPERATOR_KIND_LABELS.get(kind, kind)}


@bp.get("/operators")
def operators():
    q = request.args.get("q", "")
    state = request.args.get("state", "")
    page = network.operators(q, state, page_number(request.args.get("page")))
    return render_template("admin/operators.html", page=page, q=q, state=state)


@bp.route("/operators/new", methods=["GET", "POST"])
def new_operator():
    form = OperatorCreateForm()
    if form.validate_on_submit():
        try:
            created = orgs.create_operator(
                form.name.data,
                form.admin_email.data,
                edge_now(),
                kind=form.kind.data,
                actor=actor(),
                admin_name=form.admin_name.data or "",
            )
        except orgs.OrgError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc.message))
        else:
            db.session.commit()
            return created_page(
                created, "operator", url_for("admin.operator", operator_id=created.org_id)
            )
    return render_template("admin/operator_form.html", form=form), (400 if form.errors else 200)


@bp.get("/operators/<int:operator_id>")
def operator(operator_id: int):
    org = get_by_id(OperatorOrg, operator_id)
    if org is None:
        abort(404)
    return _operator_page(org)


def _operator_page(org: OperatorOrg, municipality_form=None, status: int = 200):
    if municipality_form is None:
        municipality_form = MunicipalityCodeForm(formdata=None)
        municipality_form.municipality_code.data = org.municipality_code or ""
    municipality = by_code(org.municipality_code) if org.municipality_code else None
    return render_template(
        "admin/operator.html",
        org=org,
        municipality=municipality,
        municipality_form=municipality_form,
        facilities=network.facilities_of(org.id),
        operators=network.operators_of(org.id),
        loc=current_locale(),
        form=EmptyForm(),
    ), status


# --- the municipality code (全国地方公共団体コード) ------------------------------------------


class MunicipalityCodeForm(FlaskForm):
    """The municipality an operator organisation is (blank: none)."""

    municipality_code = StringField(
        _l("Municipality code (全国地方公共団体コード)"), validators=[Optional(), Length(max=20)]
    )


class MunicipalityRefused(RuleError):
    """The code is malformed, names no municipality, or is another organisation's."""

    code = "municipality"


def set_municipality_code(operator_id: int, raw: str, now: datetime, *, actor: User) -> str | None:
    """Set (or with a blank ``raw``, clear) the organisation's municipality code, under its
    row's lock: six digits with a correct check digit, a municipality that exists, and
    no other organisation's (the column is unique, so a race loses to the database).
    Audited as ``operator.municipality`` when it changes. Returns the code now set."""
    org = db.session.scalar(
        select(OperatorOrg).where(OperatorOrg.id == operator_id).with_for_update()
    )
    if org is None:
        raise orgs.OrgNotFound(_l("No such operator organisation."))
    code = None
    if raw.strip():
        try:
            code = normalise_code(raw)
        except MunicipalityCodeError:
            raise MunicipalityRefused(
                _l("Enter the six digits of the municipality code, the last being its check digit.")
            ) from None
        if by_code(code) is None:
            raise MunicipalityRefused(_l("No municipality has this code."))
        holder = db.session.scalar(
            select(OperatorOrg).where(
                OperatorOrg.municipality_code == code, OperatorOrg.id != org.id
            )
        )
        if holder is not None:
            raise MunicipalityRefused(
                _l("%(name)s already has this municipality code.", name=holder.name)
            )
    before = org.municipality_code
    if before == code:
        return code
    org.municipality_code = code
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise MunicipalityRefused(_l("Another organisation has this municipality code.")) from None
    audit.record(
        "operator.municipality", now, actor=actor, object_type="operator", object_id=org.id,
        operator_id=org.id, before={"municipality_code": before}, after={"municipality_code": code},
    )  # fmt: skip
    return code


@bp.post("/operators/<int:operator_id>/municipality")
def operator_municipality(operator_id: int):
    org = get_by_id(OperatorOrg, operator_id)
    if org is None:
        abort(404)
    form = MunicipalityCodeForm()
    if not form.validate_on_submit():
        return _operator_page(org, form, 400)
    try:
        code = set_municipality_code(
            operator_id, form.municipality_code.data or "", edge_now(), actor=actor()
        )
    except orgs.OrgNotFound:
        db.session.rollback()
        abort(404)
    except MunicipalityRefused as refused:
        db.session.rollback()
        form.municipality_code.errors = [refused.message]
        return _operator_page(db.session.get(OperatorOrg, operator_id), form, 422)
    db.session.commit()
    if code is None:
        flash(_("The municipality code has been removed."), "success")
    else:
        municipality = by_code(code)
        flash(
            _(
                "The municipality code is now %(code)s (%(name)s).",
                code=code,
                name=municipality.full_name if municipality else code,
            ),
            "success",
        )
    return redirect(url_for("admin.operator", operator_id=operator_id), 303)


@bp.route("/operators/<int:operator_id>/suspend", methods=["GET", "POST"])
def suspend_operator(operator_id: int):
    return _operator_action(operator_id, suspend=True)


@bp.route("/operators/<int:operator_id>/unsuspend", methods=["GET", "POST"])
def unsuspend_operator(operator_id: int):
    return _operator_action(operator_id, suspend=False)


def _operator_action(operator_id: int, *, suspend: bool):
    org = get_by_id(OperatorOrg, operator_id)
    if org is None:
        abort(404)
    form = EmptyForm()
    if request.method == "GET":
        listed = sum(1 for facility in network.facilities_of(org.id) if facility.listed)
        return render_template(
            "admin/operator_confirm.html", org=org, suspend=suspend, listed=listed, form=form
        )
    if not form.validate_on_submit():
        abort(400)
    try:
        org = orgs.set_operator_suspended(operator_id, suspend, edge_now(), actor=actor())
    except orgs.OrgNotFound:
        db.session.rollback()
        abort(404)
    name = org.name
    db.session.commit()
    if suspend:
        flash(_("%(name)s is suspended: its facilities left search.", name=name), "success")
    else:
        flash(_("%(name)s is no longer suspended.", name=name), "success")
    return redirect(url_for("admin.operator", operator_id=operator_id), 303)


@bp.post("/facilities/<int:facility_id>/review")
def review_facility(facility_id: int):
    return _review(facility_id, reviewed=True)


@bp.route("/facilities/<int:facility_id>/unreview", methods=["GET", "POST"])
def unreview_facility(facility_id: int):
    """Taking a review back delists the facility: it asks first."""
    if request.method == "GET":
        facility = get_by_id(Facility, facility_id)
        if facility is None:
            abort(404)
        return render_template(
            "admin/facility_confirm.html", facility=facility, loc=current_locale(), form=EmptyForm()
        )
    return _review(facility_id, reviewed=False)


def _review(facility_id: int, *, reviewed: bool):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        facility = orgs.set_facility_reviewed(facility_id, reviewed, edge_now(), actor=actor())
    except orgs.OrgNotFound:
        db.session.rollback()
        abort(404)
    name, operator_id = facility.name_for(current_locale()), facility.operator_id
    db.session.commit()
    if reviewed:
        flash(_("%(name)s is reviewed.", name=name), "success")
    else:
        flash(_("%(name)s is no longer reviewed: it left search.", name=name), "success")
    return redirect(url_for("admin.operator", operator_id=operator_id), 303)
