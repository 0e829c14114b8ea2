"""The application factory. It configures; it never migrates, seeds or calls the network."""

from __future__ import annotations

from flask import Flask

from core import extensions as ext
from core import i18n
from core.config import INSTANCE_DIR, engine_options, load_config


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.update(load_config())
    if test_config:
        app.config.update(test_config)
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
    ext.csrf.exempt(api_bp)  # bearer tokens only, never cookies: nothing to forge
    errors.init_app(app)
    app.after_request(_security_headers)
    cli.init_app(app)
    return app


def _security_headers(response):
    """Headers every page carries: no framing, no MIME sniffing, no referrer leaks."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
