"""The pages of a local shop that takes coupons (地域クーポン取扱店), at ``/shop``.

``/shop/register`` is public (a shop registers with the person who redeems; counted
per client network and per address, 429 beyond). Every other page is for that person,
signed in (a signed-out visitor is sent to sign in; any other role gets 403), and shows
only their own shop: another shop's redemption is not found. A shop just registered
waits for its municipality's approval: every page says so, and it redeems nothing yet.

The redeem page is what the shop's phone camera opens from the guest's QR code: the
amount, the dates, whether the coupon may be spent here today, and one big button. It
carries no script beyond the site's own small one, so it works on a slow connection. A
camera that will not read the code: the shop types the coupon's short code instead.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from accounts.models import Role
from accounts.services import normalise_email
from billing.ledger import tokyo_midnight
from core import ratelimit
from core.csv import csv_download, write_csv
from core.dates import adjacent_months, parse_month
from core.db import TOKYO, edge_now, tokyo_today
from core.extensions import db, login_manager
from core.forms import EmptyForm
from core.ratelimit import Limit
from facilities.municipalities import by_code
from regions import coupon_figures, coupon_redeem, coupon_tokens, shops
from regions.coupon_forms import ShopRegisterForm, ShortCodeForm
from regions.coupons import CouponRefused

bp = Blueprint("shop", __name__, url_prefix="/shop")

PUBLIC_ENDPOINTS = frozenset({"shop.register"})
REGISTRATIONS_PER_IP = Limit("shop-register-ip", 10, 3600)
REGISTRATIONS_PER_ADDRESS = Limit("shop-register-address", 3, 3600)
# Typed short codes per shop person: a real shop types a few an hour; guessing another
# guest's code (40 bits among the municipality's open coupons) gets nowhere at this pace.
CODES_PER_PERSON = Limit("shop-code", 30, 600)
MONTHS_AROUND = 36


@bp.before_request
def _shop_staff_only():
    """Every page but registering is for a shop's own people."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    shop = shops.shop_of_user(current_user.id) if current_user.role == Role.SHOP else None
    if shop is None:
        abort(403)
    g.shop = shop
    g.shop_waiting = shops.awaiting_approval(shop)
    return None


@bp.context_processor
def _helpers() -> dict:
    return {
        "category_label": shops.category_label,
        "grouped_code": coupon_tokens.grouped,
        "short_code": coupon_tokens.short_code_of,
        "area_name": _area_name,
        "tokyo_time": _tokyo_time,
        "shop_waiting": g.get("shop_waiting", False),
    }


def _area_name(code: str) -> str:
    place = by_code(code)
    return place.full_name if place else code


def _tokyo_time(value) -> str:
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


def _private(response):
    """Shop pages are for one shop; the redeem page's URL holds a coupon's token."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- registering ------------------------------------------------------------------------


def _rate_limited(checks, now) -> TooManyRequests | None:
    for check in checks:
        try:
            ratelimit.enforce([check], now)
        except TooManyRequests as refused:
            return refused
    return None


@bp.route("/register", methods=["GET", "POST"])
def register():
    """A local shop registers to take coupons, with the person who redeems for it."""
    form = ShopRegisterForm()
    now = edge_now()
    if request.method == "POST":
        address = hashlib.sha256(normalise_email(form.email.data or "").encode()).hexdigest()
        refused = _rate_limited(
            [
                (REGISTRATIONS_PER_IP, ratelimit.client_ip()),
                (REGISTRATIONS_PER_ADDRESS, address),
            ],
            now,
        )
        if refused is not None:
            minutes = max(1, math.ceil(int(refused.retry_after) / 60))
            error = _(
                "Too many registrations from your network or for this e-mail address."
                " Please try again in %(minutes)d minutes.",
                minutes=minutes,
            )
            response = make_response(
                render_template("shop/register.html", form=form, error=error), 429
            )
            response.headers["Retry-After"] = str(refused.retry_after)
            return _private(response)
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _private(make_response(render_template("shop/register.html", form=form), status))
    application = shops.ShopApplication(
        name=form.name.data,
        category=form.category.data,
        postal_code=form.postal_code.data,
        address_line=form.address_line.data,
        person_name=form.person_name.data,
        email=form.email.data,
        password=form.password.data,
    )
    try:
        member = shops.register_shop(
            application, now, hash_method=current_app.config["PASSWORD_HASH_METHOD"]
        )
    except shops.ShopError as exc:
        db.session.rollback()
        error = None if form.show(exc) else str(exc.message)
        page = render_template("shop/register.html", form=form, error=error)
        return _private(make_response(page, 400))
    area = _area_name(member.shop.municipality_code)
    db.session.commit()
    flash(
        _(
            "Your shop is registered. %(area)s will review it: once the municipality"
            " approves it, your shop can take local coupons. You can sign in with your"
            " e-mail address and password now.",
            area=area,
        ),
        "success",
    )
    return redirect(url_for("accounts.login"), 303)


# --- the shop's home ---------------------------------------------------------------------


@bp.get("/")
def home():
    """Today's redemptions and their total, and the month's total."""
    now = edge_now()
    today = tokyo_today(now)
    start = tokyo_midnight(today)
    todays = coupon_figures.shop_redemptions(g.shop.id, start, start + timedelta(days=1))
    month = coupon_figures.shop_redemptions(g.shop.id, *coupon_figures.month_range(today))
    page = render_template(
        "shop/home.html",
        shop=g.shop,
        today=today,
        todays=todays,
        today_total=sum(r.amount for r in todays),
        month_count=len(month),
        month_total=sum(r.amount for r in month),
    )
    return _private(make_response(page))


# --- redeeming --------------------------------------------------------------------------


def _waiting_said(check: coupon_redeem.CouponCheck) -> coupon_redeem.CouponCheck:
    """A shop waiting for approval is refused as a suspended one (same code), told why."""
    if not g.shop_waiting or check.refusal is None or check.refusal.code != "shop_suspended":
        return check
    message = _(
        "Your shop is waiting for the municipality's approval and cannot take coupons"
        " until it is approved."
    )
    return coupon_redeem.CouponCheck(check.coupon, CouponRefused(message, "shop_suspended"))


def _redeem_page(token: str, check: coupon_redeem.CouponCheck, status: int = 200):
    check = _waiting_said(check)
    page = render_template(
        "shop/redeem.html", shop=g.shop, token=token, check=check, form=EmptyForm()
    )
    return _private(make_response(page, status))


@bp.get("/redeem/<token>")
def redeem(token: str):
    """What the guest's QR code opens: the coupon, whether it may be spent here today,
    and the button that spends it."""
    check = coupon_redeem.check_token(token, g.shop, edge_now())
    return _redeem_page(token, check, 200 if check.coupon is not None else 404)


@bp.post("/redeem/<token>")
def redeem_confirm(token: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    now = edge_now()
    try:
        redemption = coupon_redeem.redeem(token, g.shop, current_user.id, now)
    except CouponRefused as refused:
        db.session.rollback()
        check = coupon_redeem.check_token(token, g.shop, now)
        shown = coupon_redeem.CouponCheck(check.coupon, refused)
        return _redeem_page(token, shown, 404 if refused.code == "bad_token" else 409)
    redemption_id = redemption.id
    db.session.commit()
    return redirect(url_for("shop.receipt", redemption_id=redemption_id), 303)


@bp.route("/redeem", methods=["GET", "POST"])
def redeem_code():
    """Type the coupon's short code when the camera will not read its QR code."""
    form = ShortCodeForm()
    error = None
    if form.validate_on_submit():
        now = edge_now()
        ratelimit.enforce([(CODES_PER_PERSON, str(current_user.id))], now)
        coupon = coupon_redeem.coupon_by_short_code(form.code.data, g.shop.municipality_code)
        if coupon is not None:
            return redirect(url_for("shop.redeem", token=coupon_tokens.token_of(coupon)), 303)
        error = _(
            "No coupon of your municipality has this code. Please check the code, or scan"
            " the QR code."
        )
    status = 400 if request.method == "POST" else 200
    page = render_template("shop/redeem_code.html", shop=g.shop, form=form, error=error)
    return _private(make_response(page, status))


@bp.get("/redemptions/<int:redemption_id>")
def receipt(redemption_id: int):
    """One redemption of this shop (the page after the button)."""
    redemption = coupon_figures.shop_redemption(g.shop.id, redemption_id)
    if redemption is None:
        abort(404)
    page = render_template("shop/receipt.html", shop=g.shop, redemption=redemption)
    return _private(make_response(page))


# --- the shop's redemptions -------------------------------------------------------------


def _month():
    today = tokyo_today(edge_now())
    return parse_month(request.args.get("month"), today, MONTHS_AROUND)


@bp.get("/redemptions")
def redemptions():
    """The shop's redemptions of a month (``?month=YYYY-MM``), with the total."""
    month = _month()
    rows = coupon_figures.shop_redemptions(g.shop.id, *coupon_figures.month_range(month))
    prev_month, next_month = adjacent_months(month)
    page = render_template(
        "shop/redemptions.html",
        shop=g.shop,
        month=month,
        prev_month=prev_month,
        next_month=next_month,
        rows=rows,
        total=sum(r.amount for r in rows),
    )
    return _private(make_response(page))


@bp.app_template_filter("funder_label")
def funder_label(fund) -> str:
    """Who pays the shop for a coupon, as the shop may read it: a municipality's fund by
    its name; a company's welfare budget without the company's name (it would tell the
    shop where the guest works), by its number for the payout."""
    if fund.company_id is not None:
        return _("A company's welfare budget (fund %(number)d)", number=fund.id)
    return fund.name


@bp.get("/redemptions.csv")
def redemptions_csv():
    month = _month()
    rows = coupon_figures.shop_redemptions(g.shop.id, *coupon_figures.month_range(month))
    header = [_("Redeemed at"), _("Coupon code"), _("Fund"), _("Amount (yen)")]
    body = [
        [
            _tokyo_time(r.redeemed_at),
            coupon_tokens.grouped(coupon_tokens.short_code_of(r.coupon.nonce)),
            funder_label(r.coupon.fund),
            r.amount,
        ]
        for r in reversed(rows)
    ]
    body.append([_("Total"), "", "", sum(r.amount for r in rows)])
    return csv_download(write_csv(header, body), f"engawa-coupons-{month:%Y-%m}.csv")
