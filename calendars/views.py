"""The public iCal feeds of units and facilities.

``/calendars/<token>.ics`` needs no sign-in: the unguessable token is the key,
and rotating it revokes every copy of the old address. The operator's calendar
pages are in ``consoles.operator.calendars``.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from calendars import export as calendar_export
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
    response = Response(rendered.body, mimetype="text/calendar")
    response.charset = "utf-8"
    response.set_etag(rendered.etag)
    response.last_modified = export.last_modified
    # Calendar apps revalidate; shared caches must not keep a secret feed.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response.make_conditional(request)
