"""What a workspace booking costs: the hourly price pro rata, moved by demand as nights
are, capped by the day price. Integer yen, tax included (総額表示).

The base price is ``availability.slots.booking_price``: ``hourly × minutes / 60``
rounded down to the yen, capped at the day price. Where demand pricing is on (the
unit's ``demand_pricing`` and the facility's pricing settings, ``PricingPolicy.enabled``)
the price only goes down, never above the base:

1. ``off_season``: a slot in one of the facility's off-season months (閑散期,
   ``PricingPolicy.off_season_months``) costs the facility's off-season discount less,
   the same months and percent as its nights. Every day of those months: the nights'
   peaks (GW, Obon, New Year) and holiday eves are travel peaks, not busy working days,
   so they do not take the discount away here;
2. ``off_peak_day``: a slot on a Saturday, Sunday or national holiday (``jpholiday``)
   the unit opens, ``DAY_OFF_DISCOUNT`` less; otherwise
3. ``off_peak_hours``: a slot starting before 10:00 or from 17:00 on (Japan time),
   ``OFF_PEAK_HOURS_DISCOUNT`` less;
4. ``max_discount``: the discounts together never go deeper than the facility's
   maximum discount, as for nights.

The nights' premiums (peak, holiday eve, weekend) have no counterpart: they follow
travel, and a day off is a quiet day for a workspace.

Each slot's share (``hourly × slot minutes / 60``) is multiplied by its factors
(``(100 + percent) / 100`` each, as nights), the exact shares are summed and the sum
rounded down to the yen once. The day price caps that sum *after* demand, and is itself
lowered by the off-season discount only (not by off-peak hours: it is already the price
of a whole day, quiet hours included). Reasons are shown only when the total is below
the base price.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from availability.slots import WorkspacePrices, booking_price, slot_starts
from availability.workspace import prices_of, rules_of
from core.db import TOKYO
from core.extensions import db
from facilities.workspace import WorkspaceUnit
from pricing.inputs import policy_for
from pricing.models import PricingPolicy
from pricing.rules import Policy, Reason
from pricing.seasons import is_day_off

OFF_PEAK_HOURS_DISCOUNT = 20  # percent off a slot outside the busy hours
DAY_OFF_DISCOUNT = 20  # percent off a slot on a weekend or national holiday
# The busy hours, Japan time: a slot starting in [BUSY_FROM, BUSY_UNTIL) is not off-peak.
BUSY_FROM = time(10, 0)
BUSY_UNTIL = time(17, 0)

OFF_SEASON = "off_season"
OFF_PEAK_DAY = "off_peak_day"
OFF_PEAK_HOURS = "off_peak_hours"
MAX_DISCOUNT = "max_discount"
# The order reasons are shown in (a season first, as for nights).
REASON_ORDER = (OFF_SEASON, OFF_PEAK_DAY, OFF_PEAK_HOURS, MAX_DISCOUNT)

# In the employee's words; the off-season and cap msgids are the nights' own
# (pricing.rules.GUEST_REASON_LABELS), so they read the same.
WORKSPACE_REASON_LABELS = {
    OFF_SEASON: _l("Off-season discount"),
    OFF_PEAK_DAY: _l("Weekend or holiday discount"),
    OFF_PEAK_HOURS: _l("Off-peak hours discount"),
    MAX_DISCOUNT: _l("Discounts capped"),
}

# A slot's multiplier in 1/SCALE: at most two factors (a season and one off-peak kind),
# each a whole percent, so the product is exact.
SCALE = 100 * 100
_BUSY = (BUSY_FROM.hour * 60 + BUSY_FROM.minute, BUSY_UNTIL.hour * 60 + BUSY_UNTIL.minute)


def workspace_reason_label(code: str) -> str:
    """A workspace price reason's label (the code itself if unknown)."""
    return str(WORKSPACE_REASON_LABELS.get(code, code))


def decode_workspace_reasons(text: str) -> tuple[str, ...]:
    """The codes stored as ``"off_season,off_peak_hours"`` (a booking's
    ``price_reasons``)."""
    return tuple(code for code in text.split(",") if code)


@dataclass(frozen=True)
class WorkspaceQuote:
    """A workspace booking's price: ``base`` (the hourly price pro rata, capped by the
    day price), ``total`` (what it costs after demand, ``total <= base``), why it is
    lower (``reasons``, codes of ``WORKSPACE_REASON_LABELS``; empty when ``total ==
    base``), and whether the day price set the total (``day_capped``)."""

    base: int
    total: int
    reasons: tuple[str, ...] = ()
    day_capped: bool = False

    @property
    def saving(self) -> int:
        return self.base - self.total

    @property
    def labels(self) -> tuple:
        """The reasons' labels (lazy strings), in order."""
        return tuple(WORKSPACE_REASON_LABELS.get(code, code) for code in self.reasons)


# -- pure: factors and prices ------------------------------------------------------------


def is_off_peak_hour(minute: int) -> bool:
    """A slot starting ``minute`` minutes after Tokyo midnight is outside the busy hours."""
    return not _BUSY[0] <= minute < _BUSY[1]


def season_factors(day: date, policy: Policy) -> tuple[Reason, ...]:
    """The off-season factor of a Tokyo date, if its month is one of the facility's
    off-season months (the nights' months and percent)."""
    if policy.enabled and day.month in policy.off_season_months and policy.off_season_discount:
        return ((OFF_SEASON, -policy.off_season_discount),)
    return ()


def slot_factors(day: date, minute: int, policy: Policy) -> tuple[Reason, ...]:
    """The demand factors ``(code, percent)`` of a slot starting ``minute`` minutes after
    midnight of the Tokyo date ``day``, in the order of ``REASON_ORDER``."""
    if not policy.enabled:
        return ()
    factors = list(season_factors(day, policy))
    if is_day_off(day):
        if DAY_OFF_DISCOUNT:
            factors.append((OFF_PEAK_DAY, -DAY_OFF_DISCOUNT))
    elif OFF_PEAK_HOURS_DISCOUNT and is_off_peak_hour(minute):
        factors.append((OFF_PEAK_HOURS, -OFF_PEAK_HOURS_DISCOUNT))
    return tuple(factors)


@lru_cache(maxsize=8192)
def _multiplier(factors: tuple[Reason, ...], max_discount: int) -> tuple[int, frozenset[str]]:
    """The factors' product in 1/SCALE, never below the maximum discount, and the codes
    that lowered it."""
    num = SCALE
    for _code, percent in factors:
        num = num * (100 + percent) // 100
    codes = {code for code, _percent in factors}
    lowest = SCALE * (100 - max_discount) // 100
    if num < lowest:
        num = lowest
        codes.add(MAX_DISCOUNT)
    return num, frozenset(codes)


def _slot_multiplier(start: datetime, policy: Policy) -> tuple[int, frozenset[str]]:
    tokyo = start.astimezone(TOKYO)
    factors = slot_factors(tokyo.date(), tokyo.hour * 60 + tokyo.minute, policy)
    return _multiplier(factors, policy.max_discount)


def _day_cap(day_price: int, day: date, policy: Policy) -> tuple[int, frozenset[str]]:
    """The day price after the off-season discount (bounded by the maximum discount)."""
    num, codes = _multiplier(season_factors(day, policy), policy.max_discount)
    return day_price * num // SCALE, codes


def _ordered(codes: Iterable[str]) -> tuple[str, ...]:
    found = set(codes)
    return tuple(code for code in REASON_ORDER if code in found)


def price_slots(
    prices: WorkspacePrices,
    slot_minutes: int,
    starts: Sequence[datetime],
    policy: Policy,
    *,
    demand: bool = True,
) -> WorkspaceQuote:
    """The price of one booking of the slots starting at ``starts`` (aware datetimes, one
    Tokyo day, as ``availability.slots.slot_starts`` gives them) under ``policy``.
    Pure. ``demand=False`` (or a disabled policy): the base price, no reasons."""
    minutes = slot_minutes * len(starts)
    uncapped = prices.hourly * minutes // 60
    base = booking_price(prices, minutes)
    if not demand or not policy.enabled or not starts:
        return WorkspaceQuote(base, base, (), base < uncapped)
    num, codes = 0, set()
    for start in starts:
        multiplier, why = _slot_multiplier(start, policy)
        num += multiplier
        codes |= why
    total = prices.hourly * slot_minutes * num // (60 * SCALE)
    capped = False
    if prices.day is not None:
        day = starts[0].astimezone(TOKYO).date()
        day_total, day_codes = _day_cap(prices.day, day, policy)
        if day_total < total:
            total, codes, capped = day_total, set(day_codes), True
    if total >= base:
        return WorkspaceQuote(base, base, (), capped or base < uncapped)
    return WorkspaceQuote(base, total, _ordered(codes), capped)


# -- a unit's prices ------------------------------------------------------------------


def facility_policies(facility_ids: Iterable[int]) -> dict[int, Policy]:
    """Each facility's pricing settings (its off-season months and discounts; the
    defaults for a facility without a row), in one query: load them once for a day
    view and pass them to ``quote_workspace`` / ``slot_quotes``."""
    ids = set(facility_ids)
    out = {facility_id: Policy() for facility_id in ids}
    if ids:
        rows = db.session.scalars(select(PricingPolicy).where(PricingPolicy.facility_id.in_(ids)))
        for row in rows:
            out[row.facility_id] = row.rules()
    return out


def _policy(unit: WorkspaceUnit, policy: Policy | None) -> Policy:
    if policy is not None:
        return policy
    if not unit.demand_pricing:
        return Policy(enabled=False)
    # By primary key: a facility whose settings row is in the session costs no query.
    return policy_for(unit.facility_id)


def quote_workspace(
    unit: WorkspaceUnit,
    starts_at: datetime,
    ends_at: datetime,
    *,
    policy: Policy | None = None,
) -> WorkspaceQuote:
    """The price of booking ``unit`` for ``[starts_at, ends_at)`` (aware, on the unit's
    slot boundaries; ``SlotError`` otherwise): each slot's hourly share lowered by its
    demand factors (off-season month, weekend or holiday, off-peak hours; bounded by
    the facility's maximum discount), summed and rounded down to the yen, then capped
    at the day price lowered by the off-season discount only (never by off-peak hours).
    Never above the base price (``booking_price``). A unit without ``demand_pricing``,
    or a facility with pricing off, costs the base price with no reasons.

    ``policy``: the facility's settings from ``facility_policies`` (read here when not
    given). Opening hours and booking lengths are the booking's checks, not the price's.
    """
    slot_minutes = rules_of(unit).slot_minutes
    starts = slot_starts(starts_at, ends_at, slot_minutes)
    return price_slots(
        prices_of(unit), slot_minutes, starts, _policy(unit, policy), demand=unit.demand_pricing
    )


def slot_quotes(
    unit: WorkspaceUnit,
    spans: Iterable[tuple[datetime, datetime]],
    *,
    policy: Policy | None = None,
) -> list[WorkspaceQuote]:
    """The price of each span alone (a day view's slots, ``availability.slots.day_slots``),
    as ``quote_workspace`` prices it; the settings are read once, and a span is priced
    once per Tokyo date, length and busy or off-peak hour (all its demand depends on)."""
    slot_minutes = rules_of(unit).slot_minutes
    prices, chosen = prices_of(unit), _policy(unit, policy)
    priced: dict[tuple, WorkspaceQuote] = {}
    quotes = []
    for start, end in spans:
        tokyo = start.astimezone(TOKYO)
        key = (tokyo.date(), end - start, is_off_peak_hour(tokyo.hour * 60 + tokyo.minute))
        quote = priced.get(key)
        if quote is None:
            quote = priced[key] = price_slots(
                prices,
                slot_minutes,
                slot_starts(start, end, slot_minutes),
                chosen,
                demand=unit.demand_pricing,
            )
        quotes.append(quote)
    return quotes


def slot_prices(
    unit: WorkspaceUnit,
    spans: Iterable[tuple[datetime, datetime]],
    *,
    policy: Policy | None = None,
) -> list[int]:
    """Each span's price in yen, rounded down on its own: a booking of several slots is
    rounded once, so it may cost a few yen more than the sum of its slots shown here
    (never more than its quote)."""
    return [quote.total for quote in slot_quotes(unit, spans, policy=policy)]
