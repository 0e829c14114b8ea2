"""Blocks: nights of a unit closed by an operator or by an external calendar.

A block claims its nights the way a booking does, through ``Occupancy`` rows
and their ``UNIQUE(unit_id, night)``; so a booking and a block can never hold
the same night, whichever came first. Several blocks may *want* one night (an
Airbnb block over a night the operator also closed): one holds it, and when
that one goes, ``reconcile_unit`` hands the night to the next.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounts.models import User
from availability.changes import nights_changed
from availability.models import Block, BlockReason, BlockSource, Occupancy
from core.dates import stay_nights
from core.db import tokyo_today
from core.errors import RuleError
from core.extensions import db
from facilities.models import Unit

MAX_BLOCK_NIGHTS = 366
MANUAL_REASONS = (BlockReason.MAINTENANCE, BlockReason.PRIVATE_USE, BlockReason.OTHER)


class BlockError(RuleError):
    """A block that cannot be made; the message is for the operator."""


def booked_nights(unit_ids: Iterable[int], start: date, end: date) -> dict[tuple[int, date], int]:
    """(unit id, night) → booking id, for nights in [start, end) held by bookings."""
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night, Occupancy.booking_id).where(
            Occupancy.unit_id.in_(list(unit_ids)),
            Occupancy.night >= start,
            Occupancy.night < end,
            Occupancy.booking_id.is_not(None),
        )
    )
    return {(unit_id, night): booking_id for unit_id, night, booking_id in rows}


# PostgreSQL: one statement with array parameters, the same text whatever the
# number of rows, so it is prepared once (a multi-row VALUES list is not).
_PG_CLAIM = text(
    "INSERT INTO occupancy (unit_id, night, block_id)"
    " SELECT * FROM unnest(CAST(:unit_ids AS integer[]), CAST(:nights AS date[]),"
    " CAST(:block_ids AS integer[]))"
    " ON CONFLICT (unit_id, night) DO NOTHING"
)


def _insert_ignoring_taken(rows: list[dict]) -> None:
    """Insert occupancy rows; a night someone already holds is skipped, not an error."""
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            _PG_CLAIM,
            {
                "unit_ids": [r["unit_id"] for r in rows],
                "nights": [r["night"] for r in rows],
                "block_ids": [r["block_id"] for r in rows],
            },
        )
        return
    stmt = sqlite_insert(Occupancy).on_conflict_do_nothing(index_elements=["unit_id", "night"])
    db.session.execute(stmt, rows)


def _check_closing(units: Sequence[Unit], start: date, end: date, reason: str, today: date) -> None:
    """Refuse a closing with dates out of order, in the past or too long, an unknown
    reason, or no units."""
    if end <= start:
        raise BlockError(_l("The last night must come after the first."), "dates_order")
    if start < today:
        raise BlockError(_l("Nights in the past cannot be closed."), "past")
    if (end - start).days > MAX_BLOCK_NIGHTS:
        raise BlockError(
            _l("Close at most %(n)d nights at a time.", n=MAX_BLOCK_NIGHTS), "too_long"
        )
    if reason not in MANUAL_REASONS:
        raise BlockError(_l("Choose a reason."), "reason")
    if not units:
        raise BlockError(_l("This facility has no rooms to close."), "no_units")


def direct_nights(unit_ids: Iterable[int], start: date, end: date) -> dict[tuple[int, date], int]:
    """(unit id, night) → block id, for nights in [start, end) held by direct stays."""
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night, Occupancy.block_id)
        .join(Block, Block.id == Occupancy.block_id)
        .where(
            Occupancy.unit_id.in_(list(unit_ids)),
            Occupancy.night >= start,
            Occupancy.night < end,
            Block.source == BlockSource.DIRECT,
        )
    )
    return {(unit_id, night): block_id for unit_id, night, block_id in rows}


def _listed(units: Sequence[Unit], taken: dict[tuple[int, date], int]) -> str:
    """Up to five of the (unit, night) keys, as "Room 101 Apr 3, 2026, …"."""
    names = {u.id: u.name for u in units}
    first = sorted(taken)[:5]
    listed = ", ".join(f"{names[u]} {format_date(n, 'medium')}" for u, n in first)
    return listed + (" …" if len(taken) > len(first) else "")


def _refuse_booked(units: Sequence[Unit], start: date, end: date) -> None:
    """Refuse when a booking or a direct stay holds any night [start, end) of ``units``,
    naming up to five."""
    unit_ids = [u.id for u in units]
    taken = booked_nights(unit_ids, start, end)
    if taken:
        raise BlockError(
            _l(
                "Guests are booked on %(nights)s. Move or cancel those stays first;"
                " nothing was closed.",
                nights=_listed(units, taken),
            ),
            "booked",
        )
    direct = direct_nights(unit_ids, start, end)
    if direct:
        raise BlockError(
            _l(
                "Direct stays are recorded on %(nights)s. Cancel those stays first;"
                " nothing was closed.",
                nights=_listed(units, direct),
            ),
            "direct",
        )


def close_dates(
    actor: User,
    units: Sequence[Unit],
    start: date,
    end: date,
    reason: str,
    note: str,
    now: datetime,
) -> list[Block]:
    """Close nights [start, end) of ``units`` (one unit, or every unit of a facility).

    Refused, changing nothing, where a booking or a direct stay holds any of those
    nights: the operator has to move or cancel the stay first. Nights another block already
    holds are shared with it. The caller has checked that ``actor`` runs the units.
    """
    today = tokyo_today(now)
    _check_closing(units, start, end, reason, today)
    group_key = secrets.token_hex(8) if len(units) > 1 else None
    blocks = [
        Block(
            unit_id=unit.id,
            start_date=start,
            end_date=end,
            source=BlockSource.MANUAL,
            reason=reason,
            note=note.strip()[:300],
            group_key=group_key,
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        for unit in units
    ]
    db.session.add_all(blocks)
    db.session.flush()
    for unit in units:
        reconcile_unit(unit.id, today)
    # Checked after claiming: a booking that slipped in concurrently is seen
    # here (the insert waited for it), and the caller rolls everything back.
    _refuse_booked(units, start, end)
    # Fewer nights to sell changes demand around them: re-price after the commit.
    for facility_id in {u.facility_id for u in units}:
        nights_changed(facility_id, start, end)
    return blocks


def remove_block(block: Block, today: date) -> int:
    """Reopen a manual block (and the rest of its group); returns how many blocks went."""
    if block.source == BlockSource.DIRECT:
        raise BlockError(_l("A direct stay is cancelled from its own page."), "direct")
    if block.source != BlockSource.MANUAL:
        raise BlockError(
            _l("Imported blocks go away when the external calendar drops them."), "imported"
        )
    if block.group_key:
        group = db.session.scalars(select(Block).where(Block.group_key == block.group_key)).all()
    else:
        group = [block]
    delete_blocks(group)
    for unit_id in {b.unit_id for b in group}:
        reconcile_unit(unit_id, today)
    return len(group)


def reopen_dates(unit: Unit, start: date, end: date, now: datetime) -> int:
    """Reopen nights [start, end) of one room: its manual closings there are removed,
    a closing that reaches outside the range is trimmed (split in two if the range is
    inside it), the rest of a facility-wide group is left alone. Returns the number of
    nights reopened (0 when none was closed). Imported events and direct stays are not
    touched.

    Nights before today stay as they were (history); a trimmed or split closing
    leaves its facility-wide group, since its dates no longer match the group's.
    """
    if end <= start:
        raise BlockError(_l("The last night must come after the first."), "dates_order")
    today = tokyo_today(now)
    start = max(start, today)
    if end <= start:
        return 0
    closings = db.session.scalars(
        select(Block).where(
            Block.unit_id == unit.id,
            Block.source == BlockSource.MANUAL,
            Block.start_date < end,
            Block.end_date > start,
        )
    ).all()
    if not closings:
        return 0
    reopened: set[date] = set()
    gone: list[Block] = []
    for block in closings:
        reopened.update(stay_nights(max(block.start_date, start), min(block.end_date, end)))
        if start <= block.start_date and block.end_date <= end:
            gone.append(block)
            continue
        if block.start_date < start and end < block.end_date:  # the range is inside: split
            db.session.add(_tail_of(block, end, now))
            block.end_date = start
        elif block.start_date < start:
            block.end_date = start
        else:
            block.start_date = end
        block.group_key = None
        block.updated_at = now
    db.session.flush()
    delete_blocks(gone)
    reconcile_unit(unit.id, today)  # releases the nights, or hands them to another block
    nights_changed(unit.facility_id, start, end)
    return len(reopened)


def _tail_of(block: Block, start: date, now: datetime) -> Block:
    """The part of a split closing from ``start`` to its end, closed as it was."""
    return Block(
        unit_id=block.unit_id,
        start_date=start,
        end_date=block.end_date,
        source=BlockSource.MANUAL,
        reason=block.reason,
        note=block.note,
        created_by_id=block.created_by_id,
        created_at=block.created_at,
        updated_at=now,
    )


def queue_unit_refresh(unit: Unit, spans: Iterable[tuple[date, date]]) -> None:
    """Re-price the nights around blocks that came, moved or went (after the commit)."""
    spans = list(spans)
    if spans:
        nights_changed(unit.facility_id, min(s for s, _ in spans), max(e for _, e in spans))


def delete_blocks(blocks: Sequence[Block]) -> None:
    """Delete blocks and release every night they held (call ``reconcile_unit`` after).

    The released nights are queued for re-pricing (they had no price while held):
    every way a block goes (reopened, dropped by its calendar, its feed removed)
    comes through here.
    """
    if not blocks:
        return
    spans: dict[int, list[tuple[date, date]]] = {}
    for b in blocks:
        spans.setdefault(b.unit_id, []).append((b.start_date, b.end_date))
    facility_of = dict(
        db.session.execute(select(Unit.id, Unit.facility_id).where(Unit.id.in_(list(spans)))).all()
    )
    by_facility: dict[int, list[tuple[date, date]]] = {}
    for unit_id, unit_spans in spans.items():
        by_facility.setdefault(facility_of[unit_id], []).extend(unit_spans)
    for facility_id, facility_spans in by_facility.items():
        nights_changed(
            facility_id, min(s for s, _ in facility_spans), max(e for _, e in facility_spans)
        )
    ids = [b.id for b in blocks]
    db.session.execute(delete(Occupancy).where(Occupancy.block_id.in_(ids)))
    for block in blocks:
        db.session.delete(block)
    db.session.flush()


def reconcile_unit(unit_id: int, today: date) -> None:
    """Make the unit's occupancy match its blocks from ``today`` on.

    Every night some block wants and nobody holds is claimed (the oldest block
    first); a night held by a block that no longer wants it is released. Nights
    held by bookings are never touched. Running it twice changes nothing.
    """
    blocks = db.session.execute(
        select(Block.id, Block.start_date, Block.end_date)
        .where(Block.unit_id == unit_id, Block.end_date > today)
        .order_by(Block.id)
    ).all()
    wanted: dict[date, set[int]] = {}
    first_wanter: dict[date, int] = {}
    for block_id, start, end in blocks:
        for night in stay_nights(max(start, today), end):
            wanted.setdefault(night, set()).add(block_id)
            first_wanter.setdefault(night, block_id)

    held = db.session.execute(
        select(Occupancy.id, Occupancy.night, Occupancy.block_id).where(
            Occupancy.unit_id == unit_id,
            Occupancy.night >= today,
            Occupancy.block_id.is_not(None),
        )
    ).all()
    stale = [row_id for row_id, night, block_id in held if block_id not in wanted.get(night, ())]
    if stale:
        db.session.execute(delete(Occupancy).where(Occupancy.id.in_(stale)))
    still_held = {night for _id, night, block_id in held if block_id in wanted.get(night, ())}
    _insert_ignoring_taken(
        [
            {"unit_id": unit_id, "night": night, "block_id": block_id}
            for night, block_id in sorted(first_wanter.items())
            if night not in still_held
        ]
    )


def manual_blocks_of(unit_ids: Sequence[int], today: date) -> list[Block]:
    """Current and future manual blocks of these units, soonest first."""
    if not unit_ids:
        return []
    return list(
        db.session.scalars(
            select(Block)
            .where(
                Block.unit_id.in_(unit_ids),
                Block.end_date > today,
                Block.source == BlockSource.MANUAL,
            )
            .order_by(Block.start_date, Block.unit_id)
        )
    )
