"""The platform admin's plan list: what a seat costs and how much credit it brings."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from accounts import audit
from billing import services
from core.db import edge_now, get_by_id
from core.extensions import db

bp = Blueprint("plans", __name__, url_prefix="/admin/plans")


def _plan_values(plan) -> dict:
    """A plan's settings as the audit log records them."""
    return {
        "name": plan.name,
        "fee_per_seat": plan.fee_per_seat,
        "credit_per_seat": plan.credit_per_seat,
        "active": plan.active,
    }


MAX_YEN = 10_000_000


class PlanForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    fee_per_seat = IntegerField(
        _l("Monthly fee per seat (yen, tax included)"),
        validators=[NumberRange(min=0, max=MAX_YEN)],
    )
    credit_per_seat = IntegerField(
        _l("Monthly stay credit per seat (yen)"), validators=[NumberRange(min=0, max=MAX_YEN)]
    )
    active = BooleanField(_l("Offered to new subscriptions"))


@bp.before_request
@login_required
def _platform_admin_only():
    if not current_user.is_platform_admin:
        abort(403)


@bp.get("")
def plans():
    return render_template(
        "admin/plans.html",
        plans=services.plans(only_active=False),
        prices=current_app.config["STRIPE_PRICE_IDS"],
        backend=current_app.config["BILLING_BACKEND"],
    )


@bp.route("/<int:plan_id>", methods=["GET", "POST"])
def edit(plan_id: int):
    plan = get_by_id(services.Plan, plan_id)
    if plan is None:
        abort(404)
    form = PlanForm(obj=plan)
    if form.validate_on_submit():
        before = _plan_values(plan)
        services.save_plan(
            plan.id,
            name=form.name.data.strip(),
            fee_per_seat=form.fee_per_seat.data,
            credit_per_seat=form.credit_per_seat.data,
            active=form.active.data,
        )
        changed_from, changed_to = audit.diff(before, _plan_values(plan))
        if changed_to:
            audit.record(
                "plan.update", edge_now(), actor=current_user._get_current_object(),
                object_type="plan", object_id=plan.id, before=changed_from, after=changed_to,
            )  # fmt: skip
        db.session.commit()
        flash(_("Plan %(name)s saved.", name=form.name.data.strip()), "success")
        return redirect(url_for("plans.plans"))
    return render_template("admin/plan_form.html", plan=plan, form=form), (
        400 if form.errors else 200
    )
