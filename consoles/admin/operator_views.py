"""The Engawa team's pages for operator organisations: the list (search, paging), an
organisation's page with its facilities (reviewed or not, listed or not), making one
with its first operator, suspending and unsuspending it, and marking a facility
reviewed. On the ``admin`` blueprint (platform admins only)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from accounts.models import OperatorOrg
from consoles.admin import network
from consoles.admin.company_views import actor, created_page
from consoles.admin.forms import OPERATOR_KIND_LABELS, OperatorCreateForm
from consoles.admin.views import bp
from core.db import edge_now, get_by_id
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import current_locale
from facilities.models import Facility
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
    return render_template(
        "admin/operator.html",
        org=org,
        facilities=network.facilities_of(org.id),
        operators=network.operators_of(org.id),
        loc=current_locale(),
        form=EmptyForm(),
    )


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
