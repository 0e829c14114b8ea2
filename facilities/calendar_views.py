"""Calendar pages: the public iCal feeds, and the operator's sync settings and health.

``/calendars/<token>.ics`` needs no sign-in: the unguessable token is the key,
and rotating it revokes every copy of the old address.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from accounts.forms import EmptyForm
from accounts.models import Role
from core.db import edge_now, get_by_id, tokyo_today
from core.extensions import db
from facilities import calendar_export, feeds
from facilities.models import CalendarConflict, CalendarFeed, Facility, Unit

bp = Blueprint("calendars", __name__)


class FeedForm(FlaskForm):
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    url = StringField(_l("iCal address (URL)"), validators=[DataRequired(), Length(max=2000)])


class ExportSettingsForm(FlaskForm):
    include_imported = BooleanField(_l("Also list nights blocked by imported calendars"))


# --- the feed itself -----------------------------------------------------------------


@bp.get("/calendars/<token>.ics")
def feed(token: str):
    export = calendar_export.export_by_token(token)
    if export is None:
        abort(404)
    now = edge_now()
    body = calendar_export.render(
        export, tokyo_today(now), current_app.config["CALENDAR_UID_DOMAIN"]
    )
    etag = calendar_export.refresh_validators(export, body, now)
    db.session.commit()
    response = Response(body, mimetype="text/calendar")
    response.charset = "utf-8"
    response.set_etag(etag)
    response.last_modified = export.last_modified
    # Calendar apps revalidate; shared caches must not keep a secret feed.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response.make_conditional(request)


# --- operator pages ------------------------------------------------------------------


def _require_operator():
    if current_user.role != Role.OPERATOR or current_user.operator_id is None:
        abort(403)


def _own_facility(facility_id: int) -> Facility:
    facility = get_by_id(Facility, facility_id)
    if facility is None or facility.operator_id != current_user.operator_id:
        abort(404)
    return facility


def _own_unit(unit_id: int) -> Unit:
    unit = get_by_id(Unit, unit_id)
    if unit is None or unit.facility.operator_id != current_user.operator_id:
        abort(404)
    return unit


def _own_facility_ids() -> list[int]:
    return list(
        db.session.scalars(
            select(Facility.id).where(Facility.operator_id == current_user.operator_id)
        )
    )


@bp.get("/operator/calendars")
@login_required
def health():
    _require_operator()
    now = edge_now()
    interval = current_app.config["CALENDAR_SYNC_MINUTES"]
    facility_ids = _own_facility_ids()
    return render_template(
        "calendars/health.html",
        rows=feeds.feed_health(facility_ids, now, interval),
        conflicts=feeds.open_conflicts(facility_ids),
        interval=interval,
        masked_url=feeds.masked_url,
        action_form=EmptyForm(),
    )


@bp.get("/operator/facilities/<int:facility_id>/calendars")
@login_required
def facility(facility_id: int):
    _require_operator()
    facility = _own_facility(facility_id)
    now = edge_now()
    facility_export = calendar_export.export_for_facility(facility, now)
    unit_exports = calendar_export.exports_for_units(list(facility.units), now)
    unit_feeds: dict[int, list[CalendarFeed]] = {u.id: [] for u in facility.units}
    for row in feeds.feed_health([facility.id], now, current_app.config["CALENDAR_SYNC_MINUTES"]):
        unit_feeds[row.unit.id].append(row)
    db.session.commit()  # exports are made on first view
    return render_template(
        "calendars/facility.html",
        facility=facility,
        facility_export=facility_export,
        unit_exports=unit_exports,
        unit_feeds=unit_feeds,
        feed_form=FeedForm(),
        settings_form=ExportSettingsForm,
        action_form=EmptyForm(),
        masked_url=feeds.masked_url,
    )


@bp.post("/operator/units/<int:unit_id>/feeds")
@login_required
def add_feed(unit_id: int):
    _require_operator()
    unit = _own_unit(unit_id)
    form = FeedForm()
    if not form.validate():
        flash(_("Give the feed a name and its iCal address."), "error")
    else:
        try:
            feed = feeds.add_feed(unit, form.url.data, form.label.data, edge_now())
        except feeds.FeedError as exc:
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "%(label)s added to %(unit)s. It is imported at the next sync"
                    " (every %(n)d minutes).",
                    label=feed.label,
                    unit=unit.name,
                    n=current_app.config["CALENDAR_SYNC_MINUTES"],
                ),
                "success",
            )
    return redirect(url_for(".facility", facility_id=unit.facility_id) + f"#unit-{unit.id}")


@bp.post("/operator/feeds/<int:feed_id>/delete")
@login_required
def delete_feed(feed_id: int):
    _require_operator()
    feed = get_by_id(CalendarFeed, feed_id)
    if feed is None:
        abort(404)
    unit = _own_unit(feed.unit_id)
    if not EmptyForm().validate():
        abort(400)
    label = feed.label
    feeds.remove_feed(feed, tokyo_today(edge_now()))
    db.session.commit()
    flash(_("%(label)s removed; its blocked nights are open again.", label=label), "success")
    return redirect(url_for(".facility", facility_id=unit.facility_id) + f"#unit-{unit.id}")


def _own_export(export_id: int):
    from facilities.models import CalendarExport

    export = get_by_id(CalendarExport, export_id)
    if export is None:
        abort(404)
    facility = export.facility if export.facility_id else export.unit.facility
    if facility.operator_id != current_user.operator_id:
        abort(404)
    return export, facility


@bp.post("/operator/exports/<int:export_id>/rotate")
@login_required
def rotate_export(export_id: int):
    _require_operator()
    export, facility = _own_export(export_id)
    if not EmptyForm().validate():
        abort(400)
    calendar_export.rotate(export, edge_now())
    db.session.commit()
    flash(
        _(
            "New address made. Update it wherever the old one was used;"
            " the old one no longer works."
        ),
        "success",
    )
    return redirect(url_for(".facility", facility_id=facility.id))


@bp.post("/operator/exports/<int:export_id>/settings")
@login_required
def export_settings(export_id: int):
    _require_operator()
    export, facility = _own_export(export_id)
    form = ExportSettingsForm()
    if not form.validate():
        abort(400)
    export.include_imported = form.include_imported.data
    db.session.commit()
    flash(_("Export settings saved."), "success")
    return redirect(url_for(".facility", facility_id=facility.id))


@bp.post("/operator/conflicts/<int:conflict_id>/resolve")
@login_required
def resolve_conflict(conflict_id: int):
    _require_operator()
    conflict = get_by_id(CalendarConflict, conflict_id)
    if conflict is None:
        abort(404)
    _own_unit(conflict.unit_id)
    if not EmptyForm().validate():
        abort(400)
    feeds.resolve_conflict(conflict, current_user, edge_now())
    db.session.commit()
    flash(_("Conflict marked as resolved."), "success")
    return redirect(url_for(".health"))
