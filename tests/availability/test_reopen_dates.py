"""Reopening nights of one room: its closings there go, are trimmed or split; imported
events and direct stays stay; occupancy follows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from availability import blocks, direct
from availability.models import Block, BlockReason, BlockSource, ChangedNights, Occupancy
from booking import services as booking_services
from calendars.models import CalendarFeed
from tests.conftest import NOW, days


def held(db, unit_id) -> dict:
    """night → holding block id (bookings left out)."""
    return dict(
        db.session.execute(
            select(Occupancy.night, Occupancy.block_id).where(
                Occupancy.unit_id == unit_id, Occupancy.block_id.is_not(None)
            )
        ).all()
    )


def span(first: int, last: int) -> set:
    return {days(i) for i in range(first, last)}


def manual(db, unit_id) -> list[tuple]:
    rows = db.session.scalars(
        select(Block)
        .where(Block.unit_id == unit_id, Block.source == BlockSource.MANUAL)
        .order_by(Block.start_date)
    )
    return [(b.start_date, b.end_date, b.reason, b.note) for b in rows]


def close(operator, unit, first: int, last: int, note: str = "roof") -> Block:
    [block] = blocks.close_dates(
        operator, [unit], days(first), days(last), "maintenance", note, NOW
    )
    return block


def test_reopening_the_start_trims_the_closing(db, unit, operator):
    close(operator, unit, 3, 8)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(1), days(5), NOW) == 2
    db.session.commit()
    assert manual(db, unit.id) == [(days(5), days(8), "maintenance", "roof")]
    assert set(held(db, unit.id)) == span(5, 8)


def test_reopening_the_end_trims_the_closing(db, unit, operator):
    close(operator, unit, 3, 8)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(6), days(20), NOW) == 2
    db.session.commit()
    assert manual(db, unit.id) == [(days(3), days(6), "maintenance", "roof")]
    assert set(held(db, unit.id)) == span(3, 6)


def test_reopening_the_middle_splits_the_closing(db, unit, operator, make_user):
    close(operator, unit, 3, 10)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(5), days(7), NOW) == 2
    db.session.commit()
    assert manual(db, unit.id) == [
        (days(3), days(5), "maintenance", "roof"),
        (days(7), days(10), "maintenance", "roof"),
    ]
    assert set(held(db, unit.id)) == span(3, 5) | span(7, 10)
    queued = {(q.start_date, q.end_date) for q in db.session.scalars(select(ChangedNights))}
    assert (days(5), days(7)) in queued
    # The reopened nights can be booked; the rest cannot.
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, days(5), days(7), 1), NOW
    )
    with pytest.raises(booking_services.BookingConflict):
        booking_services.book_stay(
            make_user(), booking_services.StayRequest(unit.id, days(6), days(8), 1), NOW
        )


def test_reopening_a_whole_closing_removes_it(db, unit, operator):
    close(operator, unit, 3, 5)
    close(operator, unit, 8, 9, note="")
    db.session.commit()
    assert blocks.reopen_dates(unit, days(2), days(10), NOW) == 3
    db.session.commit()
    assert manual(db, unit.id) == [] and held(db, unit.id) == {}


def test_overlapping_closings_count_each_night_once(db, unit, operator):
    close(operator, unit, 3, 6)
    close(operator, unit, 4, 8)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(0), days(10), NOW) == 5
    db.session.commit()
    assert held(db, unit.id) == {}


def test_nothing_closed_reopens_nothing(db, unit, operator):
    close(operator, unit, 10, 12)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(1), days(10), NOW) == 0
    assert blocks.reopen_dates(unit, days(12), days(20), NOW) == 0
    assert manual(db, unit.id) == [(days(10), days(12), "maintenance", "roof")]


def test_reversed_dates_are_refused(db, unit):
    with pytest.raises(blocks.BlockError) as refused:
        blocks.reopen_dates(unit, days(5), days(5), NOW)
    assert refused.value.code == "dates_order"


def test_nights_before_today_stay_closed(db, unit, operator):
    block = close(operator, unit, 0, 4)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(-5), days(2), NOW) == 2
    db.session.commit()
    assert manual(db, unit.id) == [(days(2), days(4), "maintenance", "roof")]
    assert blocks.reopen_dates(unit, days(-5), days(0), NOW) == 0
    assert db.session.get(Block, block.id) is not None


def test_the_rest_of_a_facility_closing_is_left_alone(db, unit, operator, make_unit):
    other = make_unit(facility=unit.facility)
    made = blocks.close_dates(operator, [unit, other], days(3), days(6), "private_use", "", NOW)
    db.session.commit()
    assert blocks.reopen_dates(unit, days(3), days(4), NOW) == 1
    db.session.commit()
    assert set(held(db, unit.id)) == span(4, 6)
    assert set(held(db, other.id)) == span(3, 6)
    mine, theirs = (db.session.get(Block, b.id) for b in made)
    assert mine.group_key is None  # its dates are its own now
    assert theirs.group_key is not None
    # Reopening the other room's closing no longer reopens this room's rest.
    assert blocks.remove_block(theirs, days(0)) == 1
    db.session.commit()
    assert set(held(db, unit.id)) == span(4, 6) and held(db, other.id) == {}


def test_imported_blocks_and_direct_stays_are_untouched(db, unit, operator):
    feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://example.com/a.ics")
    db.session.add(feed)
    db.session.flush()
    imported = Block(
        unit_id=unit.id,
        start_date=days(4),
        end_date=days(9),
        source=BlockSource.IMPORT,
        reason=BlockReason.EXTERNAL,
        feed_id=feed.id,
        event_key="uid-1",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(imported)
    db.session.flush()
    blocks.reconcile_unit(unit.id, days(0))
    walk_in = direct.record_direct_stay(
        operator,
        unit,
        days(10),
        days(12),
        guest_name="山田",
        guests=1,
        nightly_price=0,
        note="",
        now=NOW,
    )
    closing = close(operator, unit, 2, 7)  # shares 4..6 with the imported event
    db.session.commit()
    assert held(db, unit.id)[days(2)] == closing.id

    assert blocks.reopen_dates(unit, days(0), days(20), NOW) == 5
    db.session.commit()
    assert db.session.get(Block, closing.id) is None
    # The imported event takes the nights it wanted; the direct stay keeps its own.
    assert held(db, unit.id) == {
        **{night: imported.id for night in span(4, 9)},
        **{night: walk_in.block.id for night in span(10, 12)},
    }
