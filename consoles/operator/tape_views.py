"""The tape chart (``/operator/facilities/<id>/calendar``): rooms down, days across,
each stay, closing, imported event and direct stay a bar. Dragging a bar asks to move
the stay (``booking_views``' confirm step); dragging over free nights opens the
selection page, which closes them or records a direct stay. Without JavaScript it is
a read-only grid of links: a bar opens its page, a free night its selection page.
The read model is ``tape_chart``; the script ``static/js/tape_chart.js``.

Views: two weeks (``?view=2w&start=YYYY-MM-DD``, from today by default) and a month
(``?view=month&month=YYYY-MM``; a ``month`` alone means the month view).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice as C
from wtforms.validators import Length, Optional

from availability.blocks import MANUAL_REASONS, MAX_BLOCK_NIGHTS, BlockError, close_dates
from availability.closing import MAX_CLOSE_AHEAD_DAYS
from availability.models import BlockReason
from consoles.operator import tape_chart
from consoles.operator.forms import REASON_LABELS
from consoles.operator.views import (
    MONTHS_AROUND,
    _month_links,
    _today,
    bp,
    facility_or_404,
)
from core.dates import month_bounds, parse_iso_date, parse_month
from core.db import edge_now
from core.extensions import db
from core.i18n import format_day, status_label
from facilities.models import Facility, Unit

TWO_WEEKS = 14
STEP_DAYS = 7  # the two-week view moves a week at a time
START_REACH = timedelta(days=31 * MONTHS_AROUND)  # as far as the month navigation goes


@dataclass(frozen=True)
class ChartRange:
    view: str  # "2w" | "month"
    start: date
    end: date  # exclusive

    @property
    def at(self) -> str:
        """The query value that shows this range again (``start`` or ``month``)."""
        return self.start.strftime("%Y-%m") if self.view == "month" else self.start.isoformat()


def chart_range(args: MultiDict, today: date) -> ChartRange:
    """The days the chart shows. A missing or bad value falls back to today (two weeks)
    or this month; dates beyond the month navigation's reach do too."""
    view = args.get("view")
    if view not in ("2w", "month"):
        view = "month" if "month" in args else "2w"
    if view == "month":
        first = parse_month(args.get("month"), today, MONTHS_AROUND)
        return ChartRange("month", *month_bounds(first))
    start = parse_iso_date(args.get("start")) or today
    if abs(start - today) > START_REACH:
        start = today
    return ChartRange("2w", start, start + timedelta(days=TWO_WEEKS))


def chart_url(facility_id: int, view: str | None, at: str | None) -> str:
    """The chart again, on the view and dates given (``at``: a start date or a month)."""
    if view == "month":
        return url_for("operator.calendar", facility_id=facility_id, view="month", month=at)
    if view == "2w" and parse_iso_date(at):
        return url_for("operator.calendar", facility_id=facility_id, view="2w", start=at)
    return url_for("operator.calendar", facility_id=facility_id)


def endpoint_url(endpoint: str, **values) -> str | None:
    """The URL of ``endpoint``, or None while no page of that name is registered."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def _views_nav(facility_id: int, rng: ChartRange, today: date) -> dict:
    """Links of the view switch and, in the two-week view, the week before and after."""
    in_range = rng.start <= today < rng.end
    two_weeks_from = today if in_range or rng.view == "2w" else rng.start
    links = {
        "two_weeks_url": url_for(
            "operator.calendar",
            facility_id=facility_id,
            view="2w",
            start=two_weeks_from.isoformat(),
        ),
        "month_url": url_for(
            "operator.calendar",
            facility_id=facility_id,
            view="month",
            month=rng.start.strftime("%Y-%m"),
        ),
    }
    if rng.view == "2w":
        for name, start in (
            ("earlier", rng.start - timedelta(days=STEP_DAYS)),
            ("later", rng.start + timedelta(days=STEP_DAYS)),
            ("from_today", today),
        ):
            links[f"{name}_url"] = url_for(
                "operator.calendar", facility_id=facility_id, view="2w", start=start.isoformat()
            )
    return links


@bp.get("/facilities/<int:facility_id>/calendar")
def calendar(facility_id: int):
    facility = facility_or_404(facility_id)
    today = _today()
    rng = chart_range(request.args, today)
    chart = tape_chart.load(facility, rng.start, rng.end, today)
    month_links = _month_links(rng.start) if rng.view == "month" else {}
    # Words a month of bars repeats, each worked out once per page.
    short_day = Memo(lambda day: format_day(day, "short"))
    return render_template(
        "operator/calendar.html",
        facility=facility,
        chart=chart,
        view=rng.view,
        today=today,
        free_labels={d.day: _("Free night %(day)s", day=short_day[d.day]) for d in chart.days},
        short_day=short_day,
        guests_label=Memo(lambda n: ngettext("%(num)d guest", "%(num)d guests", n)),
        state_label=Memo(lambda status: status_label("operator_booking", status)),
        selection_url=url_for(
            "operator.calendar_selection", facility_id=facility.id, view=rng.view, at=rng.at
        ),
        reason_labels={str(k): str(v) for k, v in REASON_LABELS.items()},
        booking_url=_url_maker("operator.booking", "booking_id"),
        move_url=_url_maker("operator.booking_move", "booking_id"),
        direct_url=_url_maker("operator.direct_stay", "direct_id"),
        close_url=url_for("operator.close_dates", facility_id=facility.id),
        feeds_url=endpoint_url("operator.facility_calendars", facility_id=facility.id),
        **_views_nav(facility.id, rng, today),
        **month_links,
    )


class Memo(dict):
    """A dict that works a missing key's value out once, with ``make``."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        value = self[key] = self.make(key)
        return value


_SENTINEL_ID = 2_147_483_647  # in no other part of a console URL


def _url_maker(endpoint: str, key: str):
    """For the template: id → the page's URL, or None while the page does not exist.
    The URL is built once and the id put in for each bar (url_for per bar is slow)."""
    if endpoint not in current_app.view_functions:
        return lambda _id: None
    template = url_for(endpoint, **{key: _SENTINEL_ID})
    marker = str(_SENTINEL_ID)
    return lambda value: template.replace(marker, str(int(value)))


# --- the selection page -------------------------------------------------------------------


class CloseSelectionForm(FlaskForm):
    """Close the selected nights: a reason and an optional note (the nights are the page's)."""

    reason = SelectField(
        _l("Reason"),
        choices=[C(r.value, REASON_LABELS[r]) for r in MANUAL_REASONS],
        default=BlockReason.MAINTENANCE.value,
    )
    note = StringField(_l("Note (staff only)"), validators=[Optional(), Length(max=300)])


@dataclass(frozen=True)
class Selection:
    unit: Unit
    start: date
    end: date  # exclusive: the morning after the last night

    @property
    def nights(self) -> int:
        return (self.end - self.start).days

    @property
    def last_night(self) -> date:
        return self.end - timedelta(days=1)


def selection_or_abort(facility: Facility, args: MultiDict, today: date) -> Selection:
    """The room and nights asked for: the room must be the facility's (else 404), the
    nights in order, at most a year of them, within the closing horizon, and not all
    in the past (else 400). ``end`` is exclusive; ``last`` (the last night) may be
    given instead, as the page's own form does."""
    unit_id = args.get("unit_id", type=int)
    unit = next((u for u in facility.units if u.id == unit_id), None)
    if unit is None:
        abort(404)
    start = parse_iso_date(args.get("start"))
    end = parse_iso_date(args.get("end"))
    last = parse_iso_date(args.get("last"))
    if end is None and last is not None:
        end = last + timedelta(days=1)
    if start is None or end is None or end <= start:
        abort(400)
    if (end - start).days > MAX_BLOCK_NIGHTS or end <= today:
        abort(400)
    if (end - today).days > MAX_CLOSE_AHEAD_DAYS + 1:
        abort(400)
    return Selection(unit, start, end)


def _selection_page(facility, selection, form, back, error=None, status=200):
    view, at = request.args.get("view"), request.args.get("at")
    today = _today()
    return render_template(
        "operator/selection.html",
        facility=facility,
        selection=selection,
        form=form,
        error=error,
        back=back,
        today=today,
        in_past=selection.start < today,
        action=url_for(
            "operator.calendar_selection",
            facility_id=facility.id,
            unit_id=selection.unit.id,
            start=selection.start.isoformat(),
            end=selection.end.isoformat(),
            view=view,
            at=at,
        ),
        direct_new_url=endpoint_url(
            "operator.direct_stay_new",
            facility_id=facility.id,
            unit_id=selection.unit.id,
            start=selection.start.isoformat(),
            end=selection.end.isoformat(),
        ),
        view=view,
        at=at,
    ), status


@bp.route("/facilities/<int:facility_id>/calendar/selection", methods=["GET", "POST"])
def calendar_selection(facility_id: int):
    facility = facility_or_404(facility_id)
    selection = selection_or_abort(facility, request.args, _today())
    back = chart_url(facility.id, request.args.get("view"), request.args.get("at"))
    form = CloseSelectionForm()
    if not form.validate_on_submit():
        return _selection_page(
            facility, selection, form, back, status=400 if form.is_submitted() else 200
        )
    if not selection.unit.active:
        return _selection_page(
            facility, selection, form, back, _("This room is off sale."), status=409
        )
    try:
        close_dates(
            current_user,
            [selection.unit],
            selection.start,
            selection.end,
            form.reason.data,
            form.note.data or "",
            edge_now(),
        )
    except BlockError as exc:
        db.session.rollback()
        status = 409 if exc.code in ("booked", "direct") else 422
        return _selection_page(facility, selection, form, back, exc.message, status)
    db.session.commit()
    flash(
        ngettext(
            "Closed %(num)d night of %(room)s, %(first)s to %(last)s.",
            "Closed %(num)d nights of %(room)s, %(first)s to %(last)s.",
            selection.nights,
            room=selection.unit.name,
            first=format_day(selection.start, "short"),
            last=format_day(selection.last_night, "short"),
        ),
        "success",
    )
    return redirect(back, 303)
