"""iCal both ways: external feeds fetched, parsed and synced into blocks; each unit's
and facility's own feed exported at a secret address."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from calendars import cli, jobs, views, workspace_models, workspace_sync  # noqa: F401
from calendars.models import CalendarFeed
from core import metrics
from core.scheduler import JobSpec, register_jobs


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    cli.init_app(app)
    metrics.register_database_gauge(
        app,
        "engawa_calendar_feeds_failing",
        "Active external calendar feeds whose last sync failed",
        metrics.row_count(CalendarFeed, CalendarFeed.active, CalendarFeed.failures > 0),
    )
    register_jobs(
        app,
        JobSpec(
            "calendar_sync",
            jobs.sync_calendars,
            "interval",
            lambda config: {"minutes": config["CALENDAR_SYNC_MINUTES"]},
            _l("Import external iCal feeds"),
            run_at_start=True,
        ),
        JobSpec(
            "workspace_calendar_sync",
            workspace_sync.sync_workspace_calendars,
            "interval",
            lambda config: {"minutes": config["CALENDAR_SYNC_MINUTES"]},
            _l("Import external iCal feeds of workspace units"),
            run_at_start=True,
        ),
    )
