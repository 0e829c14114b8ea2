"""A stay's cancellation policy and how a refund splits between its payers, in yen.

Pure rules, no database: the policy's dated bands (all back until 3 days before
check-in, half after, none from the check-in day), what cancelling on a day returns,
and the split of a refund of a co-paid stay between the company's credit and the
employee's card (``split_refund``: in proportion to the parts, the company's share
rounded down, each payer at most what they hold). ``billing.ledger`` records the
refunds and the changes' settlements by these rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

FREE_CANCELLATION_DAYS = 3  # days before check-in; after that half is refunded


@dataclass(frozen=True)
class RefundBand:
    """From ``starts`` (a Tokyo date) on, a cancellation refunds ``refund_percent`` of the stay."""

    starts: date
    refund_percent: int


@dataclass(frozen=True)
class CancellationPolicy:
    """The one cancellation policy the ledger enforces, as dates for one stay.

    Free (100% back) until ``free_until`` inclusive, half back from the next day, and
    nothing once the stay has begun (check-in day on). Shown to employees wherever a
    stay is chosen or held, and what ``refund_amount`` computes.
    """

    check_in: date
    bands: tuple[RefundBand, ...]

    @property
    def free_until(self) -> date:
        return self.bands[1].starts - timedelta(days=1)

    def percent_on(self, today: date) -> int:
        percent = self.bands[0].refund_percent
        for band in self.bands:
            if today >= band.starts:
                percent = band.refund_percent
        return percent

    def refund_on(self, total: int, today: date) -> int:
        """Yen back for a stay of ``total`` cancelled on ``today`` (half rounds down)."""
        percent = self.percent_on(today)
        return total if percent == 100 else total * percent // 100

    def as_json(self) -> dict:
        """``free_until`` and the bands that cover at least one day (a stay booked inside
        the late window has no free band: ``free_until`` is then before its booking)."""
        bands = [
            b
            for b, following in zip(self.bands, (*self.bands[1:], None), strict=True)
            if following is None or following.starts > b.starts
        ]
        return {
            "free_until": self.free_until.isoformat(),
            "bands": [
                {"from": b.starts.isoformat(), "refund_percent": b.refund_percent} for b in bands
            ],
        }


LATE_CANCELLATION_REFUND_PERCENT = 50


def cancellation_policy(check_in: date, booked_on: date = date.min) -> CancellationPolicy:
    """The policy's bands for a stay starting ``check_in``: 100%, then 50%, then 0%.

    ``booked_on`` (the Tokyo date the stay was or would be booked) starts the first band.
    """
    late = check_in - timedelta(days=FREE_CANCELLATION_DAYS - 1)
    return CancellationPolicy(
        check_in,
        (
            RefundBand(min(booked_on, late), 100),
            RefundBand(late, LATE_CANCELLATION_REFUND_PERCENT),
            RefundBand(check_in, 0),
        ),
    )


def refund_amount(total: int, check_in: date, today: date) -> int:
    """Cancellation policy: all until 3 days before check-in, half after, none once begun."""
    return cancellation_policy(check_in).refund_on(total, today)


def cancellation_refund(
    total: int, held: int, check_in: date, today: date, *, employee_part: int = 0
) -> int:
    """Yen back to the company's credit for cancelling on ``today`` a stay whose nights cost
    ``total`` and that holds ``held`` (its spend and changes): the policy's share of the
    nights' price, at most what the stay holds (a fee already kept by a late change is
    not charged again). Of a co-paid stay (``employee_part`` paid by the employee), the
    company's share of it only (``split_refund``)."""
    refund = refund_amount(total, check_in, today)
    return max(0, min(held, company_share(refund, total, employee_part)))


@dataclass(frozen=True)
class RefundSplit:
    """A refund of a stay, in yen, between its two payers: ``company`` (to the stay
    credit) and ``employee`` (to the card they paid their part with)."""

    company: int
    employee: int

    @property
    def total(self) -> int:
        return self.company + self.employee


def company_share(refund: int, total: int, employee_part: int) -> int:
    """The company's share of ``refund`` yen given back on a stay of ``total`` yen of which
    the employee paid ``employee_part``: in proportion to the company's part, rounded
    down (the employee's share is the rest, so the two add up to ``refund``)."""
    if total <= 0 or employee_part <= 0:
        return refund
    return refund * (total - employee_part) // total


def split_refund(
    refund: int, total: int, employee_part: int, *, company_held: int, employee_held: int
) -> RefundSplit:
    """Split ``refund`` (at most ``total``) between the company and the employee in
    proportion to their parts (the remainder rule: the company's share rounded down,
    the employee's the rest), each at most what that payer holds: ``company_held`` of
    the credit, ``employee_held`` of their card payment not refunded yet."""
    refund = max(0, min(refund, total))
    company = company_share(refund, total, employee_part)
    employee = refund - company
    return RefundSplit(max(0, min(company, company_held)), max(0, min(employee, employee_held)))


def cancellation_split(
    total: int,
    employee_part: int,
    check_in: date,
    today: date,
    *,
    company_held: int,
    employee_held: int,
    full: bool = False,
) -> RefundSplit:
    """What cancelling on ``today`` gives back to each payer of a stay: the policy's refund
    of the stay's ``total`` split by ``split_refund``; ``full`` (the company ended the
    stay, not the employee): everything each payer holds."""
    if full:
        return RefundSplit(max(0, company_held), max(0, employee_held))
    return split_refund(
        refund_amount(total, check_in, today),
        total,
        employee_part,
        company_held=company_held,
        employee_held=employee_held,
    )
