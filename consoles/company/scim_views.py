"""The company admin's directory provisioning (SCIM 2.0): the address to give the
identity provider, and the company's one token (create or rotate, revoke).

For signed-in company admins of their own company only (no company id is read from
the URL or a form). A new token is shown once, in the answer to the form that made
it, which is never cached; only its hash is kept. Every change is audited.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts.models import Role
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from core.urls import public_url
from identity import scim

bp = Blueprint("company_scim", __name__, url_prefix="/company/scim")


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


def _base_url() -> str:
    """The SCIM base address the identity provider is given (…/scim/v2)."""
    return public_url("scim.service_provider_config").rsplit("/", 1)[0]


def _page(new_token: str | None = None, status: int = 200):
    response = make_response(
        render_template(
            "company/scim.html",
            base_url=_base_url(),
            token=scim.live_token(current_user.company_id),
            new_token=new_token,
            button_form=EmptyForm(),
        ),
        status,
    )
    return response


@bp.get("")
def index():
    return _page()


@bp.post("/token")
def rotate():
    if not EmptyForm().validate_on_submit():
        abort(400)
    _token, secret = scim.rotate_token(
        current_user.company_id, edge_now(), actor=current_user._get_current_object()
    )
    db.session.commit()
    flash(_("SCIM token created. Copy it now: it will not be shown again."), "success")
    response = _page(new_token=secret)
    response.headers["Cache-Control"] = "no-store"  # the secret, once, never cached
    return response


@bp.post("/token/revoke")
def revoke():
    if not EmptyForm().validate_on_submit():
        abort(400)
    revoked = scim.revoke_token(
        current_user.company_id, edge_now(), actor=current_user._get_current_object()
    )
    db.session.commit()
    if revoked is not None:
        flash(
            _("The SCIM token has been revoked: provisioning stops until a new one is made."),
            "success",
        )
    return redirect(url_for("company_scim.index"), 303)
