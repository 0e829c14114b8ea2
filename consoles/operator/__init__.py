"""/operator: the dashboard, facilities and rooms, the tape chart, stays and the front
desk, today, housekeeping, occupancy, closed dates, calendars, photos and pricing; and
the operator JSON API (``api.bp``, bearer tokens). Every page hangs on one blueprint
(``views.bp``), whose sign-in and role check cover them all."""

from __future__ import annotations

from flask import Flask

from consoles.operator import (  # noqa: F401  (pages on views.bp)
    api,
    audit_views,
    booking_views,
    calendars,
    coupon_views,
    dashboard_views,
    direct_stay_views,
    location_views,
    matching_views,
    photo_views,
    pricing,
    programme_views,
    region_api,
    region_views,
    register_fill_views,
    register_views,
    tape_views,
    tax_views,
    views,
    webhook_views,
    workspace_calendar_views,
    workspace_timeline_views,
    workspace_views,
)
from core.extensions import csrf


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens only, never cookies: nothing to forge
    app.register_blueprint(region_api.bp)  # /api/v1/regions: the region's report
    csrf.exempt(region_api.bp)  # bearer tokens only, never cookies: nothing to forge
