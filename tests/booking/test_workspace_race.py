"""No double booking of time under real concurrency: many writers, one desk, one winner.

As tests/booking/test_race.py does for nights: threads meet at a barrier and book at
the same moment, through a real threaded HTTP server and through the service layer,
on a SQLite file and on PostgreSQL. Objects cross into threads as ids only; each thread
has its own app context and so its own session, and the main thread closes its session
before the race (on SQLite an open transaction holds the write lock). The database is
what refuses the losers: the exclusion constraint on PostgreSQL, the slot rows'
``UNIQUE(unit_id, slot_start)`` on SQLite.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select, text

from accounts.models import User
from availability.slots import slot_starts
from availability.workspace import NO_OVERLAP, SlotClaim, SlotHold, SlotTaken
from booking.workspace import WorkspaceRequest, book_workspace
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from tests.booking.test_race import JOIN_TIMEOUT, employees_with_tokens, live_server, race
from tests.booking.workspace_helpers import TUESDAY, at, make_space
from tests.conftest import NOW

RACERS = 12


def overlapping_time(i: int) -> tuple[datetime, datetime]:
    """14:00–15:00 and 14:30–15:30 by turns: every pair shares 14:30–15:00."""
    return (
        (at(TUESDAY, 14), at(TUESDAY, 15)) if i % 2 else (at(TUESDAY, 14, 30), at(TUESDAY, 15, 30))
    )


def book_in_thread(app, db, employee_id: int, unit_id: int, start, end, barrier):
    """One racer on the service layer: its own context and session, commit at the edge."""
    with app.app_context():
        try:
            barrier.wait()  # nothing read before: on SQLite a read would hold the write lock
            actor = db.session.get(User, employee_id)
            (booking,) = book_workspace(actor, [WorkspaceRequest(unit_id, start, end)], NOW)
            booking_id = booking.id
            db.session.commit()
            return ("booked", booking_id)
        except SlotTaken as exc:
            db.session.rollback()
            return (exc.code, None)
        finally:
            db.session.remove()


def post_workspace(port: int, secret: str, payload: dict, barrier) -> tuple[int, dict]:
    """Connect first, then wait at the barrier, then send: the requests land together."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=JOIN_TIMEOUT)
    try:
        conn.connect()
        barrier.wait()
        conn.request(
            "POST", "/api/v1/workspace-bookings", body=json.dumps(payload), headers=headers
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode(errors="replace")}
        return response.status, body
    finally:
        conn.close()


def assert_held_once(db, backend: str, unit_id: int, booking_id: int) -> WorkspaceBooking:
    """The unit has exactly one booking, confirmed, holding exactly its time: one hold,
    and on SQLite one slot row per slot of it."""
    db.session.remove()  # a fresh session: read what the racers committed
    bookings = db.session.scalars(
        select(WorkspaceBooking).where(WorkspaceBooking.unit_id == unit_id)
    ).all()
    assert [(b.id, b.status) for b in bookings] == [(booking_id, WorkspaceStatus.CONFIRMED)]
    booking = bookings[0]
    holds = db.session.scalars(select(SlotHold).where(SlotHold.unit_id == unit_id)).all()
    assert [(h.booking_id, h.starts_at, h.ends_at) for h in holds] == [
        (booking_id, booking.starts_at, booking.ends_at)
    ]
    claims = db.session.execute(
        select(SlotClaim.slot_start, SlotClaim.hold_id)
        .where(SlotClaim.unit_id == unit_id)
        .order_by(SlotClaim.slot_start)
    ).all()
    if backend == "sqlite":
        slots = slot_starts(booking.starts_at, booking.ends_at, 30)
        assert [tuple(c) for c in claims] == [(slot, holds[0].id) for slot in slots]
    else:  # the exclusion constraint guards PostgreSQL: no slot rows are written
        assert claims == []
    return booking


def test_the_guard_of_each_engine_is_in_place(app, db, backend, make_facility, make_employee):
    desk = make_space(db, make_facility(kind="office"))
    actor = make_employee()
    (booking,) = book_workspace(
        actor, [WorkspaceRequest(desk.id, at(TUESDAY, 10), at(TUESDAY, 11, 30))], NOW
    )
    db.session.commit()
    if backend == "postgresql":
        definition = db.session.scalar(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conname = :name AND contype = 'x'"
            ),
            {"name": NO_OVERLAP},
        )
        assert definition is not None
        assert "gist" in definition and "&&" in definition
    else:
        slots = db.session.scalars(
            select(SlotClaim.slot_start).where(SlotClaim.unit_id == desk.id).order_by("slot_start")
        ).all()
        assert slots == [at(TUESDAY, 10), at(TUESDAY, 10, 30), at(TUESDAY, 11)]
    assert booking.status == WorkspaceStatus.CONFIRMED


def test_service_race_for_one_desk_books_it_once(app, db, backend, make_facility, make_employee):
    unit_id = make_space(db, make_facility(kind="office")).id
    employee_ids = [make_employee().id for _ in range(RACERS)]
    db.session.remove()

    outcomes = race(
        RACERS,
        lambda i, barrier: book_in_thread(
            app, db, employee_ids[i], unit_id, at(TUESDAY, 14), at(TUESDAY, 15), barrier
        ),
    )

    assert Counter(kind for kind, _id in outcomes) == {"booked": 1, "taken": RACERS - 1}, outcomes
    (booking_id,) = [booking_id for kind, booking_id in outcomes if kind == "booked"]
    assert_held_once(db, backend, unit_id, booking_id)


def test_overlapping_but_different_times_have_one_winner(
    app, db, backend, make_facility, make_employee
):
    unit_id = make_space(db, make_facility(kind="office")).id
    employee_ids = [make_employee().id for _ in range(RACERS)]
    db.session.remove()

    outcomes = race(
        RACERS,
        lambda i, barrier: book_in_thread(
            app, db, employee_ids[i], unit_id, *overlapping_time(i), barrier
        ),
    )

    assert Counter(kind for kind, _id in outcomes) == {"booked": 1, "taken": RACERS - 1}, outcomes
    (booking_id,) = [booking_id for kind, booking_id in outcomes if kind == "booked"]
    assert_held_once(db, backend, unit_id, booking_id)
    # The losers left nothing behind: no orphan bookings, holds or ledger spends.
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 1
    assert db.session.scalar(select(func.count()).select_from(SlotHold)) == 1


def test_api_race_for_one_desk_answers_one_201_and_409_taken(
    app, db, backend, make_facility, make_employee
):
    unit_id = make_space(db, make_facility(kind="office")).id
    racers = employees_with_tokens(db, make_employee, RACERS)
    db.session.remove()  # release the connection (and, on SQLite, the write lock)

    def work(i: int, barrier: threading.Barrier):
        start, end = overlapping_time(i)
        payload = {"unit_id": unit_id, "start": start.isoformat(), "end": end.isoformat()}
        return post_workspace(port, racers[i][1], payload, barrier)

    with live_server(app) as port:
        outcomes = race(RACERS, work)

    statuses = Counter(status for status, _body in outcomes)
    assert statuses == {201: 1, 409: RACERS - 1}, outcomes
    assert all(body["error"]["code"] == "taken" for status, body in outcomes if status == 409)
    (winner,) = [body for status, body in outcomes if status == 201]
    booking = assert_held_once(db, backend, unit_id, winner["id"])
    assert booking.user_id in {employee_id for employee_id, _secret in racers}


def test_different_desks_raced_for_are_all_booked(app, db, backend, make_facility, make_employee):
    office = make_facility(kind="office")
    unit_ids = [make_space(db, office, name=f"Desk {n}").id for n in range(RACERS)]
    employee_ids = [make_employee().id for _ in range(RACERS)]
    db.session.remove()

    outcomes = race(
        RACERS,
        lambda i, barrier: book_in_thread(
            app, db, employee_ids[i], unit_ids[i], at(TUESDAY, 14), at(TUESDAY, 15), barrier
        ),
    )

    assert [kind for kind, _id in outcomes] == ["booked"] * RACERS, outcomes
    for unit_id, (_kind, booking_id) in zip(unit_ids, outcomes, strict=True):
        assert_held_once(db, backend, unit_id, booking_id)
