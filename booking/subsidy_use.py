"""How much of an employee's yearly subsidy their stays use, and a new stay's split.

The company's part of a stay (``hr.subsidy``) counts against the employee's yearly
cap in the fiscal year of its check-in night:

- a stay that waits (approval, the employee's payment) counts its company part;
- a stay that was charged counts what it still holds of the company's credit: its
  spend and changes net of its refunds (``billing.ledger.STAY_KINDS`` and refunds), so
  a cancellation gives back to the cap what it gave back to the company; the
  accommodation tax is outside the cap, as it is outside the subsidy.

``book_stay`` locks the employee's row before it reads this, so two bookings of one
employee at once are counted one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select

from accounts.models import Company, User
from billing.ledger import STAY_KINDS
from billing.models import CreditEntry, EntryKind
from booking.models import WAITING_STATUSES, Booking
from core.extensions import db
from hr.models import GroupPolicy
from hr.policy import policy_for
from hr.subsidy import NO_COMPANIONS, Companions, Split, fiscal_year, split_stay


def subsidy_used(user_id: int, start: date, end: date, *, excluding: int | None = None) -> int:
    """The company's parts of the employee's stays with a check-in in [start, end)."""
    in_year = (
        Booking.user_id == user_id,
        Booking.check_in >= start,
        Booking.check_in < end,
        Booking.id != (excluding or 0),
    )
    waiting = db.session.scalar(
        select(func.coalesce(func.sum(Booking.total_price - Booking.employee_part), 0)).where(
            *in_year, Booking.status.in_(WAITING_STATUSES)
        )
    )
    charged = db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0))
        .join(Booking, Booking.id == CreditEntry.booking_id)
        .where(*in_year, CreditEntry.kind.in_((*STAY_KINDS, EntryKind.REFUND)))
    )
    return int(waiting) - int(charged)  # spends are negative entries


def remaining_subsidy(
    user: User, day: date, *, policy: GroupPolicy | None = None, excluding: int | None = None
) -> int | None:
    """What is left of ``user``'s yearly subsidy in the fiscal year of ``day`` (None: their
    policy has no cap)."""
    policy = policy if policy is not None else policy_for(user)
    if policy is None or policy.annual_cap is None:
        return None
    company = db.session.get(Company, user.company_id)
    start, end = fiscal_year(day, company.fiscal_year_start_month)
    return max(0, policy.annual_cap - subsidy_used(user.id, start, end, excluding=excluding))


def stay_split(
    user: User,
    check_in: date,
    prices: Sequence[int],
    companions: Companions = NO_COMPANIONS,
    *,
    excluding: int | None = None,
) -> Split:
    """The split of a stay of ``user`` beginning ``check_in`` at ``prices``, by their
    policy and what is left of their yearly subsidy."""
    policy = policy_for(user)
    remaining = remaining_subsidy(user, check_in, policy=policy, excluding=excluding)
    return split_stay(policy, prices, companions, remaining=remaining)
