"""The operator's calendar pages: external feeds to import, export addresses, conflicts.

They hang on the console's blueprint, so its sign-in and role check cover them.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from calendars import export as calendar_export
from calendars import feeds, lookups
from consoles.operator.views import bp as operator_bp
from consoles.operator.views import facility_or_404, require_post_form, unit_or_404
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from facilities import services

LODGING_LABEL = _l(
    "This feed's events are stays booked on another channel (they count towards a private"
    " lodging house's 180 nights a year)"
)


class FeedForm(FlaskForm):
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    url = StringField(_l("iCal address (URL)"), validators=[DataRequired(), Length(max=2000)])
    counts_as_lodging = BooleanField(LODGING_LABEL)


class FeedLodgingForm(FlaskForm):
    """Whether an imported feed's events are stays (``CalendarFeed.counts_as_lodging``)."""

    counts_as_lodging = BooleanField(LODGING_LABEL)


class ExportSettingsForm(FlaskForm):
    include_imported = BooleanField(_l("Also list nights blocked by imported calendars"))


@operator_bp.get("/calendars")
def calendar_sync():
    now = edge_now()
    interval = current_app.config["CALENDAR_SYNC_MINUTES"]
    facility_ids = [f.id for f in services.operator_facilities(current_user)]
    return render_template(
        "calendars/health.html",
        rows=feeds.feed_health(facility_ids, now, interval),
        feed_count=feeds.operator_feed_count(current_user.operator_id),
        operator_cap=feeds.operator_cap(current_app.config),
        per_room=feeds.MAX_FEEDS_PER_UNIT,
        conflicts=feeds.open_conflicts(facility_ids),
        interval=interval,
        masked_url=feeds.masked_url,
        action_form=EmptyForm(),
    )


@operator_bp.get("/facilities/<int:facility_id>/calendars")
def facility_calendars(facility_id: int):
    facility = facility_or_404(facility_id)
    now = edge_now()
    facility_export = calendar_export.export_for_facility(facility, now)
    unit_exports = calendar_export.exports_for_units(list(facility.units), now)
    unit_feeds: dict[int, list[feeds.FeedHealth]] = {u.id: [] for u in facility.units}
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
        lodging_form=FeedLodgingForm,
        action_form=EmptyForm(),
        masked_url=feeds.masked_url,
    )


def _back_to(facility_id: int, unit_id: int | None = None):
    anchor = f"#unit-{unit_id}" if unit_id else ""
    return redirect(url_for(".facility_calendars", facility_id=facility_id) + anchor)


def _or_404(found):
    if found is None:
        abort(404)
    return found


@operator_bp.post("/units/<int:unit_id>/feeds")
def add_feed(unit_id: int):
    unit = unit_or_404(unit_id)
    form = FeedForm()
    if not form.validate():
        flash(_("Give the feed a name and its iCal address."), "error")
        return _back_to(unit.facility_id, unit.id)
    try:
        feed = feeds.add_feed(
            unit,
            form.url.data,
            form.label.data,
            edge_now(),
            operator_cap=feeds.operator_cap(current_app.config),
            counts_as_lodging=form.counts_as_lodging.data,
        )
    except feeds.FeedError as exc:
        flash(str(exc.message), "error")
        return _back_to(unit.facility_id, unit.id)
    db.session.commit()
    flash(
        _(
            "%(label)s added to %(unit)s. It is imported at the next sync (every %(n)d minutes).",
            label=feed.label,
            unit=unit.name,
            n=current_app.config["CALENDAR_SYNC_MINUTES"],
        ),
        "success",
    )
    return _back_to(unit.facility_id, unit.id)


@operator_bp.post("/feeds/<int:feed_id>/delete")
def delete_feed(feed_id: int):
    feed = _or_404(lookups.operator_feed(current_user, feed_id))
    require_post_form()
    label, facility_id, unit_id = feed.label, feed.unit.facility_id, feed.unit_id
    feeds.remove_feed(feed, tokyo_today(edge_now()))
    db.session.commit()
    flash(_("%(label)s removed; its blocked nights are open again.", label=label), "success")
    return _back_to(facility_id, unit_id)


@operator_bp.post("/feeds/<int:feed_id>/lodging")
def feed_lodging(feed_id: int):
    """Mark a feed's events as stays booked elsewhere (or not); its blocks follow at once."""
    feed = _or_404(lookups.operator_feed(current_user, feed_id))
    form = FeedLodgingForm()
    if not form.validate():
        abort(400)
    counts = bool(form.counts_as_lodging.data)
    feeds.set_counts_as_lodging(feed, counts)
    db.session.commit()
    if counts:
        message = _(
            "The events of %(label)s are now counted as stays towards the 180 nights a year.",
            label=feed.label,
        )
    else:
        message = _("The events of %(label)s are no longer counted as stays.", label=feed.label)
    flash(message, "success")
    return _back_to(feed.unit.facility_id, feed.unit_id)


def _export_facility_id(export) -> int:
    return export.facility_id or export.unit.facility_id


@operator_bp.post("/exports/<int:export_id>/rotate")
def rotate_export(export_id: int):
    export = _or_404(lookups.operator_export(current_user, export_id))
    require_post_form()
    calendar_export.rotate(export, edge_now())
    db.session.commit()
    flash(
        _(
            "New address made. Update it wherever the old one was used;"
            " the old one no longer works."
        ),
        "success",
    )
    return _back_to(_export_facility_id(export))


@operator_bp.post("/exports/<int:export_id>/settings")
def export_settings(export_id: int):
    export = _or_404(lookups.operator_export(current_user, export_id))
    form = ExportSettingsForm()
    if not form.validate():
        abort(400)
    export.include_imported = form.include_imported.data
    db.session.commit()
    flash(_("Export settings saved."), "success")
    return _back_to(_export_facility_id(export))


@operator_bp.post("/conflicts/<int:conflict_id>/resolve")
def resolve_conflict(conflict_id: int):
    conflict = _or_404(lookups.operator_conflict(current_user, conflict_id))
    require_post_form()
    feeds.resolve_conflict(conflict, current_user, edge_now())
    db.session.commit()
    flash(_("Conflict marked as resolved."), "success")
    return redirect(url_for(".calendar_sync"))
