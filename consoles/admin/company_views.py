"""The Engawa team's pages for companies: the list (search, paging), a company's page,
making one with its first admin, deactivating and reactivating it. On the ``admin``
blueprint, whose check lets platform admins only."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from billing import services as billing
from billing.settings import BillingSettings
from consoles.admin import network
from consoles.admin.forms import CompanyCreateForm
from consoles.admin.views import bp
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from core.i18n import format_yen
from identity import orgs
from identity.audit_log import page_number


def actor():
    return current_user._get_current_object()


def created_page(created: orgs.Created, kind: str, detail_url: str):
    """The one time the set-password link is shown: never stored, never cached."""
    link = current_app.config["BASE_URL"].rstrip("/") + created.link_path
    response = current_app.make_response(
        render_template(
            "admin/org_created.html", created=created, kind=kind, link=link, detail_url=detail_url
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/companies")
def companies():
    q = request.args.get("q", "")
    state = request.args.get("state", "")
    page = network.companies(q, state, page_number(request.args.get("page")))
    return render_template("admin/companies.html", page=page, q=q, state=state)


@bp.route("/companies/new", methods=["GET", "POST"])
def new_company():
    form = CompanyCreateForm()
    # Each plan with what a seat costs a month, so the bill is known before adding.
    form.plan.choices = [SelectChoice("", _("No subscription yet"))] + [
        SelectChoice(
            plan.code,
            _(
                "%(plan)s: %(fee)s a seat a month",
                plan=plan.name,
                fee=format_yen(plan.fee_per_seat),
            ),
        )
        for plan in billing.plans()
    ]
    if form.validate_on_submit():
        try:
            created = orgs.create_company(
                form.name.data,
                form.admin_email.data,
                edge_now(),
                actor=actor(),
                admin_name=form.admin_name.data or "",
                plan_code=form.plan.data or None,
                seats=form.seats.data,
                settings=BillingSettings.from_config(current_app.config),
            )
        except orgs.OrgError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc.message))
        else:
            db.session.commit()
            return created_page(
                created, "company", url_for("admin.company", company_id=created.org_id)
            )
    return render_template("admin/company_form.html", form=form), (400 if form.errors else 200)


@bp.get("/companies/<int:company_id>")
def company(company_id: int):
    row = network.company_row(company_id)
    if row is None:
        abort(404)
    return render_template(
        "admin/company.html",
        row=row,
        admins=network.admins_of_company(company_id),
        people=network.people_count(company_id),
        form=EmptyForm(),
    )


@bp.route("/companies/<int:company_id>/deactivate", methods=["GET", "POST"])
def deactivate_company(company_id: int):
    return _company_action(company_id, deactivate=True)


@bp.route("/companies/<int:company_id>/reactivate", methods=["GET", "POST"])
def reactivate_company(company_id: int):
    return _company_action(company_id, deactivate=False)


def _company_action(company_id: int, *, deactivate: bool):
    row = network.company_row(company_id)
    if row is None:
        abort(404)
    form = EmptyForm()
    if request.method == "GET":
        return render_template(
            "admin/company_confirm.html", row=row, deactivate=deactivate, form=form
        )
    if not form.validate_on_submit():
        abort(400)
    try:
        company = orgs.set_company_active(company_id, not deactivate, edge_now(), actor=actor())
    except orgs.OrgNotFound:
        db.session.rollback()
        abort(404)
    name = company.name
    db.session.commit()
    if deactivate:
        flash(_("%(name)s is deactivated: its people are signed out.", name=name), "success")
    else:
        flash(_("%(name)s is active again.", name=name), "success")
    return redirect(url_for("admin.company", company_id=company_id), 303)
