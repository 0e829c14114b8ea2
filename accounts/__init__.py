"""Users, companies, operator organisations, roles, sign-in, API tokens and the mail outbox."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts import (  # noqa: F401  (audit: its table)
    audit,
    cli,
    mail,
    recovery_views,
    sessions,
    two_factor,
    two_factor_views,
    views,
)
from accounts.mail import OutgoingMail
from core import metrics
from core.scheduler import JobSpec, register_jobs


def _two_factor_prompt() -> dict:
    """``two_factor_prompt``: the signed-in person's role requires two-factor sign-in and
    they have not set it up (a page may ask them to)."""

    def prompt() -> bool:
        user = current_user
        return bool(user and user.is_authenticated and two_factor.must_enrol_soon(user))

    return {"two_factor_prompt": prompt}


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(recovery_views.bp)
    app.register_blueprint(two_factor_views.bp)
    app.context_processor(_two_factor_prompt)
    cli.init_app(app)
    _register_gauges(app)
    register_jobs(
        app,
        JobSpec(
            "prune_sign_ins",
            sessions.prune,
            "interval",
            lambda config: {"minutes": 30},
            _l("Remove ended and expired sign-in sessions and old failed sign-in counts"),
        ),
    )


def _register_gauges(app: Flask) -> None:
    """The mail outbox at each scrape of /metrics. Both counts read only unsent rows
    (``sent_at`` is indexed; sent mail is most of the table)."""
    unsent = OutgoingMail.sent_at.is_(None)
    metrics.register_database_gauge(
        app,
        "engawa_mail_outbox_backlog",
        "Mail waiting in the outbox (neither sent, given up nor discarded)",
        metrics.row_count(
            OutgoingMail,
            unsent,
            OutgoingMail.failed_at.is_(None),
            OutgoingMail.discarded_at.is_(None),
        ),
    )
    metrics.register_database_gauge(
        app,
        "engawa_mail_failed",
        "Mail given up after the last attempt (shown on /admin/jobs)",
        metrics.row_count(OutgoingMail, unsent, OutgoingMail.failed_at.is_not(None)),
    )
