"""Sign-in, sign-out, account page (password and API tokens), language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from accounts import services
from accounts.forms import ApiTokenForm, EmptyForm, LoginForm, PasswordChangeForm
from accounts.models import User
from core.db import edge_now, get_by_id
from core.extensions import db, login_manager

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    raw_id, _sep, version = user_id.partition(":")
    if not (raw_id.isascii() and raw_id.isdigit() and version.isascii() and version.isdigit()):
        return None
    user = get_by_id(User, int(raw_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _safe_next(target: str | None) -> str:
    """Only same-site paths, never another host (open-redirect guard)."""
    # Browsers read "\\" as "/", so "/\\evil.example" would leave the site.
    if target and target.startswith("/") and target.isprintable() and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not target.startswith("//"):
            return target
    return url_for("booking.home")


def _throttle_policy() -> services.ThrottlePolicy:
    return services.ThrottlePolicy(
        current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCKOUT_SECONDS"]
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("booking.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data,
                form.password.data,
                edge_now(),
                _throttle_policy(),
                current_app.config["PASSWORD_HASH_METHOD"],
            )
        except services.LoginThrottled as exc:
            db.session.rollback()
            minutes = max(1, -(-exc.retry_after // 60))
            flash(_("Too many failed sign-ins. Try again in %(n)d minutes.", n=minutes), "error")
            return render_template("accounts/login.html", form=form), 429
        lang = session.get("lang")
        if user is not None and lang and user.locale != lang:
            user.locale = lang  # chosen before signing in: the account remembers it
        db.session.commit()
        if user is None:
            flash(_("E-mail or password is wrong."), "error")
            status = 401
        else:
            _fresh_session()  # on sign-in: a session fixation guard
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
        if "csrf_token" in form.errors:
            flash(_("The page had expired. Please sign in again."), "error")
    return render_template("accounts/login.html", form=form), status


def _fresh_session() -> None:
    """Forget everything in the session but the language the visitor chose."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


@bp.post("/logout")
@login_required
def logout():
    if not EmptyForm().validate_on_submit():
        abort(400)
    logout_user()
    _fresh_session()
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET"])
@login_required
def account():
    return _account_page()


def _account_page(password_form=None, new_token: str | None = None) -> str:
    return render_template(
        "accounts/account.html",
        password_form=password_form or PasswordChangeForm(formdata=None),
        token_form=ApiTokenForm(formdata=None),
        revoke_form=EmptyForm(),
        tokens=services.tokens_of(current_user),
        new_token=new_token,
    )


@bp.post("/account/password")
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user,
                form.current_password.data,
                form.new_password.data,
                current_app.config["PASSWORD_HASH_METHOD"],
            )
        except services.AccountError as exc:
            db.session.rollback()
            messages = {
                "wrong_password": _("The current password is wrong."),
                "too_short": _("The new password is too short."),
                "unchanged": _("The new password must differ from the current one."),
            }
            flash(messages[exc.code], "error")
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # this session carries on
            flash(
                _("Your password has been changed. Other sessions have been signed out."), "success"
            )
            return redirect(url_for("accounts.account"))
    for errors in form.errors.values():
        for error in errors:
            flash(error, "error")
    return _account_page(password_form=form), 400


@bp.post("/account/tokens")
@login_required
def create_token():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        flash(_("Give the token a name (up to 100 characters)."), "error")
        return redirect(url_for("accounts.account"))
    _token, secret = services.create_api_token(current_user, form.name.data, edge_now())
    db.session.commit()
    # Shown once, in this response only: never stored, never cached.
    flash(_("API token created. Copy it now: it will not be shown again."), "success")
    response = make_response(_account_page(new_token=secret))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not services.revoke_api_token(current_user, token_id, edge_now()):
        abort(404)
    db.session.commit()
    flash(_("The token has been revoked."), "success")
    return redirect(url_for("accounts.account"))


@bp.get("/lang/<code>")
def set_language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    if current_user.is_authenticated and current_user.locale != code:
        current_user.locale = code  # remembered for the next sign-in too
        db.session.commit()
    return redirect(_safe_next(request.args.get("next")))
