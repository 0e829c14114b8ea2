"""The public sign-up pages: a company applies, an operator registers, the contact
confirms their e-mail address by the link mailed to them.

Every POST is counted per client network and, once that passes, per contact address
(hashed: the counters never hold an address), and answered 429 beyond the limits.
Whatever the address, a valid form answers the same "check your mail" page: the
pages never tell whether an address has an account or an application.
"""

from __future__ import annotations

import hashlib
import math

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from accounts.services import normalise_email
from core import ratelimit
from core.db import edge_now
from core.extensions import db
from core.i18n import current_locale
from core.ratelimit import Limit
from identity import applications
from identity.applications import CONFIRM_HOURS, DECIDE_DAYS, ApplicationError
from identity.models import ApplicationStatus
from identity.signup_forms import CompanyApplicationForm, OperatorApplicationForm

bp = Blueprint("signup", __name__)

# Fixed one-hour windows, counted in the database every worker shares. The address is
# counted only for requests its client's limit let through, so one client alone cannot
# use up somebody else's allowance; a few per address keep the mails to a mailbox few.
SIGNUPS_PER_IP = Limit("signup-ip", 10, 3600)
SIGNUPS_PER_ADDRESS = Limit("signup-address", 3, 3600)
CONFIRMS_PER_IP = Limit("signup-confirm-ip", 30, 3600)


def _address_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def _private(response):
    """The page is for this person only, and the confirmation page's URL holds a secret."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _rate_limited(checks, now) -> TooManyRequests | None:
    """Count the request under ``checks`` in order, stopping at the first one over."""
    for check in checks:
        try:
            ratelimit.enforce([check], now)
        except TooManyRequests as refused:
            return refused
    return None


def _too_many(template: str, refused: TooManyRequests, **context):
    minutes = max(1, math.ceil(int(refused.retry_after) / 60))
    error = _(
        "Too many applications from your network or for this e-mail address."
        " Please try again in %(minutes)d minutes.",
        minutes=minutes,
    )
    response = make_response(render_template(template, error=error, **context), 429)
    response.headers["Retry-After"] = str(refused.retry_after)
    return _private(response)


def _form_page(template: str, form, status: int, error: str | None = None):
    response = make_response(render_template(template, form=form, error=error), status)
    return _private(response)


def _apply(template: str, form, submit):
    """The shared steps of both forms: throttle, validate, call the service, answer."""
    now = edge_now()
    if request.method == "POST":
        refused = _rate_limited(
            [
                (SIGNUPS_PER_IP, ratelimit.client_ip()),
                (SIGNUPS_PER_ADDRESS, _address_key(request.form.get("contact_email", ""))),
            ],
            now,
        )
        if refused is not None:
            return _too_many(template, refused, form=form)
    # A POST without a valid CSRF token never gets here: CSRFProtect answers 400 first.
    if not form.validate_on_submit():
        return _form_page(template, form, 400 if request.method == "POST" else 200)
    try:
        submit(form, now)
    except ApplicationError as exc:
        db.session.rollback()
        shown = form.show(exc)
        return _form_page(template, form, 400, None if shown else str(exc.message))
    db.session.commit()
    return redirect(url_for("signup.check_mail"), 303)


@bp.route("/signup/company", methods=["GET", "POST"])
def company():
    """A company applies to use Engawa."""

    def submit(form: CompanyApplicationForm, now):
        applications.apply_company(
            form.org_name.data,
            form.corporate_number.data,
            form.billing_address.data,
            form.contact_name.data,
            form.contact_email.data,
            form.expected_seats.data,
            now,
            locale=current_locale(),
        )

    return _apply("signup/company.html", CompanyApplicationForm(), submit)


@bp.route("/signup/operator", methods=["GET", "POST"])
def operator():
    """A facility operator or a municipality registers with its first facility."""

    def submit(form: OperatorApplicationForm, now):
        applications.apply_operator(
            form.org_name.data,
            form.operator_kind.data,
            form.contact_name.data,
            form.contact_email.data,
            form.first_facility(),
            now,
            locale=current_locale(),
        )

    form = OperatorApplicationForm(locale=current_locale())
    return _apply("signup/operator.html", form, submit)


@bp.get("/signup/sent")
def check_mail():
    """The one answer to every valid application, whoever the address belongs to."""
    page = render_template("signup/check_mail.html", hours=CONFIRM_HOURS)
    return _private(make_response(page))


@bp.get("/signup/confirm/<token>")
def confirm(token: str):
    """Confirm the contact's address and say what happens next."""
    now = edge_now()
    refused = _rate_limited([(CONFIRMS_PER_IP, ratelimit.client_ip())], now)
    if refused is not None:
        return _too_many("signup/confirmed.html", refused, application=None)
    try:
        application = applications.confirm(token, now)
    except ApplicationError as exc:
        db.session.rollback()
        page = render_template("signup/confirmed.html", application=None, error=exc.message)
        return _private(make_response(page, 410 if exc.code == "expired" else 404))
    db.session.commit()
    page = render_template(
        "signup/confirmed.html",
        application=application,
        statuses=ApplicationStatus,
        days=DECIDE_DAYS,
        signed_in=current_user.is_authenticated,
    )
    return _private(make_response(page))
