"""Search, quote, book, change and cancel stays; the employee's pages, the JSON API
and the .ics of a stay; the guest register of a stay (who may read it) and its purge."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from booking import (  # noqa: F401  (change_, photo_, rating_, register_views: on views.bp)
    api,
    change_views,
    photo_views,
    rating_views,
    register_purge,
    register_views,
    views,
)
from core.extensions import csrf
from core.replica import read_only
from core.scheduler import JobSpec, register_jobs


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens only, never cookies: nothing to forge
    # Search and availability may read a replica a few seconds behind: booking (POST,
    # on the primary, under locks) says "just taken" when a night went meanwhile. The
    # quote page is left on the primary: it states the price about to be charged.
    read_only(app, "booking.home", "booking.facility", "api.facilities", "api.availability")
    register_jobs(
        app,
        JobSpec(
            "register_purge",
            register_purge.purge_job,
            "cron",
            lambda config: {"hour": 3, "minute": 30},
            _l("Purge guest registers 3 years after check-out, and those of cancelled stays"),
        ),
    )
