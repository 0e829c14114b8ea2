"""pricing.rules and .seasons: how a night's demand price is made.

Plain functions, no app or database. Dates are fixed; nothing depends on today.
Expected numbers are worked out by hand from the documented rules (module
docstrings), not by calling the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction

import jpholiday
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricing.rules import (
    MIN_PACE,
    REASON_LABELS,
    Policy,
    ceil_100,
    compute_price,
    decode_reasons,
    default_ceiling,
    encode_reasons,
    find_gaps,
    last_minute_percent,
    night_factors,
    occupancy_percent,
    off_season_percent,
    override_price,
    pace,
    round_100,
)
from pricing.seasons import HOLIDAY_EVE, PEAK, is_weekend_night, season_of

PROPERTY = settings(max_examples=200, deadline=None, database=None)

DEFAULT = Policy()
BOUND_CODES = ("max_discount", "floor", "ceiling")

# (month, day) of every peak night, from the seasons docstring: Golden Week
# 4/29–5/5, Obon 8/12–8/16, New Year 12/29–1/3.
PEAK_MONTH_DAYS = (
    [(4, d) for d in (29, 30)]
    + [(5, d) for d in range(1, 6)]
    + [(8, d) for d in range(12, 17)]
    + [(12, d) for d in (29, 30, 31)]
    + [(1, d) for d in (1, 2, 3)]
)

# Fixed nights used by the worked examples (checked in test_example_nights_are_what_we_think).
ORDINARY_WED = date(2027, 2, 3)  # February, no holiday nearby
ORDINARY_FRI = date(2027, 6, 4)  # June has no public holiday
ORDINARY_SAT = date(2027, 6, 5)
ORDINARY_SUN = date(2027, 6, 6)
GW_FRIDAY = date(2027, 4, 30)
EVE_FRIDAY = date(2027, 3, 19)  # before 春分の日 Sun 3/21 + 振替休日 Mon 3/22

# A lead time at which the last-minute ramp is over and the expected pace is 1.0:
# ``sold_share == target_occupancy / 100`` is then exactly on pace.
ON_PACE_LEAD = 14


def price_of(night, base, policy=DEFAULT, *, lead=ON_PACE_LEAD, sold_share=None, **bounds):
    if sold_share is None:
        sold_share = policy.target_occupancy / 100
    return compute_price(base, night_factors(night, lead, sold_share, policy), policy, **bounds)


# -- strategies ---------------------------------------------------------------

policies = st.one_of(
    st.just(DEFAULT),
    st.builds(
        Policy,
        enabled=st.just(True),
        off_season_months=st.frozensets(st.integers(1, 12)),
        off_season_discount=st.integers(0, 90),
        target_occupancy=st.integers(1, 100),
        max_discount=st.integers(0, 90),
        last_minute_max=st.integers(0, 90),
        gap_discount=st.integers(0, 90),
        peak_premium=st.integers(0, 100),
        holiday_eve_premium=st.integers(0, 60),
        weekend_premium=st.integers(0, 60),
        occupancy_swing=st.integers(0, 50),
        last_minute_days=st.integers(1, 30),
    ),
)
bases = st.one_of(st.integers(0, 200_000), st.integers(0, 2_000).map(lambda n: n * 100))
nights = st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 12, 31))
leads = st.integers(0, 400)
shares = st.floats(0.0, 1.0, allow_nan=False)
hundreds = st.integers(0, 4_000).map(lambda n: n * 100)
FACTOR_CODES = (PEAK, HOLIDAY_EVE, "off_season", "weekend", "occupancy", "last_minute", "gap")
factor_lists = st.lists(
    st.tuples(st.sampled_from(FACTOR_CODES), st.integers(-100, 200)), max_size=6
)


@st.composite
def floor_and_ceiling(draw):
    """Optional floor and ceiling, multiples of ¥100, floor <= ceiling when both are set."""
    floor = draw(st.none() | hundreds)
    ceiling = draw(st.none() | hundreds)
    if floor is not None and ceiling is not None and floor > ceiling:
        floor, ceiling = ceiling, floor
    return floor, ceiling


@st.composite
def peak_and_ordinary(draw):
    """A peak night and an ordinary night (no season) of the same weekday."""
    month, day = draw(st.sampled_from(PEAK_MONTH_DAYS))
    peak = date(draw(st.integers(2024, 2032)), month, day)
    weeks = draw(st.integers(1, 60)) * draw(st.sampled_from((-1, 1)))
    ordinary = peak + timedelta(weeks=weeks)
    # Most nights are ordinary; the few holiday eves and peaks are skipped by hand
    # rather than by assume(), so no example is wasted.
    while season_of(ordinary) is not None:
        ordinary += timedelta(weeks=1)
    return peak, ordinary


# -- properties ---------------------------------------------------------------


@PROPERTY
@given(
    base=bases,
    factors=factor_lists,
    policy=policies,
    bounds=floor_and_ceiling(),
    gap=st.booleans(),
)
def test_price_stays_within_bounds_and_is_whole_hundreds(base, factors, policy, bounds, gap):
    floor, ceiling = bounds
    price, reasons = compute_price(base, factors, policy, floor=floor, ceiling=ceiling, gap=gap)

    assert price % 100 == 0
    top = ceiling if ceiling is not None else default_ceiling(base)
    assert default_ceiling(base) == ceil_100(2 * base)
    lowest = ceil_100(base * (100 - policy.max_discount) // 100)
    if floor is not None:
        assert price >= floor
    if floor is None or floor <= top:
        assert price <= top
    else:  # only a floor above the default ceiling: the floor wins
        assert price == floor
    if top >= lowest:
        assert price >= lowest
    else:  # the operator's ceiling is below the maximum discount: the ceiling wins
        assert price == max(top, floor or 0)

    # The factors come first, as given, then the gap, then only bound reasons.
    assert reasons[: len(factors)] == tuple(factors)
    rest = reasons[len(factors) :]
    if gap and policy.gap_discount:
        assert rest[0] == ("gap", -policy.gap_discount)
        rest = rest[1:]
    assert all(code in BOUND_CODES for code, _ in rest)


@PROPERTY
@given(
    base=bases,
    factors=factor_lists,
    policy=policies,
    bounds=floor_and_ceiling(),
    gap=st.booleans(),
)
def test_bounds_only_move_a_price_that_is_out_of_bounds(base, factors, policy, bounds, gap):
    floor, ceiling = bounds
    applied = list(factors)
    if gap and policy.gap_discount:
        applied.append(("gap", -policy.gap_discount))
    exact = Fraction(base)
    for _code, percent in applied:
        exact *= Fraction(100 + percent, 100)
    raw = round_100(exact.numerator, exact.denominator)
    lowest = ceil_100(base * (100 - policy.max_discount) // 100)
    low = max(lowest, floor or 0)
    top = ceiling if ceiling is not None else default_ceiling(base)

    price, reasons = compute_price(base, factors, policy, floor=floor, ceiling=ceiling, gap=gap)
    bounded = any(code in BOUND_CODES for code, _ in reasons)
    if low <= top:  # no conflict between the bounds: the rounded price, clamped
        assert price == min(max(raw, low), top)
        assert bounded == (price != raw)
    else:  # an operator's ceiling below the maximum discount always shows
        assert bounded


@PROPERTY
@given(
    night=nights,
    lead=leads,
    shares=st.tuples(shares, shares),
    base=bases,
    policy=policies,
    bounds=floor_and_ceiling(),
    gap=st.booleans(),
)
def test_more_sold_never_lowers_the_price(night, lead, shares, base, policy, bounds, gap):
    less, more = sorted(shares)
    floor, ceiling = bounds
    assert occupancy_percent(less, lead, policy) <= occupancy_percent(more, lead, policy)
    kwargs = {"lead": lead, "floor": floor, "ceiling": ceiling, "gap": gap}
    cheaper, _ = price_of(night, base, policy, sold_share=less, **kwargs)
    dearer, _ = price_of(night, base, policy, sold_share=more, **kwargs)
    assert cheaper <= dearer


@PROPERTY
@given(lead=leads, policy=policies)
def test_occupancy_percent_spans_the_swing(lead, policy):
    swing = policy.occupancy_swing
    percents = [occupancy_percent(share, lead, policy) for share in (0.0, 0.25, 0.5, 0.75, 1.0)]
    if pace(lead) < MIN_PACE:  # too far ahead to judge
        assert percents == [0] * 5
        return
    assert percents[0] == -swing  # nothing sold
    assert all(-swing <= p <= swing for p in percents)
    assert percents == sorted(percents)
    expected = policy.target_occupancy / 100 * pace(lead)
    if 2 * expected <= 1.0:  # twice the expected pace or more
        assert occupancy_percent(min(1.0, 2 * expected), lead, policy) == swing


@pytest.mark.parametrize(
    ("sold_share", "lead", "percent"),
    [
        (0.6, 0, 0),  # on pace
        (0.0, 14, -15),
        (1.0, 14, 10),  # (1.0 − 0.6) / 0.6 = 2/3 of the swing
        (0.75, 7, 4),  # 0.25 × 15 = 3.75
        (0.45, 7, -4),  # −0.25 × 15 = −3.75
        (0.3, 7, -8),  # −0.5 × 15 = −7.5, rounded away from zero
        (0.0, 400, 0),  # months ahead: too soon to judge
    ],
)
def test_occupancy_percent_examples(sold_share, lead, percent):
    assert occupancy_percent(sold_share, lead, DEFAULT) == percent


@PROPERTY
@given(
    pair=peak_and_ordinary(),
    lead=leads,
    sold_share=shares,
    base=bases,
    policy=policies,
    bounds=floor_and_ceiling(),
    gap=st.booleans(),
)
def test_peak_night_is_never_cheaper_than_an_ordinary_one(
    pair, lead, sold_share, base, policy, bounds, gap
):
    peak, ordinary = pair
    assert season_of(peak) == PEAK
    assert season_of(ordinary) is None
    assert peak.weekday() == ordinary.weekday()
    floor, ceiling = bounds
    kwargs = {"lead": lead, "sold_share": sold_share, "floor": floor, "ceiling": ceiling}
    peak_price, peak_reasons = price_of(peak, base, policy, gap=gap, **kwargs)
    ordinary_price, _ = price_of(ordinary, base, policy, gap=gap, **kwargs)
    assert peak_price >= ordinary_price
    assert policy.peak_premium == 0 or peak_reasons[0] == (PEAK, policy.peak_premium)


@PROPERTY
@given(base=bases, price=st.integers(0, 1_000_000))
def test_override_always_wins(base, price):
    overridden, reasons = override_price(base, price)
    assert overridden == price  # exactly: not rounded, not bounded
    assert len(reasons) == 1
    assert reasons[0][0] == "override"
    if base > 0:
        # The percent shown is the change from the base, to the nearest percent.
        assert abs(Fraction(price - base, base) * 100 - reasons[0][1]) <= Fraction(1, 2)


@PROPERTY
@given(
    base=bases,
    factors=factor_lists,
    policy=policies,
    floor=st.none() | st.integers(0, 400_000),
    ceiling=st.none() | st.integers(0, 400_000),
)
def test_any_floor_or_ceiling_still_gives_whole_hundreds(base, factors, policy, floor, ceiling):
    price, _ = compute_price(base, factors, policy, floor=floor, ceiling=ceiling)
    assert price % 100 == 0
    if floor is not None:
        assert price >= floor  # a floor of ¥9,050 means ¥9,100


@PROPERTY
@given(
    base=bases,
    factors=factor_lists,
    policy=policies,
    bounds=floor_and_ceiling(),
    gap=st.booleans(),
)
def test_disabled_policy_costs_the_base_price(base, factors, policy, bounds, gap):
    floor, ceiling = bounds
    off = replace(policy, enabled=False)
    assert compute_price(base, factors, off, floor=floor, ceiling=ceiling, gap=gap) == (base, ())


@PROPERTY
@given(night=nights, lead=leads, sold_share=shares, policy=policies)
def test_night_factors_follow_the_documented_order(night, lead, sold_share, policy):
    reasons = night_factors(night, lead, sold_share, policy)
    codes = [code for code, _ in reasons]
    order = [PEAK, HOLIDAY_EVE, "off_season", "weekend", "occupancy", "last_minute"]
    assert codes == sorted(codes, key=order.index)
    assert len(set(codes)) == len(codes)
    # The season's own reason is listed even at a 0% premium (network-wide settings,
    # never 0 in practice); every other factor only when it moves the price.
    assert all(percent != 0 for code, percent in reasons if code not in (PEAK, HOLIDAY_EVE))
    season = season_of(night)
    off = season is None and night.month in policy.off_season_months
    assert ("off_season" in codes) == (off and policy.off_season_discount > 0)
    if policy.peak_premium:
        assert ((PEAK, policy.peak_premium) in reasons) == (season == PEAK)
    if policy.holiday_eve_premium:
        assert ((HOLIDAY_EVE, policy.holiday_eve_premium) in reasons) == (season == HOLIDAY_EVE)
    assert PEAK not in codes or season == PEAK
    assert HOLIDAY_EVE not in codes or season == HOLIDAY_EVE
    assert ("weekend" in codes) == (night.weekday() in (4, 5) and policy.weekend_premium > 0)


# -- the calendar -------------------------------------------------------------


def nights_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def documented_season(night: date) -> str | None:
    """The seasons docstring, read literally, straight from jpholiday."""
    if (night.month, night.day) in PEAK_MONTH_DAYS:
        return PEAK

    def off(day: date) -> bool:
        return day.weekday() >= 5 or jpholiday.is_holiday(day)

    following = night + timedelta(days=1)
    if jpholiday.is_holiday(following):
        return HOLIDAY_EVE
    if off(following):
        start = end = following
        while off(start - timedelta(days=1)):
            start -= timedelta(days=1)
        while off(end + timedelta(days=1)):
            end += timedelta(days=1)
        if (end - start).days + 1 >= 3:
            return HOLIDAY_EVE
    return None


@PROPERTY
@given(night=nights)
def test_season_of_matches_the_documented_calendar(night):
    assert season_of(night) == documented_season(night)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2027, 4, 29), date(2027, 5, 5)),  # Golden Week
        (date(2027, 8, 12), date(2027, 8, 16)),  # Obon
        (date(2027, 12, 29), date(2028, 1, 3)),  # New Year
    ],
)
def test_peak_periods(first, last):
    for night in nights_between(first, last):
        assert season_of(night) == PEAK, night
    assert season_of(first - timedelta(days=1)) != PEAK
    assert season_of(last + timedelta(days=1)) != PEAK


def test_new_year_edges_are_not_peak():
    assert season_of(date(2027, 12, 28)) is None
    assert season_of(date(2028, 1, 4)) is None


def test_three_day_weekend_with_a_substitute_holiday():
    # 春分の日 falls on Sunday 2027-03-21, so Monday 3/22 is a 振替休日.
    assert jpholiday.is_holiday(date(2027, 3, 21))
    assert jpholiday.is_holiday(date(2027, 3, 22))
    assert date(2027, 3, 22).weekday() == 0
    for night in nights_between(date(2027, 3, 19), date(2027, 3, 21)):
        assert season_of(night) == HOLIDAY_EVE, night
    assert season_of(date(2027, 3, 22)) is None  # back to work on Tuesday
    assert season_of(date(2027, 3, 18)) is None  # Thursday: Friday is a working day


def test_ordinary_weekend_is_weekend_but_not_holiday_eve():
    for day in nights_between(ORDINARY_FRI - timedelta(days=1), ORDINARY_SUN + timedelta(days=1)):
        assert not jpholiday.is_holiday(day), day
    assert ORDINARY_FRI.weekday() == 4
    assert season_of(ORDINARY_FRI) is None
    assert season_of(ORDINARY_SAT) is None
    assert is_weekend_night(ORDINARY_FRI)
    assert is_weekend_night(ORDINARY_SAT)
    assert not is_weekend_night(ORDINARY_SUN)
    assert night_factors(ORDINARY_FRI, ON_PACE_LEAD, 0.6, DEFAULT) == (("weekend", 10),)
    assert night_factors(ORDINARY_SAT, ON_PACE_LEAD, 0.6, DEFAULT) == (("weekend", 10),)
    assert night_factors(ORDINARY_SUN, ON_PACE_LEAD, 0.6, DEFAULT) == ()


def test_night_before_a_mid_week_holiday_is_holiday_eve():
    assert jpholiday.is_holiday_name(date(2027, 11, 3)) == "文化の日"
    assert date(2027, 11, 3).weekday() == 2
    assert season_of(date(2027, 11, 2)) == HOLIDAY_EVE
    assert season_of(date(2027, 11, 3)) is None  # Thursday is a working day
    assert night_factors(date(2027, 11, 2), ON_PACE_LEAD, 0.6, DEFAULT) == ((HOLIDAY_EVE, 15),)


def test_off_season_lowers_ordinary_nights_only():
    policy = Policy(off_season_months=frozenset({1, 3, 11}))
    ordinary = date(2027, 11, 10)  # Wednesday
    assert season_of(ordinary) is None
    assert night_factors(ordinary, ON_PACE_LEAD, 0.6, policy) == (("off_season", -20),)
    assert price_of(ordinary, 10_000, policy)[0] < price_of(ordinary, 10_000)[0]
    for night in (date(2027, 1, 2), date(2027, 3, 19), date(2027, 3, 20), date(2027, 11, 2)):
        assert season_of(night) in (PEAK, HOLIDAY_EVE), night
        assert "off_season" not in dict(night_factors(night, ON_PACE_LEAD, 0.6, policy))
        assert price_of(night, 10_000, policy) == price_of(night, 10_000), night
    # Outside the off-season months nothing changes.
    june = date(2027, 6, 9)
    assert price_of(june, 10_000, policy) == price_of(june, 10_000)


def test_example_nights_are_what_we_think():
    assert ORDINARY_WED.weekday() == 2 and season_of(ORDINARY_WED) is None
    assert GW_FRIDAY.weekday() == 4 and season_of(GW_FRIDAY) == PEAK
    assert EVE_FRIDAY.weekday() == 4 and season_of(EVE_FRIDAY) == HOLIDAY_EVE


# -- worked examples ----------------------------------------------------------


def test_off_season_wednesday_on_pace():
    policy = Policy(off_season_months=frozenset({1, 2}))
    # 11,000 × 0.80 = 8,800
    assert price_of(ORDINARY_WED, 11_000, policy) == (8_800, (("off_season", -20),))


def test_ordinary_wednesday_on_pace_costs_the_base_price():
    assert price_of(ORDINARY_WED, 11_000) == (11_000, ())
    assert price_of(ORDINARY_WED, 11_050) == (11_100, ())  # rounded half up to ¥100


def test_peak_friday():
    # 11,000 × 1.30 × 1.10 = 15,730 → 15,700
    assert price_of(GW_FRIDAY, 11_000) == (15_700, ((PEAK, 30), ("weekend", 10)))


def test_holiday_eve_friday_selling_fast_in_the_last_week():
    # Occupancy: expected 0.60 at lead 7, sold 0.75 → ratio 0.25 → 15 × 0.25 = 3.75 → +4.
    # Last minute at lead 7 of 14: 30 × 7/14 = 15 → −15.
    # 11,000 × 1.15 × 1.10 × 1.04 × 0.85 = 12,300.86 → 12,300
    assert price_of(EVE_FRIDAY, 11_000, lead=7, sold_share=0.75) == (
        12_300,
        ((HOLIDAY_EVE, 15), ("weekend", 10), ("occupancy", 4), ("last_minute", -15)),
    )


def test_gap_night():
    # 11,000 × 0.80 = 8,800
    assert price_of(ORDINARY_WED, 11_000, gap=True) == (8_800, (("gap", -20),))
    assert price_of(ORDINARY_WED, 11_000, Policy(gap_discount=0), gap=True) == (11_000, ())


def test_maximum_discount():
    policy = Policy(off_season_months=frozenset({2}))
    # 10,000 × 0.80 × 0.85 × 0.70 × 0.80 = 3,808 → 3,800, below 10,000 × 0.60 = 6,000:
    # raised by 2,200, i.e. 22% of the base.
    factors = (("off_season", -20), ("occupancy", -15), ("last_minute", -30), ("gap", -20))
    assert price_of(ORDINARY_WED, 10_000, policy, lead=0, sold_share=0.0, gap=True) == (
        6_000,
        (*factors, ("max_discount", 22)),
    )
    # A floor above that lifts it further, by 10% of the base.
    assert price_of(
        ORDINARY_WED, 10_000, policy, lead=0, sold_share=0.0, gap=True, floor=7_000
    ) == (7_000, (*factors, ("max_discount", 22), ("floor", 10)))
    # A floor below it changes nothing.
    assert price_of(
        ORDINARY_WED, 10_000, policy, lead=0, sold_share=0.0, gap=True, floor=5_000
    ) == (6_000, (*factors, ("max_discount", 22)))


def test_floor_without_maximum_discount():
    policy = Policy(off_season_months=frozenset({2}))
    # 10,000 × 0.80 = 8,000, raised to the floor 9,000 (+10%); a floor of 8,950 counts as 9,000.
    expected = (9_000, (("off_season", -20), ("floor", 10)))
    assert price_of(ORDINARY_WED, 10_000, policy, floor=9_000) == expected
    assert price_of(ORDINARY_WED, 10_000, policy, floor=8_950) == expected


def test_ceiling():
    policy = Policy(target_occupancy=50)
    # Sold 1.0 against 0.5 expected: +15. 10,000 × 1.30 × 1.10 × 1.15 = 16,445 → 16,400,
    # cut to 12,000: −4,400, i.e. −44% of the base.
    assert price_of(GW_FRIDAY, 10_000, policy, sold_share=1.0, ceiling=12_000) == (
        12_000,
        ((PEAK, 30), ("weekend", 10), ("occupancy", 15), ("ceiling", -44)),
    )


def test_default_ceiling_is_twice_the_base():
    policy = Policy(peak_premium=100, weekend_premium=50)
    # 10,000 × 2.00 × 1.50 = 30,000, cut to 2 × 10,000 = 20,000 (−100% of the base).
    assert price_of(GW_FRIDAY, 10_000, policy) == (
        20_000,
        ((PEAK, 100), ("weekend", 50), ("ceiling", -100)),
    )
    assert default_ceiling(10_000) == 20_000
    assert default_ceiling(10_030) == 20_100


def test_override_examples():
    assert override_price(10_000, 7_500) == (7_500, (("override", -25),))
    # 1,345 / 11,000 = 12.2% → 12
    assert override_price(11_000, 12_345) == (12_345, (("override", 12),))
    assert override_price(0, 5_000) == (5_000, (("override", 0),))


def test_disabled_examples():
    off = Policy(enabled=False, off_season_months=frozenset({2}))
    assert price_of(ORDINARY_WED, 11_050, off, gap=True, floor=20_000) == (11_050, ())
    assert price_of(GW_FRIDAY, 11_000, off, ceiling=5_000) == (11_000, ())


# -- gap nights ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "first", "last", "gaps"),
    [
        ({0, 2}, 0, 10, {1}),  # a 1-night hole
        ({0, 3}, 0, 10, {1, 2}),  # a 2-night hole
        ({0, 4}, 0, 10, set()),  # a 3-night hole is bookable on its own
        ({0, 1, 2, 5, 6}, 0, 10, {3, 4}),  # stays of several nights around it
        ({0, 2, 4, 7, 11}, 0, 12, {1, 3, 5, 6}),
        ({3}, 0, 10, set()),  # free nights at the window's edges: one neighbour only
        ({0, 1, 2}, 0, 10, set()),
        (set(), 0, 10, set()),
        ({-1, 1}, 0, 10, {0}),  # the stay before the window still counts
        ({9, 12}, 0, 10, {10}),  # only nights inside the window are returned
        ({0, 2, 6, 8}, 3, 5, set()),  # gaps at 1 and 7 lie outside [3, 5]
    ],
)
def test_find_gaps(claimed, first, last, gaps):
    assert find_gaps(claimed, first, last) == gaps


def reference_gaps(claimed: set[int], first: int, last: int) -> set[int]:
    """Free nights whose maximal free run is 1–2 nights long with a stay on both sides."""
    if not claimed:
        return set()
    out = set()
    for day in range(first, last + 1):
        if day in claimed:
            continue
        start = day
        while start - 1 not in claimed and start > min(claimed):
            start -= 1
        end = day
        while end + 1 not in claimed and end < max(claimed):
            end += 1
        if start - 1 in claimed and end + 1 in claimed and end - start + 1 <= 2:
            out.add(day)
    return out


@PROPERTY
@given(
    claimed=st.sets(st.integers(-5, 40), max_size=30),
    first=st.integers(-5, 40),
    span=st.integers(0, 40),
)
def test_find_gaps_matches_a_night_by_night_reading(claimed, first, span):
    last = first + span
    assert find_gaps(claimed, first, last) == reference_gaps(claimed, first, last)
    assert find_gaps(iter(sorted(claimed)), first, last) == reference_gaps(claimed, first, last)


def test_gap_reason_in_compute_price():
    assert compute_price(10_000, (), DEFAULT, gap=True) == (8_000, (("gap", -20),))
    assert compute_price(10_000, (("weekend", 10),), DEFAULT, gap=True) == (
        8_800,
        (("weekend", 10), ("gap", -20)),
    )


# -- last minute --------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "percent"),
    [(0, -30), (1, -28), (7, -15), (13, -2), (14, 0), (15, 0), (100, 0), (-1, 0)],
)
def test_last_minute_ramp_default(lead, percent):
    # 30 × (14 − lead) / 14, rounded half up.
    assert last_minute_percent(lead, DEFAULT) == percent


@PROPERTY
@given(policy=policies)
def test_last_minute_ramp_is_monotone(policy):
    days = policy.last_minute_days
    values = [last_minute_percent(lead, policy) for lead in range(0, days + 20)]
    assert values[0] == -policy.last_minute_max
    assert all(v == 0 for v in values[days:])
    assert all(-policy.last_minute_max <= v <= 0 for v in values)
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    ("lead", "expected"),
    [
        (0, (("last_minute", -30),)),
        (7, (("last_minute", -15),)),
        (13, (("last_minute", -2),)),
        (14, ()),
        (30, None),  # pace < 1 here: occupancy moves, but no last-minute discount
    ],
)
def test_last_minute_in_night_factors(lead, expected):
    night = date(2027, 6, 9)  # an ordinary Wednesday
    assert season_of(night) is None and not is_weekend_night(night)
    reasons = night_factors(night, lead, 0.6, DEFAULT)
    if expected is None:
        assert "last_minute" not in dict(reasons)
    else:
        assert reasons == expected


def test_last_minute_prices():
    night = date(2027, 6, 9)
    assert price_of(night, 10_000, lead=0) == (7_000, (("last_minute", -30),))
    # 10,000 × 0.85 = 8,500
    assert price_of(night, 10_000, lead=7) == (8_500, (("last_minute", -15),))


# -- helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num", "den", "rounded"),
    [
        (0, 1, 0),
        (49, 1, 0),
        (50, 1, 100),
        (149, 1, 100),
        (150, 1, 200),
        (250, 1, 300),
        (8_800, 1, 8_800),
        (15_730, 1, 15_700),
        (12_345, 1, 12_300),
        (12_350, 1, 12_400),
        (20_099, 2, 10_000),  # 10,049.5
        (20_100, 2, 10_100),  # 10,050: half up
        (3_808_000_000, 1_000_000, 3_800),
    ],
)
def test_round_100(num, den, rounded):
    assert round_100(num, den) == rounded


@PROPERTY
@given(num=st.integers(0, 10**12), den=st.integers(1, 10**8))
def test_round_100_is_nearest_hundred_half_up(num, den):
    rounded = round_100(num, den)
    assert rounded % 100 == 0
    diff = Fraction(num, den) - rounded
    assert Fraction(-50) <= diff < Fraction(50)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(REASON_LABELS)),
            st.integers(-100, 1_000),
        ),
        max_size=8,
    )
)
def test_encode_decode_round_trip(reasons):
    text = encode_reasons(reasons)
    assert decode_reasons(text) == tuple(reasons)


def test_encode_reasons_format():
    assert encode_reasons((("off_season", -20), ("weekend", 10))) == "off_season:-20,weekend:10"
    assert encode_reasons(()) == ""
    assert decode_reasons("") == ()
    assert decode_reasons("off_season:-20,weekend:10") == (("off_season", -20), ("weekend", 10))


def test_off_season_percent():
    assert off_season_percent(()) == 0
    assert off_season_percent((("weekend", 10),)) == 0
    assert off_season_percent((("off_season", -20), ("weekend", 10))) == -20
    assert off_season_percent(iter([("gap", -20), ("off_season", -35)])) == -35
    assert off_season_percent(decode_reasons("off_season:-20,weekend:10")) == -20
