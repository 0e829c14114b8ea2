"""The company admin's single sign-on settings: the company's OpenID Connect provider
(issuer, client id, write-only client secret), the e-mail domains it covers, on/off and
mandatory. The page shows the redirect URI to register at the provider.

Only the admin's own company (``current_user.company_id``); no company id is read from
the URL or a form. The rules and the audit entry are ``identity.sso.save_settings``.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts.models import Company, Role
from consoles.company.sso_forms import SsoForm
from core.db import edge_now
from core.errors import RuleError
from core.extensions import db
from core.urls import public_url
from identity import sso

bp = Blueprint("company_sso", __name__, url_prefix="/company/sso")


@bp.before_request
@login_required
def _company_admins_only():
    if current_user.role != Role.COMPANY_ADMIN or current_user.company_id is None:
        abort(403)


def _filled(settings) -> SsoForm:
    form = SsoForm(formdata=None)
    if settings is not None:
        form.issuer.data = settings.issuer
        form.client_id.data = settings.client_id
        form.domains.data = "\n".join(d.domain for d in settings.domains)
        form.enabled.data = settings.enabled
        form.mandatory.data = settings.mandatory
    else:
        form.enabled.data = True
    return form


@bp.route("/", methods=["GET", "POST"])
def settings():
    company_id = current_user.company_id
    form = SsoForm()
    error = None
    if form.validate_on_submit():
        values = sso.SsoSettings(
            issuer=form.issuer.data or "",
            client_id=form.client_id.data or "",
            client_secret=form.client_secret.data or "",
            domains=form.domains.data or "",
            enabled=form.enabled.data,
            mandatory=form.mandatory.data,
        )
        try:
            sso.save_settings(
                current_user,
                company_id,
                values,
                edge_now(),
                allow_http=current_app.config["SSO_ALLOW_PRIVATE_HOSTS"],
            )
        except RuleError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            flash(_("The single sign-on settings have been saved."), "success")
            return redirect(url_for("company_sso.settings"), 303)
    current = sso.settings_of(company_id)
    if not form.is_submitted():
        form = _filled(current)
    form.client_secret.data = ""  # never sent back to the browser
    status = 422 if error else 400 if form.is_submitted() else 200
    return render_template(
        "company/sso.html",
        form=form,
        error=error,
        current=current,
        company=db.session.get(Company, company_id),
        redirect_uri=public_url("sso.callback"),
    ), status
