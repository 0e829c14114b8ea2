"""How a night's price is made: the unit's base price and a few recorded factors.

Pure functions on plain values (no database), so the rules are easy to test and
to explain. Prices are integer yen with tax; the arithmetic is integer too: each
factor multiplies by ``(100 + percent) / 100`` and the result is rounded to ¥100.

The order, which is also the order of the reasons an employee or operator sees:

1. season: ``peak`` (GW, Obon, New Year) or ``holiday_eve``; otherwise, in one
   of the facility's off-season months, ``off_season`` (a discount);
2. ``weekend``: Friday and Saturday nights;
3. ``occupancy``: the facility's nights around the date (±3 nights) are selling
   slower (discount) or faster (premium) than its target at this lead time;
4. ``last_minute``: unsold nights in the final 14 days, ramping to the maximum;
5. ``gap``: a free run of 1–2 nights between two stays of the room;
6. bounds: never below the facility's maximum discount (``max_discount``), the
   unit's ``floor``, never above its ``ceiling``.

An operator's override replaces all of this (``override``). With dynamic pricing
off, a night costs the base price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l

from pricing.seasons import HOLIDAY_EVE, PEAK, is_weekend_night, season_of

Reason = tuple[str, int]  # (code, percent)

REASON_LABELS = {
    "peak": _l("Peak season"),
    "holiday_eve": _l("Holiday eve"),
    "off_season": _l("Off-season"),
    "weekend": _l("Weekend"),
    "occupancy": _l("Demand"),
    "last_minute": _l("Last minute"),
    "gap": _l("Gap night"),
    "max_discount": _l("Maximum discount"),
    "floor": _l("Floor price"),
    "ceiling": _l("Ceiling price"),
    "override": _l("Set by the operator"),
}

# The same reasons as a guest reads them (料金の内訳): what the night is, not how the
# engine got there. Demand reads by its direction.
GUEST_REASON_LABELS = {
    "peak": _l("Peak season"),
    "holiday_eve": _l("Night before a holiday"),
    "off_season": _l("Off-season discount"),
    "weekend": _l("Weekend night"),
    "occupancy_down": _l("Quiet dates discount"),
    "occupancy_up": _l("Popular dates"),
    "last_minute": _l("Last-minute discount"),
    "gap": _l("Short gap between stays"),
    "max_discount": _l("Discounts capped"),
    "floor": _l("Facility's lowest price"),
    "ceiling": _l("Facility's highest price"),
    "override": _l("Price set by the facility"),
}

MONTHS = tuple(range(1, 13))


def reason_label(code: str) -> str:
    return str(REASON_LABELS.get(code, code))


def guest_reason_label(code: str, percent: int) -> str:
    """A night's price reason in the guest's words."""
    if code == "occupancy":
        code = "occupancy_down" if percent < 0 else "occupancy_up"
    return str(GUEST_REASON_LABELS.get(code, REASON_LABELS.get(code, code)))


@dataclass(frozen=True)
class Policy:
    """A facility's pricing settings. The first block is the operator's to set."""

    enabled: bool = True
    off_season_months: frozenset[int] = field(default_factory=frozenset)
    off_season_discount: int = 20  # percent
    target_occupancy: int = 60  # percent of unit-nights sold by the night itself
    max_discount: int = 40  # all discounts together never go deeper than this
    last_minute_max: int = 30  # percent off tonight's unsold rooms
    gap_discount: int = 20
    # Network-wide.
    peak_premium: int = 30
    holiday_eve_premium: int = 15
    weekend_premium: int = 10
    occupancy_swing: int = 15  # ± percent at nothing sold / twice the expected pace
    last_minute_days: int = 14


def round_100(num: int, den: int = 1) -> int:
    """``num / den`` rounded half up to a multiple of ¥100."""
    return (2 * num + 100 * den) // (200 * den) * 100


def ceil_100(amount: int) -> int:
    return -(-amount // 100) * 100


def floor_100(amount: int) -> int:
    return amount // 100 * 100


def pace(lead_days: int) -> float:
    """The share of its final occupancy a night has usually sold ``lead_days`` ahead.

    Company stays are planned weeks ahead: everything is expected to be sold by
    the final two weeks, nothing yet about four months ahead, linearly in between.
    """
    if lead_days <= 14:
        return 1.0
    return max(0.0, 1.0 - (lead_days - 14) / 106)


MIN_PACE = 0.25  # earlier than this (about 3 months ahead) it is too soon to judge


def occupancy_percent(sold_share: float, lead_days: int, policy: Policy) -> int:
    """Premium (+) or discount (−) for selling faster or slower than the target pace.

    ``sold_share`` is the facility's sold share of unit-nights around the night
    (0–1). Nothing sold gives −swing; twice the expected share or more gives
    +swing; exactly on pace gives 0. Never decreases as ``sold_share`` grows.
    Nights too far ahead to judge (pace below ``MIN_PACE``) get nothing.
    """
    share_of_final = pace(lead_days)
    if share_of_final < MIN_PACE:
        return 0
    expected = policy.target_occupancy / 100 * share_of_final
    ratio = min(1.0, max(-1.0, (sold_share - expected) / expected))
    return int(ratio * policy.occupancy_swing + (0.5 if ratio >= 0 else -0.5))


def last_minute_percent(lead_days: int, policy: Policy) -> int:
    """0 outside the final days; then a discount growing to the maximum on the night."""
    days = policy.last_minute_days
    if lead_days < 0 or lead_days >= days or policy.last_minute_max <= 0:
        return 0
    return -((policy.last_minute_max * (days - lead_days) + days // 2) // days)


def night_factors(
    night: date, lead_days: int, sold_share: float, policy: Policy
) -> tuple[Reason, ...]:
    """The facility-wide factors of one unsold night (every unit shares them)."""
    reasons: list[Reason] = []
    season = season_of(night)
    if season == PEAK:
        if policy.peak_premium:
            reasons.append((PEAK, policy.peak_premium))
    elif season == HOLIDAY_EVE:
        if policy.holiday_eve_premium:
            reasons.append((HOLIDAY_EVE, policy.holiday_eve_premium))
    elif night.month in policy.off_season_months and policy.off_season_discount:
        reasons.append(("off_season", -policy.off_season_discount))
    if is_weekend_night(night) and policy.weekend_premium:
        reasons.append(("weekend", policy.weekend_premium))
    occupancy = occupancy_percent(sold_share, lead_days, policy)
    if occupancy:
        reasons.append(("occupancy", occupancy))
    last_minute = last_minute_percent(lead_days, policy)
    if last_minute:
        reasons.append(("last_minute", last_minute))
    return tuple(reasons)


def _percent_of(delta: int, base: int) -> int:
    if base <= 0:
        return 0
    sign = 1 if delta >= 0 else -1
    return sign * ((abs(delta) * 100 + base // 2) // base)


def default_ceiling(base: int) -> int:
    return ceil_100(2 * base)


def compute_price(
    base: int,
    factors: Iterable[Reason],
    policy: Policy,
    *,
    floor: int | None = None,
    ceiling: int | None = None,
    gap: bool = False,
) -> tuple[int, tuple[Reason, ...]]:
    """The price of one night and its reasons, from the base price and the factors."""
    if not policy.enabled:
        return base, ()
    reasons = list(factors)
    if gap and policy.gap_discount:
        reasons.append(("gap", -policy.gap_discount))
    num, den = base, 1
    for _code, percent in reasons:
        num *= 100 + percent
        den *= 100
    price = round_100(num, den)

    def bound(code: str, bounded: int) -> None:
        nonlocal price
        if bounded != price:
            reasons.append((code, _percent_of(bounded - price, base)))
            price = bounded

    lowest = ceil_100(base * (100 - policy.max_discount) // 100)
    if price < lowest:
        bound("max_discount", lowest)
    if floor is not None and price < ceil_100(floor):
        bound("floor", ceil_100(floor))
    top = floor_100(ceiling) if ceiling is not None else default_ceiling(base)
    if price > top:
        bound("ceiling", max(top, ceil_100(floor) if floor is not None else 0))
    return price, tuple(reasons)


def override_price(base: int, price: int) -> tuple[int, tuple[Reason, ...]]:
    """An operator's price for the night: it wins over everything computed."""
    return price, (("override", _percent_of(price - base, base)),)


def find_gaps(claimed: Iterable[int], first: int, last: int) -> set[int]:
    """Free day indexes in [first, last] that lie in a run of 1–2 free nights
    with claimed nights on both sides (a stay before and a stay after)."""
    taken = set(claimed)
    gaps: set[int] = set()
    for day in taken:
        # A run that starts right after a claimed night…
        if day + 1 in taken:
            continue
        for length in (1, 2):
            if day + length + 1 in taken and all(
                day + k not in taken for k in range(1, length + 1)
            ):
                gaps.update(range(day + 1, day + length + 1))
                break
    return {d for d in gaps if first <= d <= last}


def encode_reasons(reasons: Iterable[Reason]) -> str:
    """``"off_season:-20,weekend:10"``: how reasons are stored."""
    return ",".join(f"{code}:{percent}" for code, percent in reasons)


def decode_reasons(text: str) -> tuple[Reason, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(","):
        code, _, percent = item.partition(":")
        out.append((code, int(percent)))
    return tuple(out)


def off_season_percent(reasons: Iterable[Reason]) -> int:
    """The off-season discount among ``reasons`` (negative), or 0."""
    return next((p for code, p in reasons if code == "off_season"), 0)


def shown_off_season(price: int, base: int, reasons: Iterable[Reason]) -> int:
    """The off-season discount to show an employee (negative), or 0: only on a night
    that really costs less than its base price, and never more than it saves (a
    floor or the maximum discount can take the discount back)."""
    percent = off_season_percent(reasons)
    if not percent or price >= base or base <= 0:
        return 0
    saved = (base - price) * 100 // base
    return max(percent, -saved) if saved else 0
