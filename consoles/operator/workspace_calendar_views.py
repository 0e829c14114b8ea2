"""The operator's calendar page of a workspace unit: its export address (with a new
address on demand), the external calendars it imports (add, remove, their last sync,
"sync now") and the imported events that could not take their time (conflicts).

The pages hang on the console's blueprint, so its sign-in and role check cover them;
another organisation's unit or feed answers 404.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from calendars import feeds, workspace_export, workspace_feeds
from calendars.workspace_sync import sync_workspace_calendars
from consoles.operator.views import bp, require_post_form
from core.db import edge_now
from core.extensions import db
from core.forms import EmptyForm
from facilities.workspace import WorkspaceUnit


class WorkspaceFeedForm(FlaskForm):
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    url = StringField(_l("iCal address (URL)"), validators=[DataRequired(), Length(max=2000)])


def _unit_or_404(unit_id: int) -> WorkspaceUnit:
    unit = workspace_feeds.operator_unit(current_user, unit_id)
    if unit is None:
        abort(404)
    return unit


def _back_to(unit_id: int):
    return redirect(url_for(".workspace_calendars", unit_id=unit_id))


@bp.get("/workspace-units/<int:unit_id>/calendars")
def workspace_calendars(unit_id: int):
    unit = _unit_or_404(unit_id)
    now = edge_now()
    export = workspace_export.export_for_unit(unit, now)
    interval = current_app.config["CALENDAR_SYNC_MINUTES"]
    statuses = workspace_feeds.feed_statuses(unit, now, interval)
    conflicts = workspace_feeds.conflicts(unit, now)
    db.session.commit()  # the export is made on first view
    return render_template(
        "operator/workspace_calendars.html",
        unit=unit,
        facility=unit.facility,
        export=export,
        statuses=statuses,
        conflicts=conflicts,
        interval=interval,
        per_unit=workspace_feeds.MAX_FEEDS_PER_UNIT,
        feed_form=WorkspaceFeedForm(),
        action_form=EmptyForm(),
        masked_url=feeds.masked_url,
    )


@bp.post("/workspace-units/<int:unit_id>/calendars/rotate")
def workspace_export_rotate(unit_id: int):
    unit = _unit_or_404(unit_id)
    require_post_form()
    now = edge_now()
    workspace_export.rotate(workspace_export.export_for_unit(unit, now), now)
    db.session.commit()
    flash(
        _(
            "New address made. Update it wherever the old one was used;"
            " the old one no longer works."
        ),
        "success",
    )
    return _back_to(unit.id)


@bp.post("/workspace-units/<int:unit_id>/feeds")
def workspace_feed_add(unit_id: int):
    unit = _unit_or_404(unit_id)
    form = WorkspaceFeedForm()
    if not form.validate():
        flash(_("Give the feed a name and its iCal address."), "error")
        return _back_to(unit.id)
    try:
        feed = workspace_feeds.add_feed(
            unit,
            form.url.data,
            form.label.data,
            edge_now(),
            operator_cap=feeds.operator_cap(current_app.config),
        )
    except feeds.FeedError as exc:
        flash(str(exc.message), "error")
        return _back_to(unit.id)
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
    return _back_to(unit.id)


@bp.post("/workspace-feeds/<int:feed_id>/delete")
def workspace_feed_delete(feed_id: int):
    feed = workspace_feeds.operator_feed(current_user, feed_id)
    if feed is None:
        abort(404)
    require_post_form()
    label, unit_id = feed.label, feed.unit_id
    workspace_feeds.remove_feed(feed, edge_now())
    db.session.commit()
    flash(_("%(label)s removed; the time it blocked is open again.", label=label), "success")
    return _back_to(unit_id)


@bp.post("/workspace-units/<int:unit_id>/calendars/sync")
def workspace_calendars_sync(unit_id: int):
    """Fetch the unit's feeds now (backing off or not), at most once a minute."""
    unit = _unit_or_404(unit_id)
    require_post_form()
    now = edge_now()
    if workspace_feeds.synced_moments_ago(unit, now):
        flash(_("These calendars were synced a moment ago. Try again in a minute."), "error")
        return _back_to(unit.id)
    outcomes = []
    sync_workspace_calendars(now, unit_id=unit.id, progress=outcomes.append)  # commits each feed
    if any(o.status == "failed" for o in outcomes):
        flash(_("Some calendars could not be read: see their errors below."), "error")
    else:
        flash(_("Calendars synced."), "success")
    return _back_to(unit.id)
