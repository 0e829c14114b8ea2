"""/operator: facilities and rooms, today, housekeeping, occupancy, closed dates,
calendars, photos and pricing. Every page hangs on one blueprint (``views.bp``), whose
sign-in and role check cover them all."""

from __future__ import annotations

from flask import Flask

from consoles.operator import (  # noqa: F401  (pages on views.bp)
    audit_views,
    calendars,
    location_views,
    photo_views,
    pricing,
    views,
    webhook_views,
)


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
