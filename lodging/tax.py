"""宿泊税: the municipal accommodation tax of a night, by the rule in force that night.

Rules (docs/TAXES.md cites each ordinance):

- The tax is per guest and night. Its rate is chosen by the accommodation charge per
  guest and night *before consumption tax*: Engawa's prices include the 10%
  consumption tax, so a night of ``price`` yen for ``guests`` is charged
  ``price × 10 ÷ 11 ÷ guests`` per guest, rounded down to the yen.
- The rule of a night is the one in force on that night (``effective_from`` to
  ``effective_until``, both inclusive) for the facility's place, the most specific
  first: a municipality's own rule (京都市) over its prefecture's (a whole-prefecture
  rule, municipality ""). A stay across a change of rate pays each night by its own.
- A bracket of tax 0 exempts ("below ¥10,000 none"); where the ordinance taxes every
  stay (Kyoto), a night of ¥0 pays the lowest bracket, as the ordinance says.
- A night's tax is frozen with its price when it is booked (``BookingNight``); a rule
  added later changes only stays booked after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from core.extensions import db
from lodging.models import AccommodationTaxRule

CONSUMPTION_TAX_PERCENT = 10


def charge_per_guest(price: int, guests: int) -> int:
    """The charge per guest and night before consumption tax, in yen (rounded down)."""
    if guests < 1:
        raise ValueError("a night has at least one guest")
    return price * 100 // ((100 + CONSUMPTION_TAX_PERCENT) * guests)


@dataclass(frozen=True)
class Bracket:
    from_price: int  # yen per guest and night, before consumption tax
    tax: int  # yen per guest and night


class BracketError(ValueError):
    """Brackets that cannot be a rule; the message says why (in English, for the form)."""


def parse_brackets(raw: Iterable[Sequence[int]]) -> tuple[Bracket, ...]:
    """Brackets from ``[[from_price, tax], …]``: the first from 0, strictly ascending,
    every amount a whole, non-negative number of yen."""
    brackets = []
    for pair in raw:
        if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
            raise BracketError("each bracket is a price and a tax, in whole yen")
        from_price, tax = pair
        if from_price < 0 or tax < 0:
            raise BracketError("prices and taxes are not negative")
        brackets.append(Bracket(from_price, tax))
    if not brackets or brackets[0].from_price != 0:
        raise BracketError("the first bracket starts at ¥0")
    if any(b.from_price <= a.from_price for a, b in zip(brackets, brackets[1:], strict=False)):
        raise BracketError("brackets go up in price")
    return tuple(brackets)


def tax_per_guest(brackets: Sequence[Bracket], charge: int) -> int:
    """The tax of one guest's night whose charge (before consumption tax) is ``charge``."""
    tax = 0
    for bracket in brackets:
        if charge >= bracket.from_price:
            tax = bracket.tax
    return tax


@dataclass(frozen=True)
class Rule:
    """A rule as plain values (read once, used for many nights)."""

    id: int
    prefecture: int
    municipality: str
    effective_from: date
    effective_until: date | None
    brackets: tuple[Bracket, ...]

    def in_force(self, night: date) -> bool:
        return self.effective_from <= night and (
            self.effective_until is None or night <= self.effective_until
        )

    def covers(self, prefecture: int, municipality: str) -> bool:
        return prefecture == self.prefecture and municipality.startswith(self.municipality)


class TaxTable:
    """Every rule, read in one query: the tax of any night of any facility."""

    def __init__(self, rules: Iterable[Rule]):
        self._by_prefecture: dict[int, list[Rule]] = {}
        for rule in rules:
            self._by_prefecture.setdefault(rule.prefecture, []).append(rule)
        for rules_here in self._by_prefecture.values():
            # Most specific place first (a place's rules never overlap in time).
            rules_here.sort(key=lambda r: -len(r.municipality))

    @classmethod
    def load(cls) -> TaxTable:
        rows = db.session.scalars(select(AccommodationTaxRule)).all()
        return cls(
            Rule(
                r.id,
                r.prefecture,
                r.municipality,
                r.effective_from,
                r.effective_until,
                parse_brackets(r.brackets),
            )
            for r in rows
        )

    def rule_for(self, prefecture: int, municipality: str, night: date) -> Rule | None:
        """The rule of ``night`` at that place: the most specific place's rule in force."""
        for rule in self._by_prefecture.get(prefecture, ()):
            if rule.covers(prefecture, municipality) and rule.in_force(night):
                return rule
        return None

    def rate(self, prefecture: int, municipality: str, night: date, charge: int) -> int:
        """Yen per guest for ``night`` at a charge per guest (before consumption tax)."""
        rule = self.rule_for(prefecture, municipality, night)
        return 0 if rule is None else tax_per_guest(rule.brackets, charge)

    def night_tax(
        self, prefecture: int, municipality: str, night: date, price: int, guests: int
    ) -> int:
        """The tax of one night of ``price`` yen (consumption tax included) for ``guests``."""
        return guests * self.rate(prefecture, municipality, night, charge_per_guest(price, guests))

    def night_taxes(
        self,
        prefecture: int,
        municipality: str,
        nights: Iterable[tuple[date, int]],
        guests: int,
    ) -> list[int]:
        """Each night's tax, for ``(night, price)`` pairs."""
        return [
            self.night_tax(prefecture, municipality, night, price, guests)
            for night, price in nights
        ]

    def levied_at(self, prefecture: int, municipality: str) -> bool:
        """Some rule (in force at any time) covers the place."""
        rules_here = self._by_prefecture.get(prefecture, ())
        return any(r.covers(prefecture, municipality) for r in rules_here)


def facility_night_taxes(facility, nights: Iterable[tuple[date, int]], guests: int) -> list[int]:
    """Each night's tax at ``facility`` (anything with ``prefecture`` and
    ``municipality``), reading the rules once."""
    return TaxTable.load().night_taxes(facility.prefecture, facility.municipality, nights, guests)
