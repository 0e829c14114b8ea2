"""The outcome report's pages (``/company/report``): the report for a period, its CSV
file and a printable one-page summary a manager can forward.

A company admin reads the whole company's report; an employee who manages somebody
(``User.manager_id``) reads the same report of the stays of the people who report to
them, at the same addresses; anyone else is refused (403), as the company console
refuses non-admins. No company or person id is read from the address: the scope is
the reader's own (``report.scope_of``). The figures and their rules: ``report``.

The period is asked for as its first and last night (``?from=&to=``, both included,
``YYYY-MM-DD``); without both, the company's current fiscal year. A bad period answers
400 with the reason on the report page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from babel.dates import format_date as babel_format_date
from flask import Blueprint, abort, g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from accounts.models import Company, Role
from consoles.company import report as outcome
from consoles.company import report_charts as charts
from core.csv import csv_download, write_csv
from core.dates import parse_iso_date
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.i18n import current_locale, format_day, format_month
from hr.models import PURPOSE_LABELS, Purpose

bp = Blueprint("company_report", __name__, url_prefix="/company")

CSV_COLUMNS = ("section", "key", "label", "measure", "value")


@bp.before_request
@login_required
def _admins_and_managers_only():
    scope = outcome.scope_of(current_user)
    if scope is None:
        abort(403)
    g.report_scope = scope


# --- the period asked for -----------------------------------------------------------------


@dataclass(frozen=True)
class ChosenPeriod:
    """The report's nights, first to last (both included), with what was typed and why
    it could not be used."""

    period: outcome.Period
    raw_from: str = ""
    raw_to: str = ""
    error: str | None = None

    @property
    def args(self) -> dict[str, str]:
        """The period as the query string of the report's other addresses."""
        return {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}


def chosen_period(today: date, fiscal_start_month: int) -> ChosenPeriod:
    """``?from=&to=`` (first and last night), checked: both dates, in order, within ten
    years of today and at most ``report.MAX_PERIOD_DAYS`` nights; without both, the
    current fiscal year."""
    default = outcome.fiscal_year_period(today, fiscal_start_month)
    raw_from = request.args.get("from", "").strip()[:20]
    raw_to = request.args.get("to", "").strip()[:20]
    if not raw_from and not raw_to:
        return ChosenPeriod(default)
    first, last = parse_iso_date(raw_from), parse_iso_date(raw_to)
    error = None
    if first is None or last is None:
        error = _("Enter the first and the last night as dates.")
    elif last < first:
        error = _("The last night cannot be before the first night.")
    elif max(abs(first.year - today.year), abs(last.year - today.year)) > outcome.YEARS_AROUND:
        error = _("Choose nights within %(num)d years of today.", num=outcome.YEARS_AROUND)
    elif (last - first).days + 1 > outcome.MAX_PERIOD_DAYS:
        error = _("A period can be at most %(num)d nights.", num=outcome.MAX_PERIOD_DAYS)
    if error:
        return ChosenPeriod(default, raw_from, raw_to, error)
    return ChosenPeriod(outcome.Period(first, last + timedelta(days=1)), raw_from, raw_to)


# --- what the pages show ------------------------------------------------------------------


def _labels() -> dict[str, str]:
    return {
        "leisure": str(PURPOSE_LABELS[Purpose.LEISURE]),
        "business": str(PURPOSE_LABELS[Purpose.BUSINESS]),
        "no_department": _("No department"),
        "no_group": _("No group"),
    }


def _month_bars(report: outcome.OutcomeReport, locale: str) -> list[charts.StackedBar]:
    labels = _labels()
    return [
        charts.StackedBar(
            key=row.key,
            label=babel_format_date(row.first, "MMM", locale=locale),
            tooltip=_(
                "%(month)s: %(leisure)s %(leisure_nights)d, %(business)s %(business_nights)d",
                month=format_month(row.first),
                leisure=labels["leisure"],
                leisure_nights=row.leisure_nights,
                business=labels["business"],
                business_nights=row.business_nights,
            ),
            leisure=row.leisure_nights,
            business=row.business_nights,
        )
        for row in report.by_month
    ]


def _month_chart(report: outcome.OutcomeReport, locale: str, ident: str) -> Markup:
    labels = _labels()
    busiest = max(report.by_month, key=lambda r: r.nights, default=None)
    period = _period_words(report.period)
    if busiest is None or not busiest.nights:
        desc = _("%(period)s: no nights.", period=period)
    else:
        desc = _(
            "%(period)s: %(nights)d nights, %(leisure_nights)d on leisure stays and"
            " %(business_nights)d on business workations; the most in %(month)s"
            " (%(month_nights)d nights).",
            period=period,
            nights=report.nights,
            leisure_nights=report.leisure_nights,
            business_nights=report.business_nights,
            month=format_month(busiest.first),
            month_nights=busiest.nights,
        )
    return charts.month_chart(
        _month_bars(report, locale),
        ident=ident,
        title=_("Nights by month and stay type"),
        desc=desc,
        leisure_label=labels["leisure"],
        business_label=labels["business"],
    )


def _region_chart(report: outcome.OutcomeReport, locale: str, ident: str) -> Markup:
    rows = report.by_region
    if rows:
        top = max(rows, key=lambda r: r.nights)
        desc = _(
            "%(nights)d nights in %(regions)d regions; the most in %(region)s"
            " (%(region_nights)d nights).",
            nights=report.nights,
            regions=len(rows),
            region=top.name_for(locale),
            region_nights=top.nights,
        )
    else:
        desc = _("No nights in this period.")
    bars = [
        charts.Bar(
            key=row.slug,
            label=row.name_for(locale),
            value=row.nights,
            tooltip=_(
                "%(region)s: %(nights)d nights, %(stays)d stays",
                region=row.name_for(locale),
                nights=row.nights,
                stays=row.stays,
            ),
        )
        for row in rows
    ]
    return charts.bar_chart(bars, ident=ident, title=_("Nights by region"), desc=desc)


def _period_words(period: outcome.Period) -> str:
    return _(
        "%(first)s – %(last)s",
        first=format_day(period.first, "date"),
        last=format_day(period.last, "date"),
    )


def _report_and_context(chosen: ChosenPeriod) -> dict:
    scope: outcome.Scope = g.report_scope
    locale = current_locale()
    report = outcome.outcome_report(scope, chosen.period)
    return {
        "report": report,
        "chosen": chosen,
        "company": db.session.get(Company, scope.company_id),
        "is_admin": current_user.role == Role.COMPANY_ADMIN,
        "loc": locale,
        "labels": _labels(),
        "period_words": _period_words(chosen.period),
        "printed_on": tokyo_today(edge_now()),
        "active": "report",
    }


def _chosen() -> ChosenPeriod:
    company = db.session.get(Company, g.report_scope.company_id)
    return chosen_period(tokyo_today(edge_now()), company.fiscal_year_start_month)


@bp.get("/report")
def report():
    chosen = _chosen()
    context = _report_and_context(chosen)
    locale = context["loc"]
    html = render_template(
        "company/report.html",
        month_chart=_month_chart(context["report"], locale, "month-chart"),
        region_chart=_region_chart(context["report"], locale, "region-chart"),
        **context,
    )
    return html, 400 if chosen.error else 200


@bp.get("/report/print")
def report_print():
    """The one-page summary to print or forward (no form, no menus on paper)."""
    chosen = _chosen()
    if chosen.error:
        return report()
    context = _report_and_context(chosen)
    locale = context["loc"]
    return render_template(
        "company/report_print.html",
        month_chart=_month_chart(context["report"], locale, "print-month-chart"),
        region_chart=_region_chart(context["report"], locale, "print-region-chart"),
        **context,
    )


@bp.get("/report.csv")
def report_csv():
    """The report as one CSV table of ``section, key, label, measure, value`` rows (codes
    in ``section``, ``key`` and ``measure``; ``label`` in the reader's language), so a
    spreadsheet can filter and pivot it. A bad period answers the report page (400)."""
    chosen = _chosen()
    if chosen.error:
        return report()
    report_ = outcome.outcome_report(g.report_scope, chosen.period)
    body = write_csv(CSV_COLUMNS, csv_rows(report_, current_locale()))
    period = chosen.period
    return csv_download(
        body, f"engawa-report-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    )


def csv_rows(report: outcome.OutcomeReport, locale: str) -> list[list]:
    """The report's figures, one per row: money in yen, rates as fractions 0–1."""
    labels = _labels()
    rows: list[list] = [
        ["period", "", _("First night"), "from", report.period.first.isoformat()],
        ["period", "", _("Last night"), "to", report.period.last.isoformat()],
    ]
    summary = [
        ("seats", _("Seats") if report.seats is not None else _("People"),
         report.participation_base),
        ("participants", _("Participants"), report.participants),
        ("participation_rate", _("Participation"), report.participation_rate),
        ("stays", _("Stays"), report.stays),
        ("nights", _("Nights"), report.nights),
        ("leisure_stays", labels["leisure"], report.leisure_stays),
        ("leisure_nights", labels["leisure"], report.leisure_nights),
        ("business_stays", labels["business"], report.business_stays),
        ("business_nights", labels["business"], report.business_nights),
        ("off_season_nights", _("Off-season nights"), report.off_season_nights),
        ("off_season_share", _("Share of nights in the off-season"), report.off_season_share),
        ("average_stay_nights", _("Average stay length (nights)"), report.average_stay_nights),
        ("company_cost", _("Company's cost"), report.company_cost),
        ("cancellation_fees", _("Of which cancellation fees"), report.cancellation_fees),
        ("employee_cost", _("Employees' cost"), report.employee_cost),
        ("company_cost_per_participant", _("Company's cost per participant"),
         report.company_cost_per_participant),
        ("company_cost_per_night", _("Company's cost per night"), report.company_cost_per_night),
        ("employee_cost_per_participant", _("Employees' cost per participant"),
         report.employee_cost_per_participant),
        ("employee_cost_per_night", _("Employees' cost per night"),
         report.employee_cost_per_night),
        ("ratings", _("Ratings"), report.ratings),
        ("average_rating", _("Average rating"),
         "" if report.average_rating is None else report.average_rating),
    ]  # fmt: skip
    rows += [["summary", "", label, measure, value] for measure, label, value in summary]
    subsidy = report.subsidy
    rows += [
        ["subsidy", "", _("Subsidy budget"), "budget",
         "" if subsidy.budget is None else subsidy.budget],
        ["subsidy", "", _("Subsidy used"), "used", subsidy.used],
        ["subsidy", "", _("People with a yearly cap"), "capped_people", subsidy.capped_people],
        ["subsidy", "", _("People without a yearly cap"), "uncapped_people",
         subsidy.uncapped_people],
    ]  # fmt: skip
    for section, shares, none in (
        ("department", report.by_department, labels["no_department"]),
        ("group", report.by_group, labels["no_group"]),
    ):
        for row in shares:
            label = row.key or none
            rows += [
                [section, row.key, label, "members", row.members],
                [section, row.key, label, "participants", row.participants],
                [section, row.key, label, "participation_rate", row.rate],
            ]
    for row in report.by_region:
        name = row.name_for(locale)
        rows += [
            ["region", row.slug, name, "stays", row.stays],
            ["region", row.slug, name, "nights", row.nights],
        ]
    for row in report.by_month:
        name = format_month(row.first)
        rows += [
            ["month", row.key, name, "leisure_nights", row.leisure_nights],
            ["month", row.key, name, "business_nights", row.business_nights],
            ["month", row.key, name, "stays", row.stays],
        ]
    for row in report.top_facilities:
        name = row.name_for(locale)
        rows += [
            ["facility", str(row.facility_id), name, "stays", row.stays],
            ["facility", str(row.facility_id), name, "nights", row.nights],
        ]
    for number, comment in enumerate(report.comments, start=1):
        name = f"{comment.facility_for(locale)} · {format_month(comment.month)}"
        rows += [
            ["comment", str(number), name, "rating", comment.rating],
            ["comment", str(number), name, "comment", comment.comment],
        ]
    programmes = report.programmes
    rate = programmes.attendance_rate
    rows += [
        ["programmes", "", _("Programme sign-ups"), "signups", programmes.signups],
        ["programmes", "", _("Programme participants"), "participants", programmes.participants],
        ["programmes", "", _("People who joined a programme"), "people", programmes.people],
        ["programmes", "", _("Attended"), "attended", programmes.attended],
        ["programmes", "", _("Attendance"), "attendance_rate", "" if rate is None else rate],
        ["local_spend", "", _("Local spend with coupons"), "yen", report.local_spend.yen],
        ["local_spend", "", _("Coupons redeemed"), "coupons", report.local_spend.count],
    ]
    for row in report.local_spend.by_category:
        rows += [
            ["local_spend", row.category, row.label, "coupons", row.count],
            ["local_spend", row.category, row.label, "yen", row.yen],
        ]
    return rows
