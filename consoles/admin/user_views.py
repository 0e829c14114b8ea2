"""The Engawa team's pages for people anywhere in the network: search by e-mail
address or name, one person's page, and what the team may do for them: lock and
unlock, send a password reset, reset two-factor sign-in. On the ``admin`` blueprint
(platform admins only); the destructive actions ask first."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Company, OperatorOrg, Role, User
from consoles.admin import network
from consoles.admin.company_views import actor
from consoles.admin.views import bp
from core.db import edge_now, get_by_id
from core.extensions import db
from core.forms import EmptyForm
from identity import orgs, people
from identity.audit_log import page_number, positive_int

ROLE_LABELS = {
    Role.EMPLOYEE: _l("Employee"),
    Role.COMPANY_ADMIN: _l("Company admin"),
    Role.OPERATOR: _l("Operator"),
    Role.PLATFORM_ADMIN: _l("Engawa team"),
    Role.SHOP: _l("Registered shop"),
}
STATE_LABELS = {"active": _l("Active"), "locked": _l("Locked"), "inactive": _l("Deactivated")}
# Each action by its name in the URL; "lock" and "two-factor-reset" ask first (GET).
ACTIONS = {
    "lock": people.lock,
    "unlock": people.unlock,
    "password-reset": people.send_password_reset,
    "two-factor-reset": people.reset_two_factor,
    "sso-unbind": people.unbind_single_sign_on,
}


@bp.context_processor
def _labels() -> dict:
    return {"role_label": lambda role: ROLE_LABELS.get(role, role)}


@bp.get("/users")
def users():
    q = request.args.get("q", "")
    role = request.args.get("role", "")
    state = request.args.get("state", "")
    company_id = positive_int(request.args.get("company"))
    operator_id = positive_int(request.args.get("operator"))
    page = network.people(
        q,
        role,
        state,
        page_number(request.args.get("page")),
        company_id=company_id,
        operator_id=operator_id,
    )
    return render_template(
        "admin/users.html",
        page=page,
        q=q,
        role=role,
        state=state,
        roles=ROLE_LABELS,
        states=STATE_LABELS,
        company=get_by_id(Company, company_id) if company_id else None,
        operator=get_by_id(OperatorOrg, operator_id) if operator_id else None,
    )


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    person = get_by_id(User, user_id)
    if person is None:
        abort(404)
    return render_template("admin/user.html", person=person, form=EmptyForm())


@bp.route("/users/<int:user_id>/lock", methods=["GET", "POST"])
def lock_user(user_id: int):
    return _user_action(user_id, "lock")


@bp.post("/users/<int:user_id>/unlock")
def unlock_user(user_id: int):
    return _user_action(user_id, "unlock")


@bp.post("/users/<int:user_id>/password-reset")
def reset_password(user_id: int):
    return _user_action(user_id, "password-reset")


@bp.route("/users/<int:user_id>/two-factor-reset", methods=["GET", "POST"])
def reset_two_factor(user_id: int):
    return _user_action(user_id, "two-factor-reset")


@bp.post("/users/<int:user_id>/sso-unbind")
def unbind_sso(user_id: int):
    return _user_action(user_id, "sso-unbind")


def _user_action(user_id: int, action: str):
    """GET: the page that asks first (lock, two-factor reset). POST: do it."""
    if request.method == "GET":
        person = get_by_id(User, user_id)
        if person is None:
            abort(404)
        return render_template(
            "admin/user_confirm.html", person=person, action=action, form=EmptyForm()
        )
    if not EmptyForm().validate_on_submit():
        abort(400)
    service = ACTIONS[action]
    try:
        person = service(user_id, edge_now(), actor=actor())
    except orgs.OrgNotFound:
        db.session.rollback()
        abort(404)
    except orgs.OrgError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for("admin.user", user_id=user_id), 303)
    email = person.email
    db.session.commit()
    messages = {
        "lock": _("%(email)s is locked and signed out everywhere.", email=email),
        "unlock": _("%(email)s is unlocked.", email=email),
        "password-reset": _("A password reset link was sent to %(email)s.", email=email),
        "two-factor-reset": _(
            "Two-factor sign-in of %(email)s is reset: they enrol again at their next sign-in.",
            email=email,
        ),
        "sso-unbind": _(
            "%(email)s is no longer bound to an identity-provider account: their next"
            " single sign-on binds it again.",
            email=email,
        ),
    }
    flash(messages[action], "success")
    return redirect(url_for("admin.user", user_id=user_id), 303)
