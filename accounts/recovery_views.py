"""Forgotten passwords: asking for a reset link, and choosing a password through a link
(a reset link, or the set link of an account made for someone).

The answer to "forgot password" is the same page whether or not the address has an
account, and the throttles (per address and per client network) count every request
alike, so neither the page nor a refusal tells anything about an address. Pages that
carry a link's secret in their address are never cached and send no referrer.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _

from accounts import audit, recovery
from accounts.forms import ForgotPasswordForm, NewPasswordForm
from accounts.services import WeakPassword, normalise_email
from core import ratelimit
from core.db import edge_now
from core.extensions import db

bp = Blueprint("recovery", __name__)

# Reset mails asked for: per address (hashed: no address is stored in the counters)
# and per client network.
FORGOT_PER_ADDRESS = ratelimit.Limit("forgot-address", 3, 3600)
FORGOT_PER_IP = ratelimit.Limit("forgot-ip", 20, 3600)
# Submits of a new password per client network (each one hashes the password).
CHOOSE_PER_IP = ratelimit.Limit("password-link-ip", 30, 900)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _address_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        now = edge_now()
        checks = [
            (FORGOT_PER_IP, ratelimit.client_ip()),
            (FORGOT_PER_ADDRESS, _address_key(form.email.data)),
        ]
        retry_after = max(ratelimit.hit(limit, subject, now) for limit, subject in checks)
        if retry_after:
            db.session.commit()
            flash(
                _(
                    "Too many requests from your network or for this address."
                    " Try again in %(n)d minutes.",
                    n=_minutes(retry_after),
                ),
                "error",
            )
            response = make_response(render_template("accounts/forgot.html", form=form), 429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        recovery.send_reset_link(form.email.data, now)
        db.session.commit()
        return redirect(url_for("recovery.forgot_sent"), 303)
    status = 400 if form.is_submitted() else 200
    return render_template("accounts/forgot.html", form=form), status


@bp.get("/password/forgot/sent")
def forgot_sent():
    """The one answer to every request: nothing says whether the address has an account."""
    return render_template("accounts/forgot_sent.html")


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    return _choose(token, recovery.RESET)


@bp.route("/password/set/<token>", methods=["GET", "POST"])
def set_password(token: str):
    return _choose(token, recovery.SET)


def _link_page(response, status: int = 200):
    """A page carrying the link's secret in its address: no cache, no referrer."""
    response = make_response(response, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _choose(secret: str, purpose: str):
    now = edge_now()
    link = recovery.token_for(secret, purpose, now)
    if link is None:
        db.session.rollback()
        return _link_page(render_template("accounts/link_invalid.html", purpose=purpose), 410)
    form = NewPasswordForm(email=link.user.email)
    status = 200
    if form.validate_on_submit():
        retry_after = ratelimit.hit(CHOOSE_PER_IP, ratelimit.client_ip(), now)
        db.session.commit()
        if retry_after:
            message = _("Too many requests. Try again in %(n)d minutes.", n=_minutes(retry_after))
            flash(message, "error")
            page = render_template("accounts/choose_password.html", form=form, purpose=purpose)
            response = _link_page(page, 429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        try:
            user = recovery.choose_password(
                secret,
                purpose,
                form.password.data,
                now,
                current_app.config["PASSWORD_HASH_METHOD"],
            )
        except recovery.LinkInvalid:
            db.session.rollback()
            page = render_template("accounts/link_invalid.html", purpose=purpose)
            return _link_page(page, 410)
        except WeakPassword as exc:
            db.session.rollback()
            form.password.errors = [str(exc.reason)]
            status = 400
        else:
            audit.record(
                "user.password_chosen",
                now,
                actor=user,
                object_type="user",
                object_id=user.id,
                company_id=user.company_id,
                operator_id=user.operator_id,
                after={"link": purpose},
            )
            db.session.commit()
            flash(_("Your new password is set. Sign in with it."), "success")
            return _link_page(redirect(url_for("accounts.login"), 303), 303)
    elif form.is_submitted():
        status = 400
    page = render_template("accounts/choose_password.html", form=form, purpose=purpose)
    return _link_page(page, status)
