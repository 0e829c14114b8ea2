"""What a company's people used: nights and credit by employee and by month, stays ahead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from accounts.models import User
from billing.models import CreditEntry, EntryKind
from booking.models import CHARGED_STATUSES, OPEN_STATUSES, Booking, BookingNight
from core.extensions import db
from facilities.models import Unit


@dataclass(frozen=True)
class UsageRow:
    key: str  # employee name or month "2027-01"
    nights: int
    yen: int


def usage_by_employee(company_id: int) -> list[UsageRow]:
    """Nights and credit of confirmed stays, by employee (cancelled stays count what was kept)."""
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
    nights = (
        select(Booking.user_id, func.count(BookingNight.night).label("nights"))
        .join(BookingNight, BookingNight.booking_id == Booking.id)
        .where(Booking.company_id == company_id, Booking.status.in_(CHARGED_STATUSES))
        .group_by(Booking.user_id)
        .subquery()
    )
    rows = db.session.execute(
        select(User.name, User.email, spent.c.yen, nights.c.nights)
        .select_from(User)
        .outerjoin(spent, spent.c.user_id == User.id)
        .outerjoin(nights, nights.c.user_id == User.id)
        .where(User.company_id == company_id)
        .order_by(User.name)
    ).all()
    return [
        UsageRow(f"{name} <{email}>", int(n or 0), -int(yen or 0))
        for name, email, yen, n in rows
        if yen or n
    ]


def usage_by_month(company_id: int) -> list[UsageRow]:
    """Nights stayed and yen spent per month of stay (confirmed stays, frozen prices)."""
    rows = db.session.execute(
        select(BookingNight.night, BookingNight.price)
        .join(Booking, Booking.id == BookingNight.booking_id)
        .where(Booking.company_id == company_id, Booking.status.in_(CHARGED_STATUSES))
    ).all()
    months: dict[str, list[int]] = {}
    for night, price in rows:
        bucket = months.setdefault(night.strftime("%Y-%m"), [0, 0])
        bucket[0] += 1
        bucket[1] += price
    return [UsageRow(month, n, yen) for month, (n, yen) in sorted(months.items())]


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
