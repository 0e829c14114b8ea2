"""The bottom layer: configuration, extensions, database helpers, time and dates,
errors, i18n, shared forms, CSV, paging and the scheduler runner.

Nothing here imports a package above it; ``init_app`` wires the extensions and
the request-wide behaviour every page shares.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core import (
    cli,
    errors,
    health,
    i18n,
    limits,
    logs,
    metrics,
    ratelimit,
    replica,
    scheduler,
    sentry,
    web,
)
from core import extensions as ext
from core.config import INSTANCE_DIR, ConfigError, engine_options
from core.scheduler import JobSpec, register_jobs
from core.urls import public_url


def init_app(app: Flask) -> None:
    if app.config["ENGAWA_ENV"] == "production" and app.debug:
        raise ConfigError("Debug mode must be off in production (FLASK_DEBUG, DEBUG)")
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    ext.db.init_app(app)
    replica.init_app(app)  # the read replica's engine when DATABASE_READ_URL is set
    with app.app_context():
        metrics.watch_pool(ext.db.engine)  # no connection: the pool's gauges follow its use
    ext.migrate.init_app(
        app, ext.db, directory=str(INSTANCE_DIR.parent / "migrations"), render_as_batch=True
    )
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.init_app(app)
    ext.login_manager.init_app(app)
    # Absolute links shown for copying elsewhere (calendar export addresses) follow
    # BASE_URL like those in mails, never the request's host.
    app.jinja_env.globals["public_url"] = public_url
    errors.init_app(app)
    web.init_app(app)
    limits.init_app(app)  # request limits per API token and employee (Flask-Limiter)
    logs.init_app(app)  # after web: the request id is set before the host check runs
    sentry.init_app(app)
    health.init_app(app)
    cli.init_app(app)
    register_jobs(
        app,
        JobSpec(
            "prune_rate_limits",
            ratelimit.prune,
            "interval",
            lambda config: {"minutes": 30},
            _l("Remove ended rate-limit windows"),
        ),
        JobSpec(
            "prune_job_runs",
            scheduler.prune_job_runs,
            "cron",
            lambda config: {"hour": 4, "minute": 30},
            _l("Remove old job run records"),
        ),
    )
