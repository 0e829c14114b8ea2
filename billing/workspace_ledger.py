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
- Changing a booking's time (``booking.workspace_change``) is allowed only while
  cancelling it would return everything (until ``FREE_CANCELLATION_HOURS`` before its
  current start), so a change is no way around the policy: a booking within 24 hours of
  its start cannot be moved far ahead and then cancelled in full. The difference of the
  prices is settled as ``change`` entries (``WorkspaceChangeMoney``): a dearer time is
  charged in full (checked like a booking), a cheaper one refunded in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from accounts.models import User
from billing.credit_alerts import warn_if_low
from billing.ledger import account_of, append, check_spend
from billing.models import CreditEntry, EntryKind
from core.extensions import db

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


@dataclass(frozen=True)
class WorkspaceChangeMoney:
    """What changing a booking of ``old_total`` yen to ``new_total`` does to the credit:
    a dearer time is ``charged`` the difference, a cheaper one ``refunded`` it, both in
    full. A booking changes only within its free cancellation (``booking.workspace_change``),
    where cancelling the difference would return all of it, so nothing is kept."""

    old_total: int
    new_total: int

    @property
    def difference(self) -> int:
        return self.new_total - self.old_total

    @property
    def charged(self) -> int:
        return max(0, self.difference)

    @property
    def refunded(self) -> int:
        return max(0, -self.difference)


def _spent(booking_id: int) -> bool:
    return (
        db.session.scalar(
            select(CreditEntry.id).where(
                CreditEntry.workspace_booking_id == booking_id,
                CreditEntry.kind == EntryKind.SPEND,
            )
        )
        is not None
    )


def charge_difference(booking, user: User, amount: int, now: datetime, grace_days: int) -> None:
    """Charge ``amount`` more yen for a changed booking under the account lock, checked
    as a booking is (``CreditRefused``). A booking that never spent (it was free) spends
    it, so a later cancellation finds it as any other."""
    if amount <= 0:
        return
    account = account_of(booking.company_id, lock=True)
    overage = check_spend(account, user, amount, now, grace_days, employee_cap=False)
    refs = {"workspace_booking_id": booking.id, "user_id": booking.user_id}
    if overage:
        append(account, EntryKind.OVERAGE, overage, now, user_id=user.id)
    kind = EntryKind.CHANGE if _spent(booking.id) else EntryKind.SPEND
    append(account, kind, -amount, now, **refs)
    warn_if_low(account, now)


def refund_difference(booking, amount: int, now: datetime) -> int:
    """Return ``amount`` yen of a changed booking's cheaper price to the company's credit
    (a ``change`` entry; the booking's ``refunded`` is for cancellations); the yen."""
    if amount <= 0:
        return 0
    account = account_of(booking.company_id, lock=True)
    refs = {"workspace_booking_id": booking.id, "user_id": booking.user_id}
    append(account, EntryKind.CHANGE, amount, now, **refs)
    return amount
