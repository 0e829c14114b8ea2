"""The booking races of ``benchmarks/workspace.py``: client threads booking workspace
through ``booking.workspace.book_workspace``, each booking in its own app context and
session with one commit, as a served request is; and the checks of what they booked.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from bench_network import NOW
from sqlalchemy import func, select

from accounts.models import User
from availability.workspace import SlotClaim, SlotHold, SlotTaken
from billing.models import CreditEntry
from booking.workspace import WorkspaceRequest, book_workspace
from booking.workspace_models import WorkspaceBooking
from core.errors import RuleError
from core.extensions import db
from facilities.workspace import WorkspaceUnit


@dataclass
class Race:
    booked: list = field(default_factory=list)  # (unit_id, starts) per booking made
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def book_once(app, user_id: int, unit_id: int, starts, ends, race: Race) -> bool:
    with app.app_context():
        try:
            actor = db.session.get(User, user_id)
            book_workspace(actor, [WorkspaceRequest(unit_id, starts, ends)], NOW)
            db.session.commit()
        except SlotTaken:
            db.session.rollback()
            with race.lock:
                race.conflicts += 1
            return False
        except RuleError as exc:
            db.session.rollback()
            with race.lock:
                race.errors.append(f"{exc.code}: {exc.message}")
            return False
        except Exception as exc:  # a wrong answer of the database or the app: reported
            db.session.rollback()
            with race.lock:
                race.errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:600]}")
            return False
        finally:
            db.session.remove()
    with race.lock:
        race.booked.append((unit_id, starts))
    return True


def distinct(app, clients: list[int], times, seconds: float) -> tuple[Race, float]:
    """Each thread books its own units' free times (no conflict expected)."""
    race, deadline = Race(), time.perf_counter() + seconds
    lanes = [[t for t in times if t[0] % len(clients) == i] for i in range(len(clients))]

    def lane(user_id, todo):
        for unit_id, starts, ends in todo:
            if time.perf_counter() >= deadline:
                return
            book_once(app, user_id, unit_id, starts, ends, race)

    return race, _run([(lane, (u, todo)) for u, todo in zip(clients, lanes, strict=True)])


def contended(app, clients: list[int], times, seconds: float) -> tuple[Race, float]:
    """Every round, all threads ask for the same free time at once."""
    race, deadline = Race(), time.perf_counter() + seconds
    state = {"next": -1, "stop": False}

    def next_round():
        state["next"] += 1
        state["stop"] = time.perf_counter() >= deadline or state["next"] >= len(times)

    barrier = threading.Barrier(len(clients), action=next_round)

    def lane(user_id):
        try:
            while True:
                barrier.wait(timeout=60)
                if state["stop"]:
                    return
                unit_id, starts, ends = times[state["next"]]
                book_once(app, user_id, unit_id, starts, ends, race)
        except threading.BrokenBarrierError:
            race.errors.append("a client stopped")
        except Exception:
            barrier.abort()
            raise

    elapsed = _run([(lane, (u,)) for u in clients])
    race.rounds = state["next"]
    return race, elapsed


def _run(work) -> float:
    threads = [threading.Thread(target=f, args=a) for f, a in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def check_bookings(backend: str, clients: list[int], made: int, rounds: list) -> list[str]:
    """Every booking made held once and charged once; one booking per contended time;
    no two holds of a unit overlapping."""
    problems = []
    theirs = select(WorkspaceBooking.id).where(WorkspaceBooking.user_id.in_(clients))
    count = db.session.scalar(select(func.count()).select_from(theirs.subquery()))
    holds = db.session.scalar(
        select(func.count()).select_from(SlotHold).where(SlotHold.booking_id.in_(theirs))
    )
    charged = db.session.scalar(
        select(func.count(func.distinct(CreditEntry.workspace_booking_id))).where(
            CreditEntry.workspace_booking_id.in_(theirs)
        )
    )
    if not count == holds == charged == made:
        problems.append(f"{made} booked, {count} rows, {holds} holds, {charged} charged")
    for unit_id, starts in rounds:
        n = db.session.scalar(
            select(func.count()).where(
                WorkspaceBooking.unit_id == unit_id, WorkspaceBooking.starts_at == starts
            )
        )
        if n != 1:
            problems.append(f"unit {unit_id} at {starts:%m-%d %H:%M}: {n} bookings")
    last: dict[int, datetime] = {}
    for unit_id, starts, ends in db.session.execute(
        select(SlotHold.unit_id, SlotHold.starts_at, SlotHold.ends_at).order_by(
            SlotHold.unit_id, SlotHold.starts_at
        )
    ):
        if unit_id in last and starts < last[unit_id]:
            problems.append(f"unit {unit_id}: holds overlap at {starts:%m-%d %H:%M}")
        last[unit_id] = max(ends, last.get(unit_id, ends))
    if backend == "sqlite":
        rows = db.session.scalar(select(func.count()).select_from(SlotClaim))
        units = {u.id: u.slot_minutes for u in db.session.scalars(select(WorkspaceUnit))}
        wanted = sum(
            int((e - s).total_seconds() // 60) // units[u]
            for u, s, e in db.session.execute(
                select(SlotHold.unit_id, SlotHold.starts_at, SlotHold.ends_at)
            )
        )
        if rows != wanted:
            problems.append(f"{rows} slot rows for {wanted} slots held")
    return problems
