"""The cancellation policy as an employee reads it: dated periods and what each returns.

The policy itself is billing's (``billing.refunds.cancellation_policy``); this only
puts it into the shape the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from billing import ledger, refunds
from billing.refunds import CancellationPolicy, cancellation_policy
from booking.models import Booking
from core.db import tokyo_today


@dataclass(frozen=True)
class TermsPeriod:
    first: date  # the first day of the period
    last: date | None  # its last day; None: from ``first`` on
    refund_percent: int
    current: bool  # today falls in it

    @property
    def from_check_in(self) -> bool:
        return self.last is None


@dataclass(frozen=True)
class StayTerms:
    policy: CancellationPolicy
    today: date

    @property
    def check_in(self) -> date:
        return self.policy.check_in

    @property
    def free_until(self) -> date:
        return self.policy.free_until

    @property
    def free_now(self) -> bool:
        return self.today <= self.free_until

    @property
    def percent_now(self) -> int:
        return self.policy.percent_on(self.today)

    def refund_now(self, total: int) -> int:
        return self.policy.refund_on(total, self.today)

    def periods(self) -> list[TermsPeriod]:
        """The policy's bands from today on, each with its dates (empty bands left out)."""
        bands = self.policy.bands
        out = []
        for i, band in enumerate(bands):
            last = bands[i + 1].starts - timedelta(days=1) if i + 1 < len(bands) else None
            if last is not None and (last < band.starts or last < self.today):
                continue
            first = max(band.starts, self.today)
            current = first <= self.today and (last is None or self.today <= last)
            out.append(TermsPeriod(first, last, band.refund_percent, current))
        return out


def stay_terms(check_in: date, today: date, booked_on: date | None = None) -> StayTerms:
    return StayTerms(cancellation_policy(check_in, booked_on or today), today)


@dataclass(frozen=True)
class CancellationTerms:
    """The policy of one stay and what cancelling it today would return, for pages and API."""

    policy: CancellationPolicy
    paid: int  # what the stay holds of the company's credit (spend and changes)
    refund_if_cancelled_now: int  # 0 for a cancelled stay or one that has begun
    kept_if_cancelled_now: int
    refund_percent_now: int  # the policy's band today (100, 50 or 0)


def policy_of(booking: Booking) -> CancellationPolicy:
    """The policy of a stay as booked (its check-in, and the Japan day it was booked)."""
    return cancellation_policy(booking.check_in, tokyo_today(booking.created_at))


def cancellation_terms_of(bookings: list[Booking], today: date) -> dict[int, CancellationTerms]:
    """``cancellation_terms`` of many stays at once (one query for what they hold)."""
    held = ledger.paid_for(b.id for b in bookings)
    out = {}
    for booking in bookings:
        policy = policy_of(booking)
        paid = held[booking.id]
        refund = kept = 0
        if booking.is_confirmed and booking.check_in > today:
            refund = refunds.cancellation_refund(
                booking.total_price,
                paid,
                booking.check_in,
                today,
                employee_part=booking.employee_part,
            )
            kept = max(0, min(paid, booking.total_price) - refund)
        out[booking.id] = CancellationTerms(policy, paid, refund, kept, policy.percent_on(today))
    return out


def cancellation_terms(booking: Booking, today: date) -> CancellationTerms:
    """The stay's cancellation policy, what it holds, and what cancelling today returns."""
    return cancellation_terms_of([booking], today)[booking.id]
