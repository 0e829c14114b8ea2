"""Closed dates: a block claims nights like a booking, and never takes a booked night."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from accounts.models import User
from availability import blocks
from availability.models import Block, Occupancy
from booking import services as booking_services
from booking.models import Booking
from core.extensions import db as _db
from facilities.models import Unit
from tests.booking.test_race import race
from tests.conftest import NOW, TODAY, days


def claimed(db, unit_id, kind="block") -> set:
    column = Occupancy.block_id if kind == "block" else Occupancy.booking_id
    return set(
        db.session.scalars(
            select(Occupancy.night).where(Occupancy.unit_id == unit_id, column.is_not(None))
        )
    )


def span(first: int, last: int) -> set:
    return {days(i) for i in range(first, last)}


def test_closing_dates_claims_the_nights(db, unit, operator, make_user):
    blocks.close_dates(operator, [unit], days(3), days(6), "maintenance", "roof", NOW)
    db.session.commit()
    assert claimed(db, unit.id) == span(3, 6)
    with pytest.raises(booking_services.BookingConflict):
        booking_services.book_stay(
            make_user(), booking_services.StayRequest(unit.id, days(5), days(8), 1), NOW
        )


def test_closing_a_whole_facility_blocks_every_unit(db, unit, operator, make_unit):
    other = make_unit(facility=unit.facility)
    made = blocks.close_dates(operator, [unit, other], days(3), days(5), "private_use", "", NOW)
    db.session.commit()
    assert len({b.group_key for b in made}) == 1 and made[0].group_key
    assert claimed(db, unit.id) == claimed(db, other.id) == span(3, 5)
    # Reopening one reopens the group.
    assert blocks.remove_block(made[0], TODAY) == 2
    db.session.commit()
    assert claimed(db, unit.id) == claimed(db, other.id) == set()


def test_booked_nights_refuse_the_block_and_change_nothing(db, unit, operator, make_user):
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(4), days(6), 1), NOW
    )
    db.session.commit()
    with pytest.raises(blocks.BlockError) as refused:
        blocks.close_dates(operator, [unit], days(1), days(10), "maintenance", "", NOW)
    assert refused.value.code == "booked"
    message = str(refused.value.message)  # names the booked nights (Japanese by default)
    assert "2026/12/05" in message and "2026/12/06" in message
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0
    assert claimed(db, unit.id) == set()
    assert claimed(db, unit.id, "booking") == span(4, 6)


@pytest.mark.parametrize(
    ("first", "last", "reason", "code"),
    [
        (5, 5, "maintenance", "dates_order"),
        (6, 5, "maintenance", "dates_order"),
        (-1, 3, "maintenance", "past"),
        (1, 400, "maintenance", "too_long"),
        (1, 3, "external", "reason"),
        (1, 3, "", "reason"),
    ],
)
def test_bad_ranges_are_refused(db, unit, operator, first, last, reason, code):
    with pytest.raises(blocks.BlockError) as refused:
        blocks.close_dates(operator, [unit], days(first), days(last), reason, "", NOW)
    assert refused.value.code == code


def test_overlapping_blocks_share_nights_and_hand_them_over(db, unit, operator):
    first = blocks.close_dates(operator, [unit], days(3), days(6), "maintenance", "", NOW)[0]
    blocks.close_dates(operator, [unit], days(5), days(8), "private_use", "", NOW)
    db.session.commit()
    assert claimed(db, unit.id) == span(3, 8)
    blocks.remove_block(first, TODAY)
    db.session.commit()
    assert claimed(db, unit.id) == span(5, 8)  # night 5 passed to the second block


def test_reconcile_repairs_then_changes_nothing(db, unit, operator):
    (block,) = blocks.close_dates(operator, [unit], days(3), days(6), "maintenance", "", NOW)
    db.session.commit()
    # Out of step: one held night lost, and the block now wants one night more.
    db.session.execute(delete(Occupancy).where(Occupancy.night == days(4)))
    block.end_date = days(7)
    db.session.commit()
    blocks.reconcile_unit(unit.id, TODAY)
    db.session.commit()
    assert claimed(db, unit.id) == span(3, 7)
    before = db.session.execute(select(Occupancy.id, Occupancy.night, Occupancy.block_id)).all()
    blocks.reconcile_unit(unit.id, TODAY)
    db.session.commit()
    after = db.session.execute(select(Occupancy.id, Occupancy.night, Occupancy.block_id)).all()
    assert before == after


def test_closing_and_booking_race_one_wins(app, db, unit, operator, make_user):
    """12 threads book the nights while 12 close them: never both on one night."""
    guest_ids = [make_user().id for _ in range(12)]
    unit_id, operator_id = unit.id, operator.id
    db.session.close()  # on SQLite an open transaction would hold the write lock

    def work(i: int, barrier):
        with app.app_context():
            try:
                barrier.wait()  # nothing read before: a read would take SQLite's write lock
                if i < 12:
                    user = _db.session.get(User, guest_ids[i])
                    try:
                        booking_services.book_stay(
                            user, booking_services.StayRequest(unit_id, days(10), days(13), 1), NOW
                        )
                    except booking_services.BookingConflict:
                        _db.session.rollback()
                        return "taken"
                    _db.session.commit()
                    return "booked"
                actor = _db.session.get(User, operator_id)
                try:
                    blocks.close_dates(
                        actor,
                        [_db.session.get(Unit, unit_id)],
                        days(11),
                        days(12),
                        "maintenance",
                        "",
                        NOW,
                    )
                except blocks.BlockError:
                    _db.session.rollback()
                    return "refused"
                _db.session.commit()
                return "closed"
            finally:
                _db.session.remove()

    outcomes = race(24, work)
    assert all(isinstance(o, str) for o in outcomes), outcomes
    night = db.session.execute(
        select(Occupancy.booking_id, Occupancy.block_id).where(
            Occupancy.unit_id == unit_id, Occupancy.night == days(11)
        )
    ).all()
    assert len(night) == 1  # exactly one claimant for the contested night
    bookings = db.session.scalar(select(func.count()).select_from(Booking))
    if "booked" in outcomes:
        assert outcomes.count("booked") == 1 and bookings == 1
        assert "closed" not in outcomes and night[0].booking_id is not None
    else:
        assert "closed" in outcomes and night[0].block_id is not None and bookings == 0
