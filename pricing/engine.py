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

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select, text

from core.db import tokyo_today
from core.extensions import db
from core.job_summary import N_, JobSummary, summary
from facilities.models import Facility, Unit
from pricing.inputs import KEY, FacilityInputs, UnitRow, load_inputs, load_stored
from pricing.models import NightlyPrice, PriceChange, PricingState
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

    def summary(self) -> JobSummary:
        counts = {
            name: getattr(self, name)
            for name in ("facilities", "priced", "changed", "up", "down", "new")
        }
        if self.unchanged:
            return summary(
                N_(
                    "%(facilities)d facilities (%(unchanged)d unchanged), %(priced)d nights"
                    " priced: %(changed)d prices changed (%(up)d up, %(down)d down, %(new)d new)"
                ),
                unchanged=self.unchanged,
                **counts,
            )
        return summary(
            N_(
                "%(facilities)d facilities, %(priced)d nights priced: %(changed)d prices"
                " changed (%(up)d up, %(down)d down, %(new)d new)"
            ),
            **counts,
        )


class PriceCache:
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

    def compute(self, key, policy: Policy, unit: UnitRow, factors: tuple, gap: bool):
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


# The nights priced ahead; the edges pass PRICING_HORIZON_DAYS (same default).
DEFAULT_HORIZON_DAYS = 365


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


def reprice_facility(
    facility_id: int,
    today: date,
    now: datetime,
    *,
    start: date | None = None,
    end: date | None = None,
    cause: str = "nightly",
    cache: PriceCache | None = None,
    write: bool = True,
    skip_unchanged: bool = False,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> Counts:
    """Price the unsold nights of one facility in [start, end) (default: the horizon).

    A full run (no ``start``/``end``) remembers a digest of what it priced from;
    with ``skip_unchanged`` a facility whose inputs digest the same is skipped.
    Flushes its writes; the caller commits (one transaction per facility).
    """
    full = start is None and end is None
    horizon_end = today + timedelta(days=horizon_days)
    start = max(start or today, today)
    end = min(end or horizon_end, horizon_end)
    counts = Counts(facilities=1)
    if write:
        lock_prices(facility_id)
    inputs = load_inputs(facility_id, start, end, margin=timedelta(days=WINDOW))
    if inputs is None:
        return counts
    digest = state = None
    if full:
        digest = inputs.digest(today, start, end)
        state = db.session.get(PricingState, facility_id)
        if skip_unchanged and state is not None and state.inputs_digest == digest:
            counts.unchanged = 1
            return counts
    stored = load_stored(inputs.unit_ids, start, end)
    rows, changes = _price_nights(
        inputs, stored, today, start, end, cache or PriceCache(), counts, cause=cause, now=now
    )
    if write:
        _write_changes(facility_id, rows, changes, counts.new, digest, state, now)
    return counts


def _occupancy(
    inputs: FacilityInputs, first: int, stop: int
) -> tuple[dict[int, int], dict[int, int], set[int]]:
    """Sold and closed unit-nights per day ordinal, and the keys of the gap nights
    (unsold holes between stays) in [first, stop)."""
    sold: dict[int, int] = defaultdict(int)
    shut: dict[int, int] = defaultdict(int)
    by_unit: dict[int, list[int]] = defaultdict(list)
    for key in inputs.claimed:
        day = key % KEY
        if key in inputs.closed:
            shut[day] += 1
        else:
            sold[day] += 1
        by_unit[key // KEY].append(day)
    gaps = {
        u.id * KEY + day
        for u in inputs.units
        if u.id in by_unit
        for day in find_gaps(by_unit[u.id], first, stop - 1)
    }
    return sold, shut, gaps


def _night_factors(
    night: date,
    lead: int,
    sold: dict[int, int],
    shut: dict[int, int],
    room_nights: int,
    policy: Policy,
) -> tuple:
    """The night's pricing factors. Sold and closed unit-nights per night, for the
    forward-occupancy window: sold / (rooms x nights − closed), around each night."""
    day = night.toordinal()
    window = range(day - WINDOW, day + WINDOW + 1)
    capacity = room_nights - sum(shut[d] for d in window)
    share = sum(sold[d] for d in window) / capacity if capacity else 0.0
    return night_factors(night, lead, share, policy)


def _price_change(unit_id: int, night: date, old: int, new: int, cause: str, now: datetime):
    """A ``PriceChange`` row: the history of an unsold night's price."""
    return {
        "unit_id": unit_id,
        "night": night,
        "old_price": old,
        "new_price": new,
        "cause": cause,
        "changed_at": now,
    }


def _price_nights(
    inputs: FacilityInputs,
    stored: dict[int, tuple[int, int, str]],
    today: date,
    start: date,
    end: date,
    cache: PriceCache,
    counts: Counts,
    *,
    cause: str,
    now: datetime,
) -> tuple[list[tuple], list[dict]]:
    """Price every unsold night in [start, end): the rows that are new or differ from
    ``stored``, and the price changes to record. Adds what it did to ``counts``."""
    policy, units = inputs.policy, inputs.units
    claimed, overrides = inputs.claimed, inputs.overrides
    first, stop, today_n = start.toordinal(), end.toordinal(), today.toordinal()
    sold, shut, gaps = _occupancy(inputs, first, stop)
    room_nights = len(units) * (2 * WINDOW + 1)
    policy_n = cache.number(cache.policies, policy)
    bounds_n = {u.id: cache.number(cache.bounds, u.bounds) for u in units}
    prices = cache.prices
    rows: list[tuple] = []
    changes: list[dict] = []
    for day in range(first, stop):
        night = date.fromordinal(day)
        factors = _night_factors(night, day - today_n, sold, shut, room_nights, policy)
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
                changes.append(_price_change(unit.id, night, old[0], value[0], cause, now))
    return rows, changes


def _write_changes(
    facility_id: int,
    rows: list[tuple],
    changes: list[dict],
    new_rows: int,
    digest: str | None,
    state: PricingState | None,
    now: datetime,
) -> None:
    """Flush the changed rows, their price history and, after a full run, the digest
    of what the facility was priced from."""
    _write(rows, new_rows=new_rows)
    if changes:
        db.session.execute(insert(PriceChange), changes)
    if digest is not None:
        if state is None:
            db.session.add(
                PricingState(facility_id=facility_id, inputs_digest=digest, priced_at=now)
            )
        else:
            state.inputs_digest, state.priced_at = digest, now


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
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> Counts:
    """Re-price every active facility (or one), one transaction each.

    A facility whose inputs are the same as at its last full run is skipped
    unless ``force``. ``dry_run`` computes and counts but writes nothing.
    """
    today = tokyo_today(now)
    ids = facility_ids(facility_id)
    db.session.commit()
    total = Counts()
    cache = PriceCache()
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
            horizon_days=horizon_days,
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


def reprice_now(
    facility_ids_: Iterable[int],
    now: datetime,
    cause: str,
    *,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> Counts:
    """Re-price facilities at once (after an operator changed settings); commits each."""
    today = tokyo_today(now)
    total = Counts()
    for fid in facility_ids_:
        total.add(reprice_facility(fid, today, now, cause=cause, horizon_days=horizon_days))
        db.session.commit()
    return total
