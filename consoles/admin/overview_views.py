"""The Engawa team's overview of the network: companies, seats, monthly revenue,
facilities listed (and those offering stays without a licence), bookings this month,
and what is failing (external calendars, scheduled jobs). On the ``admin`` blueprint
(platform admins only)."""

from __future__ import annotations

from flask import current_app, render_template

from consoles.admin import network
from consoles.admin.views import bp
from core.db import edge_now
from core.scheduler import registered_jobs
from facilities.services import unlicensed_count


@bp.get("/")
def overview():
    figures = network.overview(
        edge_now(),
        sync_minutes=current_app.config["CALENDAR_SYNC_MINUTES"],
        job_names=registered_jobs(current_app),
    )
    return render_template("admin/overview.html", o=figures, unlicensed=unlicensed_count())
