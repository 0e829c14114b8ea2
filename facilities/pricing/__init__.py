"""Nightly prices: what a unit costs on a given night, in integer yen, tax included.

Today the price of a night is the unit's base price. Demand pricing (its own
issue) replaces the inside of these functions; callers ask only through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from facilities.models import Unit


def nightly_prices(unit: Unit, nights: Sequence[date]) -> list[int]:
    """The price of each night, in the order given."""
    return price_table([(unit.id, unit.base_price)], nights)[unit.id]


def price_table(units: Iterable[tuple[int, int]], nights: Sequence[date]) -> dict[int, list[int]]:
    """Prices for many units at once, from ``(unit_id, base_price)`` pairs."""
    return {unit_id: [base_price for _ in nights] for unit_id, base_price in units}
