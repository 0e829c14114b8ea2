"""Single sign-on: the OpenID Connect round trip through a company's identity provider.

``/sso/start`` (the sign-in page sends addresses of a company's SSO domains here) keeps
a fresh ``state``, ``nonce`` and PKCE verifier in this browser's session and sends the
browser to the provider; ``/sso/callback`` takes them out again (once: a replayed or
forged ``state`` finds nothing), has ``identity.sso_oidc`` exchange the code and check
the ID token, and lets ``identity.sso.sign_in_user`` say who that is (creating the
employee on a first sign-in, inside the paid seats). The account is found by e-mail
address but must be bound to the token's subject (``sub``): bound at its first single
sign-on, and refused afterwards for any other subject, so a changed e-mail address at
the provider never opens someone else's account.

An employee is then signed in (``accounts.views.complete_sign_in``): the company's
identity provider authenticated them, with whatever second factor the company
requires there. A role that requires Engawa's two-factor sign-in (a company admin)
goes through the same second step as after a password
(``accounts.views.after_first_factor``): their authenticator's code, or enrolling one,
before they are signed in. Every refusal is a page saying why, writes nothing, and is
never a 500.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, redirect, render_template, request, session
from flask_babel import gettext as _

from accounts import two_factor
from accounts.views import after_first_factor, complete_sign_in
from core import ratelimit
from core.db import edge_now, in_id_range
from core.extensions import db
from core.ratelimit import Limit
from core.urls import public_url
from identity import members, sso, sso_oidc

bp = Blueprint("sso", __name__)

SESSION_KEY = "sso_pending"
# How long the provider may take to send the browser back (the person may have to
# type a password and a second factor there).
PENDING_SECONDS = 15 * 60
# Each start fetches the provider's discovery document: a client cannot make the
# server fetch without bound.
STARTS_PER_IP = Limit("sso-start-ip", 30, 600)
CALLBACKS_PER_IP = Limit("sso-callback-ip", 30, 600)
MAX_NEXT_LENGTH = 2000


def _allow_private() -> bool:
    return bool(current_app.config["SSO_ALLOW_PRIVATE_HOSTS"])


def _redirect_uri() -> str:
    """What the company registers at its provider (shown on the settings page)."""
    return public_url("sso.callback")


def _error(message, status: int = 400):
    db.session.rollback()
    return render_template("sso/error.html", message=message), status


def _company_id(raw: str | None) -> int | None:
    """The company id asked for, or None when it cannot be one (not digits, too large)."""
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 12 and in_id_range(int(raw)):
        return int(raw)
    return None


@bp.get("/sso/start")
def start():
    now = edge_now()
    ratelimit.enforce([(STARTS_PER_IP, ratelimit.client_ip())], now)
    company_id = _company_id(request.args.get("company"))
    settings = sso.settings_of(company_id) if company_id is not None else None
    try:
        started = sso_oidc.begin(
            settings,
            _redirect_uri(),
            request.args.get("login_hint", ""),
            allow_private=_allow_private(),
        )
    except sso.SsoError as exc:
        return _error(exc.message, 502 if exc.code == "provider" else 400)
    session[SESSION_KEY] = {
        "state": started.state,
        "nonce": started.nonce,
        "verifier": started.code_verifier,
        "company": company_id,
        "next": (request.args.get("next") or "")[:MAX_NEXT_LENGTH],  # checked on arrival
        "at": int(now.timestamp()),
    }
    return redirect(started.url, 303)


@bp.get("/sso/callback")
def callback():
    now = edge_now()
    ratelimit.enforce([(CALLBACKS_PER_IP, ratelimit.client_ip())], now)
    pending = session.pop(SESSION_KEY, None)  # once: the same answer never works twice
    state = request.args.get("state", "")
    if (
        not isinstance(pending, dict)
        or not state
        or not hmac.compare_digest(str(pending.get("state", "")), state)
        or not 0 <= int(now.timestamp()) - int(pending.get("at", 0)) <= PENDING_SECONDS
    ):
        return _error(
            _(
                "This sign-in has expired or was already used. Please sign in again"
                " from the sign-in page."
            )
        )
    if "error" in request.args:
        return _error(
            _(
                "Your identity provider did not sign you in. Please try again, or ask"
                " your company admin."
            ),
            403,
        )
    company_id = pending["company"]
    try:
        identity = sso_oidc.finish(
            sso.settings_of(company_id),
            code=request.args.get("code", ""),
            redirect_uri=_redirect_uri(),
            nonce=pending["nonce"],
            code_verifier=pending["verifier"],
            now=now,
            allow_private=_allow_private(),
        )
        user = sso.sign_in_user(company_id, identity, now)
    except sso.SsoError as exc:
        if exc.code == "seats_full":
            db.session.rollback()
            members.record_seats_full(company_id, now)  # the admins hear of it, once a day
            db.session.commit()
        return _error(exc.message, 502 if exc.code == "provider" else 403)
    # Both keep only a page of this site (safe_next), else the role's home.
    next_url = pending.get("next") or None
    if two_factor.required_for(user):
        # A company admin: their code (or enrolment) next, exactly as after a password.
        return after_first_factor(user, next_url, now)  # commits
    return complete_sign_in(user, next_url)  # commits (a new employee too)
