"""Who pays what of a stay: the company's subsidy and the employee's part (co-pay).

The stay's price (``Booking.total_price``, tax included) splits into the company's
part, paid from the stay credit, and the employee's part, paid by card. The policy
that applies (``hr.policy.policy_for``) sets the subsidy:

- ``full`` (a company that set nothing): the company pays every night;
- ``fixed``: ``subsidy_amount`` yen per person-night;
- ``percent``: ``subsidy_amount`` percent of each night's price, at most
  ``subsidy_max`` yen per person-night when set;
- ``none``: the employee pays every night.

A person is the employee and each companion whose category's rule is ``subsidised``;
a companion under ``rate`` brings the company's fixed companion rate for each of their
nights; a companion under ``employee`` brings nothing. A night's company part is never
more than its price.

**The remainder rule.** Amounts are integer yen. A percentage of a night is rounded
down (切り捨て) for the company's part, so the employee's part of that night is its
price minus the company's part: the two parts add up to the night's price, and the
nights' parts to the stay's total, with no yen lost or made up.

The yearly cap (``annual_cap``) bounds the company's parts of one employee's stays
over the company's fiscal year (``Company.fiscal_year_start_month``, April by
default); a stay belongs to the year of its check-in night. Past the cap the employee
pays the rest. What is already used is counted by the booking layer under the
employee's row lock (``booking.subsidy_use``), so two bookings at once cannot both
spend the last of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from hr.models import CompanionCategory, CompanionRule, GroupPolicy, SubsidyKind

MAX_COMPANIONS = 19  # with the employee, the most guests a stay takes (booking.MAX_GUESTS)


@dataclass(frozen=True)
class Companions:
    """Who comes along with the employee, by category (大人 / 子ども / 乳幼児)."""

    adults: int = 0
    children: int = 0
    infants: int = 0

    @property
    def count(self) -> int:
        return self.adults + self.children + self.infants

    def of(self, category: CompanionCategory) -> int:
        return {
            CompanionCategory.ADULT: self.adults,
            CompanionCategory.CHILD: self.children,
            CompanionCategory.INFANT: self.infants,
        }[category]


NO_COMPANIONS = Companions()


@dataclass(frozen=True)
class Split:
    """A stay's price in two parts that add up: ``company + employee == total``.

    ``remaining``: what was left of the employee's yearly subsidy before this stay
    (None: no cap). ``capped``: the cap made the company's part smaller than the
    policy alone would have."""

    total: int
    company: int
    employee: int
    remaining: int | None = None
    capped: bool = False

    @property
    def remaining_after(self) -> int | None:
        return None if self.remaining is None else self.remaining - self.company


def _rule(policy: GroupPolicy, category: CompanionCategory) -> tuple[str, int]:
    return {
        CompanionCategory.ADULT: (policy.companion_adult, policy.companion_adult_rate),
        CompanionCategory.CHILD: (policy.companion_child, policy.companion_child_rate),
        CompanionCategory.INFANT: (policy.companion_infant, policy.companion_infant_rate),
    }[category]


def night_company_part(policy: GroupPolicy | None, price: int, companions: Companions) -> int:
    """What the company pays of one night priced ``price`` (0 ≤ part ≤ price)."""
    if price <= 0:
        return 0
    kind = SubsidyKind.FULL if policy is None else SubsidyKind(policy.subsidy_kind)
    if kind is SubsidyKind.FULL:
        return price
    if kind is SubsidyKind.NONE:
        return 0
    persons = 1  # the employee
    rates = 0
    for category in CompanionCategory:
        rule, rate = _rule(policy, category)
        if rule == CompanionRule.SUBSIDISED:
            persons += companions.of(category)
        elif rule == CompanionRule.RATE:
            rates += rate * companions.of(category)
    if kind is SubsidyKind.FIXED:
        part = policy.subsidy_amount * persons
    else:  # PERCENT: of the night's price, at most the maximum per person-night
        part = price * policy.subsidy_amount // 100  # rounded down: the remainder rule
        if policy.subsidy_max is not None:
            part = min(part, policy.subsidy_max * persons)
    return min(price, part + rates)


def split_stay(
    policy: GroupPolicy | None,
    prices: Sequence[int],
    companions: Companions = NO_COMPANIONS,
    *,
    remaining: int | None = None,
) -> Split:
    """The company's and the employee's parts of nights priced ``prices``, the company's
    part at most ``remaining`` (what is left of the employee's yearly subsidy; None:
    no cap)."""
    total = sum(prices)
    company = sum(night_company_part(policy, price, companions) for price in prices)
    capped = False
    if remaining is not None and company > max(0, remaining):
        company, capped = max(0, remaining), True
    return Split(total, company, total - company, remaining, capped)


def fiscal_year(day: date, start_month: int) -> tuple[date, date]:
    """The half-open fiscal year [start, end) that ``day`` is in, for a year that begins
    on the first of ``start_month`` (4: April–March)."""
    year = day.year if day.month >= start_month else day.year - 1
    start = date(year, start_month, 1)
    return start, date(year + 1, start_month, 1)


def fiscal_year_label_year(day: date, start_month: int) -> int:
    """The year a fiscal year is named by (its first month's: 2026年度 is April 2026 on)."""
    return fiscal_year(day, start_month)[0].year
