"""The tape chart (``/operator/facilities/<id>/calendar``): rooms down, days across,
each stay, closing, imported event and direct stay a bar. Dragging a bar asks to move
the stay (``booking_views``' confirm step); dragging over free nights asks to close
them or record a direct stay. Without JavaScript it is a read-only grid of links.
The read model is ``tape_chart``."""

from __future__ import annotations

from flask import render_template

from consoles.operator import operations
from consoles.operator.forms import REASON_LABELS
from consoles.operator.views import _month_arg, _month_links, _today, bp, facility_or_404


@bp.get("/facilities/<int:facility_id>/calendar")
def calendar(facility_id: int):
    facility = facility_or_404(facility_id)
    today = _today()
    first = _month_arg(today)
    return render_template(
        "operator/calendar.html",
        facility=facility,
        grid=operations.facility_month_grid(facility, first.year, first.month),
        reason_labels=REASON_LABELS,
        today=today,
        **_month_links(first),
    )
