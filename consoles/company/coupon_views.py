"""The company's welfare funds for local coupons (福利厚生の地域クーポン), at
``/company/coupons``: a fund pays a coupon for every guest-night of the company's own
employees' stays in a municipality; the list shows what each issued, what was redeemed,
what expired and what is open (yen and coupons, always adding up), and each fund's
monthly statement of the shops to pay comes as a page and as CSV.

For company admins (the console's own check, ``views._company_admins_only``); a fund is
looked up within the admin's own company, so another's id answers 404.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consoles.company.views import bp
from core.csv import csv_download
from core.dates import adjacent_months, parse_month
from core.db import edge_now, tokyo_today
from core.extensions import db
from facilities.models import Facility
from facilities.municipalities import by_code, facility_code
from regions import coupon_figures, coupons, shops
from regions.coupon_forms import FundForm, area_choices, draft_of
from regions.models import CouponFund

MONTHS_AROUND = 60


def _area_name(code: str) -> str:
    place = by_code(code)
    return place.full_name if place else code


def network_municipalities() -> list[tuple[str, str]]:
    """(code, name) of the municipalities where the network lists a facility, by code:
    the places a company's employees can stay."""
    codes = {facility_code(f) for f in db.session.scalars(select(Facility).where(Facility.listed))}
    return sorted((code, _area_name(code)) for code in codes if code)


def _fund_or_404(fund_id: int) -> CouponFund:
    fund = coupons.fund_of_company(current_user.company_id, fund_id)
    if fund is None:
        abort(404)
    return fund


@bp.get("/coupons")
def coupon_funds():
    """The company's welfare funds for local coupons, with their figures."""
    funds = coupons.funds_of_company(current_user.company_id)
    return render_template(
        "company/coupons/funds.html",
        active="coupons",
        funds=funds,
        figures=coupon_figures.totals_by_fund(f.id for f in funds),
        area_name=_area_name,
    )


@bp.route("/coupons/new", methods=["GET", "POST"])
def coupon_fund_new():
    """A new fund: the form, then a page to confirm it, then the fund."""
    form = FundForm()
    form.municipality_code.choices = area_choices(
        [("", _("Choose a municipality")), *network_municipalities()]
    )
    context = {"active": "coupons"}
    if request.method == "GET" or request.form.get("edit"):
        return render_template("company/coupons/fund_form.html", form=form, **context)
    if not form.validate_on_submit():
        return render_template("company/coupons/fund_form.html", form=form, **context), 400
    now = edge_now()
    draft, error = draft_of(form, tokyo_today(now))
    if draft is None:
        page = render_template("company/coupons/fund_form.html", form=form, error=error, **context)
        return page, 400
    if form.confirmed.data != "1":
        return render_template(
            "company/coupons/fund_confirm.html", form=form, draft=draft, **context
        )
    try:
        fund = coupons.create_company_fund(current_user.company_id, draft, current_user, now)
    except coupons.FundError as exc:
        db.session.rollback()
        error = None if form.show(exc) else str(exc.message)
        page = render_template("company/coupons/fund_form.html", form=form, error=error, **context)
        return page, 400
    db.session.commit()
    flash(_("The fund %(name)s was created.", name=fund.name), "success")
    return redirect(url_for("company.coupon_funds"), 303)


def _month():
    return parse_month(request.args.get("month"), tokyo_today(edge_now()), MONTHS_AROUND)


@bp.get("/coupons/<int:fund_id>")
def coupon_fund(fund_id: int):
    """A fund's figures and its statement of a month (``?month=YYYY-MM``)."""
    fund = _fund_or_404(fund_id)
    month = _month()
    prev_month, next_month = adjacent_months(month)
    return render_template(
        "company/coupons/fund.html",
        active="coupons",
        fund=fund,
        area=_area_name(fund.municipality_code),
        figures=coupon_figures.totals(fund.id),
        month=month,
        prev_month=prev_month,
        next_month=next_month,
        rows=coupon_figures.monthly_statement(fund.id, month),
        category_label=shops.category_label,
    )


@bp.get("/coupons/<int:fund_id>/statement.csv")
def coupon_fund_statement_csv(fund_id: int):
    """The month's statement as CSV: one row per shop, then the total."""
    fund = _fund_or_404(fund_id)
    month = _month()
    body = coupon_figures.statement_csv(
        fund, month, coupon_figures.monthly_statement(fund.id, month)
    )
    return csv_download(body, f"engawa-coupon-statement-{fund.id}-{month:%Y-%m}.csv")
