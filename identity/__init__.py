"""Who joins and who leaves: a company's members (invitations, domain joins,
deactivation), sign-up applications of companies and operators and their review,
organisations made by the platform admin or a script, single sign-on (OpenID
Connect) and directory provisioning (SCIM 2.0)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.scheduler import JobSpec, register_jobs
from identity import (  # noqa: F401  (models: the tables)
    applications,
    cli,
    models,
    scim_cli,
    scim_views,
    signup_views,
    sso_views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(signup_views.bp)
    app.register_blueprint(sso_views.bp)
    app.register_blueprint(scim_views.bp)
    cli.init_app(app)
    scim_cli.init_app(app)
    register_jobs(
        app,
        JobSpec(
            "expire_applications",
            applications.expire_applications,
            "interval",
            lambda config: {"hours": 1},
            _l("Expire sign-up applications left unconfirmed or undecided"),
        ),
    )
