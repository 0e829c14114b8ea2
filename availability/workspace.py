"""Who holds each slot of a workspace unit: time holds, the slot rows that guard them on
SQLite, and closed or imported times (blocks).

The guarantee is the one nights have, for time: two holds of one unit never overlap.

- A ``SlotHold`` is one claim ``[starts_at, ends_at)`` of a unit by a workspace booking
  or a block (exactly one of them). A cancelled booking or a removed block deletes it.
- On PostgreSQL the table carries ``EXCLUDE USING gist (unit_id WITH =,
  tstzrange(starts_at, ends_at) WITH &&)`` (with ``btree_gist``): the database refuses an
  overlapping hold.
- On SQLite, which has no exclusion constraints, a hold also writes one ``SlotClaim`` row
  per slot it covers, ``UNIQUE(unit_id, slot_start)``: the database refuses a second
  claim of a slot. Holds start and end on slot boundaries (``availability.slots``), so
  two overlapping holds always share a slot row.

Either way a race for one slot has one winner and the loser gets ``SlotTaken``.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    DDL,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    delete,
    event,
    false,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from availability.slots import Opening, OpeningHours, SlotRules, WorkspacePrices, slot_starts
from core.db import TOKYO, UTCDateTime, utcnow
from core.errors import RuleError
from core.extensions import db
from facilities.workspace import WorkspaceUnit

NO_OVERLAP = "ex_slot_hold_no_overlap"
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
SLOT_CLAIM_UNIQUE = "uq_slot_claim_unit_id"


class SlotTaken(RuleError):
    """Some of the time asked for is held already (API: 409 ``taken``)."""

    code = "taken"


# -- a unit's settings as the slot arithmetic takes them --------------------------------


def opening_hours(unit: WorkspaceUnit) -> OpeningHours:
    """The unit's stored hours (``facilities.workspace.DEFAULT_HOURS`` shows the shape) as
    ``OpeningHours``; ``ScheduleError`` if they cannot be used."""
    week = tuple(
        None if day is None else Opening.from_minutes(int(day[0]), int(day[1]))
        for day in unit.hours["week"]
    )
    return OpeningHours(week, unit.hours.get("holiday"))


def hours_value(hours: OpeningHours) -> dict:
    """``OpeningHours`` as stored on ``WorkspaceUnit.hours`` (the inverse of ``opening_hours``)."""
    return {
        "week": [
            None if day is None else [day.opens_minute, day.closes_minute] for day in hours.week
        ],
        "holiday": hours.holiday,
    }


def rules_of(unit: WorkspaceUnit) -> SlotRules:
    return SlotRules(unit.slot_minutes, unit.min_minutes, unit.max_minutes)


def prices_of(unit: WorkspaceUnit) -> WorkspacePrices:
    return WorkspacePrices(unit.hourly_price, unit.day_price)


# -- models -----------------------------------------------------------------------------


class WorkspaceBlockSource:
    MANUAL = "manual"  # closed by the operator
    IMPORT = "import"  # a timed event of an external calendar (calendars.workspace_sync)


class WorkspaceBlock(db.Model):
    """Time ``[starts_at, ends_at)`` of a unit that cannot be booked, and why: the
    operator closed it, or an external calendar (a meeting room also booked in Google
    Calendar) has an event then. It holds its time while ``held`` (a ``SlotHold``);
    an imported event over time a booking holds is kept unheld, a conflict the operator
    sees, and takes the time once it is free (``calendars`` reconciles)."""

    __tablename__ = "workspace_block"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(300), default="")
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("workspace_feed.id"), index=True)
    event_key: Mapped[str | None] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(String(200), default="")
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
        CheckConstraint("source IN ('manual', 'import')", name="source_known"),
        CheckConstraint(
            "(source = 'import') = (feed_id IS NOT NULL AND event_key IS NOT NULL)",
            name="import_has_feed",
        ),
        UniqueConstraint("feed_id", "event_key"),
    )


class SlotHold(db.Model):
    """One claim of a unit's time ``[starts_at, ends_at)``, by a workspace booking or a
    block. Never two overlapping for one unit (module docstring)."""

    __tablename__ = "slot_hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("workspace_booking.id"), unique=True)
    block_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspace_block.id", ondelete="CASCADE"), unique=True
    )

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
        CheckConstraint("(booking_id IS NULL) <> (block_id IS NULL)", name="one_claimant"),
        Index("ix_slot_hold_unit_id_ends_at", "unit_id", "ends_at"),
    )


class SlotClaim(db.Model):
    """One slot of one unit held by a ``SlotHold``: written on SQLite only, where
    ``UNIQUE(unit_id, slot_start)`` stands in for PostgreSQL's exclusion constraint."""

    __tablename__ = "slot_claim"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_id: Mapped[int] = mapped_column(ForeignKey("slot_hold.id", ondelete="CASCADE"), index=True)

    __table_args__ = (UniqueConstraint("unit_id", "slot_start", name=SLOT_CLAIM_UNIQUE),)


# PostgreSQL: the exclusion constraint, made with the table (tests build the schema from
# the models; migration 0014 adds the same constraint).
EXCLUDE_DDL = (
    f"ALTER TABLE slot_hold ADD CONSTRAINT {NO_OVERLAP} EXCLUDE USING gist"
    " (unit_id WITH =, tstzrange(starts_at, ends_at) WITH &&)"
)
event.listen(
    SlotHold.__table__,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS btree_gist").execute_if(dialect="postgresql"),
)
event.listen(SlotHold.__table__, "after_create", DDL(EXCLUDE_DDL).execute_if(dialect="postgresql"))


# -- claiming time ----------------------------------------------------------------------


def _uses_slot_rows() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _is_slot_taken(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)  # PostgreSQL names the constraint
    if diag is not None:
        return diag.constraint_name == NO_OVERLAP
    return "UNIQUE constraint failed: slot_claim.unit_id, slot_claim.slot_start" in str(exc.orig)


TAKEN = _l("Sorry, that time was just taken. Please choose another time or another space.")


@contextmanager
def slot_taken_refusal():
    """A refused hold (the exclusion constraint or a slot row) becomes ``SlotTaken``.

    Two transactions inserting overlapping holds at the same moment may each wait for the
    other's row under PostgreSQL's exclusion constraint, which the server ends as a
    deadlock (SQLSTATE 40P01), aborting one: that one lost the race, so it is
    ``SlotTaken`` too (the savepoint rolls back; the caller rolls back the rest)."""
    try:
        yield
    except IntegrityError as exc:
        if not _is_slot_taken(exc):
            raise
        raise SlotTaken(TAKEN) from None
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != DEADLOCK:
            raise
        raise SlotTaken(TAKEN) from None


def claim(
    unit: WorkspaceUnit,
    starts_at: datetime,
    ends_at: datetime,
    *,
    booking_id: int | None = None,
    block_id: int | None = None,
) -> SlotHold:
    """Hold ``[starts_at, ends_at)`` of ``unit`` for a booking or a block, inside a
    savepoint: ``SlotTaken`` (and nothing held) if any of it is held already. The times
    are on the unit's slot boundaries (``availability.slots``)."""
    with slot_taken_refusal(), db.session.begin_nested():
        hold = SlotHold(
            unit_id=unit.id,
            starts_at=starts_at,
            ends_at=ends_at,
            booking_id=booking_id,
            block_id=block_id,
        )
        db.session.add(hold)
        db.session.flush()
        if _uses_slot_rows():
            db.session.execute(
                insert(SlotClaim).values(
                    [
                        {"unit_id": unit.id, "slot_start": start, "hold_id": hold.id}
                        for start in slot_starts(starts_at, ends_at, unit.slot_minutes)
                    ]
                )
            )
    return hold


def release(hold: SlotHold) -> None:
    """Give a hold's time back (its slot rows with it)."""
    db.session.execute(delete(SlotClaim).where(SlotClaim.hold_id == hold.id))
    db.session.delete(hold)
    db.session.flush()


def release_from(hold: SlotHold, moment: datetime, slot_minutes: int) -> None:
    """Give back the part of a hold from ``moment`` on (rounded up to the next slot
    boundary of the Tokyo clock); the whole hold if that is its start or earlier."""
    cut = round_up(moment, slot_minutes)
    if cut <= hold.starts_at:
        release(hold)
        return
    if cut >= hold.ends_at:
        return
    db.session.execute(
        delete(SlotClaim).where(SlotClaim.hold_id == hold.id, SlotClaim.slot_start >= cut)
    )
    hold.ends_at = cut
    db.session.flush()


def round_up(moment: datetime, slot_minutes: int) -> datetime:
    """The first slot boundary of the Tokyo clock at or after ``moment``, in UTC."""
    tokyo = moment.astimezone(TOKYO)
    floor = round_down(moment, slot_minutes).astimezone(TOKYO)
    if floor < tokyo:
        floor += timedelta(minutes=slot_minutes)
    return floor.astimezone(UTC)


def round_down(moment: datetime, slot_minutes: int) -> datetime:
    """The last slot boundary of the Tokyo clock at or before ``moment``, in UTC."""
    tokyo = moment.astimezone(TOKYO)
    return (
        tokyo.replace(minute=tokyo.minute - tokyo.minute % slot_minutes, second=0, microsecond=0)
    ).astimezone(UTC)


def reconcile_unit(unit: WorkspaceUnit, now: datetime) -> int:
    """Let each unheld imported block of the unit that has not ended claim its time from
    the current slot on, earliest first; one over held time stays unheld. Returns how
    many are still unheld (conflicts)."""
    unheld = db.session.scalars(
        select(WorkspaceBlock)
        .where(
            WorkspaceBlock.unit_id == unit.id,
            WorkspaceBlock.source == WorkspaceBlockSource.IMPORT,
            WorkspaceBlock.held.is_(False),
            WorkspaceBlock.ends_at > now,
        )
        .order_by(WorkspaceBlock.starts_at, WorkspaceBlock.id)
    ).all()
    left = 0
    for block in unheld:
        start, end = hold_span(block, unit.slot_minutes, now)
        try:
            claim(unit, start, end, block_id=block.id)
        except SlotTaken:
            left += 1
            continue
        block.held = True
    db.session.flush()
    return left


def hold_span(block: WorkspaceBlock, slot_minutes: int, now: datetime) -> tuple[datetime, datetime]:
    """What a block holds: its time on the unit's slot boundaries, from the current slot."""
    start = round_down(max(block.starts_at, now), slot_minutes)
    return start, round_up(block.ends_at, slot_minutes)


def give_back(hold: SlotHold | None, unit: WorkspaceUnit, now: datetime) -> None:
    """A booking gives its time back (cancelled, moved): release its hold, then let the
    unit's imported blocks that wait for that time (conflicts) take it at once, as the
    nights' cancellations do (``availability.blocks.reconcile_unit``)."""
    if hold is not None:
        release(hold)
    reconcile_unit(unit, now)


def hold_of_booking(booking_id: int) -> SlotHold | None:
    """The hold of a workspace booking (None once its time was given back)."""
    return db.session.scalar(select(SlotHold).where(SlotHold.booking_id == booking_id))


def holds_between(unit_ids: Iterable[int], start: datetime, end: datetime) -> list[SlotHold]:
    """The holds of these units that overlap ``[start, end)``, by unit and start."""
    ids = list(unit_ids)
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(SlotHold)
            .where(
                SlotHold.unit_id.in_(ids),
                SlotHold.ends_at > start,
                SlotHold.starts_at < end,
            )
            .order_by(SlotHold.unit_id, SlotHold.starts_at)
        )
    )


def is_free(unit_id: int, start: datetime, end: datetime) -> bool:
    return not holds_between([unit_id], start, end)
