"""The cancellation policy as an employee reads it: dated periods and what each returns.

The policy itself is the ledger's (``billing.ledger.cancellation_policy``); this only
puts it into the shape the pages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from billing.ledger import CancellationPolicy, cancellation_policy


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
