"""The subsidy's policy matrix, with hypothesis: whatever the policy (kind, amount,
maximum, companions' rules and rates, yearly cap) and the nights' prices, a stay splits
into two integer parts that add up to its total, neither negative, the company's
within what is left of the cap and each night's within its price; and a refund of the
stay splits between its payers the same way, adding up and never more than each paid.

Pure functions only (``hr.subsidy``, ``billing.ledger``): no database.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.refunds import cancellation_split, company_share, refund_amount, split_refund
from hr.models import CompanionRule, GroupPolicy, SubsidyKind
from hr.subsidy import (
    MAX_COMPANIONS,
    Companions,
    fiscal_year,
    night_company_part,
    split_stay,
)

CHECK_IN = date(2026, 12, 20)

prices = st.lists(st.integers(0, 200_000), min_size=1, max_size=30)
rules = st.sampled_from(list(CompanionRule))


@st.composite
def policies(draw) -> GroupPolicy | None:
    """Any policy a company can save (or none: the company pays everything)."""
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    kind = draw(st.sampled_from(list(SubsidyKind)))
    amount = (
        draw(st.integers(0, 100)) if kind == SubsidyKind.PERCENT else draw(st.integers(0, 50_000))
    )
    return GroupPolicy(
        company_id=1,
        employee_group="",
        subsidy_kind=kind,
        subsidy_amount=amount,
        subsidy_max=draw(st.one_of(st.none(), st.integers(0, 50_000))),
        annual_cap=draw(st.one_of(st.none(), st.integers(0, 500_000))),
        companion_adult=draw(rules),
        companion_adult_rate=draw(st.integers(0, 20_000)),
        companion_child=draw(rules),
        companion_child_rate=draw(st.integers(0, 20_000)),
        companion_infant=draw(rules),
        companion_infant_rate=draw(st.integers(0, 20_000)),
    )


@st.composite
def companions(draw) -> Companions:
    adults = draw(st.integers(0, MAX_COMPANIONS))
    children = draw(st.integers(0, MAX_COMPANIONS - adults))
    infants = draw(st.integers(0, MAX_COMPANIONS - adults - children))
    return Companions(adults, children, infants)


@settings(max_examples=400, deadline=None)
@given(
    policy=policies(),
    nights=prices,
    party=companions(),
    used=st.one_of(st.none(), st.integers(0, 600_000)),
)
def test_a_stay_splits_into_two_parts_that_add_up_within_the_cap(policy, nights, party, used):
    cap = policy.annual_cap if policy is not None else None
    remaining = None if cap is None or used is None else max(0, cap - used)

    split = split_stay(policy, nights, party, remaining=remaining)

    assert split.company + split.employee == split.total == sum(nights)
    assert split.company >= 0
    assert split.employee >= 0
    if remaining is not None:
        assert split.company <= remaining
        assert split.remaining_after >= 0
    for price in nights:
        assert 0 <= night_company_part(policy, price, party) <= max(0, price)
    # Without a cap the company pays exactly what the nights' parts say.
    if remaining is None:
        assert split.company == sum(night_company_part(policy, p, party) for p in nights)
        assert not split.capped


@settings(max_examples=200, deadline=None)
@given(policy=policies(), nights=prices, party=companions())
def test_a_smaller_cap_never_makes_the_company_pay_more(policy, nights, party):
    free = split_stay(policy, nights, party)
    for remaining in (0, free.company // 2, free.company, free.company + 1):
        capped = split_stay(policy, nights, party, remaining=remaining)
        assert capped.company == min(free.company, remaining)
        assert capped.employee == capped.total - capped.company


@pytest.mark.parametrize(
    ("kind", "amount", "maximum", "price", "expected"),
    [
        (SubsidyKind.FIXED, 5_000, None, 11_000, 5_000),
        (SubsidyKind.FIXED, 5_000, None, 3_000, 3_000),  # never more than the night
        (SubsidyKind.PERCENT, 33, None, 10_001, 3_300),  # 3300.33 rounded down
        (SubsidyKind.PERCENT, 50, 4_000, 11_000, 4_000),  # the maximum per person-night
        (SubsidyKind.FULL, 0, None, 11_000, 11_000),
        (SubsidyKind.NONE, 0, None, 11_000, 0),
    ],
)
def test_a_nights_company_part_by_kind(kind, amount, maximum, price, expected):
    policy = GroupPolicy(
        company_id=1,
        employee_group="",
        subsidy_kind=kind,
        subsidy_amount=amount,
        subsidy_max=maximum,
        companion_adult=CompanionRule.EMPLOYEE,
        companion_adult_rate=0,
        companion_child=CompanionRule.EMPLOYEE,
        companion_child_rate=0,
        companion_infant=CompanionRule.EMPLOYEE,
        companion_infant_rate=0,
    )
    assert night_company_part(policy, price, Companions()) == expected


# --- refunds split between the payers ------------------------------------------------------


@st.composite
def paid_stays(draw) -> tuple[int, int]:
    """A stay's total and the employee's part of it (the company's is the rest)."""
    total = draw(st.integers(0, 2_000_000))
    return total, draw(st.integers(0, total))


@settings(max_examples=400, deadline=None)
@given(stay=paid_stays(), share=st.integers(0, 100))
def test_a_refund_splits_in_proportion_and_adds_up(stay, share):
    total, employee_part = stay
    company_part = total - employee_part
    refund = total * share // 100

    split = split_refund(
        refund, total, employee_part, company_held=company_part, employee_held=employee_part
    )

    assert split.company + split.employee == refund
    assert 0 <= split.company <= company_part
    assert 0 <= split.employee <= employee_part
    if total:
        assert split.company == refund * company_part // total  # rounded down
    # Each payer gets back at least its proportional share, rounded down.
    if total:
        assert split.employee >= refund * employee_part // total


@settings(max_examples=300, deadline=None)
@given(
    stay=paid_stays(),
    refund=st.integers(0, 3_000_000),
    company_held=st.integers(0, 2_000_000),
    employee_held=st.integers(0, 2_000_000),
)
def test_a_refund_never_returns_more_than_a_payer_holds(stay, refund, company_held, employee_held):
    total, employee_part = stay
    split = split_refund(
        refund, total, employee_part, company_held=company_held, employee_held=employee_held
    )
    assert 0 <= split.company <= company_held
    assert 0 <= split.employee <= employee_held
    assert split.total <= min(refund, total) if total else split.total == 0


@settings(max_examples=300, deadline=None)
@given(stay=paid_stays(), days_ahead=st.integers(-3, 40), full=st.booleans())
def test_a_cancellation_splits_the_policys_refund(stay, days_ahead, full):
    total, employee_part = stay
    company_part = total - employee_part
    today = CHECK_IN - timedelta(days=days_ahead)

    split = cancellation_split(
        total,
        employee_part,
        CHECK_IN,
        today,
        company_held=company_part,
        employee_held=employee_part,
        full=full,
    )

    if full:  # the company ended the stay: everybody gets everything back
        assert (split.company, split.employee) == (company_part, employee_part)
        return
    refund = refund_amount(total, CHECK_IN, today)
    assert split.company + split.employee == refund
    assert split.company == company_share(refund, total, employee_part)
    assert split.company <= company_part
    assert split.employee <= employee_part
    if days_ahead >= 3:  # free until 3 days before: all back
        assert split == type(split)(company_part, employee_part)
    if days_ahead <= 0:  # from the check-in day on: nothing back
        assert split.total == 0


def test_the_remainder_of_a_refund_goes_to_the_employee():
    # ¥10,001 refunded of a ¥30,003 stay the employee paid ¥10,000 of: the company's
    # 10,001 × 20,003 ÷ 30,003 = 6667.33… is rounded down; the employee gets the rest.
    split = split_refund(10_001, 30_003, 10_000, company_held=20_003, employee_held=10_000)
    assert (split.company, split.employee) == (6_667, 3_334)


@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_a_day_is_in_its_fiscal_year(day):
    for start_month in (1, 4, 10):
        start, end = fiscal_year(day, start_month)
        assert start <= day < end
        assert start.month == start_month and start.day == 1
        assert (end.year - start.year, end.month) == (1, start_month)
