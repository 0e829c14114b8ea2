"""Users, companies, operator organisations, roles, sign-in, API tokens and the mail outbox."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from accounts import audit, cli, mail, sessions, views  # noqa: F401  (audit: its table)
from core.scheduler import JobSpec, register_jobs


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    cli.init_app(app)
    register_jobs(
        app,
        JobSpec(
            "mail_outbox",
            mail.deliver_outbox,
            "interval",
            lambda config: {"minutes": 5},
            _l("Send queued e-mail (invitations, join links)"),
            has_work=mail.outbox_pending,
        ),
        JobSpec(
            "prune_sign_ins",
            sessions.prune,
            "interval",
            lambda config: {"minutes": 30},
            _l("Remove ended and expired sign-in sessions and old failed sign-in counts"),
        ),
    )
