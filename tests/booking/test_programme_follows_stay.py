"""A stay's programme places follow it (regions.places.release_for_stay): a stay
cancelled (by the employee or the front desk) or recorded as a no-show gives up its
places in programmes that require a stay, their credit-paid fees back in full whatever
the deadline, the waitlist promoted; a place in a programme open to anyone is kept,
no longer linked to the stay. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.events import Event
from accounts.models import Role, User
from billing.models import CreditEntry, EntryKind
from booking import cancellation, front_desk, services
from booking.models import Booking, BookingStatus
from booking.programme_views import stay_for_session
from core.errors import RuleError
from regions import places, programme_money, programmes
from regions.models import ProgrammeSession, ProgrammeSignup, SignupStatus
from tests.booking.test_race import race
from tests.conftest import NOW, days
from tests.regions.programme_fixtures import FIRST_START, make_programme

GRACE = 7
CREDIT = 1_000_000
# The day before the session (Tokyo 15:00), past its refund deadline, before the stay.
LATE = FIRST_START - timedelta(hours=19)


@pytest.fixture
def organiser(make_operator):
    return make_operator(name="長野市", kind="municipality")


@pytest.fixture
def paying_employee(make_employee, make_company):
    def make():
        return make_employee(company=make_company(credit=CREDIT, programmes_on_credit=True))

    return make


@pytest.fixture
def unit(make_unit):
    return make_unit(base_price=10_000, capacity=2)


@pytest.fixture
def desk(make_user, unit):
    return make_user(Role.OPERATOR, operator=unit.facility.operator)


def book(db, user, unit, check_in: int, check_out: int):
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking


def join(db, session_id, user, participants=1, *, booking_id=None, waitlist=False):
    signup = places.join(
        session_id,
        user,
        participants,
        NOW,
        booking_id=booking_id,
        has_stay=True,
        waitlist=waitlist,
        grace_days=GRACE,
    )
    db.session.commit()
    return signup


def credit_entries(db, signup_id: int) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(CreditEntry.kind, CreditEntry.amount)
        .where(CreditEntry.programme_signup_id == signup_id)
        .order_by(CreditEntry.id)
    ).all()
    return [tuple(r) for r in rows]


def signup_row(db, signup_id: int) -> tuple:
    s = db.session.scalar(
        select(ProgrammeSignup)
        .where(ProgrammeSignup.id == signup_id)
        .execution_options(populate_existing=True)
    )
    return s.status, s.booking_id


def seats_taken(db, session_id: int) -> int:
    return db.session.scalar(
        select(ProgrammeSession.seats_taken)
        .where(ProgrammeSession.id == session_id)
        .execution_options(populate_existing=True)
    )


def event_data(db, type_: str) -> list[dict]:
    rows = db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id))
    return [json.loads(e.data) | {"user_id": e.user_id} for e in rows]


def cancel_by_employee(db, booking, desk, now):
    return cancellation.cancel_booking(booking.user, booking.id, now)


def cancel_by_front_desk(db, booking, desk, now):
    return front_desk.cancel_for_guest(desk, booking.id, "Boiler broken", now)


@pytest.mark.parametrize("cancel", [cancel_by_employee, cancel_by_front_desk])
def test_a_cancelled_stay_gives_up_its_places_and_their_fees_in_full(
    db, organiser, paying_employee, unit, desk, cancel
):
    employee, waiter = paying_employee(), paying_employee()
    booking = book(db, employee, unit, 10, 12)  # 11–13 December: over the session's day
    needs_stay = make_programme(db, organiser, capacity=2, price_kind="credit", price=3000)
    session = needs_stay.sessions[0]
    open_to_all = make_programme(db, organiser, stay_required=False, title_en="Open walk")
    kept_session = open_to_all.sessions[0]
    placed = join(db, session.id, employee, 2, booking_id=booking.id)
    kept = join(db, kept_session.id, employee, booking_id=booking.id)
    waiting = join(db, session.id, waiter, waitlist=True)
    assert LATE > programme_money.refund_deadline(session.starts_at)  # leaving now: nothing

    cancel(db, booking, desk, LATE)
    db.session.commit()

    assert db.session.get(type(booking), booking.id).status == BookingStatus.CANCELLED
    assert signup_row(db, placed.id) == (SignupStatus.LEFT, booking.id)
    assert credit_entries(db, placed.id) == [
        (EntryKind.PROGRAMME, -6000),
        (EntryKind.PROGRAMME_REFUND, 6000),  # in full, past the deadline
    ]
    # The freed seats went to the waitlist (charged as it joined).
    assert signup_row(db, waiting.id) == (SignupStatus.JOINED, None)
    assert credit_entries(db, waiting.id) == [(EntryKind.PROGRAMME, -3000)]
    assert seats_taken(db, session.id) == 1
    (left,) = event_data(db, "programme.left")
    assert (left["user_id"], left["refund"], left["stay_ended"]) == (employee.id, 6000, True)
    assert [e["user_id"] for e in event_data(db, "programme.promoted")] == [waiter.id]
    # A programme open to anyone keeps the place, no longer with the stay.
    assert signup_row(db, kept.id) == (SignupStatus.JOINED, None)
    assert seats_taken(db, kept_session.id) == 1
    assert programmes.signups_for_booking(booking.id) == []


def test_cancelling_twice_releases_once(db, organiser, paying_employee, unit, desk):
    employee = paying_employee()
    booking = book(db, employee, unit, 10, 12)
    session = make_programme(db, organiser, price_kind="credit", price=3000).sessions[0]
    placed = join(db, session.id, employee, booking_id=booking.id)
    cancellation.cancel_booking(employee, booking.id, LATE)
    db.session.commit()
    again = cancellation.cancel_booking(employee, booking.id, LATE)
    db.session.commit()
    assert again.already
    assert credit_entries(db, placed.id) == [
        (EntryKind.PROGRAMME, -3000),
        (EntryKind.PROGRAMME_REFUND, 3000),
    ]
    assert len(event_data(db, "programme.left")) == 1


def test_a_stay_without_places_cancels_as_before(db, paying_employee, unit):
    employee = paying_employee()
    booking = book(db, employee, unit, 10, 12)
    result = cancellation.cancel_booking(employee, booking.id, LATE)
    db.session.commit()
    assert result.booking.status == BookingStatus.CANCELLED
    assert event_data(db, "programme.left") == []


def test_a_no_show_gives_up_its_places_but_not_those_begun(
    db, organiser, paying_employee, unit, desk
):
    employee = paying_employee()
    booking = book(db, employee, unit, 0, 3)  # arrives today
    later = make_programme(
        db,
        organiser,
        capacity=1,
        price_kind="credit",
        price=2000,
        starts_at=NOW + timedelta(hours=8),
    ).sessions[0]
    begun = make_programme(db, organiser, starts_at=NOW + timedelta(hours=1)).sessions[0]
    open_to_all = make_programme(
        db, organiser, stay_required=False, starts_at=NOW + timedelta(hours=8)
    ).sessions[0]
    placed = join(db, later.id, employee, booking_id=booking.id)
    at_begun = join(db, begun.id, employee, booking_id=booking.id)
    kept = join(db, open_to_all.id, employee, booking_id=booking.id)
    waiter = paying_employee()
    waiting = join(db, later.id, waiter, waitlist=True)

    front_desk.mark_no_show(desk, booking.id, NOW + timedelta(hours=2))
    db.session.commit()

    assert signup_row(db, placed.id) == (SignupStatus.LEFT, booking.id)
    assert credit_entries(db, placed.id) == [
        (EntryKind.PROGRAMME, -2000),
        (EntryKind.PROGRAMME_REFUND, 2000),  # within 24 hours of the session: in full still
    ]
    assert signup_row(db, waiting.id) == (SignupStatus.JOINED, None)
    assert seats_taken(db, later.id) == 1
    # A session already under way is left to its attendance.
    assert signup_row(db, at_begun.id) == (SignupStatus.JOINED, booking.id)
    assert signup_row(db, kept.id) == (SignupStatus.JOINED, None)
    (left,) = event_data(db, "programme.left")
    assert (left["refund"], left["stay_ended"]) == (2000, True)
    assert [e["user_id"] for e in event_data(db, "programme.promoted")] == [waiter.id]


def test_release_for_an_unknown_stay_changes_nothing(db):
    assert places.release_for_stay(987_654, NOW) == 0


def _cancel_in_thread(app, db, booking_id: int, user_id: int, barrier) -> str:
    with app.app_context():
        try:
            barrier.wait()
            cancellation.cancel_booking(db.session.get(User, user_id), booking_id, NOW)
            db.session.commit()
            return "cancelled"
        finally:
            db.session.remove()


def _join_in_thread(app, db, session_id: int, user_id: int, barrier) -> str:
    """What the join page and the API do: the stay chosen (and locked), then the place."""
    with app.app_context():
        try:
            barrier.wait()
            user = db.session.get(User, user_id)
            booking_id, has_stay = stay_for_session(
                user, db.session.get(ProgrammeSession, session_id), None
            )
            places.join(
                session_id,
                user,
                1,
                NOW,
                booking_id=booking_id,
                has_stay=has_stay,
                waitlist=False,
                grace_days=GRACE,
            )
            db.session.commit()
            return "joined"
        except RuleError as exc:
            db.session.rollback()
            return exc.code
        finally:
            db.session.remove()


def test_a_stay_cancelled_while_its_guest_joins_never_keeps_a_place(
    app, db, organiser, paying_employee, make_unit
):
    """Joining locks the stay before the session, as cancelling does: whichever goes
    first, the cancelled stay ends with no place and the seats are all free."""
    rounds = []
    for n in range(3):
        session = make_programme(db, organiser, capacity=4, title_ja=f"雪かき{n}").sessions[0]
        employee = paying_employee()
        stay = book(db, employee, make_unit(base_price=10_000, capacity=2), 9, 12)
        rounds.append((session.id, employee.id, stay.id))
    db.session.remove()

    for session_id, user_id, booking_id in rounds:
        outcomes = race(
            2,
            lambda i, barrier, s=session_id, u=user_id, b=booking_id: (
                _cancel_in_thread(app, db, b, u, barrier)
                if i == 0
                else _join_in_thread(app, db, s, u, barrier)
            ),
        )
        assert outcomes[0] == "cancelled", outcomes
        assert outcomes[1] in ("joined", "stay_required", "stay_dates"), outcomes
        kept = db.session.scalars(
            select(ProgrammeSignup).where(
                ProgrammeSignup.session_id == session_id,
                ProgrammeSignup.status == SignupStatus.JOINED,
            )
        ).all()
        assert kept == [], outcomes
        assert seats_taken(db, session_id) == 0
        assert db.session.get(Booking, booking_id).status == BookingStatus.CANCELLED
        db.session.remove()  # on SQLite, a read holds the write lock the next round needs
