"""Nightly prices: what a unit costs on a given night, in integer yen, tax included.

The recompute job (``pricing.engine``) stores each unsold night's
price and its reasons in ``nightly_price``; everything that shows or charges a
price reads it through these functions. A night without a stored price (before
the first run, or beyond the horizon) costs the unit's base price.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from core.extensions import db
from facilities.models import Unit
from pricing.models import NightlyPrice
from pricing.rules import Reason, decode_reasons


@dataclass(frozen=True)
class NightPrice:
    price: int
    base_price: int
    reasons: tuple[Reason, ...] = ()
    off_season: int = 0  # the off-season percent shown to employees (≤ 0)


def night_prices(
    units: Iterable[tuple[int, int]], nights: Sequence[date]
) -> dict[int, list[NightPrice]]:
    """Each night's price for many units, from ``(unit_id, base_price)`` pairs."""
    units = list(units)
    out = {unit_id: [NightPrice(base, base) for _ in nights] for unit_id, base in units}
    if not units or not nights:
        return out
    index = {night: i for i, night in enumerate(nights)}
    rows = db.session.execute(
        select(
            NightlyPrice.unit_id,
            NightlyPrice.night,
            NightlyPrice.price,
            NightlyPrice.base_price,
            NightlyPrice.reasons,
            NightlyPrice.off_season,
        ).where(
            NightlyPrice.unit_id.in_([unit_id for unit_id, _ in units]),
            NightlyPrice.night >= min(nights),
            NightlyPrice.night <= max(nights),
        )
    )
    for unit_id, night, price, base, reasons, off_season in rows:
        i = index.get(night)
        if i is not None:
            out[unit_id][i] = NightPrice(price, base, decode_reasons(reasons), off_season)
    return out


def unit_night_prices(unit: Unit, nights: Sequence[date]) -> list[NightPrice]:
    """One unit's price of each night, in the order given."""
    return night_prices([(unit.id, unit.base_price)], nights)[unit.id]
