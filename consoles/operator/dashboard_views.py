"""The operator's landing page (``/operator``): today at each facility, the hotel
figures (occupancy, ADR, RevPAR, room revenue, pickup) against last year, the next 90
days' occupancy, and what needs attention (calendar conflicts, failing feeds); the
figures as CSV. The figures are computed in ``kpis``."""

from __future__ import annotations

from flask import current_app, render_template
from flask_login import current_user

from booking.forms import KIND_LABELS
from consoles.operator import operations
from consoles.operator.views import _today, bp
from core.db import edge_now
from facilities import services
from notifications.notices import calendar_alerts


@bp.get("/")
def dashboard():
    today = _today()
    facilities = services.operator_facilities(current_user)
    counts = operations.today_counts([f.id for f in facilities], today)
    interval = current_app.config["CALENDAR_SYNC_MINUTES"]
    alerts = calendar_alerts([f.id for f in facilities], edge_now(), interval)
    return render_template(
        "operator/dashboard.html",
        facilities=facilities,
        counts=counts,
        alerts=alerts,
        empty=operations.TodayCounts(),
        today=today,
        kind_labels=KIND_LABELS,
    )
