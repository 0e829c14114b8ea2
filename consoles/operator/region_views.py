"""The region report's pages (``/operator/region``): what the network brought the
municipality an operator organisation is, for a period; a printable one-page summary to
share, in Japanese or English; the monthly figures as CSV.

Only for an organisation whose ``municipality_code`` the platform team has set (a
municipality, 自治体); any other operator gets a page saying so. The code is the
organisation's own, never read from the address, so no other region can be asked for.
The figures and their rules: ``region_report``.

The period is asked for as its first and last day (``?from=&to=``, both included,
``YYYY-MM-DD``); without both, this fiscal year, April to March (年度). A bad period
answers 400 with the reason on the page.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date as babel_format_date
from flask import current_app, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from consoles.operator import region_report as regional
from consoles.operator.views import bp
from core.csv import csv_download, write_csv
from core.dates import parse_iso_date
from core.db import edge_now, tokyo_today
from core.i18n import current_locale, format_day, format_month

CSV_COLUMNS = (
    "month",
    "visitors",
    "guest_nights",
    "off_season_guest_nights",
    "programme_participants",
)


# --- the period asked for -----------------------------------------------------------------


@dataclass(frozen=True)
class ChosenPeriod:
    """The report's days, first to last (both included), with what was typed and why it
    could not be used."""

    period: regional.Period
    raw_from: str = ""
    raw_to: str = ""
    error: str | None = None

    @property
    def args(self) -> dict[str, str]:
        return {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}


def chosen_period(today: date) -> ChosenPeriod:
    """``?from=&to=`` (first and last day), checked; without both, this fiscal year."""
    default = regional.fiscal_year_period(today)
    raw_from = request.args.get("from", "").strip()[:20]
    raw_to = request.args.get("to", "").strip()[:20]
    if not raw_from and not raw_to:
        return ChosenPeriod(default)
    first, last = parse_iso_date(raw_from), parse_iso_date(raw_to)
    error = None
    if first is None or last is None:
        error = _("Enter the first and the last day as dates.")
    elif last >= date.max or abs(first.year - today.year) > regional.YEARS_AROUND:
        error = _(
            "A period can be at most %(years)d years long, within %(around)d years of today.",
            years=regional.MAX_PERIOD_YEARS,
            around=regional.YEARS_AROUND,
        )
    else:
        problem = regional.period_problem(first, last + timedelta(days=1), today)
        if problem == "dates_order":
            error = _("The last day cannot be before the first day.")
        elif problem is not None:
            error = _(
                "A period can be at most %(years)d years long, within %(around)d years of today.",
                years=regional.MAX_PERIOD_YEARS,
                around=regional.YEARS_AROUND,
            )
    if error:
        return ChosenPeriod(default, raw_from, raw_to, error)
    return ChosenPeriod(regional.Period(first, last + timedelta(days=1)), raw_from, raw_to)


# --- what the pages show ------------------------------------------------------------------


def _municipality_code() -> str | None:
    org = current_user.operator
    return org.municipality_code if org is not None else None


def _not_a_region(status: int):
    return render_template("operator/region/not_a_region.html", active="region"), status


def _period_words(period: regional.Period) -> str:
    return _(
        "%(first)s – %(last)s",
        first=format_day(period.first, "date"),
        last=format_day(period.last, "date"),
    )


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: int
    tooltip: str


def nice_ceiling(peak: int) -> int:
    """The smallest of 1, 2, 5 × 10ⁿ (n ≥ 0) at or above ``peak``: a chart axis's top."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if step * top >= peak:
                return step * top
        top *= 10


def label_room(bars: list[Bar]) -> int:
    """The width a bar chart's labels need (12 px text: about 7 px a Latin letter, 12 a
    wide Japanese character), between 60 and 260."""
    widest = max(
        (sum(12 if unicodedata.east_asian_width(c) in "WF" else 7 for c in b.label) for b in bars),
        default=0,
    )
    return min(260, max(60, widest + 14))


def _month_bars(report: regional.RegionReport, locale: str) -> list[Bar]:
    return [
        Bar(
            key=row.key,
            label=babel_format_date(row.first, "MMM", locale=locale),
            value=row.nights,
            tooltip=_(
                "%(month)s: %(nights)d guest-nights, %(visitors)d visitors",
                month=format_month(row.first),
                nights=row.nights,
                visitors=row.visitors,
            ),
        )
        for row in report.by_month
    ]


def _month_desc(report: regional.RegionReport) -> str:
    busiest = max(report.by_month, key=lambda r: r.nights, default=None)
    period = _period_words(report.period)
    if busiest is None or not busiest.nights:
        return _("%(period)s: no guest-nights.", period=period)
    return _(
        "%(period)s: %(nights)d guest-nights, the most in %(month)s (%(month_nights)d).",
        period=period,
        nights=report.nights,
        month=format_month(busiest.first),
        month_nights=busiest.nights,
    )


def _season_bars(report: regional.RegionReport) -> list[Bar]:
    return [
        Bar(row.season, row.label, row.nights, f"{row.label}: {row.nights:,}")
        for row in report.by_season
    ]


def _category_bars(report: regional.RegionReport) -> list[Bar]:
    return [
        Bar(row.category, row.label, row.yen, f"{row.label}: ¥{row.yen:,} ({row.count})")
        for row in report.coupons.by_category
    ]


def _context(code: str, chosen: ChosenPeriod) -> dict:
    locale = current_locale()
    report = regional.region_report(code, chosen.period)
    return {
        "report": report,
        "chosen": chosen,
        "loc": locale,
        "region_name": report.name_for(locale),
        "period_words": _period_words(chosen.period),
        "month_bars": _month_bars(report, locale),
        "month_desc": _month_desc(report),
        "month_top": nice_ceiling(max((row.nights for row in report.by_month), default=0)),
        "season_bars": _season_bars(report),
        "category_bars": _category_bars(report),
        "label_room": label_room,
        "printed_on": tokyo_today(edge_now()),
        "active": "region",
        "min_companies": regional.MIN_COMPANIES,
    }


def _chosen() -> ChosenPeriod:
    return chosen_period(tokyo_today(edge_now()))


@bp.get("/region")
def region_report():
    code = _municipality_code()
    if code is None:
        return _not_a_region(200)
    chosen = _chosen()
    html = render_template("operator/region/report.html", **_context(code, chosen))
    return html, 400 if chosen.error else 200


@bp.get("/region/summary")
def region_summary():
    """The one-page summary to print or share, in the reader's language or the one
    ``?lang=`` asks for (``ja``, ``en``)."""
    code = _municipality_code()
    if code is None:
        return _not_a_region(404)
    chosen = _chosen()
    if chosen.error:
        return region_report()
    lang = request.args.get("lang", "")
    if lang not in current_app.config["LANGUAGES"]:
        return render_template("operator/region/summary.html", **_context(code, chosen))
    with force_locale(lang):
        return render_template("operator/region/summary.html", **_context(code, chosen))


@bp.get("/region.csv")
def region_csv():
    """The monthly figures, one row a month (codes in the header, numbers only)."""
    code = _municipality_code()
    if code is None:
        return _not_a_region(404)
    chosen = _chosen()
    if chosen.error:
        return region_report()
    report = regional.region_report(code, chosen.period)
    rows = [
        [row.key, row.visitors, row.nights, row.off_season_nights, row.programme_participants]
        for row in report.by_month
    ]
    period = chosen.period
    return csv_download(
        write_csv(CSV_COLUMNS, rows),
        f"engawa-region-{code}-{period.first.isoformat()}-{period.last.isoformat()}.csv",
    )
