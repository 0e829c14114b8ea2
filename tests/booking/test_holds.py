"""The ``expire_holds`` job: a stay still waiting (for its approver, for the employee's
card) when its hold runs out expires, gives its nights back and is charged nothing; and
a decision racing the job has exactly one outcome (real threads, on SQLite and on
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.models import User
from billing.models import PaymentStatus, StayPayment
from booking import approvals, holds, services
from booking.approvals import ApprovalError
from booking.models import ApprovalDecision, BookingStatus, StayApproval
from core import scheduler
from hr.models import GroupPolicy, SubsidyKind
from tests.booking.test_approvals import (
    GRACE,
    HOLD,
    approve,
    assert_books_straight,
    book,
    entries_of,
    events_of,
    fresh,
    held_nights,
    make_world,
)
from tests.booking.test_race import race
from tests.conftest import NOW

SECOND = timedelta(seconds=1)


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    return make_world(db, make_company, make_user, make_unit)


# --- the job ----------------------------------------------------------------------------------


def test_a_stay_nobody_decided_on_expires_when_its_hold_runs_out(db, world):
    booking = book(db, world.employee, world.unit.id)
    assert holds.expire_holds(NOW + HOLD - SECOND) == ""  # not yet
    assert fresh(db, booking.id).status == BookingStatus.PENDING_APPROVAL

    summary = holds.expire_holds(NOW + HOLD)
    assert summary == "1 waiting stays expired and their nights released"
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.EXPIRED
    assert booking.hold_expires_at is None
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []  # never charged
    approval = db.session.get(StayApproval, booking.id)
    assert (approval.decision, approval.decided_at, approval.decided_by_id) == (
        ApprovalDecision.EXPIRED,
        NOW + HOLD,
        None,
    )
    assert events_of(db, booking.id) == ["approval.requested", "booking.expired"]
    assert_books_straight(db)

    # Idempotent: the next minute finds nothing to do.
    assert holds.expire_holds(NOW + HOLD + timedelta(minutes=1)) == ""
    assert events_of(db, booking.id) == ["approval.requested", "booking.expired"]

    # The nights are free again.
    other = book(db, world.outsider, world.unit.id)
    assert fresh(db, other.id).status == BookingStatus.CONFIRMED
    assert_books_straight(db)


def test_a_stay_waiting_for_the_card_expires_when_its_hold_runs_out(db, world):
    # No approval asked, but the employee pays everything: the stay waits for the card.
    world.policy.approval_all = False
    world.policy.subsidy_kind = SubsidyKind.NONE
    db.session.commit()
    booking = book(db, world.employee, world.unit.id)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.AWAITING_PAYMENT
    assert booking.employee_part == booking.total_price
    payment = db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking.id))

    holds.expire_holds(booking.hold_expires_at)
    booking = fresh(db, booking.id)
    assert booking.status == BookingStatus.EXPIRED
    assert db.session.get(StayPayment, payment.id).status == PaymentStatus.EXPIRED
    assert db.session.get(StayApproval, booking.id) is None  # it never needed one
    assert held_nights(db, booking.id) == 0
    assert entries_of(db, booking.id) == []
    assert_books_straight(db)


def test_only_waiting_stays_whose_time_is_up_expire(db, world, make_user):
    first = book(db, world.employee, world.unit.id, 10, 12)
    decided = book(db, world.employee, world.unit.id, 12, 14)
    rejected = book(db, world.employee, world.unit.id, 14, 16)
    later_policy = GroupPolicy(
        company_id=world.outsider.company_id, employee_group="", approval_all=True,
        approval_hours=72,
    )  # fmt: skip
    db.session.add(later_policy)
    db.session.commit()
    later = book(db, world.outsider, world.unit.id, 20, 22)  # waits 72 hours
    approve(db, world.manager, decided.id)
    approvals.reject(world.manager, rejected.id, "", NOW)
    db.session.commit()

    assert holds.expire_holds(NOW + HOLD) == "1 waiting stays expired and their nights released"
    assert fresh(db, first.id).status == BookingStatus.EXPIRED
    assert fresh(db, decided.id).status == BookingStatus.CONFIRMED
    assert fresh(db, rejected.id).status == BookingStatus.REJECTED
    assert fresh(db, later.id).status == BookingStatus.PENDING_APPROVAL
    assert held_nights(db, decided.id) == 2 and held_nights(db, later.id) == 2
    assert_books_straight(db)
    holds.expire_holds(NOW + timedelta(hours=72))
    assert fresh(db, later.id).status == BookingStatus.EXPIRED
    assert_books_straight(db)


def test_the_job_runs_every_minute_and_only_when_a_hold_ran_out(app, db, world):
    spec = scheduler.registered_jobs(app)["expire_holds"]
    assert (spec.trigger, spec.trigger_args(app.config)) == ("interval", {"minutes": 1})
    assert spec.func is holds.expire_holds
    assert holds.holds_due() is False
    booking = book(db, world.employee, world.unit.id)
    assert holds.holds_due() is False  # at NOW it still has 48 hours
    app.config["FIXED_NOW"] = NOW + HOLD
    assert holds.holds_due() is True
    db.session.rollback()
    run = scheduler.run_job(app, "expire_holds", NOW + HOLD)
    assert run is not None and run.outcome == "ok"
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    assert holds.holds_due() is False


# --- races ------------------------------------------------------------------------------------


def _iterations(backend: str) -> int:
    return 30 if backend == "postgresql" else 8


def _night(i: int):
    """A one-night stay per iteration, spread over the months (the monthly cap)."""
    return 5 + 5 * i, 6 + 5 * i


def _approve_in_thread(app, db, manager_id: int, booking_id: int, barrier, now):
    with app.app_context():
        try:
            barrier.wait()
            manager = db.session.get(User, manager_id)
            approvals.approve(manager, booking_id, "", now, GRACE)
            db.session.commit()
            return "approved"
        except ApprovalError as exc:
            db.session.rollback()
            return exc.code
        finally:
            db.session.remove()


def _expire_in_thread(app, db, barrier, now):
    with app.app_context():
        try:
            barrier.wait()
            return "expired" if holds.expire_holds(now) else "nothing"
        finally:
            db.session.remove()


def _reject_in_thread(app, db, decider_id: int, booking_id: int, barrier, now):
    with app.app_context():
        try:
            barrier.wait()
            decider = db.session.get(User, decider_id)
            approvals.reject(decider, booking_id, "", now)
            db.session.commit()
            return "rejected"
        except ApprovalError as exc:
            db.session.rollback()
            return exc.code
        finally:
            db.session.remove()


def test_an_approval_racing_the_expiry_has_one_outcome(app, db, world, backend):
    world.company.max_nights_per_month = 31
    db.session.commit()
    employee_id, unit_id, manager_id = world.employee.id, world.unit.id, world.manager.id
    outcomes = []
    for i in range(_iterations(backend)):
        booking = book(db, db.session.get(User, employee_id), unit_id, *_night(i))
        booking_id = booking.id
        deadline = fresh(db, booking_id).hold_expires_at
        db.session.remove()  # SQLite: no transaction of ours holds the write lock

        approved, expired = race(
            2,
            lambda n, barrier, b=booking_id, m=manager_id, d=deadline: (
                _approve_in_thread(app, db, m, b, barrier, d - SECOND)
                if n == 0
                else _expire_in_thread(app, db, barrier, d)
            ),
        )
        booking = fresh(db, booking_id)
        decision = db.session.get(StayApproval, booking_id).decision
        if booking.status == BookingStatus.CONFIRMED:
            assert (approved, expired, decision) == ("approved", "nothing", "approved")
            assert entries_of(db, booking_id) == [("spend", -booking.total_price)]
            assert held_nights(db, booking_id) == 1
        else:
            assert booking.status == BookingStatus.EXPIRED, booking.status
            assert (approved, expired, decision) == ("expired", "expired", "expired")
            assert entries_of(db, booking_id) == []
            assert held_nights(db, booking_id) == 0
        outcomes.append(booking.status)
        assert_books_straight(db)
    assert len(outcomes) == _iterations(backend)


def test_two_deciders_at_once_make_one_decision(app, db, world, backend):
    world.company.max_nights_per_month = 31
    db.session.commit()
    employee_id, unit_id = world.employee.id, world.unit.id
    manager_id, admin_id = world.manager.id, world.admin.id
    for i in range(_iterations(backend)):
        booking = book(db, db.session.get(User, employee_id), unit_id, *_night(i))
        ids = (booking.id, manager_id, admin_id)
        db.session.remove()

        approved, rejected = race(
            2,
            lambda n, barrier, b=ids[0], m=ids[1], a=ids[2]: (
                _approve_in_thread(app, db, m, b, barrier, NOW)
                if n == 0
                else _reject_in_thread(app, db, a, b, barrier, NOW)
            ),
        )
        booking = fresh(db, ids[0])
        if booking.status == BookingStatus.CONFIRMED:
            assert (approved, rejected) == ("approved", "not_pending")
            assert held_nights(db, booking.id) == 1
            assert entries_of(db, booking.id) == [("spend", -booking.total_price)]
        else:
            assert booking.status == BookingStatus.REJECTED
            assert (approved, rejected) == ("not_pending", "rejected")
            assert held_nights(db, booking.id) == 0
            assert entries_of(db, booking.id) == []
        assert_books_straight(db)


def test_a_waiting_stay_counts_in_the_monthly_cap_until_it_expires(db, world):
    world.company.max_nights_per_month = 3
    db.session.commit()
    booking = book(db, world.employee, world.unit.id, 10, 13)
    with pytest.raises(services.BookingError) as refused:
        book(db, world.employee, world.unit.id, 20, 21)
    assert refused.value.code == "policy_month"
    db.session.rollback()
    holds.expire_holds(NOW + HOLD)
    assert fresh(db, booking.id).status == BookingStatus.EXPIRED
    again = book(db, world.employee, world.unit.id, 20, 21, now=NOW + HOLD)
    assert fresh(db, again.id).status == BookingStatus.PENDING_APPROVAL


def test_no_stay_waits_past_the_end_of_its_check_in_day(app, db, world):
    world.policy.approval_hours = 72
    db.session.commit()
    tonight = book(db, world.employee, world.unit.id, 0, 1)
    later = book(db, world.employee, world.unit.id, 10, 11)
    end_of_today = NOW + timedelta(hours=12)  # 00:00 in Japan; NOW is 12:00 there
    assert fresh(db, tonight.id).hold_expires_at == end_of_today
    assert fresh(db, later.id).hold_expires_at == NOW + timedelta(hours=72)

    assert holds.expire_holds(end_of_today - SECOND) == ""
    app.config["FIXED_NOW"] = end_of_today
    assert holds.holds_due() is True
    db.session.rollback()
    assert holds.expire_holds(end_of_today) == "1 waiting stays expired and their nights released"
    assert fresh(db, tonight.id).status == BookingStatus.EXPIRED
    assert db.session.get(StayApproval, tonight.id).decision == ApprovalDecision.EXPIRED
    assert held_nights(db, tonight.id) == 0
    assert entries_of(db, tonight.id) == []
    assert fresh(db, later.id).status == BookingStatus.PENDING_APPROVAL
    assert_books_straight(db)
