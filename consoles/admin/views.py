"""Pages for the platform admin: scheduled job runs, calendar sync health, and the
companies' join domains waiting for approval."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from accounts import audit, join_domains, mail, mail_failures, membership
from calendars import feeds
from consoles.admin.forms import DomainReviewForm
from core import leader
from core.db import edge_now
from core.extensions import db
from core.models import JobRun
from core.scheduler import registered_jobs

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 100
FAILED_MAIL_SHOWN = 50


@bp.before_request
@login_required
def _platform_admin_only():
    if not current_user.is_platform_admin:
        abort(403)


@bp.get("/jobs")
def jobs():
    """Which scheduler process leads, the latest runs, newest first, optionally of one
    job. Below them, the mail the outbox gave up on (addresses masked)."""
    job = request.args.get("job", "")
    known = registered_jobs(current_app)
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(PAGE_SIZE)
    if job in known:
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
        leader=leader.status(db.session.connection()),
        runs=db.session.scalars(query).all(),
        jobs=known,
        latest=latest,
        selected=job,
        failed_mail=mail_failures.failed_mail(FAILED_MAIL_SHOWN),
        mail_attempts=mail.MAX_ATTEMPTS,
    )


@bp.get("/calendars")
def calendars():
    """Every imported feed of the network with its state."""
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


@bp.get("/domains")
def domains():
    """Join domains: those waiting for approval, then those approved (to withdraw)."""
    waiting, approved = join_domains.domains_for_review()
    return render_template("admin/domains.html", waiting=waiting, approved=approved)


@bp.post("/domains/<int:company_id>/approve")
def approve_domain(company_id: int):
    return _review_domain(company_id, approve=True)


@bp.post("/domains/<int:company_id>/reject")
def reject_domain(company_id: int):
    return _review_domain(company_id, approve=False)


def _review_domain(company_id: int, *, approve: bool):
    form = DomainReviewForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        company = join_domains.review_email_domain(
            company_id, form.domain.data, approve, current_user._get_current_object(), edge_now()
        )
    except membership.MemberNotFound:
        db.session.rollback()
        abort(404)
    except membership.MemberError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("admin.domains"), 303)
    domain, name = company.email_domain, company.name
    audit.record(
        "domain.approve" if approve else "domain.reject", edge_now(),
        actor=current_user._get_current_object(), object_type="company",
        object_id=company.id, company_id=company.id, after={"email_domain": domain},
    )  # fmt: skip
    db.session.commit()
    if approve:
        flash(_("@%(domain)s approved for %(company)s.", domain=domain, company=name), "success")
    else:
        flash(_("@%(domain)s rejected for %(company)s.", domain=domain, company=name), "success")
    return redirect(url_for("admin.domains"), 303)
