"""Invariant 1 when the front desk and the guests act at once: an operator moves a stay
onto nights that employees are booking at the same moment. Exactly one claim wins,
the others answer "taken", and whoever lost left nothing behind.

Real threads, each with its own app context and session, meet at a barrier (the
pattern of ``tests/booking/test_race.py``), on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select

from accounts.models import Role, User
from availability.models import Occupancy
from billing import ledger
from billing.models import CreditEntry
from booking import operator_moves, services
from booking.models import Booking, BookingStatus
from facilities.models import Facility
from tests.booking.test_race import assert_no_double_claim, book_in_thread, nights_of, race
from tests.conftest import NOW, days

EMPLOYEES = 5  # racing the one operator
ROUNDS = 3
PRICE = 10_000


def move_in_thread(app, db, operator_id, booking_id, unit_id, check_in, check_out, barrier):
    """The operator's racer: its own context and session, commit at the edge."""
    with app.app_context():
        try:
            barrier.wait()  # nothing read before: on SQLite a read holds the write lock
            actor = db.session.get(User, operator_id)
            operator_moves.move_booking(actor, booking_id, unit_id, check_in, check_out, NOW)
            db.session.commit()
            return ("moved", booking_id)
        except services.BookingConflict as exc:
            db.session.rollback()
            return (exc.code, None)
        finally:
            db.session.remove()


def assert_nights_match_the_stays(db) -> None:
    """Every live stay holds exactly its nights in its room, and nothing else is held."""
    live = db.session.scalars(select(Booking).where(Booking.status == BookingStatus.CONFIRMED))
    expected = sorted(
        (b.unit_id, night, b.id) for b in live for night in nights_of(b.check_in, b.check_out)
    )
    held = sorted(
        tuple(r)
        for r in db.session.execute(
            select(Occupancy.unit_id, Occupancy.night, Occupancy.booking_id)
        ).all()
    )
    assert held == expected
    assert_no_double_claim(db)


def test_an_operator_move_and_employee_bookings_onto_one_night_one_wins(
    app, db, make_company, make_user, make_unit
):
    room = make_unit(base_price=PRICE)
    room_id, facility_id = room.id, room.facility_id
    operator_id = make_user(Role.OPERATOR, operator=room.facility.operator).id
    guest_id = make_user(Role.EMPLOYEE, company=make_company(credit=1_000_000)).id
    others = [make_user(Role.EMPLOYEE).id for _ in range(EMPLOYEES)]
    outcomes_seen: Counter = Counter()

    for round_ in range(ROUNDS):
        facility = db.session.get(Facility, facility_id)
        target_id = make_unit(facility=facility, base_price=8_000).id
        start = 10 + 5 * round_
        stay = services.book_stay(
            db.session.get(User, guest_id),
            services.StayRequest(room_id, days(start), days(start + 3), 1),
            NOW,
        )
        db.session.commit()
        stay_id = stay.id
        spent = ledger.paid_for([stay_id])[stay_id]
        db.session.remove()  # release the connection (and, on SQLite, the write lock)

        def work(i: int, barrier: threading.Barrier, start=start, stay_id=stay_id, unit=target_id):
            if i == 0:
                return move_in_thread(
                    app, db, operator_id, stay_id, unit, days(start), days(start + 3), barrier
                )
            # Every employee wants the stay's last night in the room it is moving to.
            return book_in_thread(
                app, db, others[i - 1], unit, days(start + 2), days(start + 4), barrier
            )

        outcomes = race(EMPLOYEES + 1, work)

        won = [kind for kind, _id in outcomes if kind in ("moved", "booked")]
        assert len(won) == 1, outcomes
        assert Counter(kind for kind, _id in outcomes)["taken"] == EMPLOYEES, outcomes
        outcomes_seen[won[0]] += 1
        db.session.remove()  # a fresh session: read what the racers committed
        moved = db.session.get(Booking, stay_id)
        if won == ["moved"]:
            assert (moved.unit_id, moved.total_price) == (target_id, 24_000)
            assert ledger.paid_for([stay_id])[stay_id] == 24_000
        else:  # the move lost and changed nothing
            assert (moved.unit_id, moved.total_price) == (room_id, 3 * PRICE)
            assert ledger.paid_for([stay_id])[stay_id] == spent
        assert_nights_match_the_stays(db)
        for company_id in db.session.scalars(select(CreditEntry.company_id).distinct()):
            account = ledger.account_of(company_id)
            assert account.credit_balance == ledger.ledger_sum(company_id) >= 0
        db.session.remove()

    # No orphan stays from the losers: the guest's stays and one per winning employee.
    bookings = db.session.scalar(select(func.count()).select_from(Booking))
    assert bookings == ROUNDS + outcomes_seen["booked"]


def test_bookings_that_come_while_a_move_holds_the_night_lose_to_it(
    app, db, make_company, make_user, make_unit, monkeypatch
):
    """The move claims first (its transaction still open): the employees who book the
    same night meanwhile wait for it and are told "taken" once it commits."""
    room = make_unit(base_price=PRICE)
    target_id = make_unit(facility=room.facility, base_price=8_000).id
    room_id = room.id
    operator_id = make_user(Role.OPERATOR, operator=room.facility.operator).id
    guest = make_user(Role.EMPLOYEE, company=make_company(credit=1_000_000))
    stay_id = services.book_stay(
        guest, services.StayRequest(room_id, days(10), days(13), 1), NOW
    ).id
    db.session.commit()
    others = [make_user(Role.EMPLOYEE).id for _ in range(EMPLOYEES)]
    db.session.remove()
    claimed = threading.Event()
    claim = operator_moves.insert_occupancy

    def claim_then_tell(*args, **kw):  # the move's claim of its new nights
        claim(*args, **kw)
        claimed.set()

    monkeypatch.setattr(operator_moves, "insert_occupancy", claim_then_tell)

    def work(i: int, barrier: threading.Barrier):
        if i == 0:
            return move_in_thread(
                app, db, operator_id, stay_id, target_id, days(10), days(13), barrier
            )
        barrier.wait()
        assert claimed.wait(30)  # the employees book once the move has claimed
        gate = threading.Barrier(1)
        return book_in_thread(app, db, others[i - 1], target_id, days(12), days(14), gate)

    outcomes = race(EMPLOYEES + 1, work)

    assert outcomes[0] == ("moved", stay_id), outcomes
    assert Counter(kind for kind, _id in outcomes[1:]) == {"taken": EMPLOYEES}, outcomes
    db.session.remove()
    moved = db.session.get(Booking, stay_id)
    assert (moved.unit_id, moved.check_in, moved.check_out) == (target_id, days(10), days(13))
    assert_nights_match_the_stays(db)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
