"""Invariant 1 under real concurrency: many writers, one unit, one winner.

Threads meet at a barrier and book at the same moment, through a real threaded
HTTP server and through the service layer, on a SQLite file and on PostgreSQL.
Objects cross into threads as ids only; each thread has its own app context and
so its own session. The main thread closes its session before the race: on
SQLite any open transaction holds the write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import User
from accounts.services import create_api_token
from availability.models import Occupancy
from booking import services
from booking.models import Booking, BookingNight, BookingStatus
from tests.conftest import NOW, LoopbackServer, days

RACERS = 24
DOUBLE_SUBMITS = 10
BARRIER_TIMEOUT = 20  # seconds; a racer that never arrives breaks the barrier instead of hanging
JOIN_TIMEOUT = 60


def race(n: int, work: Callable[[int, threading.Barrier], object]) -> list:
    """Run ``work(i, barrier)`` in ``n`` threads; each calls ``barrier.wait()`` just before acting.

    Exceptions are recorded as ``("error", repr)`` outcomes so the main thread
    asserts on them (an unhandled thread exception would only be a warning).
    """
    barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT)
    outcomes: list = [None] * n

    def run(i: int) -> None:
        try:
            outcomes[i] = work(i, barrier)
        except Exception as exc:
            barrier.abort()
            outcomes[i] = ("error", repr(exc))

    threads = [threading.Thread(target=run, args=(i,), name=f"racer-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not [t.name for t in threads if t.is_alive()], "racers still running"
    return outcomes


def overlapping_stay(i: int) -> tuple[date, date]:
    """Three staggered four-night stays; every pair shares nights days(12) and days(13)."""
    return days(10 + i % 3), days(14 + i % 3)


def nights_of(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=k) for k in range((check_out - check_in).days)]


def book_in_thread(
    app,
    db,
    employee_id: int,
    unit_id: int,
    check_in: date,
    check_out: date,
    barrier: threading.Barrier,
    request_key: str | None = None,
):
    """One racer on the service layer: its own context and session, commit at the edge."""
    with app.app_context():
        try:
            # Nothing is read before the barrier: on SQLite a read begins an
            # IMMEDIATE transaction, and a racer holding the write lock while
            # waiting at the barrier would stall all the others.
            barrier.wait()
            actor = db.session.get(User, employee_id)
            booking = services.book_stay(
                actor,
                services.StayRequest(unit_id, check_in, check_out, 1),
                NOW,
                request_key=request_key,
            )
            booking_id = booking.id
            db.session.commit()
            return ("booked", booking_id)
        except services.BookingConflict as exc:
            db.session.rollback()
            return (exc.code, None)
        finally:
            db.session.remove()


@contextmanager
def live_server(app) -> Iterator[int]:
    """A real threaded WSGI server on an ephemeral port of 127.0.0.1; yields the port."""
    with LoopbackServer.wsgi(app, name="wsgi-server", join_timeout=JOIN_TIMEOUT) as server:
        yield server.port


def post_booking(
    port: int,
    secret: str,
    payload: dict,
    barrier: threading.Barrier,
    idempotency_key: str | None = None,
) -> tuple[int, dict]:
    """Connect first, then wait at the barrier, then send: the requests land together."""
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=JOIN_TIMEOUT)
    try:
        conn.connect()
        barrier.wait()
        conn.request("POST", "/api/v1/bookings", body=json.dumps(payload), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode(errors="replace")}
        return response.status, body
    finally:
        conn.close()


def employees_with_tokens(db, make_employee, count: int) -> list[tuple[int, str]]:
    """``count`` employees, each in their own company, each with an API token: (id, secret)."""
    result = []
    for _ in range(count):
        employee = make_employee()
        _token, secret = create_api_token(employee, "race", NOW)
        result.append((employee.id, secret))
    db.session.commit()
    return result


def assert_no_double_claim(db) -> None:
    doubled = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night, func.count())
        .group_by(Occupancy.unit_id, Occupancy.night)
        .having(func.count() > 1)
    ).all()
    assert doubled == []


def assert_unit_held_by_one_booking(db, unit_id: int, booking_id: int) -> Booking:
    """The unit has exactly one booking, confirmed, and exactly its nights are claimed, by it."""
    db.session.remove()  # a fresh session: read what the racers committed
    bookings = db.session.scalars(select(Booking).where(Booking.unit_id == unit_id)).all()
    assert [(b.id, b.status) for b in bookings] == [(booking_id, BookingStatus.CONFIRMED)]
    booking = bookings[0]
    expected = nights_of(booking.check_in, booking.check_out)
    assert [n.night for n in booking.nights] == expected
    claims = db.session.execute(
        select(Occupancy.night, Occupancy.booking_id)
        .where(Occupancy.unit_id == unit_id)
        .order_by(Occupancy.night)
    ).all()
    assert [tuple(c) for c in claims] == [(night, booking_id) for night in expected]
    assert_no_double_claim(db)
    return booking


def test_api_race_for_one_unit_books_it_once(app, db, make_employee, make_unit):
    unit_id = make_unit().id
    racers = employees_with_tokens(db, make_employee, RACERS)
    db.session.remove()  # release the connection (and, on SQLite, the write lock)

    def work(i: int, barrier: threading.Barrier):
        check_in, check_out = overlapping_stay(i)
        payload = {
            "unit_id": unit_id,
            "check_in": check_in.isoformat(),
            "check_out": check_out.isoformat(),
            "guests": 1,
        }
        return post_booking(port, racers[i][1], payload, barrier)

    with live_server(app) as port:
        outcomes = race(RACERS, work)

    statuses = Counter(status for status, _body in outcomes)
    assert statuses == {201: 1, 409: RACERS - 1}, outcomes
    assert all(body["error"]["code"] == "taken" for status, body in outcomes if status == 409)
    (winner,) = [body for status, body in outcomes if status == 201]
    booking = assert_unit_held_by_one_booking(db, unit_id, winner["id"])
    assert (booking.check_in.isoformat(), booking.check_out.isoformat()) == (
        winner["check_in"],
        winner["check_out"],
    )
    # The losers left nothing behind: no orphan bookings or priced nights.
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
    assert db.session.scalar(select(func.count()).select_from(BookingNight)) == 4


def test_service_race_for_one_unit_books_it_once(app, db, make_employee, make_unit):
    unit_id = make_unit().id
    employee_ids = [make_employee().id for _ in range(RACERS)]
    db.session.remove()

    outcomes = race(
        RACERS,
        lambda i, barrier: book_in_thread(
            app, db, employee_ids[i], unit_id, *overlapping_stay(i), barrier
        ),
    )

    assert Counter(kind for kind, _id in outcomes) == {"booked": 1, "taken": RACERS - 1}, outcomes
    (booking_id,) = [booking_id for kind, booking_id in outcomes if kind == "booked"]
    assert_unit_held_by_one_booking(db, unit_id, booking_id)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_service_race_for_different_units_books_them_all(
    app, db, make_employee, make_facility, make_unit
):
    facility = make_facility()
    unit_ids = [make_unit(facility=facility).id for _ in range(RACERS)]
    employee_ids = [make_employee().id for _ in range(RACERS)]
    db.session.remove()

    outcomes = race(
        RACERS,
        lambda i, barrier: book_in_thread(
            app, db, employee_ids[i], unit_ids[i], days(10), days(14), barrier
        ),
    )

    assert [kind for kind, _id in outcomes] == ["booked"] * RACERS, outcomes
    for unit_id, (_kind, booking_id) in zip(unit_ids, outcomes, strict=True):
        assert_unit_held_by_one_booking(db, unit_id, booking_id)
    assert db.session.scalar(select(func.count()).select_from(Occupancy)) == RACERS * 4


def test_api_double_submit_books_once(app, db, make_employee, make_unit):
    unit_id = make_unit().id
    ((employee_id, secret),) = employees_with_tokens(db, make_employee, 1)
    db.session.remove()
    payload = {
        "unit_id": unit_id,
        "check_in": days(10).isoformat(),
        "check_out": days(14).isoformat(),
        "guests": 1,
    }

    with live_server(app) as port:
        outcomes = race(
            DOUBLE_SUBMITS,
            lambda _i, barrier: post_booking(port, secret, payload, barrier, "double-click-1"),
        )

    assert [status for status, _body in outcomes] == [201] * DOUBLE_SUBMITS, outcomes
    booking_ids = {body["id"] for _status, body in outcomes}
    assert len(booking_ids) == 1
    (booking_id,) = booking_ids
    booking = assert_unit_held_by_one_booking(db, unit_id, booking_id)
    assert booking.user_id == employee_id
    assert booking.request_key == "double-click-1"
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_service_double_submit_books_once(app, db, make_employee, make_unit):
    unit_id = make_unit().id
    employee_id = make_employee().id
    db.session.remove()

    outcomes = race(
        DOUBLE_SUBMITS,
        lambda _i, barrier: book_in_thread(
            app, db, employee_id, unit_id, days(10), days(14), barrier, request_key="form-7f3a"
        ),
    )

    assert [kind for kind, _id in outcomes] == ["booked"] * DOUBLE_SUBMITS, outcomes
    booking_ids = {booking_id for _kind, booking_id in outcomes}
    assert len(booking_ids) == 1
    (booking_id,) = booking_ids
    booking = assert_unit_held_by_one_booking(db, unit_id, booking_id)
    assert (booking.user_id, booking.request_key) == (employee_id, "form-7f3a")
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


LOG_CLEAN_ROUNDS = 3
LONG_STAY = 14  # the company's nights-per-stay cap (make_company's default)


def test_a_lost_race_leaves_no_psycopg_warning_in_the_log(
    app, db, backend, make_employee, make_unit, caplog
):
    """The losers' refused occupancy insert is expected, and answered as "taken": it
    must not leave "pipeline aborted" warnings in the server log (psycopg 3 runs
    executemany in pipeline mode and logs the aborted pipeline when a row is refused;
    the longer the stay, the more rows follow the refused one and the surer the warning)."""
    if backend != "postgresql":
        pytest.skip("psycopg's own log: PostgreSQL only")
    caplog.set_level(logging.WARNING, logger="psycopg")
    stay = (days(10), days(10 + LONG_STAY))

    for _round in range(LOG_CLEAN_ROUNDS):
        unit_id = make_unit().id
        employee_ids = [make_employee().id for _ in range(RACERS)]
        db.session.remove()

        outcomes = race(
            RACERS,
            lambda i, barrier, unit_id=unit_id, employee_ids=employee_ids: book_in_thread(
                app, db, employee_ids[i], unit_id, *stay, barrier
            ),
        )

        assert Counter(kind for kind, _id in outcomes) == {"booked": 1, "taken": RACERS - 1}
        (booking_id,) = [booking_id for kind, booking_id in outcomes if kind == "booked"]
        assert_unit_held_by_one_booking(db, unit_id, booking_id)
    logged = [r for r in caplog.records if r.name.startswith("psycopg")]
    assert [r.getMessage() for r in logged] == []
