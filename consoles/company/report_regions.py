"""The company outcome report's regional figures (issue 20): what its people took part in
and spent in the regions over the report's period (``consoles.company.report_scope``),
read for ``consoles.company.report.outcome_report``. Walled as the rest of the report:
the company's sign-ups and coupons only, a manager's those of the people who report to
them.

- **Regional programmes.** The sign-ups still joined of the people in scope to
  programme sessions starting in the period (Tokyo dates): sign-ups, participants (the
  employees and their companions), the people who joined, and the participants of the
  sign-ups the organiser marked attended (the rate: attended ÷ the participants marked
  either way; None when none is). A cancelled session's sign-ups are cancelled: out.
- **Local spend.** The local coupons (地域クーポン) of the scope's stays that their
  guests redeemed at local shops in the period (Tokyo dates): count and yen, by the
  shop's category; whoever funded them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select

from accounts.models import User
from booking.models import Booking
from consoles.company.report_numbers import ratio
from consoles.company.report_scope import Period, Scope
from core.extensions import db
from regions.models import (
    Coupon,
    CouponRedemption,
    LocalShop,
    ProgrammeSession,
    ProgrammeSignup,
    ShopCategory,
    SignupStatus,
)
from regions.retention import people_in_signups


@dataclass(frozen=True)
class ProgrammeUse:
    """The scope's people in regional programmes over the period."""

    signups: int = 0
    participants: int = 0  # the employees and their companions
    people: int = 0
    marked: int = 0  # participants of the sign-ups whose attendance is marked
    attended: int = 0

    @property
    def attendance_rate(self) -> float | None:
        return ratio(self.attended, self.marked) if self.marked else None


SHOP_CATEGORY_LABELS = {
    ShopCategory.CAFE: _l("Cafés"),
    ShopCategory.RESTAURANT: _l("Restaurants"),
    ShopCategory.SHOP: _l("Shops and souvenirs"),
    ShopCategory.ONSEN: _l("Hot springs and baths"),
    ShopCategory.ACTIVITY: _l("Activities"),
    ShopCategory.TRANSPORT: _l("Transport"),
    ShopCategory.OTHER: _l("Other"),
}


@dataclass(frozen=True)
class SpendRow:
    category: str
    count: int
    yen: int

    @property
    def label(self) -> str:
        return str(SHOP_CATEGORY_LABELS.get(self.category, self.category))


@dataclass(frozen=True)
class LocalSpend:
    """The local coupons of the scope's stays redeemed in the period, by shop category."""

    by_category: list[SpendRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(row.count for row in self.by_category)

    @property
    def yen(self) -> int:
        return sum(row.yen for row in self.by_category)


def _in_scope(query: Select, scope: Scope, user_id) -> Select:
    """``query`` walled to the scope's people (``user_id``: the column naming them)."""
    query = query.join(User, User.id == user_id).where(User.company_id == scope.company_id)
    if scope.manager_id is not None:
        query = query.where(User.manager_id == scope.manager_id)
    return query


def programme_use(scope: Scope, period: Period) -> ProgrammeUse:
    """The sign-ups still joined of the scope's people to sessions starting in ``period``."""
    start, end = period.instants()
    participants = ProgrammeSignup.participants
    query = (
        select(
            func.count(ProgrammeSignup.id),
            func.coalesce(func.sum(participants), 0),
            people_in_signups(),
            func.coalesce(
                func.sum(case((ProgrammeSignup.attended.is_(None), 0), else_=participants)), 0
            ),
            func.coalesce(
                func.sum(case((ProgrammeSignup.attended.is_(True), participants), else_=0)), 0
            ),
        )
        .select_from(ProgrammeSignup)
        .join(ProgrammeSession, ProgrammeSession.id == ProgrammeSignup.session_id)
        .where(
            ProgrammeSignup.company_id == scope.company_id,
            ProgrammeSignup.status == SignupStatus.JOINED,
            ProgrammeSession.starts_at >= start,
            ProgrammeSession.starts_at < end,
        )
    )
    if scope.manager_id is not None:  # a manager's team: sign-ups still naming someone
        query = _in_scope(query, scope, ProgrammeSignup.user_id)
    signups, joined, people, marked, attended = db.session.execute(query).one()
    return ProgrammeUse(int(signups), int(joined), int(people), int(marked), int(attended))


def local_spend(scope: Scope, period: Period) -> LocalSpend:
    """The coupons of the scope's stays redeemed in ``period``, by shop category."""
    start, end = period.instants()
    query = (
        select(
            LocalShop.category,
            func.count(CouponRedemption.id),
            func.coalesce(func.sum(CouponRedemption.amount), 0),
        )
        .select_from(CouponRedemption)
        .join(Coupon, Coupon.id == CouponRedemption.coupon_id)
        .join(Booking, Booking.id == Coupon.booking_id)
        .join(LocalShop, LocalShop.id == CouponRedemption.shop_id)
        .where(
            Booking.company_id == scope.company_id,
            CouponRedemption.redeemed_at >= start,
            CouponRedemption.redeemed_at < end,
        )
        .group_by(LocalShop.category)
    )
    rows = {
        category: (int(count), int(yen))
        for category, count, yen in db.session.execute(_in_scope(query, scope, Coupon.user_id))
    }
    known = [c.value for c in ShopCategory]
    order = known + sorted(set(rows) - set(known))
    return LocalSpend([SpendRow(c, *rows[c]) for c in order if c in rows])
