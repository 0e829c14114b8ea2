"""Direct stays: a stay that did not come through Engawa (a walk-in, a phone booking),
recorded by the operator so the tape chart is the whole truth. Its nights are held
by a ``Block`` of source ``direct``; see ``availability.models.DirectStay``.

Unlike a closing, a direct stay never shares a night: it claims every night with a
strict insert under ``UNIQUE(unit_id, night)``, so a night held by anything (a
booking, a closing, an imported event, another direct stay) refuses the whole stay.
Its guests are lodged (``Block.lodging``): at a 住宅宿泊事業 house its nights count
towards the 180 a year, and a stay past them is refused (``night_cap``).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from availability.blocks import MAX_BLOCK_NIGHTS, BlockError, delete_blocks, reconcile_unit
from availability.changes import nights_changed
from availability.models import Block, BlockReason, BlockSource, DirectStay, Occupancy
from availability.night_cap import NightCapReached, check_night_cap
from core.dates import stay_nights
from core.db import tokyo_today
from core.extensions import db
from core.i18n import format_day, format_yen_plain
from facilities.models import Unit
from facilities.services import owned

MAX_GUEST_NAME = 100
MAX_NOTE = 300
MAX_NIGHTLY_PRICE = 10_000_000  # yen
OCCUPANCY_UNIQUE = "uq_occupancy_unit_id_night"  # from the naming convention


def record_direct_stay(
    actor: User,
    unit: Unit,
    start: date,
    end: date,
    *,
    guest_name: str,
    guests: int,
    nightly_price: int,
    note: str,
    now: datetime,
) -> DirectStay:
    """Record a direct stay of ``unit`` over [start, end): every night must be free
    (a night held by a booking, a closing or another direct stay refuses it as
    ``taken``, nothing is recorded). Dates may start in the past (a walk-in recorded
    late) but not end before today. The unit must be the actor's. At a 住宅宿泊事業
    house, nights past its 180 a year refuse the stay (``night_cap``)."""
    if not actor.runs_facilities or unit.facility.operator_id != actor.operator_id:
        raise BlockError(_l("This room was not found."), "not_found")
    name = (guest_name or "").strip()
    note = (note or "").strip()
    _check_stay(unit, start, end, name, guests, nightly_price, note, tokyo_today(now))
    block = Block(
        unit_id=unit.id,
        start_date=start,
        end_date=end,
        source=BlockSource.DIRECT,
        reason=BlockReason.DIRECT,
        note="",
        lodging=True,  # guests stay: the nights count towards a minpaku house's cap
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    direct = DirectStay(
        block=block,
        guest_name=name,
        guests=guests,
        nightly_price=nightly_price,
        note=note,
        created_by_id=actor.id,
        created_at=now,
    )
    nights = stay_nights(start, end)
    _refuse_taken(unit, nights)  # the usual case: a clear answer before writing anything
    try:  # under the unit's lock until the commit, as a booking's claim
        check_night_cap(unit, nights)
    except NightCapReached as exc:
        raise BlockError(exc.message, exc.code) from None
    with _taken_refusal(unit, nights), db.session.begin_nested():
        db.session.add_all([block, direct])
        db.session.flush()
        # One multi-row INSERT, strict: any night already held refuses them all (and
        # psycopg's pipelined executemany would warn about the expected refusal).
        db.session.execute(
            insert(Occupancy).values(
                [{"unit_id": unit.id, "night": n, "block_id": block.id} for n in nights]
            )
        )
    nights_changed(unit.facility_id, start, end)
    return direct


def _check_stay(
    unit: Unit,
    start: date,
    end: date,
    name: str,
    guests: int,
    nightly_price: int,
    note: str,
    today: date,
) -> None:
    """Refuse a direct stay in a closed room, with bad dates, guests, name, price or note."""
    if not unit.active:
        raise BlockError(_l("This room is not open; open it before recording a stay."), "inactive")
    if end <= start:
        raise BlockError(_l("The check-out date must come after the check-in date."), "dates_order")
    if end <= today:
        raise BlockError(_l("A stay that has already ended cannot be recorded."), "past")
    if (end - start).days > MAX_BLOCK_NIGHTS:
        raise BlockError(_l("A stay can be at most %(n)d nights.", n=MAX_BLOCK_NIGHTS), "too_long")
    if not 1 <= guests <= unit.capacity:
        raise BlockError(_l("This room sleeps 1 to %(n)d guests.", n=unit.capacity), "guests")
    if not 1 <= len(name) <= MAX_GUEST_NAME:
        raise BlockError(
            _l("Enter the guest's name (at most %(n)d characters).", n=MAX_GUEST_NAME),
            "guest_name",
        )
    if not 0 <= nightly_price <= MAX_NIGHTLY_PRICE:
        raise BlockError(
            _l(
                "Enter a nightly price from ¥0 to %(max)s.",
                max=LazyString(format_yen_plain, MAX_NIGHTLY_PRICE),
            ),
            "price",
        )
    if len(note) > MAX_NOTE:
        raise BlockError(_l("Keep the note to %(n)d characters.", n=MAX_NOTE), "note")


def _first_taken(unit_id: int, nights: list[date]) -> date | None:
    return db.session.scalar(
        select(Occupancy.night)
        .where(
            Occupancy.unit_id == unit_id,
            Occupancy.night >= nights[0],
            Occupancy.night <= nights[-1],
        )
        .order_by(Occupancy.night)
        .limit(1)
    )


def _taken_error(night: date | None) -> BlockError:
    if night is None:
        return BlockError(
            _l("Some of those nights were just taken. Nothing was recorded."), "taken"
        )
    return BlockError(
        _l(
            "This room is already taken on %(night)s (a booking, a closing or another"
            " stay). Nothing was recorded.",
            night=LazyString(format_day, night),
        ),
        "taken",
    )


def _refuse_taken(unit: Unit, nights: list[date]) -> None:
    night = _first_taken(unit.id, nights)
    if night is not None:
        raise _taken_error(night)


def _is_night_already_claimed(exc: IntegrityError) -> bool:
    """The refusal came from ``UNIQUE(unit_id, night)``, not from any other rule."""
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL names the constraint
    if diag is not None:
        return diag.constraint_name == OCCUPANCY_UNIQUE
    return "UNIQUE constraint failed: occupancy.unit_id, occupancy.night" in str(exc.orig)


@contextmanager
def _taken_refusal(unit: Unit, nights: list[date]):
    """A night claimed in between (a race lost) becomes ``taken``, naming it when it
    can be seen; the savepoint has undone the block and the stay."""
    try:
        yield
    except IntegrityError as exc:
        if not _is_night_already_claimed(exc):
            raise
        raise _taken_error(_first_taken(unit.id, nights)) from None


def operator_direct_stay(actor: User, direct_id: int) -> DirectStay | None:
    """A direct stay in one of the actor's organisation's facilities, else None."""
    return owned(
        actor,
        DirectStay,
        direct_id,
        lambda d: d.block.unit.facility,
        DirectStay.block,
        Block.unit,
        Unit.facility,
    )


def cancel_direct_stay(direct: DirectStay, now: datetime) -> None:
    """Remove a direct stay and give its nights back (another block that wants them
    takes them, as when a closing is reopened).

    Only a stay not yet begun (its first night today or later, Japan date) may be
    removed: one whose nights have passed is the house's record of who stayed
    (``past``), and one in progress has nights already spent (``begun``); neither is
    touched. (A stay recorded by mistake is removed before its first night.)"""
    block = direct.block
    today = tokyo_today(now)
    if block.end_date <= today:
        raise BlockError(
            _l("This stay has ended; it is kept as a record of who stayed and cannot be removed."),
            "past",
        )
    if block.start_date < today:
        raise BlockError(
            _l(
                "This stay began on %(day)s; its nights so far are kept as a record, so it"
                " cannot be removed.",
                day=LazyString(format_day, block.start_date),
            ),
            "begun",
        )
    unit_id = block.unit_id
    db.session.delete(direct)
    db.session.flush()
    delete_blocks([block])  # releases its nights and queues them for re-pricing
    reconcile_unit(unit_id, today)
