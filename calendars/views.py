"""The public iCal feeds of units, facilities and workspace units.

``/calendars/<token>.ics`` and ``/calendars/workspace/<token>.ics`` need no sign-in:
the unguessable token is the key, and rotating it revokes every copy of the old
address. The operator's calendar pages are in ``consoles.operator.calendars`` and
``consoles.operator.workspace_calendar_views``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, current_app, request

from calendars import export as calendar_export
from calendars import workspace_export
from core.db import edge_now
from core.extensions import db

bp = Blueprint("calendars", __name__)


@bp.get("/calendars/<token>.ics")
def feed(token: str):
    export = calendar_export.export_by_token(token)
    if export is None:
        abort(404)
    now = edge_now()
    rendered = calendar_export.render(
        export,
        now,
        calendar_export.uid_key(current_app.config["SECRET_KEY"]),
        current_app.config["CALENDAR_UID_DOMAIN"],
    )
    calendar_export.refresh_validators(export, rendered.etag, now)
    db.session.commit()
    return _calendar(rendered.body, rendered.etag, export.last_modified)


@bp.get("/calendars/workspace/<token>.ics")
def workspace_feed(token: str):
    export = workspace_export.export_by_token(token)
    if export is None:
        abort(404)
    now = edge_now()
    rendered = workspace_export.render(
        export,
        now,
        workspace_export.uid_key(current_app.config["SECRET_KEY"]),
        current_app.config["CALENDAR_UID_DOMAIN"],
    )
    workspace_export.refresh_validators(export, rendered.etag, now)
    db.session.commit()
    return _calendar(rendered.body, rendered.etag, export.last_modified)


def _calendar(body: bytes, etag: str, last_modified: datetime | None) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.charset = "utf-8"
    response.set_etag(etag)
    response.last_modified = last_modified
    # Calendar apps revalidate; shared caches must not keep a secret feed.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response.make_conditional(request)
