"""The data of ``benchmarks/workspace.py``: its offices, their workspace units and
their bookings, planned in Python (loaded in bulk by the benchmark), and what the reads
must answer about them: the office's free slots, the units free for the afternoon, and
free times to book.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

from bench_network import NOW, TODAY

from core.db import TOKYO

SEARCH_FROM, SEARCH_UNTIL = dtime(13), dtime(17)

# Per kind: opening (Monday first, minutes), slot, min/max minutes, booking lengths.
DESK_HOURS = [[480, 1260]] * 6 + [None]
KINDS = {
    "hot_desk": (DESK_HOURS, 30, 60, 780, (60, 600)),
    "fixed_desk": (DESK_HOURS, 30, 60, 780, (120, 600)),
    "phone_booth": ([[480, 1260]] * 5 + [[600, 1080], None], 15, 30, 120, (30, 120)),
    "meeting_room": ([[540, 1200]] * 5 + [None, None], 30, 30, 480, (30, 180)),
}
KIND_WEIGHTS = [55, 10, 20, 15]


# --- The plan -----------------------------------------------------------------------------


@dataclass
class Plan:
    facilities: list[dict] = field(default_factory=list)
    units: list[dict] = field(default_factory=list)
    bookings: list[tuple] = field(default_factory=list)  # (unit_id, starts, ends, user, price)
    held: dict[tuple[int, date], list[tuple[datetime, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    days: int = 15
    open_minutes: int = 0
    held_minutes: int = 0


def _at(day: date, minute: int) -> datetime:
    start = datetime(day.year, day.month, day.day, tzinfo=TOKYO) + timedelta(minutes=minute)
    return start.astimezone(UTC)


class Builder:
    def __init__(self, rng: random.Random, employees: list[int], days: int) -> None:
        self.rng, self.employees, self.operator_id = rng, employees, 1
        self.plan = Plan(days=days)

    def facility(self, name: str, prefecture: int, units: int, occupancy: float) -> int:
        fid = len(self.plan.facilities) + 1
        self.plan.facilities.append(
            {
                "id": fid, "operator_id": self.operator_id, "kind": "office",
                "name_ja": f"{name} {fid}", "name_en": f"{name} {fid}",
                "prefecture": prefecture, "municipality": "町", "address": f"{fid}-1-1",
                "latitude": 35.0, "longitude": 135.0, "licence_type": "none",
                "licence_number": "", "active": True,
                "created_at": NOW - timedelta(days=400), "reviewed_at": NOW - timedelta(days=400),
            }
        )  # fmt: skip
        rng = self.rng
        for k in range(units):
            kind = rng.choices(list(KINDS), KIND_WEIGHTS)[0]
            week, slot, shortest, longest, _lengths = KINDS[kind]
            room = kind == "meeting_room"
            unit = {
                "id": len(self.plan.units) + 1, "facility_id": fid,
                "name": f"{kind[:1].upper()}{k + 1:03d}",
                "kind": kind, "capacity": rng.choice([4, 6, 8, 12]) if room else 1,
                "has_monitor": rng.random() < 0.6, "has_web_meeting": room or rng.random() < 0.2,
                "has_whiteboard": room and rng.random() < 0.7,
                "hours": {"week": week, "holiday": None}, "slot_minutes": slot,
                "min_minutes": shortest, "max_minutes": longest,
                "hourly_price": (
                    rng.randrange(1500, 6001, 500) if room else rng.randrange(300, 1201, 100)
                ),
                "day_price": rng.randrange(2000, 4001, 500) if kind.endswith("desk") else None,
                "demand_pricing": True, "release_after_minutes": 30, "active": True,
                "created_at": NOW - timedelta(days=400),
            }  # fmt: skip
            self.plan.units.append(unit)
            self._fill(unit, occupancy)
        return fid

    def _fill(self, unit: dict, occupancy: float) -> None:
        """Back-to-back bookings with random gaps, about ``occupancy`` of the open time."""
        rng, plan = self.rng, self.plan
        week, slot, _shortest, _longest, (low, high) = KINDS[unit["kind"]]
        max_gap = round(2 * (low + high) / 2 * (1 - occupancy) / occupancy / slot)
        for offset in range(plan.days):
            day = TODAY + timedelta(days=offset)
            hours = week[day.weekday()]
            if hours is None:
                continue
            opens, closes = hours
            plan.open_minutes += closes - opens
            minute = opens + slot * rng.randint(0, max_gap // 2)
            while minute < closes:
                length = min(slot * rng.randint(low // slot, high // slot), closes - minute)
                starts, ends = _at(day, minute), _at(day, minute + length)
                hourly, cap = unit["hourly_price"], unit["day_price"]
                price = hourly * length // 60 if cap is None else min(cap, hourly * length // 60)
                plan.bookings.append((unit["id"], starts, ends, rng.choice(self.employees), price))
                plan.held[unit["id"], day].append((starts, ends))
                plan.held_minutes += length
                minute += length + slot * rng.randint(0, max_gap)


# --- What the reads must answer, counted from the plan ------------------------------------


def _overlaps(held, start: datetime, end: datetime) -> bool:
    return any(s < end and e > start for s, e in held)


def expected_free_slots(plan: Plan, facility_id: int, day: date) -> int:
    free = 0
    for unit in plan.units:
        if unit["facility_id"] != facility_id:
            continue
        hours = unit["hours"]["week"][day.weekday()]
        if hours is None:
            continue
        held = plan.held.get((unit["id"], day), [])
        for minute in range(hours[0], hours[1], unit["slot_minutes"]):
            start, end = _at(day, minute), _at(day, minute + unit["slot_minutes"])
            free += end > NOW and not _overlaps(held, start, end)
    return free


def expected_search(plan: Plan, day: date) -> set[int]:
    """Units open and free for the whole afternoon, and allowed to be booked that long."""
    start_minute, end_minute = SEARCH_FROM.hour * 60, SEARCH_UNTIL.hour * 60
    start, end = _at(day, start_minute), _at(day, end_minute)
    found = set()
    for unit in plan.units:
        hours = unit["hours"]["week"][day.weekday()]
        length = end_minute - start_minute
        if hours is None or not hours[0] <= start_minute or end_minute > hours[1]:
            continue
        if not unit["min_minutes"] <= length <= unit["max_minutes"]:
            continue
        if not _overlaps(plan.held.get((unit["id"], day), []), start, end):
            found.add(unit["id"])
    return found


def free_times(plan: Plan, rng: random.Random, limit: int) -> list[tuple[int, datetime, datetime]]:
    """Free times from tomorrow on, one hour (or the unit's shortest), on slot boundaries."""
    out = []
    for unit in plan.units:
        week, slot, shortest = unit["hours"]["week"], unit["slot_minutes"], unit["min_minutes"]
        length = max(shortest, 60)
        for offset in range(1, plan.days):
            day = TODAY + timedelta(days=offset)
            if week[day.weekday()] is None:
                continue
            held = plan.held.get((unit["id"], day), [])
            minute = week[day.weekday()][0]
            while minute + length <= week[day.weekday()][1]:
                start, end = _at(day, minute), _at(day, minute + length)
                if _overlaps(held, start, end):
                    minute += slot
                    continue
                out.append((unit["id"], start, end))
                minute += length
    rng.shuffle(out)
    return out[:limit]
