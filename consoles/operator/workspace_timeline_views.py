"""The operator's workspace day (``/operator/facilities/<id>/workspace/day``): every
desk, booth and meeting room of a facility across one day, who booked which time, what
is closed or booked elsewhere and what is free; under it, how much of the open time
was booked over the last 4, 8 or 12 weeks by hour and by weekday, and the yen kept.

``?date=YYYY-MM-DD`` (today by default) and ``?weeks=4|8|12`` (4 by default); a date
that cannot be read, one too far from today, or another number of weeks answers 400
with the page and its message. The figures are ``workspace_timeline``'s.

The page hangs on the console's blueprint (``views.bp``): signed-in operators only,
others get 403; another organisation's facility answers 404.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from booking.workspace_models import WorkspaceStatus
from consoles.operator import workspace_timeline as wt
from consoles.operator.views import _today, bp, facility_or_404
from consoles.operator.workspace_views import facility_units
from core.dates import parse_iso_date

REACH = timedelta(days=366 * 5)  # dates further from today are refused

# A booking's status in the operator's words (the guest's own pages say it their way).
STATUS_LABELS = {
    WorkspaceStatus.WAITING: _l("Waiting with its stay"),
    WorkspaceStatus.CONFIRMED: _l("Confirmed"),
    WorkspaceStatus.CHECKED_IN: _l("Checked in"),
    WorkspaceStatus.NO_SHOW: _l("No-show"),
}
SEGMENT_LABELS = {
    "free": _l("Free"),
    "closed": _l("Outside opening hours"),
    "manual": _l("Closed"),
    "import": _l("Booked elsewhere"),
}
WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)


def _weeks(raw: str | None) -> int | None:
    if raw in (None, ""):
        return wt.DEFAULT_WEEKS
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) in wt.WEEK_CHOICES else None


def _day(raw: str | None, today: date) -> tuple[date | None, str | None]:
    """The day asked for (today when none is), or None and the reason."""
    if raw in (None, ""):
        return today, None
    day = parse_iso_date(raw.strip())
    if day is None:
        return None, _("Choose a date as YYYY-MM-DD, for example %(example)s.", example=today)
    if abs(day - today) > REACH:
        return None, _("Choose a date within five years of today.")
    return day, None


@bp.get("/facilities/<int:facility_id>/workspace/day")
def workspace_timeline(facility_id: int):
    facility = facility_or_404(facility_id)
    today = _today()
    day, error = _day(request.args.get("date"), today)
    weeks = _weeks(request.args.get("weeks"))
    if weeks is None and error is None:
        error = _("Choose a period of 4, 8 or 12 weeks.")
    page = {
        "facility": facility,
        "today": today,
        "week_choices": wt.WEEK_CHOICES,
        "status_labels": STATUS_LABELS,
        "segment_labels": SEGMENT_LABELS,
        "weekdays": WEEKDAYS,
        "clock": wt.clock,
        "hours_text": wt.hours_text,
    }
    if error is not None:
        return render_template(
            "operator/workspace_timeline.html",
            **page,
            error=error,
            raw_date=request.args.get("date", ""),
            weeks=weeks or wt.DEFAULT_WEEKS,
            figures=None,
        ), 400
    figures = wt.workspace_day(facility, facility_units(facility), day, weeks)

    def day_url(other: date) -> str | None:
        if abs(other - today) > REACH:
            return None  # the page would refuse it
        return url_for(
            "operator.workspace_timeline",
            facility_id=facility.id,
            date=other.isoformat(),
            weeks=weeks,
        )

    return render_template(
        "operator/workspace_timeline.html",
        **page,
        error=None,
        raw_date=day.isoformat(),
        weeks=weeks,
        day=day,
        figures=figures,
        earlier_url=day_url(day - timedelta(days=1)),
        later_url=day_url(day + timedelta(days=1)),
        today_url=day_url(today),
    )
