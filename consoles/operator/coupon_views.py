"""A municipality's local coupons (地域クーポン) in the operator console, at
``/operator/coupons``: its funds with what each issued, what the shops redeemed, what
expired and what is open (yen and coupons, always adding up), a new fund (checked,
then confirmed on a page showing the budget and the amount per guest-night), each
fund's monthly statement to pay the shops from (page and CSV), and the shops registered
in the municipality (those waiting for approval first: approve, suspend, reactivate).

Only an organisation the platform team gave a municipality code funds coupons, and only
for that municipality; any other operator gets a page saying so. Funds and shops are
looked up within the organisation's own: another's id answers 404.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import OperatorOrg
from consoles.operator.views import bp, require_post_form
from core.csv import csv_download
from core.dates import adjacent_months, parse_month
from core.db import edge_now, get_by_id, tokyo_today
from core.extensions import db
from core.forms import EmptyForm
from facilities.municipalities import by_code
from regions import coupon_figures, coupons, shops
from regions.coupon_forms import FundForm, area_choices, draft_of
from regions.models import CouponFund

MONTHS_AROUND = 60


def _area_name(code: str) -> str:
    place = by_code(code)
    return place.full_name if place else code


def _municipality() -> OperatorOrg | None:
    org = get_by_id(OperatorOrg, current_user.operator_id)
    return org if org is not None and org.municipality_code else None


def _not_a_municipality(status: int):
    page = render_template("operator/coupons/not_municipality.html", active="coupons")
    return make_response(page, status)


def _fund_or_404(fund_id: int) -> CouponFund:
    fund = coupons.fund_of_operator(current_user.operator_id, fund_id)
    if fund is None:
        abort(404)
    return fund


@bp.get("/coupons")
def coupon_funds():
    """The municipality's funds with their figures."""
    org = _municipality()
    if org is None:
        return _not_a_municipality(200)
    funds = coupons.funds_of_operator(org.id)
    return render_template(
        "operator/coupons/funds.html",
        active="coupons",
        org=org,
        area=_area_name(org.municipality_code),
        funds=funds,
        figures=coupon_figures.totals_by_fund(f.id for f in funds),
        shop_count=len(shops.shops_in(org.municipality_code)),
    )


def _fund_form(org: OperatorOrg) -> FundForm:
    form = FundForm()
    form.municipality_code.choices = area_choices(
        [(org.municipality_code, _area_name(org.municipality_code))]
    )
    form.municipality_code.data = org.municipality_code  # always the organisation's own
    return form


@bp.route("/coupons/new", methods=["GET", "POST"])
def coupon_fund_new():
    """A new fund: the form, then a page to confirm it, then the fund."""
    org = _municipality()
    if org is None:
        return _not_a_municipality(403)
    form = _fund_form(org)
    context = {"active": "coupons", "org": org, "area": _area_name(org.municipality_code)}
    if request.method == "GET" or request.form.get("edit"):
        return render_template("operator/coupons/fund_form.html", form=form, **context)
    if not form.validate_on_submit():
        return render_template("operator/coupons/fund_form.html", form=form, **context), 400
    now = edge_now()
    draft, error = draft_of(form, tokyo_today(now))
    if draft is None:
        page = render_template("operator/coupons/fund_form.html", form=form, error=error, **context)
        return page, 400
    if form.confirmed.data != "1":
        return render_template(
            "operator/coupons/fund_confirm.html", form=form, draft=draft, **context
        )
    try:
        fund = coupons.create_municipal_fund(org.id, draft, current_user, now)
    except coupons.FundError as exc:
        db.session.rollback()
        error = None if form.show(exc) else str(exc.message)
        page = render_template("operator/coupons/fund_form.html", form=form, error=error, **context)
        return page, 400
    db.session.commit()
    flash(_("The fund %(name)s was created.", name=fund.name), "success")
    return redirect(url_for("operator.coupon_funds"), 303)


def _month():
    return parse_month(request.args.get("month"), tokyo_today(edge_now()), MONTHS_AROUND)


@bp.get("/coupons/<int:fund_id>")
def coupon_fund(fund_id: int):
    """A fund's figures and its statement of a month (``?month=YYYY-MM``)."""
    if _municipality() is None:
        return _not_a_municipality(403)
    fund = _fund_or_404(fund_id)
    month = _month()
    rows = coupon_figures.monthly_statement(fund.id, month)
    prev_month, next_month = adjacent_months(month)
    return render_template(
        "operator/coupons/fund.html",
        active="coupons",
        fund=fund,
        area=_area_name(fund.municipality_code),
        figures=coupon_figures.totals(fund.id),
        month=month,
        prev_month=prev_month,
        next_month=next_month,
        rows=rows,
        category_label=shops.category_label,
    )


@bp.get("/coupons/<int:fund_id>/statement.csv")
def coupon_fund_statement_csv(fund_id: int):
    """The month's statement as CSV: one row per shop, then the total."""
    if _municipality() is None:
        return _not_a_municipality(403)
    fund = _fund_or_404(fund_id)
    month = _month()
    body = coupon_figures.statement_csv(
        fund, month, coupon_figures.monthly_statement(fund.id, month)
    )
    return csv_download(body, f"engawa-coupon-statement-{fund.id}-{month:%Y-%m}.csv")


@bp.get("/coupons/shops")
def coupon_shops():
    """The shops registered to take the municipality's coupons, those waiting for its
    approval first."""
    org = _municipality()
    if org is None:
        return _not_a_municipality(403)
    waiting = shops.awaiting_ids(org.municipality_code)
    listed = shops.shops_in(org.municipality_code)
    return render_template(
        "operator/coupons/shops.html",
        active="coupons",
        area=_area_name(org.municipality_code),
        shops=sorted(listed, key=lambda shop: shop.id not in waiting),  # stable: by name
        waiting=waiting,
        category_label=shops.category_label,
        button=EmptyForm(),
    )


def _set_shop(shop_id: int, active: bool):
    org = _municipality()
    if org is None:
        return _not_a_municipality(403)
    require_post_form()
    shop = shops.set_shop_active(org.municipality_code, shop_id, active, current_user, edge_now())
    if shop is None:
        abort(404)
    db.session.commit()
    if active:
        flash(_("%(name)s takes coupons again.", name=shop.name), "success")
    else:
        flash(_("%(name)s is suspended: it cannot take coupons.", name=shop.name), "success")
    return redirect(url_for("operator.coupon_shops"), 303)


@bp.post("/coupons/shops/<int:shop_id>/approve")
def coupon_shop_approve(shop_id: int):
    """Approve a shop waiting for it: it takes the municipality's coupons from now on."""
    org = _municipality()
    if org is None:
        return _not_a_municipality(403)
    require_post_form()
    shop = shops.approve_shop(org.municipality_code, shop_id, current_user, edge_now())
    if shop is None:
        abort(404)
    db.session.commit()
    if shop.active:
        flash(_("%(name)s is approved: it can take coupons now.", name=shop.name), "success")
    return redirect(url_for("operator.coupon_shops"), 303)


@bp.post("/coupons/shops/<int:shop_id>/suspend")
def coupon_shop_suspend(shop_id: int):
    return _set_shop(shop_id, False)


@bp.post("/coupons/shops/<int:shop_id>/reactivate")
def coupon_shop_reactivate(shop_id: int):
    return _set_shop(shop_id, True)
