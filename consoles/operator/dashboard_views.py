"""The operator's landing page (``/operator``): what needs attention (calendar conflicts,
failing feeds) first; today at each facility and in the whole organisation (arrivals,
departures, in house, rooms to clean); the hotel figures (occupancy, ADR, RevPAR, room
revenue, pickup) for this month, next month and a chosen period, each against the same
dates last year; the next 90 nights' occupancy as a chart with its table; the figures
as CSV (``/operator/figures.csv``).

The figures are computed in ``kpis``, for all the organisation's facilities at once: the
page makes the same number of queries for one facility as for 500. The facility cards
are shown a page at a time; the organisation's lines always cover every facility.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from booking.forms import KIND_LABELS
from consoles.operator import kpis, operations
from consoles.operator.views import bp
from core.csv import csv_download, write_csv
from core.dates import adjacent_months, month_bounds, parse_iso_date
from core.db import edge_now, tokyo_today
from core.i18n import current_locale, format_day, format_month
from core.paging import Page
from facilities.models import Facility
from notifications.notices import calendar_alerts

CHART_NIGHTS = 90
FACILITIES_PER_PAGE = 20
YEARS_AROUND = 10  # a chosen period lies within ten years of today


@dataclass(frozen=True)
class ChosenPeriod:
    """The nights [first, last] (both included) asked for with ``?from=&to=``, or last
    month when nothing (or something unusable) was asked for."""

    first: date
    last: date
    raw_from: str = ""
    raw_to: str = ""
    error: str | None = None

    @property
    def end(self) -> date:
        return self.last + timedelta(days=1)


def chosen_period(today: date) -> ChosenPeriod:
    """The period of ``?from=&to=`` (first and last night, ``YYYY-MM-DD``), checked: both
    dates, in order, at most ``kpis.MAX_PERIOD_DAYS`` nights, within ten years."""
    last_month, _this = adjacent_months(today.replace(day=1))
    default = (last_month, today.replace(day=1) - timedelta(days=1))
    raw_from = request.args.get("from", "").strip()[:20]
    raw_to = request.args.get("to", "").strip()[:20]
    if not raw_from and not raw_to:
        return ChosenPeriod(*default)
    first, last = parse_iso_date(raw_from), parse_iso_date(raw_to)
    error = None
    if first is None or last is None:
        error = _("Enter the first and the last night as dates.")
    elif last < first:
        error = _("The last night cannot be before the first night.")
    elif (last - first).days + 1 > kpis.MAX_PERIOD_DAYS:
        error = _("A period can be at most %(num)d nights.", num=kpis.MAX_PERIOD_DAYS)
    elif max(abs(first.year - today.year), abs(last.year - today.year)) > YEARS_AROUND:
        error = _("Choose nights within %(num)d years of today.", num=YEARS_AROUND)
    if error:
        return ChosenPeriod(*default, raw_from, raw_to, error)
    return ChosenPeriod(first, last, raw_from, raw_to)


def _chart_facility(facilities: list[Facility]) -> Facility | None:
    """The facility the chart is drawn for (``?facility=``), or None for all of them;
    anything but one of the operator's own facilities answers 404."""
    raw = request.args.get("facility", "")
    if not raw:
        return None
    chosen = next((f for f in facilities if str(f.id) == raw), None)
    if chosen is None:
        abort(404)
    return chosen


def _periods(
    today: date, now: datetime, chosen: ChosenPeriod
) -> list[tuple[str, str, kpis.Window]]:
    """(key, heading, window) of this month, next month and the chosen period."""
    this_month, next_month = month_bounds(today)
    _next, after = month_bounds(next_month)
    chosen_heading = _(
        "%(first)s – %(last)s",
        first=format_day(chosen.first, "date"),
        last=format_day(chosen.last, "date"),
    )
    return [
        (
            "this",
            _("This month (%(month)s)", month=format_month(this_month)),
            kpis.Window(this_month, next_month, now),
        ),
        (
            "next",
            _("Next month (%(month)s)", month=format_month(next_month)),
            kpis.Window(next_month, after, now),
        ),
        ("chosen", chosen_heading, kpis.Window(chosen.first, chosen.end, now)),
    ]


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 1


@bp.get("/")
def dashboard():
    now = edge_now()
    today = tokyo_today(now)
    facilities = kpis.organisation_facilities(current_user)
    ids = [f.id for f in facilities]
    chosen = chosen_period(today)
    chart_for = _chart_facility(facilities)
    rooms = kpis.rooms_on_sale(ids)
    periods = _periods(today, now, chosen)
    reports = kpis.compare_with_last_year(ids, [w for _key, _heading, w in periods], rooms)
    chart = kpis.nightly_occupancy(
        [chart_for.id] if chart_for else ids, today, today + timedelta(days=CHART_NIGHTS), rooms
    )
    counts = operations.today_counts(ids, today)
    to_clean = kpis.rooms_to_clean(ids, now)
    alerts = calendar_alerts(ids, now, current_app.config["CALENDAR_SYNC_MINUTES"])
    number = Page.number(_page_number(), len(facilities), FACILITIES_PER_PAGE)
    start = (number - 1) * FACILITIES_PER_PAGE
    page = Page(
        facilities[start : start + FACILITIES_PER_PAGE],
        len(facilities),
        number,
        FACILITIES_PER_PAGE,
    )
    organisation_today = operations.TodayCounts(
        sum(c.arrivals for c in counts.values()),
        sum(c.departures for c in counts.values()),
        sum(c.in_house for c in counts.values()),
    )
    columns = list(zip(periods, reports, strict=True))
    html = render_template(
        "operator/dashboard.html",
        facilities=facilities,
        page=page,
        counts=counts,
        to_clean=to_clean,
        organisation_today=organisation_today,
        organisation_to_clean=sum(to_clean.values()),
        rooms=rooms,
        alerts=alerts,
        empty=operations.TodayCounts(),
        today=today,
        kind_labels=KIND_LABELS,
        org_columns=[(key, heading, r.organisation) for (key, heading, _w), r in columns],
        facility_columns={
            f.id: [(key, heading, r.facilities[f.id]) for (key, heading, _w), r in columns]
            for f in page.items
        },
        chosen=chosen,
        chart=chart,
        chart_for=chart_for,
        chart_nights=CHART_NIGHTS,
    )
    return html, 400 if chosen.error else 200


@bp.get("/figures.csv")
def dashboard_csv():
    """The chosen period's figures (``?from=&to=``, first and last night; last month
    without them), per facility and for the organisation."""
    now = edge_now()
    today = tokyo_today(now)
    chosen = chosen_period(today)
    if chosen.error:
        return Response(chosen.error, status=400, mimetype="text/plain")
    facilities = kpis.organisation_facilities(current_user)
    ids = [f.id for f in facilities]
    figures = kpis.period_figures(ids, chosen.first, chosen.end, now)
    whole = kpis.total(list(figures.values()), chosen.first, chosen.end)
    locale = current_locale()
    header = [
        _("Facility"),
        _("First night"),
        _("Last night"),
        _("Nights available"),
        _("Nights sold"),
        _("Occupancy (%)"),
        _("Room revenue (yen, tax included)"),
        _("ADR (yen)"),
        _("RevPAR (yen)"),
        _("Pickup (nights booked in the last 7 days)"),
    ]

    def row(name: str, f: kpis.Figures) -> list:
        return [
            name,
            chosen.first.isoformat(),
            chosen.last.isoformat(),
            f.nights_available,
            f.nights_sold,
            f"{f.occupancy_percent:.1f}",
            f.room_revenue,
            f.adr,
            f.revpar,
            f.pickup,
        ]

    rows = [row(f.name_for(locale), figures[f.id]) for f in facilities]
    rows.append(row(_("All facilities"), whole))
    filename = f"engawa-figures-{chosen.first.isoformat()}-{chosen.last.isoformat()}.csv"
    return csv_download(write_csv(header, rows), filename)
