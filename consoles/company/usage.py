"""What a company's people used: nights and credit by employee and by month, stays ahead,
and the accommodation tax (宿泊税) their stays paid from the stay credit, which is not on
any invoice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from accounts.models import User
from billing.models import CreditEntry, EntryKind
from booking.models import (
    CHARGED_STATUSES,
    LIVE_STATUSES,
    OPEN_STATUSES,
    Booking,
    BookingNight,
)
from core.extensions import db
from facilities.models import Unit


@dataclass(frozen=True)
class UsageRow:
    key: str  # employee name or month "2027-01"
    nights: int
    yen: int
    tax: int = 0  # accommodation tax paid from the credit (net of its refunds)


def _tax_entries(company_id: int):
    return CreditEntry.company_id == company_id, CreditEntry.kind == EntryKind.ACCOMMODATION_TAX


def usage_by_employee(company_id: int) -> list[UsageRow]:
    """Nights and credit of confirmed stays, by employee (cancelled stays count what was
    kept), and the accommodation tax their stays paid (refunds of it deducted)."""
    spent = (
        select(
            CreditEntry.user_id,
            func.sum(CreditEntry.amount).label("yen"),
        )
        .where(
            CreditEntry.company_id == company_id,
            CreditEntry.kind.in_((EntryKind.SPEND, EntryKind.CHANGE, EntryKind.REFUND)),
        )
        .group_by(CreditEntry.user_id)
        .subquery()
    )
    tax = (
        select(CreditEntry.user_id, func.sum(CreditEntry.amount).label("tax"))
        .where(*_tax_entries(company_id))
        .group_by(CreditEntry.user_id)
        .subquery()
    )
    nights = (
        select(Booking.user_id, func.count(BookingNight.night).label("nights"))
        .join(BookingNight, BookingNight.booking_id == Booking.id)
        .where(Booking.company_id == company_id, Booking.status.in_(CHARGED_STATUSES))
        .group_by(Booking.user_id)
        .subquery()
    )
    rows = db.session.execute(
        select(User.name, User.email, spent.c.yen, nights.c.nights, tax.c.tax)
        .select_from(User)
        .outerjoin(spent, spent.c.user_id == User.id)
        .outerjoin(nights, nights.c.user_id == User.id)
        .outerjoin(tax, tax.c.user_id == User.id)
        .where(User.company_id == company_id)
        .order_by(User.name)
    ).all()
    return [
        UsageRow(f"{name} <{email}>", int(n or 0), -int(yen or 0), -int(paid or 0))
        for name, email, yen, n, paid in rows
        if yen or n or paid
    ]


def usage_by_month(company_id: int) -> list[UsageRow]:
    """Nights and yen the company paid for per month of stay (charged stays, no-shows
    included, frozen prices), and the accommodation tax of the nights the stays kept:
    a live stay's nights before it gave any back (``booking.stay_tax.kept_tax``, the
    same rule). A no-show's tax and that of the nights an early check-out gave back
    were refunded in full."""
    kept = Booking.status.in_(LIVE_STATUSES) & (
        BookingNight.night < func.coalesce(Booking.released_on, Booking.check_out)
    )
    rows = db.session.execute(
        select(
            BookingNight.night,
            BookingNight.price,
            case((kept, BookingNight.accommodation_tax), else_=0),
        )
        .join(Booking, Booking.id == BookingNight.booking_id)
        .where(Booking.company_id == company_id, Booking.status.in_(CHARGED_STATUSES))
    ).all()
    months: dict[str, list[int]] = {}
    for night, price, tax in rows:
        bucket = months.setdefault(night.strftime("%Y-%m"), [0, 0, 0])
        bucket[0] += 1
        bucket[1] += price
        bucket[2] += tax
    return [UsageRow(month, n, yen, tax) for month, (n, yen, tax) in sorted(months.items())]


def tax_paid_in(company_id: int, periods: Sequence[tuple[datetime, datetime]]) -> list[int]:
    """The accommodation tax paid from the credit in each period [start, end) (by when
    the ledger recorded it, refunds deducted), in one read."""
    if not periods:
        return []
    first = min(start for start, _end in periods)
    last = max(end for _start, end in periods)
    entries = db.session.execute(
        select(CreditEntry.created_at, CreditEntry.amount).where(
            *_tax_entries(company_id),
            CreditEntry.created_at >= first,
            CreditEntry.created_at < last,
        )
    ).all()
    return [-sum(amount for at, amount in entries if start <= at < end) for start, end in periods]


def upcoming_stays(company_id: int, today: date, limit: int = 200) -> list[Booking]:
    return list(
        db.session.scalars(
            select(Booking)
            .options(joinedload(Booking.user), joinedload(Booking.unit).joinedload(Unit.facility))
            .where(
                Booking.company_id == company_id,
                Booking.status.in_(OPEN_STATUSES),
                Booking.check_out > today,
            )
            .order_by(Booking.check_in, Booking.id)
            .limit(limit)
        ).unique()
    )
