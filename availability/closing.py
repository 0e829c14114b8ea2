"""Closed dates as an operator sees them: nights of one room or a whole facility closed
together, listed as periods. Refused where a guest is booked (``BlockError``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from accounts.models import User
from availability import blocks
from availability.models import Block
from core.db import tokyo_today
from facilities.models import Facility, Unit
from facilities.services import owned

# Closing nights years ahead is a typo, and date arithmetic near year 9999 overflows.
MAX_CLOSE_AHEAD_DAYS = 3 * 366


def operator_block(actor: User, block_id: int) -> Block | None:
    return owned(actor, Block, block_id, lambda b: b.unit.facility, Block.unit, Unit.facility)


def close_facility_dates(
    actor: User,
    facility: Facility,
    unit_id: int | None,
    first_night: date,
    last_night: date,
    reason: str,
    note: str,
    now: datetime,
) -> list[Block]:
    """Close the nights first_night..last_night (both included) of one room or all of them.

    ``unit_id`` None closes every open room of the facility. Refused, closing
    nothing, where a guest is booked on any of those nights (``BlockError``);
    the caller rolls back.
    """
    today = tokyo_today(now)
    if last_night < first_night:
        raise blocks.BlockError(_l("The last night cannot be before the first night."), "order")
    if (last_night - today).days > MAX_CLOSE_AHEAD_DAYS:
        raise blocks.BlockError(_l("Dates that far ahead cannot be closed yet."), "too_far")
    open_units = [u for u in facility.units if u.active]
    if unit_id is None:
        units = open_units
    else:
        units = [u for u in open_units if u.id == unit_id]
        if not units:
            raise blocks.BlockError(_l("Choose one of this facility's rooms."), "unit")
    return blocks.close_dates(
        actor, units, first_night, last_night + timedelta(days=1), reason, note, now
    )


@dataclass(frozen=True)
class ClosedPeriod:
    """Nights closed together: one room, or every room of the facility at once."""

    block_id: int  # any block of the group: reopening one reopens them all
    start: date
    end: date  # exclusive
    reason: str
    note: str
    unit_names: list[str]

    @property
    def last_night(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def nights(self) -> int:
        return (self.end - self.start).days


def closed_periods(facility: Facility, today: date) -> list[ClosedPeriod]:
    """The facility's current and future manual closings, soonest first."""
    names = {u.id: u.name for u in facility.units}
    periods: dict[str, ClosedPeriod] = {}
    for block in blocks.manual_blocks_of(list(names), today):
        key = block.group_key or f"block-{block.id}"
        if key in periods:
            periods[key].unit_names.append(names[block.unit_id])
            continue
        periods[key] = ClosedPeriod(
            block.id,
            block.start_date,
            block.end_date,
            block.reason,
            block.note,
            [names[block.unit_id]],
        )
    return list(periods.values())
