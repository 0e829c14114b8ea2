"""The recompute: every unsold night of every unit for the next year, priced and stored.

One transaction per facility, so a run that stops half-way leaves each facility
with all its old prices or all its new ones. Only rows whose price, base price
or reasons changed are written, so a second run straight after the first writes
nothing. Nights held by a booking or a block are skipped: a booking keeps the
prices frozen in its ``BookingNight`` rows, and the row here stays as it was.

The inner loop works on day ordinals (``date.toordinal()``) read straight from
SQL, and prices each distinct (base, bounds, factors) once per run: a year of
10,000 rooms is 3.65 million nights but only a few thousand distinct prices.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib.metadata import version
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, exists, insert, select, text

from availability.models import ChangedNights
from core.db import tokyo_today
from core.extensions import db
from facilities.models import Facility, Unit
from pricing.models import NightlyPrice, PriceChange, PriceOverride, PricingPolicy, PricingState
from pricing.rules import (
    Policy,
    compute_price,
    encode_reasons,
    find_gaps,
    night_factors,
    override_price,
    shown_off_season,
)

WINDOW = 3  # forward occupancy looks at the nights D-3 … D+3
# Nights around a booking whose price it can move: the occupancy window, and
# gaps (a 1–2 night hole needs a stay on each side) fall inside it too.
REFRESH_MARGIN = WINDOW


def _ordinal_sql(column: str) -> str:
    """SQL giving ``date.toordinal()`` of a DATE column, on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return f"({column} - DATE '0001-01-01' + 1)"
    return f"(CAST(julianday({column}) AS INTEGER) - 1721424)"


@dataclass
class Counts:
    """What a recompute did (or would do, in a dry run)."""

    facilities: int = 0
    unchanged: int = 0  # facilities skipped: nothing they are priced from had changed
    priced: int = 0  # unsold nights looked at
    changed: int = 0  # rows written: new or different
    new: int = 0  # of which first prices (no row before)
    up: int = 0
    down: int = 0

    def add(self, other: Counts) -> None:
        for name in ("facilities", "unchanged", "priced", "changed", "new", "up", "down"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> str:
        unchanged = f" ({self.unchanged} unchanged)" if self.unchanged else ""
        return (
            f"{self.facilities} facilities{unchanged}, {self.priced} nights priced: "
            f"{self.changed} prices changed ({self.up} up, {self.down} down, {self.new} new)"
        )


@dataclass(frozen=True)
class _UnitRow:
    id: int
    base: int
    floor: int | None
    ceiling: int | None

    @property
    def bounds(self) -> tuple[int, int | None, int | None]:
        return (self.base, self.floor, self.ceiling)


class _PriceCache:
    """Prices by (policy, factors, base and bounds, gap), each computed once per run.

    Policies, factor tuples and unit bounds are numbered as they are first seen,
    so the per-night lookup hashes four small integers.
    """

    def __init__(self) -> None:
        self.policies: dict[Policy, int] = {}
        self.factors: dict[tuple, int] = {}
        self.bounds: dict[tuple[int, int | None, int | None], int] = {}
        self.prices: dict[tuple[int, int, int, bool], tuple[tuple[int, int, str], int]] = {}

    @staticmethod
    def number(table: dict, value) -> int:
        n = table.get(value)
        if n is None:
            n = table[value] = len(table)
        return n

    def compute(self, key, policy: Policy, unit: _UnitRow, factors: tuple, gap: bool):
        """``((price, base, reasons), off_season)``, stored under ``key``."""
        price, reasons = compute_price(
            unit.base, factors, policy, floor=unit.floor, ceiling=unit.ceiling, gap=gap
        )
        hit = (
            (price, unit.base, encode_reasons(reasons)),
            shown_off_season(price, unit.base, reasons),
        )
        self.prices[key] = hit
        return hit


def horizon_days() -> int:
    return current_app.config["PRICING_HORIZON_DAYS"]


def policy_for(facility_id: int) -> Policy:
    row = db.session.get(PricingPolicy, facility_id)
    return row.rules() if row is not None else Policy()


def _units(facility_id: int) -> list[_UnitRow]:
    rows = db.session.execute(
        text(
            "SELECT id, base_price, price_floor, price_ceiling FROM unit"
            " WHERE facility_id = :f AND active ORDER BY id"
        ),
        {"f": facility_id},
    )
    return [_UnitRow(*r) for r in rows]


# Rows are keyed by one integer, unit id x KEY + day ordinal: cheaper to build and
# to look up than (unit id, date) pairs, millions of times a run.
KEY = 1_000_000


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


def _claimed(unit_ids: list[int], start: date, end: date) -> tuple[set[int], set[int]]:
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


def _stored(unit_ids: list[int], start: date, end: date) -> dict[int, tuple[int, int, str]]:
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


def _overrides(facility_id: int, units: list[_UnitRow], start: date, end: date):
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
def _code_fingerprint() -> str:
    """The pricing code and holiday calendar: a new release re-prices everything.

    Read on the first full run, not at import (web workers import this module too).
    """
    digest = hashlib.sha256(version("jpholiday").encode())
    for name in ("rules.py", "seasons.py", "engine.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


_LOCK_NAMESPACE = 0x50524943  # "PRIC": pg_advisory_xact_lock(namespace, facility id)


def lock_prices(facility_id: int, *, shared: bool = False) -> None:
    """The facility's pricing lock, held until the transaction ends.

    Pricing writers (the nightly run, a refresh, an operator's change) take it
    alone, so what they read is still true when they write. A booking takes the
    shared side while it reads and freezes its prices: bookings do not wait for
    each other, the price a booking freezes is the stored one, and a run that
    starts later sees the booking's nights as sold. PostgreSQL: an advisory lock.
    SQLite: every transaction already holds the database's write lock.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        db.session.execute(
            text(f"SELECT {function}(:ns, :f)"),  # noqa: S608 - one of two fixed names
            {"ns": _LOCK_NAMESPACE, "f": facility_id},
        )


def _inputs_digest(today, start, end, policy, units, claimed, closed, overrides) -> str:
    parts = (
        _code_fingerprint(),
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


def reprice_facility(
    facility_id: int,
    today: date,
    now: datetime,
    *,
    start: date | None = None,
    end: date | None = None,
    cause: str = "nightly",
    cache: _PriceCache | None = None,
    write: bool = True,
    skip_unchanged: bool = False,
) -> Counts:
    """Price the unsold nights of one facility in [start, end) (default: the horizon).

    A full run (no ``start``/``end``) remembers a digest of what it priced from;
    with ``skip_unchanged`` a facility whose inputs digest the same is skipped.
    Flushes its writes; the caller commits (one transaction per facility).
    """
    full = start is None and end is None
    horizon_end = today + timedelta(days=horizon_days())
    start = max(start or today, today)
    end = min(end or horizon_end, horizon_end)
    counts = Counts(facilities=1)
    if write:
        lock_prices(facility_id)
    units = _units(facility_id)
    if not units or start >= end:
        return counts
    cache = cache or _PriceCache()
    policy = policy_for(facility_id)
    margin = timedelta(days=WINDOW)
    unit_ids = [u.id for u in units]
    claimed, closed = _claimed(unit_ids, start - margin, end + margin)
    overrides = _overrides(facility_id, units, start, end)
    digest = state = None
    if full:
        digest = _inputs_digest(today, start, end, policy, units, claimed, closed, overrides)
        state = db.session.get(PricingState, facility_id)
        if skip_unchanged and state is not None and state.inputs_digest == digest:
            counts.unchanged = 1
            return counts
    stored = _stored(unit_ids, start, end)

    first, stop, today_n = start.toordinal(), end.toordinal(), today.toordinal()
    # Sold and closed unit-nights per night, for the forward-occupancy window:
    # sold / (rooms x nights − closed), around each night.
    sold: dict[int, int] = defaultdict(int)
    shut: dict[int, int] = defaultdict(int)
    by_unit: dict[int, list[int]] = defaultdict(list)
    for key in claimed:
        day = key % KEY
        if key in closed:
            shut[day] += 1
        else:
            sold[day] += 1
        by_unit[key // KEY].append(day)
    room_nights = len(units) * (2 * WINDOW + 1)
    gaps = {
        u.id * KEY + day
        for u in units
        if u.id in by_unit
        for day in find_gaps(by_unit[u.id], first, stop - 1)
    }
    policy_n = cache.number(cache.policies, policy)
    bounds_n = {u.id: cache.number(cache.bounds, u.bounds) for u in units}
    prices = cache.prices

    rows: list[tuple] = []
    changes: list[dict] = []
    for day in range(first, stop):
        night = date.fromordinal(day)
        lead = day - today_n
        window = range(day - WINDOW, day + WINDOW + 1)
        capacity = room_nights - sum(shut[d] for d in window)
        share = sum(sold[d] for d in window) / capacity if capacity else 0.0
        factors = night_factors(night, lead, share, policy)
        factors_n = cache.number(cache.factors, factors)
        for unit in units:
            key = unit.id * KEY + day
            if key in claimed:
                continue
            counts.priced += 1
            override = overrides.get(key)
            if override is not None:
                price, reasons = override_price(unit.base, override)
                new = ((price, unit.base, encode_reasons(reasons)), 0)
            else:
                gap = key in gaps
                price_key = (policy_n, factors_n, bounds_n[unit.id], gap)
                new = prices.get(price_key) or cache.compute(price_key, policy, unit, factors, gap)
            value = new[0]
            old = stored.get(key)
            if old == value:
                continue
            counts.changed += 1
            rows.append((unit.id, night, value[0], unit.base, new[1], value[2]))
            if old is None:
                counts.new += 1
            elif value[0] != old[0]:
                counts.up += value[0] > old[0]
                counts.down += value[0] < old[0]
                changes.append(
                    {
                        "unit_id": unit.id,
                        "night": night,
                        "old_price": old[0],
                        "new_price": value[0],
                        "cause": cause,
                        "changed_at": now,
                    }
                )
    if write:
        _write(rows, new_rows=counts.new)
        if changes:
            db.session.execute(insert(PriceChange), changes)
        if digest is not None:
            if state is None:
                db.session.add(
                    PricingState(facility_id=facility_id, inputs_digest=digest, priced_at=now)
                )
            else:
                state.inputs_digest, state.priced_at = digest, now
    return counts


# The WHERE NOT EXISTS: a night booked after this run read the facility's nights
# keeps its row as it was (bookings do not wait for the pricing lock).
_PG_UPSERT = text(
    "INSERT INTO nightly_price (unit_id, night, price, base_price, off_season, reasons)"
    " SELECT * FROM unnest(CAST(:u AS integer[]), CAST(:n AS date[]), CAST(:p AS integer[]),"
    " CAST(:b AS integer[]), CAST(:o AS smallint[]), CAST(:r AS varchar[]))"
    " ON CONFLICT (unit_id, night) DO UPDATE SET price = EXCLUDED.price,"
    " base_price = EXCLUDED.base_price, off_season = EXCLUDED.off_season,"
    " reasons = EXCLUDED.reasons WHERE NOT EXISTS (SELECT 1 FROM occupancy o"
    " WHERE o.unit_id = nightly_price.unit_id AND o.night = nightly_price.night)"
)
_SQLITE_UPSERT = (
    "INSERT INTO nightly_price (unit_id, night, price, base_price, off_season, reasons)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (unit_id, night) DO UPDATE SET"
    " price = excluded.price, base_price = excluded.base_price,"
    " off_season = excluded.off_season, reasons = excluded.reasons WHERE NOT EXISTS"
    " (SELECT 1 FROM occupancy o"
    " WHERE o.unit_id = nightly_price.unit_id AND o.night = nightly_price.night)"
)


_COPY = "COPY nightly_price (unit_id, night, price, base_price, off_season, reasons) FROM STDIN"


def _write(rows: list[tuple], new_rows: int) -> None:
    """Write changed rows. On PostgreSQL, when every row is new (a facility's first
    prices, most of a first run) COPY them: about five times faster than an upsert,
    and safe because the facility's pricing lock is held."""
    if rows and new_rows == len(rows) and db.session.get_bind().dialect.name == "postgresql":
        cursor = db.session.connection().connection.cursor()
        try:
            with cursor.copy(_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    _upsert(rows)


def _upsert(rows: list[tuple]) -> None:
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        columns = list(zip(*rows, strict=True))
        db.session.execute(
            _PG_UPSERT,
            dict(zip("unpbor", (list(c) for c in columns), strict=True)),
        )
        return
    db.session.connection().exec_driver_sql(
        _SQLITE_UPSERT, [(u, n.isoformat(), p, b, o, r) for u, n, p, b, o, r in rows]
    )


def _forget_past(facility_id: int, today: date) -> None:
    """Prices of nights gone by are of no use to anybody (bookings keep their own).

    By listed room ids, so each room's few old rows are found through the primary
    key (a sub-select let PostgreSQL scan the whole table once per facility).
    """
    unit_ids = list(db.session.scalars(select(Unit.id).where(Unit.facility_id == facility_id)))
    if unit_ids:
        db.session.execute(
            delete(NightlyPrice).where(
                NightlyPrice.unit_id.in_(unit_ids), NightlyPrice.night < today
            )
        )


def facility_ids(facility_id: int | None = None) -> list[int]:
    query = select(Facility.id).where(Facility.active.is_(True)).order_by(Facility.id)
    if facility_id is not None:
        query = query.where(Facility.id == facility_id)
    return list(db.session.scalars(query))


def _relaxed_commit() -> None:
    """PostgreSQL: this transaction's commit need not wait for the disk.

    A crash can lose the last few facilities' new prices, but never half of one
    (commits stay atomic and ordered), and the next run re-does them. Saves a disk
    flush per facility: about 1,000 a run.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit = off"))


def recompute(
    now: datetime,
    *,
    facility_id: int | None = None,
    dry_run: bool = False,
    force: bool = False,
    cause: str = "nightly",
    progress: Callable[[int, Counts], None] | None = None,
) -> Counts:
    """Re-price every active facility (or one), one transaction each.

    A facility whose inputs are the same as at its last full run is skipped
    unless ``force``. ``dry_run`` computes and counts but writes nothing.
    """
    today = tokyo_today(now)
    ids = facility_ids(facility_id)
    db.session.commit()
    total = Counts()
    cache = _PriceCache()
    for fid in ids:
        _relaxed_commit()
        counts = reprice_facility(
            fid,
            today,
            now,
            cause=cause,
            cache=cache,
            write=not dry_run,
            skip_unchanged=not force,
        )
        if dry_run:
            db.session.rollback()
        else:
            if not counts.unchanged:  # (an unchanged facility was cleaned today already)
                _forget_past(fid, today)
            db.session.commit()
        total.add(counts)
        if progress is not None:
            progress(fid, counts)
    return total


def recompute_job(now: datetime) -> str:
    """The nightly job (03:00 Asia/Tokyo): every facility, the whole horizon."""
    return recompute(now).summary()


# --- After a booking or cancellation ---------------------------------------------------


def refresh_pending() -> bool:
    return bool(db.session.scalar(select(exists().where(ChangedNights.id.is_not(None)))))


def refresh_queued(now: datetime, *, limit: int = 500) -> Counts:
    """Re-price what bookings and cancellations queued; one transaction per facility.

    A facility's queued ranges are merged into one span and its queue rows are
    deleted in the same transaction as its new prices: a crash re-does the work,
    never loses it.
    """
    today = tokyo_today(now)
    queued = db.session.execute(
        select(
            ChangedNights.id,
            ChangedNights.facility_id,
            ChangedNights.start_date,
            ChangedNights.end_date,
        )
        .order_by(ChangedNights.id)
        .limit(limit)
    ).all()
    db.session.commit()
    spans: dict[int, tuple[list[int], date, date]] = {}
    # The nights around a change are re-priced too (gaps, pace): a margin each side.
    margin = timedelta(days=REFRESH_MARGIN)
    for row_id, fid, changed_start, changed_end in queued:
        start, end = changed_start - margin, changed_end + margin
        ids, first, stop = spans.get(fid, ([], start, end))
        ids.append(row_id)
        spans[fid] = (ids, min(first, start), max(stop, end))
    total = Counts()
    cache = _PriceCache()
    for fid, (ids, start, end) in spans.items():
        total.add(
            reprice_facility(fid, today, now, start=start, end=end, cause="booking", cache=cache)
        )
        db.session.execute(delete(ChangedNights).where(ChangedNights.id.in_(ids)))
        db.session.commit()
    return total


def refresh_job(now: datetime) -> str:
    return refresh_queued(now).summary()


def reprice_now(facility_ids_: Iterable[int], now: datetime, cause: str) -> Counts:
    """Re-price facilities at once (after an operator changed settings); commits each."""
    today = tokyo_today(now)
    total = Counts()
    for fid in facility_ids_:
        total.add(reprice_facility(fid, today, now, cause=cause))
        db.session.commit()
    return total
