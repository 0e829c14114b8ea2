"""/admin: the Engawa team's console (platform admins): the network overview,
companies, operator organisations and their facilities, people, the audit log, job
runs, calendar health, plans, join domains, sign-up applications, the accommodation
tax table and the facilities without a licence."""

from __future__ import annotations

from flask import Flask

from consoles.admin import (  # noqa: F401  (pages on views.bp)
    application_views,
    audit_views,
    company_views,
    operator_views,
    overview_views,
    plans,
    tax_views,
    user_views,
    views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(plans.bp)
    app.register_blueprint(application_views.bp)
