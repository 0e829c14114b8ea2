"""The employee's local coupons (地域クーポン), at ``/coupons`` (on ``booking.views.bp``).

The page lists the employee's coupons by stay, with each one's status and the totals;
an open coupon shows its QR code (the absolute address of the shop's redeem page for
its signed token, ``regions.coupon_tokens``, at the public address ``BASE_URL``) and its
short code for a shop whose camera will not read it. The page only reads: a stay gets
its coupons when it is confirmed (``services.confirm_stay``), or from the
``issue_coupons`` job within 10 minutes when the fund began after the booking; a
cancellation withdraws them at once.

Only the employee's own coupons are shown; other roles are not found here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask import abort, make_response, render_template
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.two_factor import qr_svg
from booking.models import Booking
from booking.views import bp
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.urls import public_url
from facilities.models import Unit
from facilities.municipalities import by_code
from regions import coupon_figures, coupon_tokens, coupons, shops
from regions.models import Coupon, CouponStatus, LocalShop


@dataclass(frozen=True)
class CouponCard:
    coupon: Coupon
    state: str  # open, not_yet, redeemed, expired, withdrawn
    short_code: str
    url: str | None = None  # the shop's redeem page, for an open coupon
    qr: Markup | None = None


@dataclass(frozen=True)
class StayCoupons:
    booking: Booking
    area: str
    cards: list[CouponCard]
    shops: list[LocalShop]

    @property
    def open_yen(self) -> int:
        return sum(c.coupon.amount for c in self.cards if c.state in ("open", "not_yet"))

    @property
    def redeemed_yen(self) -> int:
        return sum(c.coupon.amount for c in self.cards if c.state == "redeemed")


def _state(coupon: Coupon, today) -> str:
    if coupon.status == CouponStatus.REDEEMED:
        return "redeemed"
    if coupon.status == CouponStatus.EXPIRED:
        return "withdrawn" if coupon.void_reason in coupons.WITHDRAWN else "expired"
    if coupon.valid_until < today:
        return "expired"
    return "not_yet" if coupon.valid_from > today else "open"


def _card(coupon: Coupon, today) -> CouponCard:
    state = _state(coupon, today)
    code = coupon_tokens.short_code_of(coupon.nonce)
    if state not in ("open", "not_yet"):
        return CouponCard(coupon, state, code)
    url = public_url("shop.redeem", token=coupon_tokens.token_of(coupon))
    title = _("Local coupon of %(amount)s", amount=f"¥{coupon.amount:,}")
    return CouponCard(coupon, state, code, url, qr_svg(url, title))


def _area_name(code: str) -> str:
    place = by_code(code)
    return place.full_name if place else code


@bp.get("/coupons")
def coupons_page():
    """The employee's local coupons by stay, newest stay first."""
    if not current_user.books_stays:
        abort(404)
    now = edge_now()
    today = tokyo_today(now)
    mine = coupon_figures.coupons_of_user(current_user.id)
    by_stay: dict[int, list[Coupon]] = defaultdict(list)
    for coupon in mine:
        by_stay[coupon.booking_id].append(coupon)
    stays = {
        b.id: b
        for b in db.session.scalars(
            select(Booking)
            .where(Booking.id.in_(list(by_stay)), Booking.user_id == current_user.id)
            .options(selectinload(Booking.unit).selectinload(Unit.facility))
        )
    }
    shops_by_area: dict[str, list[LocalShop]] = {}
    groups = []
    for booking_id, stay_coupons in sorted(
        by_stay.items(), key=lambda item: stays[item[0]].check_in, reverse=True
    ):
        area = stay_coupons[0].municipality_code
        if area not in shops_by_area:
            shops_by_area[area] = [s for s in shops.shops_in(area) if s.active]
        groups.append(
            StayCoupons(
                stays[booking_id],
                _area_name(area),
                [_card(c, today) for c in stay_coupons],
                shops_by_area[area],
            )
        )
    page = render_template(
        "booking/coupons/coupons.html",
        groups=groups,
        today=today,
        open_total=sum(g.open_yen for g in groups),
        redeemed_total=sum(g.redeemed_yen for g in groups),
        category_label=shops.category_label,
        grouped_code=coupon_tokens.grouped,
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "private, no-store"  # the QR codes are the coupons
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
