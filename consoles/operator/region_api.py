"""``GET /api/v1/regions/<municipality_code>/report?from=&to=``: a municipality's region
report as JSON (``region_report.RegionReport.as_json``; the rules: ``region_report``).

Bearer tokens of operators, as the operator API (``consoles.operator.api.authenticate``:
401 without a valid token, 403 for another role's, the token's rate limit). Only the
region's own organisation reads it: an operator organisation whose
``municipality_code`` is the code asked for; any other answers 404 ``not_found``, as
another organisation's ids do. The code is a 全国地方公共団体コード: six digits whose last
is the check digit; anything else answers 400 ``invalid_municipality``.

The period is ``from`` (the first day) to ``to`` (the day after the last, excluded), as
the API's other periods; without both, this fiscal year (April to March). Errors have
the API's shape: 400 ``missing_field`` (one of the two dates only), ``invalid_date``,
``dates_order`` (``to`` not after ``from``) or ``out_of_range`` (``to`` more than two
years after ``from``, or beyond ten years of today).

The blueprint is registered with the operator API's (``api.bp``), whose registration
brings it along, so the console's ``init_app`` needs no line of its own.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, jsonify, request

from consoles.operator import api
from consoles.operator import region_report as regional
from core.dates import parse_iso_date
from core.db import edge_now, tokyo_today
from core.errors import ApiError
from facilities.municipalities import MunicipalityCodeError, normalise_code

bp = Blueprint("region_api", __name__, url_prefix="/api/v1/regions")
bp.before_request(api.authenticate)


def _date(name: str) -> date:
    value = parse_iso_date(request.args.get(name, ""))
    if value is None:
        raise ApiError(400, "invalid_date", f"'{name}' must be a date as YYYY-MM-DD.")
    return value


def _period(today: date) -> regional.Period:
    has_from, has_to = bool(request.args.get("from")), bool(request.args.get("to"))
    if not has_from and not has_to:
        return regional.fiscal_year_period(today)
    if not (has_from and has_to):
        missing = "to" if has_from else "from"
        raise ApiError(
            400, "missing_field", f"'{missing}' is required with the other (YYYY-MM-DD)."
        )
    first, end = _date("from"), _date("to")
    problem = regional.period_problem(first, end, today)
    if problem == "dates_order":
        raise ApiError(400, "dates_order", "'to' must be after 'from'.")
    if problem is not None:
        raise ApiError(
            400,
            "out_of_range",
            f"'to' is at most {regional.MAX_PERIOD_YEARS} years after 'from',"
            f" both within {regional.YEARS_AROUND} years of today.",
        )
    return regional.Period(first, end)


@bp.get("/<municipality_code>/report")
def report(municipality_code: str):
    """The region report of the caller's own municipality."""
    try:
        code = normalise_code(municipality_code)
    except MunicipalityCodeError:
        raise ApiError(
            400,
            "invalid_municipality",
            "The municipality code is six digits, the last a check digit (全国地方公共団体コード).",
        ) from None
    org = g.api_user.operator
    if org is None or org.municipality_code != code:
        raise ApiError(404, "not_found", "No such region.")
    period = _period(tokyo_today(edge_now()))
    return jsonify(regional.region_report(code, period).as_json())
