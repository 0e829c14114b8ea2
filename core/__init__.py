"""The application factory. It configures; it never migrates, seeds or calls the network."""

from __future__ import annotations

import os
import secrets

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from core import extensions as ext
from core import i18n
from core.config import INSTANCE_DIR, ConfigError, engine_options, load_config
from core.urls import public_url


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    env = os.environ
    if test_config and not env.get("SECRET_KEY"):
        # A test app brings its own key (or gets a throwaway one): tests never
        # write the development key into the project's instance/ folder.
        env = {**env, "SECRET_KEY": test_config.get("SECRET_KEY") or secrets.token_hex(32)}
    app.config.update(load_config(env))
    if test_config:
        app.config.update(test_config)
    if app.config["ENGAWA_ENV"] == "production" and app.debug:
        raise ConfigError("Debug mode must be off in production (FLASK_DEBUG, DEBUG)")
    _trust_proxies(app)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )

    # (core.db is a module too, hence ext.db: a bare `db` here would be shadowed.)
    ext.db.init_app(app)
    ext.migrate.init_app(
        app, ext.db, directory=str(INSTANCE_DIR.parent / "migrations"), render_as_batch=True
    )
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    ext.login_manager.init_app(app)

    from accounts import mail as _mail  # noqa: F401
    from accounts.member_views import bp as members_bp
    from accounts.views import bp as accounts_bp
    from billing import models as _billing_models  # noqa: F401
    from billing.local_views import bp as local_billing_bp
    from billing.platform_views import bp as plans_bp
    from billing.views import bp as company_bp
    from billing.webhook_view import bp as webhook_bp
    from booking.api import bp as api_bp
    from booking.views import bp as booking_bp
    from core import cli, errors
    from core import models as _platform_models  # noqa: F401  (job runs)
    from core import ratelimit as _ratelimit  # noqa: F401  (rate-limit windows)
    from core.admin import bp as admin_bp
    from facilities.calendar_views import bp as calendars_bp
    from facilities.console import bp as operator_bp
    from facilities.pricing import models as _pricing_models  # noqa: F401
    from facilities.pricing import views as _pricing_views  # noqa: F401  (operator pages)

    app.register_blueprint(accounts_bp)
    app.register_blueprint(members_bp)
    app.register_blueprint(booking_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(operator_bp)
    app.register_blueprint(calendars_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(company_bp)
    app.register_blueprint(webhook_bp)
    ext.csrf.exempt(webhook_bp)  # signed by the provider instead
    app.register_blueprint(local_billing_bp)
    app.register_blueprint(plans_bp)
    from facilities.pricing.rules import reason_label

    app.jinja_env.globals["reason_label"] = reason_label
    # Absolute links shown for copying elsewhere (calendar export addresses) follow
    # BASE_URL like those in mails, never the request's host.
    app.jinja_env.globals["public_url"] = public_url
    ext.csrf.exempt(api_bp)  # bearer tokens only, never cookies: nothing to forge
    errors.init_app(app)
    _refuse_unknown_hosts(app)
    app.after_request(_security_headers)
    cli.init_app(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-* only as far as the configured proxies set them.

    With every count 0 (the default) the headers are ignored: the client's address
    and scheme are the connection's. X-Forwarded-Host, when trusted, becomes the
    request's host and then meets TRUSTED_HOSTS like any Host header.
    """
    counts = {
        part: app.config[f"PROXY_FIX_X_{part.upper()}"] for part in ("for", "proto", "host", "port")
    }
    if any(counts.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **{f"x_{k}": v for k, v in counts.items()})


def _refuse_unknown_hosts(app: Flask) -> None:
    """A request for a host not in TRUSTED_HOSTS ends here with a plain 400 page.

    Flask finds the untrusted host while routing and raises it only when the view
    would run; this runs first among the hooks, so no rate limit, CSRF check or
    session work sees the request. The page builds no URL: there is no trusted
    host to build one for.
    """

    def check_host():
        if isinstance(request.routing_exception, SecurityError):
            raise request.routing_exception

    app.before_request_funcs.setdefault(None, []).insert(0, check_host)

    @app.errorhandler(SecurityError)
    def unknown_host(exc: SecurityError):
        if request.path.startswith("/api/"):
            message = "This host is not served here."
            return jsonify(error={"code": "bad_request", "message": message}), 400
        return render_template("bad_host.html", base_url=app.config["BASE_URL"]), 400


# Sources for every page: only Engawa's own scripts, styles and images; no plugins,
# no framing, forms post only here. Checkout and the billing portal are reached by a
# redirect after a form post, which form-action also governs: with Stripe, its hosts.
CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'{stripe}; object-src 'none'"
)
STRIPE_PAGES = " https://checkout.stripe.com https://billing.stripe.com"
HSTS = "max-age=31536000; includeSubDomains"


def _security_headers(response):
    """Headers every answer carries: a content policy, no framing, no MIME sniffing,
    no referrer leaks, HTTPS only where cookies are; and no caching by default.

    ``no-store`` goes on every answer whose view did not choose its own caching.
    Nearly every page is personal (a stay, an invoice, a roster) or carries a CSRF
    token, so storing none is the simple rule that cannot miss one; the answers that
    may be cached say so themselves and hold nothing personal: static files,
    facility photos (``private``) and the iCal feeds (``private, no-cache`` with an
    ETag, so a calendar client still gets its 304s).
    """
    config = current_app.config
    stripe = STRIPE_PAGES if config["BILLING_BACKEND"] == "stripe" else ""
    response.headers.setdefault("Content-Security-Policy", CSP.format(stripe=stripe))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if config["SESSION_COOKIE_SECURE"] or config["ENGAWA_ENV"] == "production":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response
