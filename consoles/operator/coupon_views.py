"""A municipality's local coupons (地域クーポン) in the operator console, at
``/operator/coupons``: its funds with what each issued, what the shops redeemed, what
expired and what is open (yen and coupons, always adding up), a new fund (checked,
then confirmed on a page showing the budget and the amount per guest-night), each
fund's monthly statement to pay the shops from (page and CSV), and the shops registered
in the municipality (those waiting for approval first: approve, suspend, reactivate).

The fund pages themselves are ``regions.fund_views``, shared with the company console;
this registers them on ``views.bp`` for the organisation, fixed to its own municipality,
and keeps the shop pages.

Only an organisation the platform team gave a municipality code funds coupons, and only
for that municipality; any other operator gets a page saying so. Funds and shops are
looked up within the organisation's own: another's id answers 404.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from accounts.models import OperatorOrg
from consoles.operator.views import bp, require_post_form
from core.db import edge_now, get_by_id
from core.extensions import db
from core.forms import EmptyForm
from regions import coupons, fund_views, shops
from regions.fund_views import area_name


def _municipality() -> OperatorOrg | None:
    org = get_by_id(OperatorOrg, current_user.operator_id)
    return org if org is not None and org.municipality_code else None


def _not_a_municipality(status: int):
    page = render_template("operator/coupons/not_municipality.html", active="coupons")
    return make_response(page, status)


def _context(org: OperatorOrg, page: str) -> dict:
    context = {"org": org, "area": area_name(org.municipality_code)}
    if page == "funds":
        context["shop_count"] = len(shops.shops_in(org.municipality_code))
    return context


fund_views.register(
    bp,
    fund_views.Console(
        templates="operator/coupons",
        funder=_municipality,
        no_funder=_not_a_municipality,
        funds_of=lambda org: coupons.funds_of_operator(org.id),
        fund_of=lambda org, fund_id: coupons.fund_of_operator(org.id, fund_id),
        create=lambda org, draft, actor, now: coupons.create_municipal_fund(
            org.id, draft, actor, now
        ),
        places=lambda org: [(org.municipality_code, area_name(org.municipality_code))],
        fixed_place=True,
        context=_context,
    ),
)


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
        area=area_name(org.municipality_code),
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
