"""/admin: the platform admin's console (job runs, calendar health, plans, domains)."""

from __future__ import annotations

from flask import Flask

from consoles.admin import application_views, plans, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(plans.bp)
    app.register_blueprint(application_views.bp)
