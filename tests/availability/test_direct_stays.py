"""Direct stays (walk-ins, phone bookings): recorded by the operator, they hold every
night of their room or are refused whole; cancelling one gives the nights back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability import blocks, direct
from availability.models import (
    Block,
    BlockReason,
    BlockSource,
    ChangedNights,
    DirectStay,
    Occupancy,
)
from booking import services as booking_services
from calendars.models import CalendarFeed
from core.i18n import format_day
from tests.conftest import NOW, days


def holders(db, unit_id) -> dict:
    """night → ("booking", id) or (block source, block id), for the unit."""
    rows = db.session.execute(
        select(Occupancy.night, Occupancy.booking_id, Block.source, Block.id)
        .outerjoin(Block, Block.id == Occupancy.block_id)
        .where(Occupancy.unit_id == unit_id)
    )
    return {
        night: ("booking", booking_id) if booking_id else (source, block_id)
        for night, booking_id, source, block_id in rows
    }


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def record(operator, unit, first: int, last: int, **kw):
    values = {"guest_name": "山田 太郎", "guests": 2, "nightly_price": 12000, "note": ""}
    values.update(kw)
    return direct.record_direct_stay(operator, unit, days(first), days(last), now=NOW, **values)


def imported_block(db, unit, first: int, last: int) -> Block:
    """An external calendar's event wanting nights [first, last) of the unit."""
    feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://example.com/a.ics")
    db.session.add(feed)
    db.session.flush()
    block = Block(
        unit_id=unit.id,
        start_date=days(first),
        end_date=days(last),
        source=BlockSource.IMPORT,
        reason=BlockReason.EXTERNAL,
        feed_id=feed.id,
        event_key=f"uid-{feed.id}",
        summary="Reserved",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(block)
    db.session.flush()
    blocks.reconcile_unit(unit.id, days(0))
    db.session.commit()
    return block


def test_a_direct_stay_holds_every_night(db, unit, operator, make_user):
    stay = record(operator, unit, 2, 5, guest_name="  山田 太郎  ", note=" walked in ")
    db.session.commit()
    assert (stay.guest_name, stay.guests, stay.nightly_price, stay.note) == (
        "山田 太郎",
        2,
        12000,
        "walked in",
    )
    block = stay.block
    assert (block.source, block.reason, block.created_by_id) == ("direct", "direct", operator.id)
    assert (block.start_date, block.end_date, block.unit_id) == (days(2), days(5), unit.id)
    assert holders(db, unit.id) == {days(i): ("direct", block.id) for i in (2, 3, 4)}
    queued = db.session.scalars(select(ChangedNights)).all()
    assert [(q.facility_id, q.start_date, q.end_date) for q in queued] == [
        (unit.facility_id, days(2), days(5))
    ]
    # Nobody can book those nights now.
    with pytest.raises(booking_services.BookingConflict):
        booking_services.book_stay(
            make_user(), booking_services.StayRequest(unit.id, days(4), days(6), 1), NOW
        )


def test_a_walk_in_recorded_late_may_start_in_the_past(db, unit, operator):
    stay = record(operator, unit, -2, 1)
    db.session.commit()
    assert set(holders(db, unit.id)) == {days(-2), days(-1), days(0)}
    assert stay.block.start_date == days(-2)


@pytest.mark.parametrize("taker", ["booking", "closing", "direct", "imported"])
def test_a_taken_night_refuses_the_whole_stay(db, unit, operator, make_user, taker):
    if taker == "booking":
        booking_services.book_stay(
            make_user(), booking_services.StayRequest(unit.id, days(4), days(5), 1), NOW
        )
    elif taker == "closing":
        blocks.close_dates(operator, [unit], days(4), days(5), "maintenance", "", NOW)
    elif taker == "direct":
        record(operator, unit, 4, 5, guest_name="先客")
    else:
        imported_block(db, unit, 4, 5)
    db.session.commit()
    before = holders(db, unit.id)
    counts = (count(db, Block), count(db, DirectStay), count(db, ChangedNights))

    with pytest.raises(blocks.BlockError) as refused:
        record(operator, unit, 2, 6)
    assert refused.value.code == "taken"
    assert "2026年12月5日" in str(refused.value.message)  # the first taken night, named
    db.session.rollback()
    assert holders(db, unit.id) == before
    assert (count(db, Block), count(db, DirectStay), count(db, ChangedNights)) == counts


def test_a_night_taken_in_between_is_refused_by_the_database(db, unit, operator, monkeypatch):
    """The check before writing saw the nights free; the strict insert still refuses."""
    blocks.close_dates(operator, [unit], days(3), days(4), "maintenance", "", NOW)
    db.session.commit()
    monkeypatch.setattr(direct, "_refuse_taken", lambda unit, nights: None)
    with pytest.raises(blocks.BlockError) as refused:
        record(operator, unit, 1, 5)
    assert refused.value.code == "taken"
    assert "2026年12月4日" in str(refused.value.message)
    db.session.rollback()
    assert count(db, DirectStay) == 0
    assert set(holders(db, unit.id)) == {days(3)}


def test_another_organisations_room_is_refused(db, unit, make_user, make_unit):
    stranger = make_user(Role.OPERATOR)
    employee = make_user()
    for actor in (stranger, employee):
        with pytest.raises(blocks.BlockError) as refused:
            record(actor, unit, 1, 3)
        assert refused.value.code == "not_found"
    assert count(db, Block) == 0 and holders(db, unit.id) == {}


@pytest.mark.parametrize(
    ("first", "last", "changes", "code"),
    [
        (3, 3, {}, "dates_order"),
        (4, 3, {}, "dates_order"),
        (-3, 0, {}, "past"),
        (0, 367, {}, "too_long"),
        (1, 2, {"guests": 0}, "guests"),
        (1, 2, {"guests": 3}, "guests"),  # the room sleeps 2
        (1, 2, {"guest_name": "   "}, "guest_name"),
        (1, 2, {"guest_name": "x" * 101}, "guest_name"),
        (1, 2, {"nightly_price": -1}, "price"),
        (1, 2, {"nightly_price": 10_000_001}, "price"),
        (1, 2, {"note": "x" * 301}, "note"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(db, unit, operator, first, last, changes, code):
    with pytest.raises(blocks.BlockError) as refused:
        record(operator, unit, first, last, **changes)
    assert refused.value.code == code
    assert str(refused.value.message)
    assert count(db, Block) == 0 and count(db, DirectStay) == 0 and holders(db, unit.id) == {}


def test_the_edges_of_the_rules_are_allowed(db, unit, operator):
    stay = record(operator, unit, 0, 366, guest_name="x" * 100, nightly_price=0, note="x" * 300)
    db.session.commit()
    assert stay.block.night_count == 366 and len(holders(db, unit.id)) == 366


def test_a_closed_room_is_refused(db, unit, operator):
    unit.active = False
    db.session.commit()
    with pytest.raises(blocks.BlockError) as refused:
        record(operator, unit, 1, 2)
    assert refused.value.code == "inactive"


def test_cancel_frees_the_nights_and_an_imported_block_takes_them(db, unit, operator, make_user):
    stay = record(operator, unit, 2, 6)
    db.session.commit()
    wanting = imported_block(db, unit, 4, 8)  # arrived after: holds only 6 and 7
    assert holders(db, unit.id)[days(4)] == ("direct", stay.block.id)
    assert holders(db, unit.id)[days(6)] == ("import", wanting.id)
    block_id = stay.block.id

    direct.cancel_direct_stay(stay, NOW)
    db.session.commit()
    assert db.session.get(Block, block_id) is None and count(db, DirectStay) == 0
    assert holders(db, unit.id) == {days(i): ("import", wanting.id) for i in range(4, 8)}
    queued = {(q.start_date, q.end_date) for q in db.session.scalars(select(ChangedNights))}
    assert (days(2), days(6)) in queued
    # The nights nobody wants may be booked again.
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(2), days(4), 1), NOW
    )
    db.session.commit()


def test_an_imported_event_over_a_direct_stay_does_not_take_its_nights(db, unit, operator):
    stay = record(operator, unit, 2, 4)
    db.session.commit()
    imported_block(db, unit, 1, 5)
    blocks.reconcile_unit(unit.id, days(0))
    assert holders(db, unit.id)[days(2)] == ("direct", stay.block.id)
    assert holders(db, unit.id)[days(3)] == ("direct", stay.block.id)


def test_a_closing_over_a_direct_stay_is_refused(db, unit, operator, make_unit):
    stay = record(operator, unit, 3, 5)
    db.session.commit()
    other = make_unit(facility=unit.facility)
    with pytest.raises(blocks.BlockError) as refused:
        blocks.close_dates(operator, [unit, other], days(1), days(10), "maintenance", "", NOW)
    assert refused.value.code == "direct"
    message = str(refused.value.message)
    assert "2026/12/04" in message and "2026/12/05" in message
    assert "山田" not in message  # the guest's name is the operator's alone
    db.session.rollback()
    assert count(db, Block) == 1
    assert holders(db, unit.id) == {days(i): ("direct", stay.block.id) for i in (3, 4)}
    assert holders(db, other.id) == {}


def test_a_direct_block_is_not_reopened_as_a_closing(db, unit, operator):
    stay = record(operator, unit, 3, 5)
    db.session.commit()
    with pytest.raises(blocks.BlockError) as refused:
        blocks.remove_block(stay.block, days(0))
    assert refused.value.code == "direct"
    assert blocks.reopen_dates(unit, days(0), days(10), NOW) == 0
    assert len(holders(db, unit.id)) == 2


def test_operator_direct_stay_is_walled(db, unit, operator, make_user):
    stay = record(operator, unit, 3, 5)
    db.session.commit()
    assert direct.operator_direct_stay(operator, stay.id) is stay
    assert direct.operator_direct_stay(make_user(Role.OPERATOR), stay.id) is None
    assert direct.operator_direct_stay(make_user(), stay.id) is None
    for missing in (stay.id + 1, 0, -1, 2**63):
        assert direct.operator_direct_stay(operator, missing) is None


# --- removing: only a stay not yet begun ---------------------------------------------------

EARLIER = NOW - timedelta(days=5)  # when stays that have begun by now were recorded


@pytest.mark.parametrize(
    ("first", "last", "code"),
    [(-3, 0, "past"), (-3, -1, "past"), (-1, 2, "begun"), (-1, 1, "begun")],
)
def test_a_past_or_begun_direct_stay_is_kept(db, unit, operator, first, last, code):
    stay = direct.record_direct_stay(
        operator,
        unit,
        days(first),
        days(last),
        guest_name="山田 太郎",
        guests=1,
        nightly_price=0,
        note="",
        now=EARLIER,
    )
    db.session.commit()
    before = holders(db, unit.id)

    with pytest.raises(blocks.BlockError) as refused:
        direct.cancel_direct_stay(stay, NOW)

    assert refused.value.code == code
    message = str(refused.value.message)
    assert message and (code == "past" or format_day(days(first)) in message)
    db.session.rollback()
    assert count(db, DirectStay) == 1 and holders(db, unit.id) == before


def test_a_direct_stay_beginning_today_may_be_removed(db, unit, operator):
    stay = record(operator, unit, 0, 2)
    db.session.commit()
    direct.cancel_direct_stay(stay, NOW)
    db.session.commit()
    assert count(db, DirectStay) == 0 and holders(db, unit.id) == {}
