"""Local coupons read back: each fund's figures (issued, redeemed, expired, unused and
withdrawn; issued = redeemed + expired + unused always), the funder's monthly
statement by shop and its CSV, a shop's redemptions and an employee's coupons. Written
by ``regions.coupons``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from billing.ledger import tokyo_midnight
from core.csv import write_csv
from core.dates import month_bounds
from core.db import in_id_range
from core.extensions import db
from regions.coupons import WITHDRAWN
from regions.models import (
    Coupon,
    CouponFund,
    CouponRedemption,
    CouponStatus,
    LocalShop,
)
from regions.shops import category_label

# --- figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    count: int = 0
    yen: int = 0

    def __add__(self, other: Figure) -> Figure:
        return Figure(self.count + other.count, self.yen + other.yen)


FIGURE_KEYS = ("issued", "redeemed", "expired", "open", "withdrawn")


def totals_by_fund(fund_ids) -> dict[int, dict[str, Figure]]:
    """Each fund's coupons issued, redeemed, expired and open (count and yen), from the
    coupons themselves; issued = redeemed + expired + open always. Coupons withdrawn
    with their cancelled stay gave their yen back to the budget: counted apart
    ("withdrawn"), never as issued."""
    ids = list(fund_ids)
    result = {fund_id: dict.fromkeys(FIGURE_KEYS, Figure()) for fund_id in ids}
    if not ids:
        return result
    rows = db.session.execute(
        select(
            Coupon.fund_id,
            Coupon.status,
            Coupon.void_reason,
            func.count(),
            func.coalesce(func.sum(Coupon.amount), 0),
        )
        .where(Coupon.fund_id.in_(ids))
        .group_by(Coupon.fund_id, Coupon.status, Coupon.void_reason)
    ).all()
    for fund_id, status, void_reason, count, yen in rows:
        figure = Figure(int(count), int(yen))
        figures = result[fund_id]
        if status == CouponStatus.EXPIRED and void_reason in WITHDRAWN:
            figures["withdrawn"] = figures["withdrawn"] + figure
            continue
        figures[str(status)] = figures[str(status)] + figure
        figures["issued"] = figures["issued"] + figure
    return result


def totals(fund_id: int) -> dict[str, Figure]:
    """A fund's figures: ``{"issued", "redeemed", "expired", "open"}`` → ``Figure(count,
    yen)``."""
    return totals_by_fund([fund_id])[fund_id]


def month_range(month: date) -> tuple[datetime, datetime]:
    """The instants a Japan calendar month spans: [its first day 00:00, the next's)."""
    first, following = month_bounds(month)
    return tokyo_midnight(first), tokyo_midnight(following)


@dataclass(frozen=True)
class StatementRow:
    """One shop's redemptions of a fund in a month: what the funder pays it."""

    shop_id: int
    name: str
    category: str
    address: str
    count: int
    yen: int


def monthly_statement(fund_id: int, month: date) -> list[StatementRow]:
    """The fund's redemptions in ``month`` (a Japan month) by shop, by shop name."""
    start, end = month_range(month)
    rows = db.session.execute(
        select(
            LocalShop.id,
            LocalShop.name,
            LocalShop.category,
            LocalShop.address,
            func.count(CouponRedemption.id),
            func.coalesce(func.sum(CouponRedemption.amount), 0),
        )
        .join(LocalShop, LocalShop.id == CouponRedemption.shop_id)
        .where(
            CouponRedemption.fund_id == fund_id,
            CouponRedemption.redeemed_at >= start,
            CouponRedemption.redeemed_at < end,
        )
        .group_by(LocalShop.id, LocalShop.name, LocalShop.category, LocalShop.address)
        .order_by(LocalShop.name, LocalShop.id)
    ).all()
    return [StatementRow(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]


def statement_csv(fund: CouponFund, month: date, rows: list[StatementRow]) -> str:
    """The statement as CSV for Excel (UTF-8 with a byte-order mark), a total last."""
    header = [
        _("Fund"),
        _("Month"),
        _("Shop"),
        _("Category"),
        _("Address"),
        _("Coupons redeemed"),
        _("Amount (yen)"),
    ]
    body = [
        [fund.name, f"{month:%Y-%m}", r.name, category_label(r.category), r.address, r.count, r.yen]
        for r in rows
    ]
    body.append(
        [
            fund.name,
            f"{month:%Y-%m}",
            _("Total"),
            "",
            "",
            sum(r.count for r in rows),
            sum(r.yen for r in rows),
        ]
    )
    return write_csv(header, body)


def shop_redemptions(shop_id: int, start: datetime, end: datetime) -> list[CouponRedemption]:
    """A shop's redemptions in [start, end), newest first."""
    return list(
        db.session.scalars(
            select(CouponRedemption)
            .where(
                CouponRedemption.shop_id == shop_id,
                CouponRedemption.redeemed_at >= start,
                CouponRedemption.redeemed_at < end,
            )
            .order_by(CouponRedemption.redeemed_at.desc(), CouponRedemption.id.desc())
        )
    )


def shop_redemption(shop_id: int, redemption_id: int) -> CouponRedemption | None:
    """One of the shop's redemptions; another shop's is not found."""
    if not in_id_range(redemption_id):
        return None
    return db.session.scalar(
        select(CouponRedemption).where(
            CouponRedemption.id == redemption_id, CouponRedemption.shop_id == shop_id
        )
    )


def coupons_of_user(user_id: int) -> list[Coupon]:
    """A guest's coupons, by stay and number."""
    return list(
        db.session.scalars(
            select(Coupon)
            .where(Coupon.user_id == user_id)
            .order_by(Coupon.valid_from.desc(), Coupon.booking_id, Coupon.fund_id, Coupon.seq)
        )
    )


def stays_with_coupons(booking_ids) -> set[int]:
    ids = list(booking_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(Coupon.booking_id).where(Coupon.booking_id.in_(ids))))
