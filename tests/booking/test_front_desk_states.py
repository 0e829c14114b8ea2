"""Every front-desk action, a move and the guest register, on a stay in each of the
booking statuses: each one acts or answers the domain's refusal (``BookingError`` with
its code and a sentence saying where the stay is), never anything else. A stay that
waits for its approval or its employee's payment, and one refused or expired, are never
checked in, marked a no-show, cancelled or moved by the front desk, and their register
is not filled in: refused, and nothing changes.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts.models import Role
from availability.models import Occupancy
from booking import approvals, front_desk, guest_register, holds, operator_moves, services
from booking.models import WAITING_STATUSES, Booking, BookingStatus
from booking.services import BookingError
from core.i18n import STATUS_LABELS
from hr.models import GroupPolicy
from tests.conftest import NOW, TODAY, days
from tests.register_helpers import resident

NEVER_CONFIRMED = (*WAITING_STATUSES, BookingStatus.REJECTED, BookingStatus.EXPIRED)
SENTENCES = {
    BookingStatus.PENDING_APPROVAL: "This stay is waiting for approval and is not confirmed yet.",
    BookingStatus.AWAITING_PAYMENT: "This stay is waiting for payment and is not confirmed yet.",
    BookingStatus.REJECTED: "This stay was not approved.",
    BookingStatus.EXPIRED: "This stay expired before it was confirmed.",
}


def english(message) -> str:
    with force_locale("en"):
        return str(message)


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    company = make_company()
    unit = make_unit(base_price=10_000, capacity=2)
    other = make_unit(facility=unit.facility, base_price=9_000, capacity=2)
    world = SimpleNamespace(
        company=company,
        employee=make_user(Role.EMPLOYEE, company=company, locale="en"),
        admin=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        operator=make_user(Role.OPERATOR, operator=unit.facility.operator, locale="en"),
        unit=unit,
        other=other,
    )
    db.session.commit()
    return world


def stay_in(db, world, status: BookingStatus) -> int:
    """A stay from today for two nights, put in ``status`` (the actions read only it)."""
    booking = services.book_stay(
        world.employee, services.StayRequest(world.unit.id, days(0), days(2), 1), NOW
    )
    booking.status = status
    db.session.commit()
    return booking.id


def state_of(db, booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    return (
        (b.status, b.unit_id, b.check_in, b.check_out, b.total_price, b.released_on),
        (b.cancel_reason, b.checked_in_at, b.checked_out_at, b.no_show_at),
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == b.id)
        ),
    )


def actions(world, booking_id: int) -> dict:
    """Each action the front desk (or the register) may take on the stay."""
    op = world.operator

    def register():
        booking = front_desk.operator_booking(op, booking_id)
        guest_register.check_editable(booking, TODAY)
        return guest_register.save_register(op, booking, [resident(0)], NOW)

    return {
        "check_in": lambda: front_desk.check_in(op, booking_id, NOW),
        "check_out": lambda: front_desk.check_out(op, booking_id, NOW),
        "no_show": lambda: front_desk.mark_no_show(op, booking_id, NOW),
        "cancel": lambda: front_desk.cancel_for_guest(op, booking_id, "Boiler broken.", NOW),
        "quote_move": lambda: operator_moves.quote_move(
            op, booking_id, world.other.id, days(0), days(3), NOW
        ),
        "move": lambda: operator_moves.move_booking(
            op, booking_id, world.other.id, days(0), days(3), NOW
        ),
        "register": register,
    }


# What a stay that was never confirmed answers, by action.
REFUSALS = {
    "check_in": ("not_confirmed", "It cannot be checked in."),
    "check_out": ("not_checked_in", "Only a guest who is checked in can be checked out."),
    "no_show": ("not_confirmed", "It cannot be marked as a no-show."),
    "cancel": ("not_cancellable", None),
    "quote_move": ("not_movable", None),
    "move": ("not_movable", None),
    "register": ("not_editable", None),
}
ACTIONS = tuple(REFUSALS)


@pytest.mark.parametrize("status", list(BookingStatus), ids=str)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_on_every_status_acts_or_refuses_in_words(db, world, status, action):
    booking_id = stay_in(db, world, status)
    before = state_of(db, booking_id)

    try:
        actions(world, booking_id)[action]()
    except BookingError as refused:  # the domain's refusal: nothing else may escape
        db.session.rollback()
        message = english(refused.message)
        assert message and "%(" not in message
        with force_locale("ja"):
            assert str(refused.message)
        assert state_of(db, booking_id) == before
        if status in NEVER_CONFIRMED:
            code, words = REFUSALS[action]
            assert refused.code == code
            assert message.startswith(SENTENCES[status])
            if words:
                assert message.endswith(words)
        return
    db.session.rollback()
    assert status not in NEVER_CONFIRMED, f"{action} acted on a {status} stay"


@pytest.mark.parametrize("status", list(BookingStatus), ids=str)
def test_every_status_has_a_sentence_and_labels_for_both_readers(db, world, status):
    booking_id = stay_in(db, world, status)
    booking = db.session.get(Booking, booking_id)

    assert english(front_desk.state_sentence(booking))
    assert status.value in STATUS_LABELS["booking"]
    assert status.value in STATUS_LABELS["operator_booking"]
    # No button is offered for a stay that was never confirmed.
    allowed = front_desk.allowed_actions(booking, TODAY)
    if status in NEVER_CONFIRMED:
        assert allowed == frozenset()
        assert front_desk.never_confirmed(booking)
        assert not guest_register.editable(booking, TODAY)


def test_the_operator_reads_a_neutral_label_for_a_stay_waiting_for_payment():
    with force_locale("en"):
        assert str(STATUS_LABELS["booking"]["awaiting_payment"]) == "Waiting for your payment"
        assert (
            str(STATUS_LABELS["operator_booking"]["awaiting_payment"])
            == "Waiting for the guest's payment"
        )


def test_the_refusals_say_what_a_waiting_stay_waits_for(db, world):
    booking_id = stay_in(db, world, BookingStatus.PENDING_APPROVAL)
    booking = db.session.get(Booking, booking_id)

    assert english(front_desk.cancel_refusal(booking)) == (
        "This stay is waiting for approval and is not confirmed yet. It can be cancelled"
        " once it is confirmed; if it is not confirmed in time, its nights are released."
    )
    with pytest.raises(BookingError) as moved:
        operator_moves.quote_move(world.operator, booking_id, world.other.id, days(0), days(3), NOW)
    assert english(moved.value.message) == (
        "This stay is waiting for approval and is not confirmed yet. It can be moved once it"
        " is confirmed."
    )
    with pytest.raises(guest_register.RegisterError) as register:
        guest_register.check_editable(booking, TODAY)
    assert english(register.value.message) == (
        "This stay is waiting for approval and is not confirmed yet. Its guest register can"
        " be filled in once it is confirmed."
    )


# --- the same, reached the way the application gets there ----------------------------------


@pytest.fixture
def approving(db, world):
    """Every stay of the company waits for its admin's approval."""
    db.session.add(GroupPolicy(company_id=world.company.id, employee_group="", approval_all=True))
    db.session.commit()
    return world


def book_waiting(db, world) -> int:
    booking = services.book_stay(
        world.employee, services.StayRequest(world.unit.id, days(0), days(2), 1), NOW
    )
    db.session.commit()
    assert booking.status == BookingStatus.PENDING_APPROVAL
    return booking.id


def refused_everywhere(db, world, booking_id: int, status: BookingStatus) -> None:
    before = state_of(db, booking_id)
    assert before[0][0] == status
    for action, call in actions(world, booking_id).items():
        with pytest.raises(BookingError) as refused:
            call()
        db.session.rollback()
        assert refused.value.code == REFUSALS[action][0], action
        assert english(refused.value.message).startswith(SENTENCES[status]), action
        assert state_of(db, booking_id) == before, action


def test_a_stay_waiting_for_approval_is_refused_by_the_front_desk(db, approving):
    booking_id = book_waiting(db, approving)

    refused_everywhere(db, approving, booking_id, BookingStatus.PENDING_APPROVAL)


def test_a_rejected_stay_is_refused_by_the_front_desk(db, approving):
    booking_id = book_waiting(db, approving)
    approvals.reject(approving.admin, booking_id, "Not this month.", NOW)
    db.session.commit()

    refused_everywhere(db, approving, booking_id, BookingStatus.REJECTED)


def test_an_expired_stay_is_refused_by_the_front_desk(db, approving):
    booking_id = book_waiting(db, approving)
    later = db.session.get(Booking, booking_id).hold_expires_at
    holds.expire_holds(later)
    db.session.commit()

    refused_everywhere(db, approving, booking_id, BookingStatus.EXPIRED)
