"""Two-factor sign-in pages: the code step after the password (or after a company's
single sign-on, for the roles that require two-factor sign-in), enrolling an
authenticator (while signing in, or from the account page), recovery codes, turning
it off (employees only).

A sign-in waiting for its second step is kept in the session (``views.PENDING_KEY``:
who, which password generation, where to go next, since when) for ten minutes; the
person is not signed in until ``views.complete_sign_in`` runs. Code attempts are
counted per person (``core.ratelimit``), so a stolen password cannot be followed by
guessing a million codes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from accounts import audit, two_factor
from accounts.forms import TwoFactorCodeForm, TwoFactorOffForm
from accounts.models import User
from accounts.services import may_sign_in
from accounts.views import PENDING_KEY, PENDING_LIFETIME, complete_sign_in
from core import ratelimit
from core.db import edge_now, utcnow
from core.extensions import db

bp = Blueprint("two_factor", __name__)

# Wrong codes per person: 5 in 5 minutes, whichever page they are typed on.
CODE_LIMIT = ratelimit.Limit("two-factor", 5, 300)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _no_store(response):
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- The sign-in waiting for its second step ----------------------------------------------


def _pending_user(now: datetime) -> tuple[User, str] | None:
    """The person whose password was right a moment ago, and the page they asked for;
    None (and the state forgotten) when it is missing, too old, or no longer valid."""
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None
    user_id, version, started = data.get("user"), data.get("version"), data.get("started")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (user_id, version, started)):
        session.pop(PENDING_KEY, None)
        return None
    begun = datetime.fromtimestamp(started, tz=UTC)
    user = db.session.get(User, user_id)
    if (
        not begun <= now < begun + PENDING_LIFETIME
        or user is None
        or not may_sign_in(user)
        or user.session_version != version
    ):
        session.pop(PENDING_KEY, None)
        return None
    next_url = data.get("next")
    return user, next_url if isinstance(next_url, str) else ""


def _expired():
    flash(_("Your sign-in took too long or is no longer valid. Please sign in again."), "error")
    return redirect(url_for("accounts.login"))


def _throttled(user: User, now: datetime) -> int:
    """Seconds until the person may try a code again (0: now)."""
    return ratelimit.peek(CODE_LIMIT, str(user.id), now)


def _wrong(user: User, now: datetime) -> None:
    """Count a wrong code; commits (the count holds whatever happens next)."""
    db.session.rollback()
    ratelimit.hit(CODE_LIMIT, str(user.id), now)
    db.session.commit()


def _too_many_message(retry_after: int) -> str:
    return _("Too many wrong codes. Try again in %(n)d minutes.", n=_minutes(retry_after))


@bp.route("/login/two-factor", methods=["GET", "POST"])
def code():
    """The second step: a code from the authenticator app, or a recovery code."""
    now = edge_now()
    pending = _pending_user(now)
    if pending is None:
        return _expired()
    user, next_url = pending
    if not two_factor.enabled(user):
        return redirect(url_for("two_factor.enrol"))
    form = TwoFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        retry_after = _throttled(user, now)
        if retry_after:
            flash(_too_many_message(retry_after), "error")
            page = render_template("accounts/two_factor_code.html", form=form)
            response = make_response(page, 429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        kind = two_factor.verify_sign_in_code(user, form.code.data, utcnow(), now)
        if kind is None:
            _wrong(user, now)
            form.code.errors = [_("That code is not right. Try the current code.")]
            status = 400
        else:
            response = complete_sign_in(user, next_url)
            if kind == "recovery":
                left = two_factor.recovery_codes_left(user)
                flash(
                    _(
                        "You signed in with a recovery code; %(n)d are left. If you lost"
                        " your authenticator, set it up again and make new codes.",
                        n=left,
                    ),
                    "info",
                )
            return response
    elif form.is_submitted():
        status = 400
    return render_template("accounts/two_factor_code.html", form=form), status


@bp.route("/login/two-factor/enrol", methods=["GET", "POST"])
def enrol():
    """Enrolling while signing in: a role that requires two-factor sign-in, asked before."""
    now = edge_now()
    pending = _pending_user(now)
    if pending is None:
        return _expired()
    user, next_url = pending
    if two_factor.enabled(user):
        return redirect(url_for("two_factor.code"))
    form = TwoFactorCodeForm()
    status = 200
    if form.validate_on_submit():
        codes, status = _confirm(user, form, now)
        if codes is not None:
            response = complete_sign_in(user, next_url)
            flash(_("Two-factor sign-in is on. You are signed in."), "success")
            return _codes_page(codes, response.location)
    elif form.is_submitted():
        status = 400
    return _enrol_page(user, form, url_for("two_factor.enrol"), status, signing_in=True)


def _confirm(user: User, form: TwoFactorCodeForm, now: datetime) -> tuple[list[str] | None, int]:
    """Turn it on with the code typed; (recovery codes, 200) or (None, error status)."""
    retry_after = _throttled(user, now)
    if retry_after:
        form.code.errors = [_too_many_message(retry_after)]
        return None, 429
    try:
        codes = two_factor.confirm_enrolment(user, form.code.data, utcnow(), now)
    except two_factor.TwoFactorError:
        _wrong(user, now)
        form.code.errors = [
            _("That code is not right. Check the time on your phone and type the current code.")
        ]
        return None, 400
    audit.record(
        "user.two_factor_on",
        now,
        actor=user,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        operator_id=user.operator_id,
    )
    db.session.commit()
    return codes, 200


def _enrol_page(user: User, form, action: str, status: int = 200, *, signing_in: bool = False):
    secret = two_factor.pending_secret(user)
    db.session.commit()
    uri = two_factor.provisioning_uri(user, secret)
    page = render_template(
        "accounts/two_factor_enrol.html",
        form=form,
        action=action,
        qr=two_factor.qr_svg(uri, _("QR code for your authenticator app")),
        secret=secret,
        secret_grouped=two_factor.grouped(secret),
        signing_in=signing_in,
        required=two_factor.required_for(user),
    )
    return _no_store(make_response(page, status))


def _codes_page(codes: list[str], continue_url: str):
    """The recovery codes, shown this once."""
    page = render_template("accounts/two_factor_codes.html", codes=codes, continue_url=continue_url)
    return _no_store(page)


# --- The account page's two-factor settings ------------------------------------------------


@bp.get("/account/two-factor")
@login_required
def settings():
    user = current_user._get_current_object()
    if not two_factor.enabled(user):
        form = TwoFactorCodeForm(formdata=None)
        return _enrol_page(user, form, url_for("two_factor.confirm"))
    return _settings_page(user)


def _settings_page(user: User, code_form=None, off_form=None, status: int = 200):
    page = render_template(
        "accounts/two_factor.html",
        codes_left=two_factor.recovery_codes_left(user),
        required=two_factor.required_for(user),
        code_form=code_form or TwoFactorCodeForm(formdata=None),
        off_form=off_form or TwoFactorOffForm(formdata=None),
    )
    return _no_store(make_response(page, status))


@bp.post("/account/two-factor")
@login_required
def confirm():
    user = current_user._get_current_object()
    if two_factor.enabled(user):
        return redirect(url_for("two_factor.settings"), 303)
    now = edge_now()
    form = TwoFactorCodeForm()
    status = 400
    if form.validate_on_submit():
        codes, status = _confirm(user, form, now)
        if codes is not None:
            flash(_("Two-factor sign-in is on."), "success")
            return _codes_page(codes, url_for("two_factor.settings"))
    return _enrol_page(user, form, url_for("two_factor.confirm"), status)


@bp.post("/account/two-factor/recovery-codes")
@login_required
def regenerate():
    """New recovery codes, for someone who shows a current code from the authenticator."""
    user = current_user._get_current_object()
    if not two_factor.enabled(user):
        abort(404)
    now = edge_now()
    form = TwoFactorCodeForm()
    if not form.validate_on_submit():
        return _settings_page(user, code_form=form, status=400)
    retry_after = _throttled(user, now)
    if retry_after:
        form.code.errors = [_too_many_message(retry_after)]
        return _settings_page(user, code_form=form, status=429)
    try:
        codes = two_factor.regenerate_recovery_codes(user, form.code.data, utcnow(), now)
    except two_factor.TwoFactorError:
        _wrong(user, now)
        form.code.errors = [_("That code is not right. Try the current code.")]
        return _settings_page(user, code_form=form, status=400)
    db.session.commit()
    flash(_("New recovery codes made. The old ones no longer work."), "success")
    return _codes_page(codes, url_for("two_factor.settings"))


@bp.post("/account/two-factor/off")
@login_required
def turn_off():
    """Employees may turn it off with their password; roles that require it may not."""
    user = current_user._get_current_object()
    if not two_factor.enabled(user):
        abort(404)
    now = edge_now()
    form = TwoFactorOffForm()
    if two_factor.required_for(user):
        flash(_("Your role requires two-factor sign-in: it cannot be turned off."), "error")
        return _settings_page(user, off_form=form, status=403)
    if not form.validate_on_submit():
        return _settings_page(user, off_form=form, status=400)
    # Each attempt checks the password: as many as for changing it.
    retry_after = _throttled(user, now)
    if retry_after:
        form.password.errors = [_too_many_message(retry_after)]
        return _settings_page(user, off_form=form, status=429)
    try:
        two_factor.turn_off(user, form.password.data)
    except two_factor.TwoFactorError:
        _wrong(user, now)
        form.password.errors = [_("The password is wrong.")]
        return _settings_page(user, off_form=form, status=400)
    audit.record(
        "user.two_factor_off",
        now,
        actor=user,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        operator_id=user.operator_id,
    )
    db.session.commit()
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("two_factor.settings"), 303)
