"""Pages for the platform admin: scheduled job runs and calendar sync health."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from core.db import edge_now
from core.extensions import db
from core.models import JobRun
from core.scheduler import JOBS

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 100


@bp.before_request
@login_required
def _platform_admin_only():
    if not current_user.is_platform_admin:
        abort(403)


@bp.get("/jobs")
def jobs():
    """The latest runs, newest first; optionally of one job."""
    job = request.args.get("job", "")
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(PAGE_SIZE)
    if job in JOBS:
        query = query.where(JobRun.job == job)
    else:
        job = ""
    newest = (
        select(JobRun.job, func.max(JobRun.started_at).label("started_at"))
        .group_by(JobRun.job)
        .subquery()
    )
    latest = {
        run.job: run
        for run in db.session.scalars(
            select(JobRun).join(
                newest,
                (JobRun.job == newest.c.job) & (JobRun.started_at == newest.c.started_at),
            )
        )
    }
    return render_template(
        "admin/jobs.html",
        runs=db.session.scalars(query).all(),
        jobs=JOBS,
        latest=latest,
        selected=job,
    )


@bp.get("/calendars")
def calendars():
    """Every imported feed of the network with its state."""
    from facilities import feeds

    interval = current_app.config["CALENDAR_SYNC_MINUTES"]
    rows = feeds.feed_health(None, edge_now(), interval)
    counts = {
        state: sum(1 for r in rows if r.state == state)
        for state in ("ok", "stale", "failing", "never", "paused")
    }
    return render_template(
        "admin/calendars.html",
        rows=rows,
        counts=counts,
        interval=interval,
        masked_url=feeds.masked_url,
    )
