"""The operator's accommodation tax report (宿泊税): ``/operator/taxes`` and its CSV,
per municipality and month, for the organisation's own facilities only
(``tax_report``). The months are ``?from=YYYY-MM&to=YYYY-MM``; the last 12 months
(this one included) without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from consoles.operator import tax_report
from consoles.operator.kpis import organisation_facilities
from consoles.operator.views import bp
from core.csv import csv_download, write_csv
from core.dates import MONTH_ARG
from core.db import edge_now, tokyo_today
from core.i18n import current_locale
from facilities.regions import PREFECTURES_BY_CODE

YEARS_AROUND = 10  # the months asked for lie within ten years of today


@dataclass(frozen=True)
class ChosenMonths:
    """The months [first, last] asked for, or the last 12 when nothing (or something
    unusable: then ``error`` says why) was asked for."""

    first: date
    last: date
    raw_from: str = ""
    raw_to: str = ""
    error: str | None = None


def _month(raw: str) -> date | None:
    found = MONTH_ARG.fullmatch(raw)
    if not found or not 1 <= int(found.group(2)) <= 12:
        return None
    return date(int(found.group(1)), int(found.group(2)), 1)


def _months_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def chosen_months(today: date) -> ChosenMonths:
    """The months of ``?from=&to=`` (``YYYY-MM``), checked: both, in order, at most
    ``tax_report.MAX_MONTHS``, within ten years of today."""
    this_month = today.replace(day=1)
    default = (_months_back(this_month, 11), this_month)
    raw_from = request.args.get("from", "").strip()[:20]
    raw_to = request.args.get("to", "").strip()[:20]
    if not raw_from and not raw_to:
        return ChosenMonths(*default)
    first, last = _month(raw_from), _month(raw_to)
    error = None
    if first is None or last is None:
        error = _("Enter the first and the last month as a year and month (2026-04).")
    elif last < first:
        error = _("The last month cannot be before the first month.")
    elif (last.year - first.year) * 12 + last.month - first.month + 1 > tax_report.MAX_MONTHS:
        error = _("A report can cover at most %(num)d months.", num=tax_report.MAX_MONTHS)
    elif max(abs(first.year - today.year), abs(last.year - today.year)) > YEARS_AROUND:
        error = _("Choose months within %(num)d years of today.", num=YEARS_AROUND)
    if error:
        return ChosenMonths(*default, raw_from, raw_to, error)
    return ChosenMonths(first, last, raw_from, raw_to)


def _prefecture(code: int, locale: str) -> str:
    pref = PREFECTURES_BY_CODE.get(code)
    if pref is None:
        return str(code)
    return pref.name_en if locale == "en" else pref.name_ja


@bp.get("/taxes", endpoint="tax_report")
def tax_report_page():
    chosen = chosen_months(tokyo_today(edge_now()))
    report = tax_report.tax_report(current_user.operator_id, chosen.first, chosen.last)
    locale = current_locale()
    names = {f.id: f.name_for(locale) for f in organisation_facilities(current_user)}
    html = render_template(
        "operator/taxes.html",
        chosen=chosen,
        report=report,
        facility_names=names,
        prefecture=lambda code: _prefecture(code, locale),
    )
    return html, 400 if chosen.error else 200


@bp.get("/taxes.csv", endpoint="tax_report_csv")
def tax_report_csv():
    """The report's table (``?from=&to=`` months), one row per municipality and month,
    then the total; a bad month answers 400 with the reason."""
    chosen = chosen_months(tokyo_today(edge_now()))
    if chosen.error:
        return Response(chosen.error, status=400, mimetype="text/plain")
    report = tax_report.tax_report(current_user.operator_id, chosen.first, chosen.last)
    locale = current_locale()
    header = [
        _("Prefecture"),
        _("Municipality"),
        _("Month"),
        _("Nights"),
        _("Taxable guests (guest-nights)"),
        _("Accommodation tax (yen)"),
    ]
    rows = [
        [
            _prefecture(r.prefecture, locale),
            r.municipality,
            r.month.strftime("%Y-%m"),
            r.figures.nights,
            r.figures.taxable_guests,
            r.figures.tax,
        ]
        for r in report.rows
    ]
    total = report.total
    rows.append([_("Total"), "", "", total.nights, total.taxable_guests, total.tax])
    filename = f"engawa-accommodation-tax-{chosen.first:%Y-%m}-{chosen.last:%Y-%m}.csv"
    return csv_download(write_csv(header, rows), filename)
