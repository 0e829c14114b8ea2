"""Search, quote, book, change and cancel stays; the employee's pages, the JSON API
and the .ics of a stay; the guest register of a stay (who may read it) and its purge;
stays that wait for approval (the approver's pages) and the expiry of their holds."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from booking import (  # noqa: F401  (modules whose pages hang on views.bp or api.bp)
    api,
    approval_api,
    approval_views,
    change_views,
    copay_views,
    coupon_jobs,
    coupon_views,
    holds,
    photo_views,
    programme_api,
    programme_views,
    rating_views,
    register_api,
    register_purge,
    register_views,
    stay_views,
    views,
    workspace_api,
    workspace_change_views,
    workspace_checkin,
    workspace_models,
    workspace_views,
)
from core.extensions import csrf
from core.replica import read_only
from core.scheduler import JobSpec, register_jobs

# Waiting stays whose hold ran out give their nights back within a minute.
EXPIRE_HOLDS_EVERY = {"minutes": 1}


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(copay_views.bp)  # co-pay: pay, and the provider's return
    app.register_blueprint(approval_views.bp)
    csrf.exempt(api.bp)  # bearer tokens only, never cookies: nothing to forge
    # Search and availability may read a replica a few seconds behind: booking (POST,
    # on the primary, under locks) says "just taken" when a night went meanwhile. The
    # quote page is left on the primary: it states the price about to be charged.
    read_only(
        app,
        "booking.home",
        "booking.facility",
        "api.facilities",
        "api.availability",
        "api.workspace_day",
        "booking.workspace_search",
        "booking.workspace_day",
    )
    register_jobs(
        app,
        JobSpec(
            "register_purge",
            register_purge.purge_job,
            "cron",
            lambda config: {"hour": 3, "minute": 30},
            _l("Purge guest registers 3 years after check-out, and those of cancelled stays"),
        ),
        JobSpec(
            "expire_holds",
            holds.expire_holds,
            "interval",
            lambda config: EXPIRE_HOLDS_EVERY,
            _l(
                "Release the nights of stays still waiting for approval or payment once their"
                " time is up"
            ),
            has_work=holds.holds_due,
        ),
        JobSpec(
            "workspace_no_shows",
            workspace_checkin.release_no_shows,
            "interval",
            lambda config: {"minutes": 5},
            _l(
                "Release workspace nobody checked in within the unit's time, and return the"
                " price of the time given back"
            ),
        ),
        *coupon_jobs.JOBS,  # local coupons issued, withdrawn and expired (issue 20)
    )
