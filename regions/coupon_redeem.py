"""Redeeming a local coupon at a registered shop: the QR code's signed token (or the
typed short code) judged against the coupon's row as it is now, then one redemption
under the coupon's row lock, which the database allows once per coupon
(``UNIQUE(coupon_id)``). Issuing and closing coupons is ``regions.coupons``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import tokyo_today
from core.extensions import db
from regions import coupon_tokens
from regions.coupon_tokens import BadCouponToken, CouponClaim
from regions.coupons import WITHDRAWN, CouponRefused, _refusal
from regions.models import (
    Coupon,
    CouponRedemption,
    CouponStatus,
    LocalShop,
)

# --- redeem -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponCheck:
    """What a shop's phone shows before redeeming: the coupon (None for a bad token) and
    the reason it cannot be redeemed here today (None: it can)."""

    coupon: Coupon | None
    refusal: CouponRefused | None

    @property
    def ok(self) -> bool:
        return self.coupon is not None and self.refusal is None


def _claim(token: str) -> CouponClaim:
    try:
        return coupon_tokens.verify(token)
    except BadCouponToken:
        raise _refusal("bad_token") from None


def _matches(coupon: Coupon | None, claim: CouponClaim) -> bool:
    """The token's facts are the row's: the guest, the area and the dates it was signed
    for, and the nonce (a token of a coupon made again with the same id is refused)."""
    return (
        coupon is not None
        and coupon.nonce == claim.nonce
        and coupon.user_id == claim.user_id
        and coupon.municipality_code == claim.municipality_code
        and coupon.valid_from == claim.valid_from
        and coupon.valid_until == claim.valid_until
    )


def _judge(coupon: Coupon, shop: LocalShop, today: date) -> CouponRefused | None:
    if coupon.status == CouponStatus.REDEEMED:
        return _refusal("used")
    if coupon.status == CouponStatus.EXPIRED:
        return _refusal("withdrawn" if coupon.void_reason in WITHDRAWN else "expired")
    if today > coupon.valid_until:
        return _refusal("expired")
    if shop.municipality_code != coupon.municipality_code:
        return _refusal("out_of_area")
    if today < coupon.valid_from:
        return _refusal("not_yet")
    if not shop.active:
        return _refusal("shop_suspended")
    return None


def check_token(token: str, shop: LocalShop, now: datetime) -> CouponCheck:
    """Whether ``shop`` may redeem the token's coupon today (reads only)."""
    try:
        claim = _claim(token)
    except CouponRefused as refused:
        return CouponCheck(None, refused)
    coupon = db.session.get(Coupon, claim.coupon_id)
    if not _matches(coupon, claim):
        return CouponCheck(None, _refusal("bad_token"))
    return CouponCheck(coupon, _judge(coupon, shop, tokyo_today(now)))


def redeem(token: str, shop: LocalShop, by_user_id: int, now: datetime) -> CouponRedemption:
    """Spend the token's coupon, whole, at ``shop`` (flushes).

    The coupon's row is locked and judged as it is now: refused (``CouponRefused``)
    when the token is not Engawa's or not this coupon's (``bad_token``), the coupon was
    redeemed (``used``), its last day passed (``expired``), its stay was cancelled
    (``withdrawn``), the shop is in another municipality (``out_of_area``), its first
    day has not come (``not_yet``), or the shop is suspended (``shop_suspended``).
    The redemption is one INSERT; should a second writer get past the lock, the
    database's ``UNIQUE(coupon_id)`` refuses it and the answer is ``used``.
    """
    claim = _claim(token)
    coupon = db.session.scalar(
        select(Coupon)
        .where(Coupon.id == claim.coupon_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if not _matches(coupon, claim):
        raise _refusal("bad_token")
    shop = db.session.scalar(
        select(LocalShop).where(LocalShop.id == shop.id).execution_options(populate_existing=True)
    )
    refusal = _judge(coupon, shop, tokyo_today(now))
    if refusal is not None:
        raise refusal
    redemption = CouponRedemption(
        coupon_id=coupon.id,
        shop_id=shop.id,
        fund_id=coupon.fund_id,
        amount=coupon.amount,
        redeemed_by_id=by_user_id,
        redeemed_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(redemption)
            db.session.flush()
    except IntegrityError:
        raise _refusal("used") from None
    coupon.status = CouponStatus.REDEEMED
    coupon.closed_at = now
    db.session.flush()
    return redemption


def coupon_by_short_code(code: str, municipality_code: str) -> Coupon | None:
    """The coupon of a typed short code among the municipality's, or None. Should two
    share the code, the open one (the newest if several) is meant."""
    normal = coupon_tokens.normalise_short_code(code)
    if normal is None:
        return None
    found = db.session.scalars(
        select(Coupon)
        .where(
            Coupon.municipality_code == municipality_code,
            func.substr(Coupon.nonce, 1, coupon_tokens.SHORT_CODE_LENGTH) == normal,
        )
        .order_by((Coupon.status == CouponStatus.OPEN).desc(), Coupon.id.desc())
        .limit(1)
    ).first()
    return found
