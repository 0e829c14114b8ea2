"""The operator's front desk: check-in, check-out, no-show, cancelling on the guest's
behalf, notes, the list of stays and a stay's history, with their money and nights.

Every test runs on SQLite and on PostgreSQL (the ``app`` fixture). NOW is 2026-12-01
12:00 in Tokyo; ``at(n)`` is the same hour ``n`` days later.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts import events
from accounts.models import Role
from availability.models import Block, BlockReason, BlockSource, ChangedNights, Occupancy
from billing import ledger
from billing.models import CreditEntry, EntryKind
from booking import cancellation, changes, front_desk, services
from booking.models import Booking, BookingStatus
from tests.conftest import NOW, bearer, days
from tests.register_helpers import fill_register

CREDIT = 1_000_000
PRICE = 10_000


def at(n: int):
    """The instant ``n`` days after NOW (noon in Tokyo)."""
    return NOW + timedelta(days=n)


# --- helpers shared with the other operator tests --------------------------------------


def book(db, user, unit, check_in: int, check_out: int, guests: int = 1) -> Booking:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), guests), NOW
    )
    db.session.commit()
    fill_register(booking)  # check-in waits for a complete guest register
    return booking


def balance(company) -> int:
    return ledger.account_of(company.id).credit_balance


def entries(db, booking_id: int) -> list[tuple[str, int]]:
    return [
        (kind, amount)
        for kind, amount in db.session.execute(
            select(CreditEntry.kind, CreditEntry.amount)
            .where(CreditEntry.booking_id == booking_id)
            .order_by(CreditEntry.id)
        )
    ]


def claimed(db, booking_id: int) -> list[tuple[int, object]]:
    rows = db.session.execute(
        select(Occupancy.unit_id, Occupancy.night)
        .where(Occupancy.booking_id == booking_id)
        .order_by(Occupancy.night)
    )
    return [tuple(r) for r in rows]


def events_of(db, booking_id: int, type_: str | None = None) -> list[events.Event]:
    query = select(events.Event).where(
        events.Event.subject_type == "booking", events.Event.subject_id == booking_id
    )
    if type_ is not None:
        query = query.where(events.Event.type == type_)
    return list(db.session.scalars(query.order_by(events.Event.id)))


def stay_state(db, company, booking_id: int) -> tuple:
    """What a front-desk action may touch, to prove a refused one touched nothing."""
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    return (
        (b.status, b.unit_id, b.check_in, b.check_out, b.total_price, b.released_on),
        (b.cancel_reason, b.operator_note, b.checked_in_at, b.checked_out_at, b.no_show_at),
        [(n.night, n.price) for n in b.nights],
        claimed(db, booking_id),
        entries(db, booking_id),
        balance(company),
        len(events_of(db, booking_id)),
        db.session.scalar(select(func.count()).select_from(Occupancy)),
    )


def english(message) -> str:
    """A (lazy) message as an English reader sees it."""
    with force_locale("en"):
        return str(message)


@pytest.fixture
def refuses(db, company):
    """``refuses(booking, code, action, *args)``: ``action(*args)`` is refused with ``code``
    (and ``error``) and changes nothing of the stay, the company's credit or the nights."""

    def check(booking, code: str, action, *args, error=front_desk.FrontDeskError):
        before = stay_state(db, company, booking.id)
        with pytest.raises(error) as caught:
            action(*args)
        db.session.rollback()
        assert caught.value.code == code
        assert str(caught.value.message)  # a sentence for the operator
        assert stay_state(db, company, booking.id) == before
        return caught.value

    return check


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def company(make_company):
    return make_company(credit=CREDIT)


@pytest.fixture
def employee(make_user, company):
    return make_user(Role.EMPLOYEE, company=company)


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


@pytest.fixture
def desk(make_user, room):
    """An operator of the room's organisation: the front desk."""
    return make_user(Role.OPERATOR, operator=room.facility.operator)


@pytest.fixture
def stranger(make_user):
    """An operator of another organisation."""
    return make_user(Role.OPERATOR)


# --- check-in ------------------------------------------------------------------------


def test_check_in_on_the_arrival_day_is_recorded_and_told(db, company, employee, room, desk):
    booking = book(db, employee, room, 0, 3)

    checked = front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()

    assert (checked.status, checked.checked_in_at) == (BookingStatus.CHECKED_IN, NOW)
    # Nothing moves on the credit and the nights stay held.
    assert entries(db, booking.id) == [(EntryKind.SPEND, -3 * PRICE)]
    assert claimed(db, booking.id) == [(room.id, days(n)) for n in range(3)]
    (event,) = events_of(db, booking.id, events.BOOKING_CHECKED_IN)
    parties = (event.actor_id, event.user_id, event.company_id, event.operator_id)
    assert parties == (desk.id, employee.id, company.id, room.facility.operator_id)


def test_a_guest_can_be_checked_in_on_a_later_day_of_the_stay(db, employee, room, desk):
    booking = book(db, employee, room, 0, 3)

    assert front_desk.check_in(desk, booking.id, at(2)).status == BookingStatus.CHECKED_IN


def test_check_in_is_refused_on_the_wrong_day_or_state(db, company, employee, room, desk, refuses):
    booking = book(db, employee, room, 2, 4)

    refuses(booking, "not_arrival_day", front_desk.check_in, desk, booking.id, at(1))
    refuses(booking, "stay_over", front_desk.check_in, desk, booking.id, at(4))
    front_desk.check_in(desk, booking.id, at(2))
    db.session.commit()
    error = refuses(booking, "already", front_desk.check_in, desk, booking.id, at(2))
    assert "already checked in" in english(error.message)

    cancelled = book(db, employee, room, 10, 12)
    cancellation.cancel_booking(employee, cancelled.id, NOW)
    db.session.commit()
    error = refuses(cancelled, "not_confirmed", front_desk.check_in, desk, cancelled.id, at(10))
    assert "cancelled" in english(error.message)


# --- check-out -----------------------------------------------------------------------


def test_leaving_early_gives_the_remaining_nights_back_without_a_refund(
    db, company, employee, make_employee, room, desk
):
    booking = book(db, employee, room, 0, 4)
    front_desk.check_in(desk, booking.id, NOW)
    db.session.commit()
    queued = db.session.scalar(select(func.count()).select_from(ChangedNights))

    done = front_desk.check_out(desk, booking.id, at(1))
    db.session.commit()

    assert (done.status, done.checked_out_at, done.released_on) == (
        BookingStatus.CHECKED_OUT,
        at(1),
        days(1),
    )
    assert done.held_until == days(1)
    assert (done.check_out, done.total_price) == (days(4), 4 * PRICE)  # the stay as booked
    assert claimed(db, booking.id) == [(room.id, days(0))]
    assert entries(db, booking.id) == [(EntryKind.SPEND, -4 * PRICE)]  # nothing back
    assert balance(company) == CREDIT - 4 * PRICE == ledger.ledger_sum(company.id)
    assert db.session.scalar(select(func.count()).select_from(ChangedNights)) == queued + 1
    (event,) = events_of(db, booking.id, events.BOOKING_CHECKED_OUT)
    assert event.actor_id == desk.id
    # The nights given back can be sold again at once.
    book(db, make_employee(), room, 1, 4)


def test_checking_out_on_the_last_morning_gives_nothing_back(db, employee, room, desk):
    booking = book(db, employee, room, 0, 2)
    front_desk.check_in(desk, booking.id, NOW)

    done = front_desk.check_out(desk, booking.id, at(2))
    db.session.commit()

    assert (done.status, done.released_on) == (BookingStatus.CHECKED_OUT, None)
    assert claimed(db, booking.id) == [(room.id, days(0)), (room.id, days(1))]


def test_nights_given_back_go_to_a_calendar_event_that_wanted_them(db, employee, room, desk):
    booking = book(db, employee, room, 0, 4)
    front_desk.check_in(desk, booking.id, NOW)
    # A closing over nights the stay held waits for them (as an external calendar's
    # event over a stay does).
    block = Block(
        unit_id=room.id,
        start_date=days(2),
        end_date=days(5),
        source=BlockSource.MANUAL,
        reason=BlockReason.MAINTENANCE,
    )
    db.session.add(block)
    db.session.commit()

    front_desk.check_out(desk, booking.id, at(1))
    db.session.commit()

    held = db.session.execute(
        select(Occupancy.night, Occupancy.booking_id, Occupancy.block_id)
        .where(Occupancy.unit_id == room.id)
        .order_by(Occupancy.night)
    ).all()
    assert [tuple(r) for r in held] == [
        (days(0), booking.id, None),
        (days(2), None, block.id),
        (days(3), None, block.id),
        (days(4), None, block.id),
    ]


def test_check_out_is_refused_unless_the_guest_is_in(db, company, employee, room, desk, refuses):
    booking = book(db, employee, room, 0, 2)

    error = refuses(booking, "not_checked_in", front_desk.check_out, desk, booking.id, NOW)
    assert "not checked in" in english(error.message)
    front_desk.check_in(desk, booking.id, NOW)
    front_desk.check_out(desk, booking.id, at(1))
    db.session.commit()
    refuses(booking, "already", front_desk.check_out, desk, booking.id, at(1))


# --- no-show -------------------------------------------------------------------------


def test_a_no_show_on_the_arrival_day_gives_every_night_back_and_refunds_nothing(
    db, company, employee, make_employee, room, desk
):
    booking = book(db, employee, room, 0, 3)

    marked = front_desk.mark_no_show(desk, booking.id, NOW)
    db.session.commit()

    assert (marked.status, marked.no_show_at, marked.released_on) == (
        BookingStatus.NO_SHOW,
        NOW,
        days(0),
    )
    assert claimed(db, booking.id) == []
    assert entries(db, booking.id) == [(EntryKind.SPEND, -3 * PRICE)]
    assert balance(company) == CREDIT - 3 * PRICE
    (event,) = events_of(db, booking.id, events.BOOKING_NO_SHOW)
    assert event.facts == {"released_from": days(0).isoformat()}
    assert (event.actor_id, event.user_id, event.company_id) == (desk.id, employee.id, company.id)
    book(db, make_employee(), room, 0, 3)


def test_a_later_no_show_keeps_the_nights_that_have_passed(db, employee, room, desk):
    booking = book(db, employee, room, 0, 4)

    marked = front_desk.mark_no_show(desk, booking.id, at(2))
    db.session.commit()

    assert marked.released_on == days(2)
    assert claimed(db, booking.id) == [(room.id, days(0)), (room.id, days(1))]
    (event,) = events_of(db, booking.id, events.BOOKING_NO_SHOW)
    assert event.facts == {"released_from": days(2).isoformat()}


def test_a_no_show_after_the_stay_gives_nothing_back(db, employee, room, desk):
    booking = book(db, employee, room, 0, 2)

    marked = front_desk.mark_no_show(desk, booking.id, at(5))
    db.session.commit()

    assert (marked.status, marked.released_on) == (BookingStatus.NO_SHOW, None)
    assert len(claimed(db, booking.id)) == 2
    (event,) = events_of(db, booking.id, events.BOOKING_NO_SHOW)
    assert event.facts == {"released_from": None}


def test_a_no_show_is_refused_before_the_arrival_day_or_once_the_guest_came(
    db, company, employee, room, desk, refuses
):
    booking = book(db, employee, room, 3, 5)

    error = refuses(booking, "not_arrival_day", front_desk.mark_no_show, desk, booking.id, at(2))
    assert "no-show" in english(error.message)
    front_desk.check_in(desk, booking.id, at(3))
    db.session.commit()
    refuses(booking, "not_confirmed", front_desk.mark_no_show, desk, booking.id, at(3))

    other = book(db, employee, room, 6, 7)
    front_desk.mark_no_show(desk, other.id, at(6))
    db.session.commit()
    refuses(other, "already", front_desk.mark_no_show, desk, other.id, at(6))
    # A no-show is not checked in afterwards either.
    refuses(other, "not_confirmed", front_desk.check_in, desk, other.id, at(6))


# --- cancelling on the guest's behalf ------------------------------------------------


def test_cancelling_for_the_guest_refunds_everything_even_late(
    db, company, employee, make_employee, room, desk
):
    # Check-in in two days: the guest cancelling now would get half back.
    booking = book(db, employee, room, 2, 5)

    result = front_desk.cancel_for_guest(desk, booking.id, "  Boiler broken  ", NOW)
    db.session.commit()

    assert (result.paid, result.refunded, result.kept, result.refund_percent) == (
        3 * PRICE,
        3 * PRICE,
        0,
        100,
    )
    assert not result.already
    b = db.session.get(Booking, booking.id)
    assert (b.status, b.cancelled_at, b.cancel_reason) == (
        BookingStatus.CANCELLED,
        NOW,
        "Boiler broken",
    )
    assert claimed(db, booking.id) == []
    assert entries(db, booking.id) == [(EntryKind.SPEND, -3 * PRICE), (EntryKind.REFUND, 3 * PRICE)]
    assert balance(company) == CREDIT == ledger.ledger_sum(company.id)
    (event,) = events_of(db, booking.id, events.BOOKING_CANCELLED)
    assert event.facts == {"refund": 3 * PRICE, "fee": 0, "by": "operator"}
    assert event.actor_id == desk.id
    book(db, make_employee(), room, 2, 5)  # the nights are for sale again


def test_cancelling_a_changed_stay_returns_all_it_holds(db, company, employee, room, desk):
    booking = book(db, employee, room, 10, 12)
    changes.change_booking(
        employee, booking.id, services.StayRequest(room.id, days(10), days(14), 1), NOW
    )
    db.session.commit()

    result = front_desk.cancel_for_guest(desk, booking.id, "Closed for repairs", at(9))
    db.session.commit()

    assert result.refunded == 4 * PRICE
    assert balance(company) == CREDIT


def test_cancelling_on_the_arrival_day_before_the_guest_came(db, company, employee, room, desk):
    booking = book(db, employee, room, 0, 2)

    result = front_desk.cancel_for_guest(desk, booking.id, "Double-booked by phone", NOW)
    db.session.commit()

    assert result.refunded == 2 * PRICE
    assert claimed(db, booking.id) == []


def test_a_stay_begun_without_its_guest_is_a_no_show_not_a_refund(
    db, company, employee, room, desk, refuses
):
    booking = book(db, employee, room, 0, 3)

    error = refuses(booking, "begun", front_desk.cancel_for_guest, desk, booking.id, "x", at(1))
    assert english(error.message) == (
        "This stay has begun: check the guest in or mark a no-show first."
    )
    front_desk.mark_no_show(desk, booking.id, at(1))
    db.session.commit()
    # The night that passed is not refunded; the nights ahead are given back.
    assert entries(db, booking.id) == [(EntryKind.SPEND, -3 * PRICE)]
    assert balance(company) == CREDIT - 3 * PRICE
    assert claimed(db, booking.id) == [(room.id, days(0))]


def test_cancelling_twice_changes_nothing(db, company, employee, room, desk):
    booking = book(db, employee, room, 5, 6)
    front_desk.cancel_for_guest(desk, booking.id, "Flooded", NOW)
    db.session.commit()
    before = stay_state(db, company, booking.id)

    again = front_desk.cancel_for_guest(desk, booking.id, "Flooded", NOW)
    db.session.commit()

    assert (again.already, again.refunded) == (True, 0)
    assert stay_state(db, company, booking.id) == before


@pytest.mark.parametrize(
    ("reason", "code"),
    [("", "reason_required"), ("   \n ", "reason_required"), ("x" * 301, "reason_too_long")],
)
def test_cancelling_needs_a_short_reason(db, company, employee, room, desk, reason, code, refuses):
    booking = book(db, employee, room, 5, 6)

    refuses(booking, code, front_desk.cancel_for_guest, desk, booking.id, reason, NOW)


def test_a_reason_of_300_characters_is_kept_whole(db, employee, room, desk):
    booking = book(db, employee, room, 5, 6)

    front_desk.cancel_for_guest(desk, booking.id, "理" * 300, NOW)
    db.session.commit()

    assert db.session.get(Booking, booking.id).cancel_reason == "理" * 300


def test_a_stay_in_the_house_or_over_is_not_cancelled(db, company, employee, room, desk, refuses):
    in_house = book(db, employee, room, 0, 2)
    front_desk.check_in(desk, in_house.id, NOW)
    db.session.commit()
    error = refuses(
        in_house, "checked_in", front_desk.cancel_for_guest, desk, in_house.id, "x", NOW
    )
    assert "check them out" in english(error.message)
    front_desk.check_out(desk, in_house.id, at(2))
    db.session.commit()
    refuses(in_house, "not_cancellable", front_desk.cancel_for_guest, desk, in_house.id, "x", at(2))

    over = book(db, employee, room, 3, 4)
    refuses(over, "stay_over", front_desk.cancel_for_guest, desk, over.id, "x", at(4))


# --- notes ---------------------------------------------------------------------------


def test_notes_are_kept_trimmed_and_bounded(db, company, employee, room, desk, refuses):
    booking = book(db, employee, room, 5, 6)

    front_desk.set_note(desk, booking.id, "  Late arrival, around 22:00.\n")
    db.session.commit()
    assert db.session.get(Booking, booking.id).operator_note == "Late arrival, around 22:00."

    front_desk.set_note(desk, booking.id, "n" * front_desk.MAX_NOTE)
    db.session.commit()
    too_long = "n" * (front_desk.MAX_NOTE + 1)
    refuses(booking, "note_too_long", front_desk.set_note, desk, booking.id, too_long)
    front_desk.set_note(desk, booking.id, "")
    db.session.commit()
    assert db.session.get(Booking, booking.id).operator_note == ""


# --- tenants -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "act",
    [
        lambda who, bid: front_desk.operator_booking(who, bid),
        lambda who, bid: front_desk.operator_booking(who, bid, lock=True),
        lambda who, bid: front_desk.check_in(who, bid, NOW),
        lambda who, bid: front_desk.check_out(who, bid, NOW),
        lambda who, bid: front_desk.mark_no_show(who, bid, NOW),
        lambda who, bid: front_desk.cancel_for_guest(who, bid, "reason", NOW),
        lambda who, bid: front_desk.set_note(who, bid, "note"),
    ],
    ids=["read", "lock", "check_in", "check_out", "no_show", "cancel", "note"],
)
def test_another_organisations_stay_is_not_found(
    db, company, employee, room, desk, stranger, make_user, act, refuses
):
    booking = book(db, employee, room, 0, 2)
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    platform = make_user(Role.PLATFORM_ADMIN)

    # Another operator organisation, the guest, their admin, the platform; no such stay.
    others = [(who, booking.id) for who in (stranger, employee, admin, platform)]
    for who, booking_id in [*others, *((desk, i) for i in (booking.id + 1000, 0, -1, 2**63))]:
        refuses(booking, "not_found", act, who, booking_id, error=services.BookingNotFound)


# --- the list of stays ---------------------------------------------------------------


def test_the_list_holds_the_organisations_overlapping_stays(
    db, company, employee, make_employee, make_facility, make_unit, room, desk, stranger
):
    second_room = make_unit(facility=room.facility)
    other_facility_room = make_unit(facility=make_facility(operator=room.facility.operator))
    foreign_room = make_unit()  # another organisation
    a = book(db, employee, room, 2, 4)
    b = book(db, make_employee(), second_room, 0, 10)
    c = book(db, make_employee(), other_facility_room, 3, 5)
    book(db, make_employee(), foreign_room, 2, 4)
    book(db, make_employee(), room, 4, 6)  # starts on the end of the range: not in it
    gone = book(db, make_employee(), room, 0, 2)  # ends on its start: not in it
    cancelled = book(db, make_employee(), room, 7, 8)
    cancellation.cancel_booking(cancelled.user, cancelled.id, NOW)
    db.session.commit()

    rows = front_desk.operator_bookings(desk, days(2), days(4))
    assert [r.id for r in rows] == [b.id, a.id, c.id]  # by check-in
    assert rows[0].unit.facility.id == room.facility_id  # loaded with room and facility
    assert rows[1].user.name == employee.name
    assert front_desk.company_names(rows)[a.company_id] == company.name
    assert gone.id not in [r.id for r in rows]

    one = front_desk.operator_bookings(desk, days(2), days(4), facility_id=room.facility_id)
    assert [r.id for r in one] == [b.id, a.id]
    everything = front_desk.operator_bookings(desk, days(0), days(30))
    assert cancelled.id in [r.id for r in everything]
    open_only = front_desk.operator_bookings(
        desk, days(0), days(30), statuses=(BookingStatus.CONFIRMED,)
    )
    assert cancelled.id not in [r.id for r in open_only]
    assert len(front_desk.operator_bookings(desk, days(0), days(30), limit=2)) == 2

    # Another organisation's facility, a guest, an empty range: nothing.
    assert (
        front_desk.operator_bookings(desk, days(0), days(9), facility_id=foreign_room.facility_id)
        == []
    )
    assert front_desk.operator_bookings(desk, days(0), days(9), facility_id=2**63) == []
    assert front_desk.operator_bookings(employee, days(0), days(9)) == []
    assert front_desk.operator_bookings(desk, days(4), days(4)) == []
    assert [r.unit_id for r in front_desk.operator_bookings(stranger, days(0), days(9))] == []
    assert front_desk.company_names([]) == {}


# --- history -------------------------------------------------------------------------


def test_the_history_tells_who_did_what_in_order(db, company, employee, room, desk):
    booking = book(db, employee, room, 1, 2)
    changes.change_booking(
        employee, booking.id, services.StayRequest(room.id, days(1), days(3), 1), NOW
    )
    db.session.commit()
    # A refused booking of the same employee is not a thing that happened to the stay.
    events.emit(events.BOOKING_REFUSED, NOW, user_id=employee.id, subject=("booking", booking.id))
    front_desk.check_in(desk, booking.id, at(1) + timedelta(hours=1))
    front_desk.check_out(desk, booking.id, at(3))
    db.session.commit()

    entries_ = front_desk.history(db.session.get(Booking, booking.id))

    assert [(e.type, e.by, e.actor_name) for e in entries_] == [
        (events.BOOKING_CREATED, "employee", employee.name),
        (events.BOOKING_CHANGED, "employee", employee.name),
        (events.BOOKING_CHECKED_IN, "operator", desk.name),
        (events.BOOKING_CHECKED_OUT, "operator", desk.name),
    ]
    assert entries_[1].data["old_check_out"] == days(2).isoformat()
    assert entries_[2].at == at(1) + timedelta(hours=1)


def test_the_history_of_a_stay_cancelled_for_the_guest(db, company, employee, room, desk):
    booking = book(db, employee, room, 5, 6)
    front_desk.cancel_for_guest(desk, booking.id, "Renovation", at(1))
    events.emit(events.STAY_REMINDER, at(1), user_id=employee.id, subject=("booking", booking.id))
    db.session.commit()

    entries_ = front_desk.history(db.session.get(Booking, booking.id))

    assert [(e.type, e.by, e.actor_name) for e in entries_] == [
        (events.BOOKING_CREATED, "employee", employee.name),
        (events.BOOKING_CANCELLED, "operator", desk.name),
        (events.STAY_REMINDER, "system", ""),
    ]
    assert entries_[1].data["refund"] == PRICE


def test_the_actions_offered_follow_the_day_and_the_state(db, employee, room, desk):
    booking = book(db, employee, room, 2, 4)
    offered = front_desk.allowed_actions

    assert offered(booking, days(1)) == {"cancel", "move"}
    assert offered(booking, days(2)) == {"check_in", "no_show", "cancel", "move"}
    assert offered(booking, days(3)) == {"check_in", "no_show"}  # begun: no refund now
    assert offered(booking, days(4)) == {"no_show"}
    front_desk.check_in(desk, booking.id, at(2))
    assert offered(booking, days(3)) == {"check_out", "move"}
    assert offered(booking, days(4)) == {"check_out", "move"}  # a day longer, on the last day
    assert offered(booking, days(5)) == {"check_out"}  # overdue: check out first
    front_desk.check_out(desk, booking.id, at(3))
    assert offered(booking, days(3)) == frozenset()


# --- what the guest reads of a stay at the front desk ---------------------------------


def test_the_guest_reads_why_a_stay_at_the_front_desk_is_not_cancelled_or_changed(
    db, client, login, make_user, make_unit, company, room, desk
):
    guest = make_user(Role.EMPLOYEE, company=company, locale="en")
    in_house = book(db, guest, room, 0, 2)
    front_desk.check_in(desk, in_house.id, NOW)
    gone = book(db, guest, make_unit(facility=room.facility), 0, 2)
    front_desk.check_in(desk, gone.id, NOW)
    front_desk.check_out(desk, gone.id, NOW)
    absent = book(db, guest, make_unit(facility=room.facility), 0, 1)
    front_desk.mark_no_show(desk, absent.id, NOW)
    cancelled = book(db, guest, room, 5, 6)
    cancellation.cancel_booking(guest, cancelled.id, NOW)
    db.session.commit()
    expected = {
        in_house.id: "You are checked in, so this stay can no longer be %s here."
        " Ask the facility's front desk.",
        gone.id: "This stay is over and can no longer be %s.",
        absent.id: "This stay was recorded as a no-show and can no longer be %s.",
    }

    login(guest)
    for booking_id, sentence in expected.items():
        page = client.get(f"/stays/{booking_id}/cancel").get_data(as_text=True)
        shown = page.split('data-testid="not-cancellable">')[1].split("</p>")[0]
        assert shown == sentence % "cancelled"
        with pytest.raises(services.BookingError) as caught:
            changes.quote_change(
                guest, booking_id, services.StayRequest(room.id, days(7), days(8), 1), NOW
            )
        assert (caught.value.code, english(caught.value.message)) == (
            "not_changeable",
            sentence % "changed",
        )
    page = client.get(f"/stays/{cancelled.id}/cancel").get_data(as_text=True)
    assert 'data-testid="not-cancellable">This stay was cancelled.</p>' in page

    # The API says the same to the guest's own systems.
    response = client.patch(
        f"/api/v1/bookings/{in_house.id}",
        json={"check_out": days(3).isoformat()},
        headers=bearer(db, guest),
    )
    assert response.status_code == 409  # the stay's state refuses it
    assert response.get_json()["error"] == {
        "code": "not_changeable",
        "message": expected[in_house.id] % "changed",
    }
