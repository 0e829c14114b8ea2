"""Workspace in the credit ledger, and its cancellation policy.

A workspace booking (a desk, booth or meeting room for a time) is paid from the same
stay credit as stays, entries carrying ``workspace_booking_id``:

- Booking spends its frozen price once (``spend``), checked like a stay (the
  subscription allows booking, the credit or the overage limit covers it). The
  employee's monthly yen cap is for stays; workspace has its own cap in hours
  (``Company.max_workspace_hours_per_month``, checked by ``booking.workspace``).
- Cancelling returns by the workspace policy (``workspace_refund``): everything until
  24 hours before the start, half after, nothing once it has begun. A no-show returns
  the price of the time it gave back (``booking.workspace_checkin``). Each booking is
  refunded at most once (unique per booking and kind).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from accounts.models import User
from billing.credit_alerts import warn_if_low
from billing.ledger import account_of, append, check_spend
from billing.models import EntryKind

FREE_CANCELLATION_HOURS = 24
LATE_REFUND_PERCENT = 50


@dataclass(frozen=True)
class WorkspaceTerms:
    """What cancelling a workspace booking of ``total`` yen returns, and until when:
    all before ``free_until``, ``late_percent`` % from then until ``starts_at``, nothing
    after (it has begun)."""

    total: int
    free_until: datetime
    starts_at: datetime
    late_percent: int = LATE_REFUND_PERCENT

    @property
    def late_refund(self) -> int:
        return self.total * self.late_percent // 100

    def refund_at(self, now: datetime) -> int:
        if now < self.free_until:
            return self.total
        if now < self.starts_at:
            return self.late_refund
        return 0


def workspace_terms(total: int, starts_at: datetime) -> WorkspaceTerms:
    return WorkspaceTerms(total, starts_at - timedelta(hours=FREE_CANCELLATION_HOURS), starts_at)


def workspace_refund(total: int, starts_at: datetime, now: datetime) -> int:
    """Yen back for cancelling at ``now`` a booking of ``total`` starting ``starts_at``."""
    return workspace_terms(total, starts_at).refund_at(now)


def spend_for_workspace(bookings: Sequence, user: User, now: datetime, grace_days: int) -> None:
    """Spend each booking's frozen ``total_price`` from its company's credit under the
    account lock: all of them fit the credit (with overage up to its limit) or none is
    charged (``CreditRefused``)."""
    if not bookings:
        return
    company_id = bookings[0].company_id
    total = sum(b.total_price for b in bookings)
    account = account_of(company_id, lock=True)
    overage = check_spend(account, user, total, now, grace_days, employee_cap=False)
    if overage:
        append(account, EntryKind.OVERAGE, overage, now, user_id=user.id)
    for booking in bookings:
        if booking.total_price:
            refs = {"workspace_booking_id": booking.id, "user_id": user.id}
            append(account, EntryKind.SPEND, -booking.total_price, now, **refs)
    if total:
        warn_if_low(account, now)


def refund_workspace(booking, amount: int, now: datetime) -> int:
    """Return ``amount`` yen (at most the booking's price less what it had back) of a
    charged workspace booking to its company's credit; the yen returned."""
    amount = max(0, min(amount, booking.total_price - (booking.refunded or 0)))
    if amount:
        account = account_of(booking.company_id, lock=True)
        refs = {"workspace_booking_id": booking.id, "user_id": booking.user_id}
        append(account, EntryKind.REFUND, amount, now, **refs)
    return amount
