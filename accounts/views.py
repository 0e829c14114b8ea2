"""Sign-in, sign-out, account page (password, sessions, API tokens), language switch.

Signing in opens a server-side session record (``accounts.sessions``) whose secret
rides in the Flask session cookie; ``load_user`` accepts a cookie only while its
record is live, so a cookie kept after sign-out, an idle or too old session, and a
remember-me cookie (never issued, and carrying no record) all open nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user, user_logged_in
from werkzeug.routing import BuildError

from accounts import services, sessions, two_factor
from accounts.forms import ApiTokenForm, LoginForm, PasswordChangeForm
from accounts.models import Role, User
from accounts.sso_lookup import sso_for_email
from core import ratelimit
from core.db import edge_now
from core.extensions import db, login_manager
from core.forms import EmptyForm

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = None


def _session_policy() -> sessions.SessionPolicy:
    return sessions.SessionPolicy.from_config(current_app.config)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of this browser's live session record, else None (signed out).

    ``user_id`` is ``get_id()``: the id and the ``session_version`` (a password change
    or deactivation moves it on). The record is found by the secret in the cookie. A
    person who may no longer sign in (``services.may_sign_in``) is signed out.
    """
    raw_id, _sep, version = user_id.partition(":")
    secret = session.get(sessions.SESSION_KEY)
    if not (raw_id.isascii() and raw_id.isdigit() and version.isascii() and version.isdigit()):
        return None
    if not isinstance(secret, str) or len(raw_id) > 18:
        return None
    record = sessions.resume(secret, int(raw_id), edge_now(), _session_policy())
    if record is None or record.user.session_version != int(version):
        return None
    # Loading the company must not flush the record's due ``last_seen_at``: the
    # caller commits only while the session is dirty (``_resume_session``).
    with db.session.no_autoflush:
        allowed = services.may_sign_in(record.user)
    if not allowed:
        return None  # deactivated or locked since, or of a deactivated company
    g.user_session = record
    return record.user


@bp.before_app_request
def _resume_session() -> None:
    """Load a signed-in user before any view runs, so a due ``last_seen_at`` (at most
    once a minute) is committed at the edge, never inside a view's own transaction."""
    if request.endpoint == "static" or sessions.SESSION_KEY not in session:
        return
    current_user._get_current_object()  # runs load_user once for the request
    if db.session.dirty:
        db.session.commit()


@user_logged_in.connect
def _open_session_record(app, user: User, **_extra) -> None:
    """Every ``login_user`` gets a session record, whichever view signs the person in
    (sign-in, joining by invitation). Re-signing the current session in after a
    password change keeps its record. Commits: the caller has done its work."""
    current = g.get("user_session")
    if current is not None and current.user_id == user.id and session.get(sessions.SESSION_KEY):
        return
    now = edge_now()
    device = sessions.device_summary(request.user_agent.string or "")
    record, secret = sessions.start(user, now, device, _session_policy())
    session[sessions.SESSION_KEY] = secret
    g.user_session = record
    db.session.commit()


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """Only same-site paths, never another host (open-redirect guard); else ``fallback``
    (the search page unless told)."""
    # Browsers read "\\" as "/", so "/\\evil.example" would leave the site.
    if target and target.startswith("/") and target.isprintable() and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and not target.startswith("//"):
            return target
    return fallback or url_for("booking.home")


# Each role's own home: where signing in lands when no page was asked for.
HOME_BY_ROLE = {
    Role.COMPANY_ADMIN: "company.billing",
    Role.OPERATOR: "operator.dashboard",
    Role.PLATFORM_ADMIN: "admin.overview",
    Role.SHOP: "shop.home",
}


def home_of(user: User) -> str:
    """The page a signed-in person starts from: employees search (their next stay on top),
    company admins their company's console, operators theirs, platform admins theirs."""
    if user.role == Role.OPERATOR and not user.runs_facilities:
        return url_for("booking.home")  # an operator account without an organisation
    return url_for(HOME_BY_ROLE.get(user.role, "booking.home"))


# Password changes per account: each one runs the password hash on the current password.
PASSWORD_CHANGE_LIMIT = ratelimit.Limit("password-change", 10, 900)


def _throttle_policy() -> services.ThrottlePolicy:
    config = current_app.config
    return services.ThrottlePolicy(
        max_failures=config["LOGIN_MAX_FAILURES"],
        first_delay_seconds=config["LOGIN_DELAY_SECONDS"],
        max_delay_seconds=config["LOGIN_LOCKOUT_SECONDS"],
    )


def _ip_limit() -> ratelimit.Limit:
    config = current_app.config
    return ratelimit.Limit(
        "login-ip",
        config["LOGIN_IP_MAX_ATTEMPTS"],
        config["LOGIN_IP_WINDOW_SECONDS"],
    )


def _refused(form: LoginForm, message: str, retry_after: int):
    flash(message, "error")
    response = make_response(render_template("accounts/login.html", form=form), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next"), home_of(current_user)))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        now = edge_now()
        # Single sign-on first: with no password, an address at a domain under a
        # company's SSO goes to its identity provider. That depends on the address's
        # domain only, never on whether the address has an account.
        route = sso_for_email(form.email.data)
        if route is not None and not form.password.data:
            return redirect(sso_start_url(route.company_id, form.email.data))
        if not form.password.data:
            form.password.errors = [_("Enter your password.")]
            return render_template("accounts/login.html", form=form), 400
        # Failures per client IP, checked before any hash runs: spraying one password
        # over many addresses from one client is slowed as much as guessing one.
        limit, address = _ip_limit(), ratelimit.client_ip()
        retry_after = ratelimit.peek(limit, address, now)
        if retry_after:
            message = _(
                "Too many failed sign-ins from your network. Try again in %(n)d minutes.",
                n=_minutes(retry_after),
            )
            return _refused(form, message, retry_after)
        try:
            user = services.authenticate(
                form.email.data,
                form.password.data,
                now,
                _throttle_policy(),
                current_app.config["PASSWORD_HASH_METHOD"],
                client=address,
            )
        except services.LoginThrottled as exc:
            db.session.rollback()
            message = _(
                "Too many failed sign-ins. Try again in %(n)d minutes.", n=_minutes(exc.retry_after)
            )
            return _refused(form, message, exc.retry_after)
        if user is None or not services.may_sign_in(user):
            ratelimit.hit(limit, address, now)
            db.session.commit()
            flash(_("E-mail or password is wrong."), "error")
            status = 401
        elif route is not None and route.mandatory and user.company_id == route.company_id:
            # The company made its SSO the only way in for its own people. Anyone else
            # with an address at that domain (an operator, a platform admin, another
            # company's person) signs in with their password as usual.
            db.session.commit()  # a right password forgets the failures, as always
            flash(
                _(
                    "Your company signs you in through its own sign-in page:"
                    " password sign-in is turned off for this address."
                ),
                "error",
            )
            sso_url = sso_start_url(route.company_id, form.email.data)
            return render_template("accounts/login.html", form=form, sso_url=sso_url), 403
        else:
            return after_first_factor(user, request.args.get("next"), now)
    elif request.method == "POST":
        status = 400
        if "csrf_token" in form.errors:
            flash(_("The page had expired. Please sign in again."), "error")
    return render_template("accounts/login.html", form=form), status


def sso_start_url(company_id: int, email: str) -> str:
    """Where a person of a company under single sign-on starts: its identity provider,
    through the SSO pages, with the page they asked for."""
    values = {"company": company_id, "login_hint": email.strip().lower()}
    next_url = request.args.get("next")
    if next_url:
        values["next"] = safe_next(next_url)
    try:
        return url_for("sso.start", **values)
    except BuildError:  # the SSO pages are not there yet
        return "/sso/start?" + urlencode(values)


# The sign-in waiting for its second step, in the (signed) session cookie: who, which
# password generation, where to go next, and since when.
PENDING_KEY = "two_factor_pending"
PENDING_LIFETIME = timedelta(minutes=10)
MAX_NEXT_LENGTH = 2000


def after_first_factor(user: User, next_url: str | None, now: datetime):
    """A first factor passed (a correct password, or a verified identity from the
    company's identity provider for a role that requires two-factor sign-in): sign in,
    or ask for the second step first (``accounts.two_factor``: a code, or enrolling an
    authenticator), by the same rules whichever way the person came."""
    step = two_factor.step_after_password(user, now)
    if step in (two_factor.Step.NONE, two_factor.Step.PROMPTED):
        # PROMPTED: their pages ask them to enrol (``two_factor_prompt`` in templates).
        return complete_sign_in(user, next_url)
    db.session.commit()
    fresh_session()
    session[PENDING_KEY] = {
        "user": user.id,
        "version": user.session_version,
        "next": (next_url or "")[:MAX_NEXT_LENGTH],
        "started": int(now.timestamp()),
    }
    if step == two_factor.Step.CODE:
        return redirect(url_for("two_factor.code"), 303)
    return redirect(url_for("two_factor.enrol"), 303)


def complete_sign_in(user: User, next_url: str | None):
    """Sign ``user`` in on this browser once every check has passed (the first factor
    and, when ``after_first_factor`` asks for it, the second) and send them on: to
    ``next_url`` when it is a page of this site, else to their role's home.

    Keeps the language chosen before signing in, starts a fresh session (a fixation
    guard), records the sign-in time, and opens the session record (which commits)."""
    if not services.may_sign_in(user):
        # No way in for a deactivated or locked account, whichever step led here.
        fresh_session()
        db.session.commit()
        flash(_("This account cannot sign in. Please contact your administrator."), "error")
        return redirect(url_for("accounts.login"))
    lang = session.get("lang")
    if lang and user.locale != lang:
        user.locale = lang  # chosen before signing in: the account remembers it
    fresh_session()
    user.last_login_at = edge_now()
    login_user(user)  # opens the session record and commits (_open_session_record)
    return redirect(safe_next(next_url, home_of(user)))


def fresh_session() -> None:
    """Forget everything in the session but the language the visitor chose.

    A session record this browser had (someone else signed in here before) ends; the
    caller commits, or signs a person in (which commits).
    """
    current = g.pop("user_session", None)
    if current is not None:
        sessions.end(current, edge_now())
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
    fresh_session()  # ends the record: the cookie, if kept, opens nothing any more
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET"])
@login_required
def account():
    return _account_page()


def _password_form(**kwargs) -> PasswordChangeForm:
    return PasswordChangeForm(email=current_user.email, **kwargs)


def _account_page(password_form=None, new_token: str | None = None) -> str:
    now = edge_now()
    policy = _session_policy()
    return render_template(
        "accounts/account.html",
        password_form=password_form or _password_form(formdata=None),
        token_form=ApiTokenForm(formdata=None),
        revoke_form=EmptyForm(),
        tokens=services.tokens_of(current_user),
        new_token=new_token,
        now=now,
        sessions=sessions.live_sessions_of(current_user, now, policy),
        current_session_id=g.user_session.id,
        session_idle_minutes=policy.idle // timedelta(minutes=1),
        session_max_hours=policy.lifetime // timedelta(hours=1),
    )


@bp.post("/account/password")
@login_required
def change_password():
    form = _password_form()
    if form.validate_on_submit():
        # Each attempt hashes the current password: a stolen session may not guess it
        # at will, nor anyone keep the workers busy.
        ratelimit.enforce([(PASSWORD_CHANGE_LIMIT, str(current_user.id))], edge_now())
        try:
            services.change_password(
                current_user,
                form.current_password.data,
                form.new_password.data,
                current_app.config["PASSWORD_HASH_METHOD"],
            )
        except services.WeakPassword as exc:
            db.session.rollback()
            flash(str(exc.reason), "error")
        except services.AccountError as exc:
            db.session.rollback()
            messages = {
                "wrong_password": _("The current password is wrong."),
                "unchanged": _("The new password must differ from the current one."),
            }
            flash(messages[exc.code], "error")
        else:
            sessions.end_sessions(current_user.id, edge_now(), except_id=g.user_session.id)
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


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    """End one of the person's other sessions; a foreign or unknown one answers 404."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not sessions.end_other(current_user, session_id, g.user_session.id, edge_now()):
        abort(404)
    db.session.commit()
    flash(_("The session has been ended."), "success")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    if not EmptyForm().validate_on_submit():
        abort(400)
    sessions.end_sessions(current_user.id, edge_now(), except_id=g.user_session.id)
    db.session.commit()
    flash(_("All your other sessions have been ended."), "success")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/tokens")
@login_required
def create_token():
    form = ApiTokenForm()
    if not form.validate_on_submit():
        if form.name.errors:
            flash(_("Give the token a name (up to 100 characters)."), "error")
        else:
            flash(_("Choose when the token expires."), "error")
        return redirect(url_for("accounts.account"))
    _token, secret = services.create_api_token(
        current_user, form.name.data, edge_now(), form.valid_days()
    )
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
    return redirect(safe_next(request.args.get("next")))
