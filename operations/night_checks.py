"""The nights: each held by exactly who should hold it, none claimed twice, and each
paid stay's priced nights its dates (see ``operations.invariants``)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from availability.models import Block, Occupancy
from booking.models import Booking, BookingNight
from operations.violation import HOLDING, Violation, as_int, days_between

# --- occupancy ----------------------------------------------------------------------


def occupancy(session: Session, today: date, limit: int) -> list[Violation]:
    return [
        *_stay_rows_not_held(session, today, limit),
        *_stay_nights_without_row(session, limit),
        *_block_rows_not_wanted(session, limit),
        *_block_nights_not_held(session, today, limit),
    ]


def _stay_rows_not_held(session: Session, today: date, limit: int) -> list[Violation]:
    """Rows of a stay that should not hold that night (or not in that room)."""
    o, b, bn = Occupancy, Booking, BookingNight
    held_until = func.coalesce(b.released_on, b.check_out)
    rows = session.execute(
        select(o.unit_id, o.night, o.booking_id, b.id, b.status, b.unit_id, held_until, bn.night)
        .select_from(o)
        .outerjoin(b, b.id == o.booking_id)
        .outerjoin(bn, and_(bn.booking_id == o.booking_id, bn.night == o.night))
        .where(
            o.booking_id.is_not(None),
            or_(
                b.id.is_(None),
                b.status.not_in(HOLDING),
                bn.night.is_(None),
                o.night < b.check_in,
                o.night >= held_until,
                and_(o.night >= literal(today, Date), o.unit_id != b.unit_id),
            ),
        )
        .order_by(o.booking_id, o.night)
        .limit(limit)
    ).all()
    found = []
    for unit_id, night, booking_id, exists, status, room, until, priced in rows:
        if exists is None:
            why = "held for a stay that does not exist"
        elif status not in HOLDING:
            why = f"held for a stay that is {status}"
        elif priced is None:
            why = "held for a stay that has no priced night then"
        elif night >= until:
            why = f"held after the stay gave its nights back (from {until})"
        elif unit_id != room:
            why = f"held in unit {unit_id}, but the stay is in unit {room}"
        else:
            why = "held before the stay's check-in"
        found.append(Violation("occupancy", f"booking {booking_id} night {night}", why))
    return found


def _stay_nights_without_row(session: Session, limit: int) -> list[Violation]:
    """Nights a paid or waiting stay should hold and does not."""
    o, b, bn = Occupancy, Booking, BookingNight
    rows = session.execute(
        select(bn.booking_id, bn.night)
        .join(b, b.id == bn.booking_id)
        .outerjoin(o, and_(o.booking_id == bn.booking_id, o.night == bn.night))
        .where(
            b.status.in_(HOLDING),
            bn.night < func.coalesce(b.released_on, b.check_out),
            o.id.is_(None),
        )
        .order_by(bn.booking_id, bn.night)
        .limit(limit)
    ).all()
    return [
        Violation("occupancy", f"booking {booking_id} night {night}", "not held (no occupancy row)")
        for booking_id, night in rows
    ]


def _block_rows_not_wanted(session: Session, limit: int) -> list[Violation]:
    """Rows of a block outside its unit or range, and rows with no claimant or two."""
    o, blk = Occupancy, Block
    rows = session.execute(
        select(o.id, o.unit_id, o.night, o.booking_id, o.block_id, blk.id, blk.unit_id)
        .select_from(o)
        .outerjoin(blk, blk.id == o.block_id)
        .where(
            or_(
                o.booking_id.is_(None) == o.block_id.is_(None),
                and_(
                    o.block_id.is_not(None),
                    or_(
                        blk.id.is_(None),
                        blk.unit_id != o.unit_id,
                        o.night < blk.start_date,
                        o.night >= blk.end_date,
                    ),
                ),
            )
        )
        .order_by(o.id)
        .limit(limit)
    ).all()
    found = []
    for row_id, unit_id, night, booking_id, block_id, exists, block_unit in rows:
        if booking_id is None and block_id is None:
            why = "held by nobody (neither a stay nor a block)"
        elif booking_id is not None and block_id is not None:
            why = f"held by a stay and a block at once (booking {booking_id}, block {block_id})"
        elif exists is None:
            why = f"held for block {block_id}, which does not exist"
        elif block_unit != unit_id:
            why = f"held for block {block_id} of unit {block_unit}"
        else:
            why = f"held for block {block_id}, which does not want this night"
        found.append(Violation("occupancy", f"unit {unit_id} night {night} (row {row_id})", why))
    return found


def _block_nights_not_held(session: Session, today: date, limit: int) -> list[Violation]:
    """Blocks with nights from ``today`` on that nobody holds (each night a block wants
    is held by it, another block or a stay)."""
    o, blk = Occupancy, Block
    day = literal(today, Date)
    first = case((blk.start_date > day, blk.start_date), else_=day)
    held = (
        select(func.count(o.id))
        .where(o.unit_id == blk.unit_id, o.night >= first, o.night < blk.end_date)
        .correlate(blk)
        .scalar_subquery()
    )
    wanted = days_between(session, blk.end_date, first)
    rows = session.execute(
        select(blk.id, blk.unit_id, first, blk.end_date, held, wanted)
        .where(blk.end_date > day, held < wanted)
        .order_by(blk.id)
        .limit(limit)
    ).all()
    return [
        Violation(
            "occupancy",
            f"block {block_id} (unit {unit_id})",
            f"{as_int(wanted) - as_int(count)} of its {as_int(wanted)} nights in [{start}, {end})"
            " are held by nobody",
        )
        for block_id, unit_id, start, end, count, wanted in rows
    ]


# --- double_claim ---------------------------------------------------------------------


def double_claims(session: Session, today: date, limit: int) -> list[Violation]:
    o = Occupancy
    by_unit = session.execute(
        select(o.unit_id, o.night, func.count())
        .group_by(o.unit_id, o.night)
        .having(func.count() > 1)
        .order_by(o.unit_id, o.night)
        .limit(limit)
    ).all()
    by_stay = session.execute(
        select(o.booking_id, o.night, func.count())
        .where(o.booking_id.is_not(None))
        .group_by(o.booking_id, o.night)
        .having(func.count() > 1)
        .order_by(o.booking_id, o.night)
        .limit(limit)
    ).all()
    return [
        *(
            Violation("double_claim", f"unit {unit_id} night {night}", f"claimed {n} times")
            for unit_id, night, n in by_unit
        ),
        *(
            Violation("double_claim", f"booking {booking_id} night {night}", f"held {n} times")
            for booking_id, night, n in by_stay
        ),
    ]


# --- stay_nights ---------------------------------------------------------------------


def stay_nights(session: Session, today: date, limit: int) -> list[Violation]:
    b, bn = Booking, BookingNight
    nights = (
        select(
            bn.booking_id,
            func.count().label("count"),
            func.min(bn.night).label("first"),
            func.max(bn.night).label("last"),
            func.sum(bn.price).label("price"),
            func.sum(bn.accommodation_tax).label("tax"),
        )
        .group_by(bn.booking_id)
        .subquery()
    )
    length = days_between(session, b.check_out, b.check_in)
    rows = session.execute(
        select(
            b.id,
            length,
            b.check_in,
            b.check_out,
            b.total_price,
            b.accommodation_tax,
            nights.c.count,
            nights.c.first,
            nights.c.last,
            nights.c.price,
            nights.c.tax,
        )
        .outerjoin(nights, nights.c.booking_id == b.id)
        .where(
            b.status.in_(HOLDING),
            or_(
                nights.c.count.is_(None),
                nights.c.count != length,
                nights.c.first != b.check_in,
                nights.c.last >= b.check_out,
                nights.c.price != b.total_price,
                nights.c.tax != b.accommodation_tax,
            ),
        )
        .order_by(b.id)
        .limit(limit)
    ).all()
    found = []
    for row in rows:
        booking_id, length_, check_in, check_out, total, tax = row[:6]
        count, first, last, price, taxed = row[6:]
        subject = f"booking {booking_id}"
        if count is None:
            why = "has no priced nights"
        elif count != length_ or first != check_in or last >= check_out:
            why = (
                f"{count} priced nights from {first} to {last},"
                f" but the stay is [{check_in}, {check_out})"
            )
        elif as_int(price) != total:
            why = f"total {total} yen, but its nights add up to {as_int(price)} yen"
        else:
            why = (
                f"accommodation tax {tax} yen, but the tax of its nights adds up to"
                f" {as_int(taxed)} yen"
            )
        found.append(Violation("stay_nights", subject, why))
    return found
