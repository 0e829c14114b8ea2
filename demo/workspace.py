"""The demo network's workspace: desks, booths and meeting rooms sold by the slot.

Offices rent hot desks, phone booths and meeting rooms (no rooms for the night); a
facility offering both adds a few desks and a booth beside its rooms; a stay with work
desks offers them as hot desks, open every day into the evening.
"""

from __future__ import annotations

import random

from core.extensions import db
from facilities.models import Facility
from facilities.workspace import WorkspaceKind, WorkspaceUnit

WEEKDAYS_9_TO_20 = {"week": [[540, 1200]] * 5 + [[600, 1080], None], "holiday": None}
EVERY_DAY_8_TO_22 = {"week": [[480, 1320]] * 7, "holiday": 6}
OFFICE, BOTH, STAY = "office", "both", "stay"


def _yen(rng: random.Random, low: int, high: int) -> int:
    return rng.randrange(low, high + 1, 100)


def _desk(rng: random.Random, facility: Facility, index: int, hours: dict) -> WorkspaceUnit:
    hourly = _yen(rng, 300, 600)
    return WorkspaceUnit(
        facility=facility, name=f"フリーデスク {index}", kind=WorkspaceKind.HOT_DESK,
        capacity=1, has_monitor=rng.random() < 0.5, hours=hours, slot_minutes=30,
        min_minutes=60, max_minutes=720, hourly_price=hourly, day_price=hourly * 6,
    )  # fmt: skip


def _booth(rng: random.Random, facility: Facility, index: int, hours: dict) -> WorkspaceUnit:
    return WorkspaceUnit(
        facility=facility, name=f"個室ブース {chr(ord('A') + index)}",
        kind=WorkspaceKind.PHONE_BOOTH, capacity=1, has_web_meeting=True, hours=hours,
        slot_minutes=15, min_minutes=15, max_minutes=240, hourly_price=_yen(rng, 500, 900),
        day_price=None,
    )  # fmt: skip


def _meeting_room(rng: random.Random, facility: Facility, index: int, hours: dict):
    capacity = rng.choice((4, 6, 8))
    return WorkspaceUnit(
        facility=facility, name=f"会議室 {index + 1}", kind=WorkspaceKind.MEETING_ROOM,
        capacity=capacity, has_monitor=True, has_web_meeting=True, has_whiteboard=True,
        hours=hours, slot_minutes=30, min_minutes=30, max_minutes=480,
        hourly_price=_yen(rng, 1500, 3500) + 500 * (capacity // 4), day_price=None,
    )  # fmt: skip


def add_workspace(rng: random.Random, facility: Facility, kind: str) -> list[WorkspaceUnit]:
    """The facility's workspace units, added to the session (with the facility)."""
    units: list[WorkspaceUnit] = []
    if kind == OFFICE:
        units += [_desk(rng, facility, i + 1, WEEKDAYS_9_TO_20) for i in range(rng.randint(4, 8))]
        units += [_booth(rng, facility, i, WEEKDAYS_9_TO_20) for i in range(rng.randint(2, 4))]
        units += [
            _meeting_room(rng, facility, i, WEEKDAYS_9_TO_20) for i in range(rng.randint(1, 2))
        ]
    elif kind == BOTH:
        units += [_desk(rng, facility, i + 1, EVERY_DAY_8_TO_22) for i in range(rng.randint(2, 4))]
        units.append(_booth(rng, facility, 0, EVERY_DAY_8_TO_22))
    elif facility.work_desks:
        units += [
            _desk(rng, facility, i + 1, EVERY_DAY_8_TO_22)
            for i in range(min(facility.work_desks, 4))
        ]
    db.session.add_all(units)
    return units
