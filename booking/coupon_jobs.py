"""The local coupons' jobs (地域クーポン, ``regions.coupons``), and a stay's coupons
issued from its facts.

- ``issue_coupons`` (every 10 minutes): each fund still issuing finds the stays it pays
  for that have none of its coupons yet (confirmed or in the house, not yet checked
  out, checking in within the fund's dates, in its municipality; a company's fund only
  its own employees') and issues them; then the open coupons of stays cancelled,
  rejected, expired or never begun (no-show) are withdrawn.
- ``expire_coupons`` (daily): open coupons past their last day expire.

Both take ``now``, commit their own work and are idempotent: a stay's coupons are made
once (``UNIQUE(fund_id, booking_id, seq)`` under the fund's lock), a withdrawn or
expired coupon is no longer open.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from booking.models import OPEN_STATUSES, Booking, BookingStatus
from core.db import tokyo_today
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary
from core.scheduler import JobSpec
from facilities.models import Facility, Unit
from facilities.municipalities import facility_code
from regions import coupons
from regions.models import Coupon, CouponFund, CouponStatus

# Stays that never were (or no longer are) in the house: their open coupons go.
ENDED_STATUSES = (
    BookingStatus.CANCELLED,
    BookingStatus.REJECTED,
    BookingStatus.EXPIRED,
    BookingStatus.NO_SHOW,
)
LONGEST_STAY = timedelta(days=90)  # a fund that ended this long ago pays no stay still on
BATCH = 500  # stays looked at per fund and run; the next run goes on


def issue_for_booking(booking: Booking, now: datetime) -> list[Coupon]:
    """Issue a confirmed (or in-house) stay's coupons from the funds that pay for it
    (flushes); none for another status. Its municipality is its facility's."""
    if booking.status not in OPEN_STATUSES:
        return []
    return coupons.issue_for_stay(
        booking_id=booking.id,
        user_id=booking.user_id,
        company_id=booking.company_id,
        municipality_code=facility_code(booking.unit.facility),
        check_in=booking.check_in,
        check_out=booking.check_out,
        guests=booking.guests,
        now=now,
    )


def _issuing_funds(today: date) -> list[CouponFund]:
    """Funds that may still issue: active, with a whole coupon left in the budget, and
    not ended so long ago that no stay they pay for is still on."""
    return list(
        db.session.scalars(
            select(CouponFund)
            .where(
                CouponFund.active.is_(True),
                CouponFund.ends_on >= today - LONGEST_STAY,
                CouponFund.starts_on <= today + LONGEST_STAY * 8,
                CouponFund.issued + CouponFund.yen_per_guest_night <= CouponFund.budget,
            )
            .order_by(CouponFund.id)
        )
    )


def _stays_for(fund: CouponFund, today: date) -> list[Booking]:
    """Stays the fund pays for that have none of its coupons: in its prefecture by the
    query, in its municipality by the facility's postal code (or place name)."""
    has_coupons = exists().where(Coupon.fund_id == fund.id, Coupon.booking_id == Booking.id)
    query = (
        select(Booking)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            Booking.status.in_(OPEN_STATUSES),
            Booking.check_out >= today,
            Booking.check_in >= fund.starts_on,
            Booking.check_in <= fund.ends_on,
            Facility.prefecture == int(fund.municipality_code[:2]),
            ~has_coupons,
        )
        .options(selectinload(Booking.unit).selectinload(Unit.facility))
        .order_by(Booking.id)
        .limit(BATCH)
    )
    if fund.company_id is not None:
        query = query.where(Booking.company_id == fund.company_id)
    return [
        b
        for b in db.session.scalars(query).all()
        if facility_code(b.unit.facility) == fund.municipality_code
    ]


def issue_coupons(now: datetime) -> JobSummary:
    """Issue the coupons of stays the funds pay for, then withdraw those of stays that
    ended without being stayed (a job: commits per stay)."""
    today = tokyo_today(now)
    issued = stays = 0
    for fund_id in [f.id for f in _issuing_funds(today)]:
        fund = db.session.get(CouponFund, fund_id)
        for booking in _stays_for(fund, today):
            made = issue_for_booking(booking, now)
            issued += len(made)
            stays += 1 if made else 0
            db.session.commit()  # per stay: its funds' locks are taken in id order
        db.session.commit()
    withdrawn = withdraw_ended(now)
    return joined(
        summary(N_("%(coupons)d coupons issued for %(stays)d stays"), coupons=issued, stays=stays),
        summary(N_("%(n)d coupons of ended stays withdrawn"), n=withdrawn),
    )


def withdraw_ended(now: datetime) -> int:
    """Withdraw the open coupons of stays cancelled, rejected, expired or never begun
    (commits); returns how many."""
    booking_ids = db.session.scalars(
        select(Coupon.booking_id)
        .join(Booking, Booking.id == Coupon.booking_id)
        .where(Coupon.status == CouponStatus.OPEN, Booking.status.in_(ENDED_STATUSES))
        .group_by(Coupon.booking_id)
        .order_by(Coupon.booking_id)
        .limit(BATCH)
    ).all()
    withdrawn = sum(coupons.withdraw_for_stay(booking_id, now) for booking_id in booking_ids)
    db.session.commit()
    return withdrawn


def expire_coupons(now: datetime) -> JobSummary:
    """Expire open coupons whose last day has passed (a job: commits)."""
    expired = coupons.expire_due(now)
    db.session.commit()
    return summary(N_("%(n)d coupons expired"), n=expired)


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "issue_coupons",
        issue_coupons,
        "interval",
        lambda config: {"minutes": 10},
        _l(
            "Issue local coupons for stays in funded municipalities, and withdraw those of"
            " cancelled stays"
        ),
    ),
    JobSpec(
        "expire_coupons",
        expire_coupons,
        "cron",
        lambda config: {"hour": 0, "minute": 20},
        _l("Expire local coupons whose last day has passed"),
    ),
)


def refresh_for_booking(booking: Booking, now: datetime) -> int:
    """A stay's coupons after a change, a move or an early departure: the open ones
    withdrawn and what the stay is now entitled to issued again (flushes; the caller
    holds the stay's lock and takes the billing account's lock after this)."""
    departure = booking.released_on or booking.check_out
    return coupons.refresh_for_stay(
        booking_id=booking.id,
        user_id=booking.user_id,
        company_id=booking.company_id,
        municipality_code=facility_code(booking.unit.facility),
        check_in=booking.check_in,
        check_out=min(departure, booking.check_out),
        guests=booking.guests,
        now=now,
    )
