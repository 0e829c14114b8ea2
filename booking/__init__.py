"""Search, quote, book, change and cancel stays; the employee's pages, the JSON API
and the .ics of a stay."""

from __future__ import annotations

from flask import Flask

from booking import (  # noqa: F401  (change_, photo_, rating_, register_views: on views.bp)
    api,
    change_views,
    photo_views,
    rating_views,
    register_views,
    views,
)
from core.extensions import csrf


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer tokens only, never cookies: nothing to forge
