"""``GET /api/v1/company/report?from=&to=``: the company's outcome report as JSON
(``report.OutcomeReport.as_json``; the rules: ``consoles.company.report``).

Bearer tokens as the rest of API v1 (``booking.api.authenticate``: 401 without a valid
token, the token's rate limit), and only a corporate admin's (403 ``forbidden``), as
``GET /api/v1/company``. The period is ``from`` (the first night) to ``to`` (the night
after the last, excluded), as the API's other periods; without both, the company's
current fiscal year. Errors have the API's shape (``booking.api.api_error``): 400
``missing_field`` (one of the two dates only), ``invalid_date``, ``dates_order``
(``to`` not after ``from``) or ``out_of_range`` (more than three years, or beyond ten
years of today).
"""

from __future__ import annotations

# An API edge reads the request as booking/api.py does (lead: list this file with
# booking/api.py under [tool.ruff.lint.per-file-ignores], then drop these noqa).
from flask import Blueprint, g, jsonify, request

from accounts.models import Company, Role
from booking.api import api_error, authenticate
from consoles.company import report as outcome
from core.dates import parse_iso_date
from core.db import edge_now, tokyo_today
from core.errors import ApiError
from core.extensions import db

bp = Blueprint("company_report_api", __name__, url_prefix="/api/v1/company")
bp.before_request(authenticate)
bp.register_error_handler(ApiError, api_error)


def _date(name: str):
    raw = request.args.get(name, "")
    value = parse_iso_date(raw)
    if value is None:
        raise ApiError(400, "invalid_date", f"'{name}' must be a date as YYYY-MM-DD.")
    return value


def _period(today, start_month: int) -> outcome.Period:
    has_from, has_to = bool(request.args.get("from")), bool(request.args.get("to"))
    if not has_from and not has_to:
        return outcome.fiscal_year_period(today, start_month)
    if not (has_from and has_to):
        missing = "to" if has_from else "from"
        raise ApiError(
            400, "missing_field", f"'{missing}' is required with the other (YYYY-MM-DD)."
        )
    first, end = _date("from"), _date("to")
    problem = outcome.period_problem(first, end, today)
    if problem == "dates_order":
        raise ApiError(400, "dates_order", "'to' must be after 'from'.")
    if problem is not None:
        raise ApiError(
            400,
            "out_of_range",
            f"A report covers at most {outcome.MAX_PERIOD_DAYS} nights,"
            f" within {outcome.YEARS_AROUND} years of today.",
        )
    return outcome.Period(first, end)


@bp.get("/report")
def report():
    """The outcome report of the caller's company: corporate admins only."""
    user = g.api_user
    if user.role != Role.COMPANY_ADMIN or user.company_id is None:
        raise ApiError(403, "forbidden", "Only a corporate admin's token can read the report.")
    company = db.session.get(Company, user.company_id)
    period = _period(tokyo_today(edge_now()), company.fiscal_year_start_month)
    return jsonify(outcome.outcome_report(outcome.Scope(company.id), period).as_json())
