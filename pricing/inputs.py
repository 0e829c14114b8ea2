"""What the recompute prices a facility from, read straight from SQL, and its digest.

A facility's rooms, policy, held nights, stored prices and overrides, keyed by one
integer per unit-night (``KEY``), plus the fingerprint of the pricing code: a full
run whose inputs digest the same as last time has nothing to do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import select, text

from core.extensions import db
from pricing.models import PriceOverride, PricingPolicy
from pricing.rules import Policy

# Rows are keyed by one integer, unit id x KEY + day ordinal: cheaper to build and
# to look up than (unit id, date) pairs, millions of times a run.
KEY = 1_000_000


def _ordinal_sql(column: str) -> str:
    """SQL giving ``date.toordinal()`` of a DATE column, on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return f"({column} - DATE '0001-01-01' + 1)"
    return f"(CAST(julianday({column}) AS INTEGER) - 1721424)"


@dataclass(frozen=True)
class UnitRow:
    id: int
    base: int
    floor: int | None
    ceiling: int | None

    @property
    def bounds(self) -> tuple[int, int | None, int | None]:
        return (self.base, self.floor, self.ceiling)


@dataclass
class FacilityInputs:
    """What one facility's nights are priced from (the stored prices apart)."""

    policy: Policy
    units: list[UnitRow]
    claimed: set[int]  # keys of nights held by a booking or block
    closed: set[int]  # of those, the ones an operator closed
    overrides: dict[int, int]  # key → the operator's price

    @property
    def unit_ids(self) -> list[int]:
        return [u.id for u in self.units]

    def digest(self, today: date, start: date, end: date) -> str:
        return inputs_digest(
            today,
            start,
            end,
            self.policy,
            self.units,
            self.claimed,
            self.closed,
            self.overrides,
        )


def policy_for(facility_id: int) -> Policy:
    row = db.session.get(PricingPolicy, facility_id)
    return row.rules() if row is not None else Policy()


def load_units(facility_id: int) -> list[UnitRow]:
    rows = db.session.execute(
        text(
            "SELECT id, base_price, price_floor, price_ceiling FROM unit"
            " WHERE facility_id = :f AND active ORDER BY id"
        ),
        {"f": facility_id},
    )
    return [UnitRow(*r) for r in rows]


def load_inputs(
    facility_id: int, start: date, end: date, margin: timedelta
) -> FacilityInputs | None:
    """The facility's inputs for [start, end); held nights ``margin`` further each side
    (occupancy and gaps look past the span). None if it has no active room or the
    span is empty."""
    units = load_units(facility_id)
    if not units or start >= end:
        return None
    policy = policy_for(facility_id)
    claimed, closed = load_claimed([u.id for u in units], start - margin, end + margin)
    overrides = load_overrides(facility_id, units, start, end)
    return FacilityInputs(policy, units, claimed, closed, overrides)


def _fetch(sql: str, unit_ids: list[int], start: date, end: date) -> list[tuple]:
    """Rows of ``sql`` (``{units}`` stands for the room ids, ``:a`` and ``:b`` for
    the dates) as plain tuples.

    Straight from the DB-API cursor: these queries return millions of rows a run,
    and building result rows costs more than the query. The rooms are given by id,
    so each query walks the ``(unit_id, night)`` index of its few rooms whatever
    the statistics say: PostgreSQL gets them as one array parameter (the same
    statement text every time, prepared once per connection), SQLite as a list.
    """
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        sql = sql.replace("IN ({units})", "= ANY(%(u)s)")
        sql = sql.replace(":a", "%(a)s").replace(":b", "%(b)s")
        params = {"u": unit_ids, "a": start, "b": end}
    else:
        sql = sql.replace("{units}", ",".join(str(int(u)) for u in unit_ids))
        params = {"a": start.isoformat(), "b": end.isoformat()}
    cursor = db.session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def load_claimed(unit_ids: list[int], start: date, end: date) -> tuple[set[int], set[int]]:
    """Keys of the rooms' nights in [start, end) held by a booking or block, and of
    those the ones an operator closed (maintenance, private use): not for sale,
    but not sold either."""
    rows = _fetch(
        f"SELECT CAST(o.unit_id AS BIGINT) * {KEY} + {_ordinal_sql('o.night')},"  # noqa: S608
        " o.block_id FROM occupancy o"
        " WHERE o.unit_id IN ({units}) AND o.night >= :a AND o.night < :b",
        unit_ids,
        start,
        end,
    )
    # The operator's own blocks, looked up apart: a join let PostgreSQL hash the
    # whole block table (every imported event of the network) for each facility.
    manual = {
        block_id
        for (block_id,) in _fetch(
            "SELECT id FROM block WHERE unit_id IN ({units}) AND source = 'manual'"
            " AND end_date > :a AND start_date < :b",
            unit_ids,
            start,
            end,
        )
    }
    return {key for key, _ in rows}, {key for key, block_id in rows if block_id in manual}


def load_stored(unit_ids: list[int], start: date, end: date) -> dict[int, tuple[int, int, str]]:
    """Key → (price, base price, reasons) as stored now."""
    rows = _fetch(
        f"SELECT CAST(p.unit_id AS BIGINT) * {KEY} + {_ordinal_sql('p.night')},"  # noqa: S608
        " p.price, p.base_price, p.reasons FROM nightly_price p"
        " WHERE p.unit_id IN ({units}) AND p.night >= :a AND p.night < :b",
        unit_ids,
        start,
        end,
    )
    return {key: (price, base, reasons) for key, price, base, reasons in rows}


def load_overrides(
    facility_id: int, units: list[UnitRow], start: date, end: date
) -> dict[int, int]:
    """Key → the operator's price; a unit's own beats the facility's, and the newest
    beats older ones."""
    rows = db.session.execute(
        select(
            PriceOverride.unit_id,
            PriceOverride.start_date,
            PriceOverride.end_date,
            PriceOverride.price,
        )
        .where(
            PriceOverride.facility_id == facility_id,
            PriceOverride.end_date > start,
            PriceOverride.start_date < end,
        )
        .order_by(PriceOverride.unit_id.is_not(None), PriceOverride.created_at, PriceOverride.id)
    )
    out: dict[int, int] = {}
    unit_ids = [u.id for u in units]
    for unit_id, first, stop, price in rows:
        for day in range(max(first, start).toordinal(), min(stop, end).toordinal()):
            for uid in unit_ids if unit_id is None else (unit_id,):
                out[uid * KEY + day] = price
    return out


@cache
def code_fingerprint() -> str:
    """The pricing code and holiday calendar: a new release re-prices everything.

    Read on the first full run, not at import (web workers import this module too).
    """
    digest = hashlib.sha256(version("jpholiday").encode())
    for name in ("rules.py", "seasons.py", "engine.py", "inputs.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def inputs_digest(today, start, end, policy, units, claimed, closed, overrides) -> str:
    parts = (
        code_fingerprint(),
        today,
        start,
        end,
        policy,
        units,
        sorted(claimed),
        sorted(closed),
        sorted(overrides.items()),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()
