"""booking.workspace and booking.workspace_checkin: the rules behind the workspace API.

The employee's monthly workspace hours, the stay credit spent and given back, a series
booked all or nothing, check-in at the desk and the release of booked-but-empty desks.
The clock is passed in (tests.conftest.NOW: Tuesday 1 December 2026, 12:00 in Tokyo);
every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from availability.workspace import (
    SlotHold,
    SlotTaken,
    WorkspaceBlock,
    WorkspaceBlockSource,
    is_free,
)
from billing import ledger
from billing.models import CreditEntry
from booking.services import BookingError
from booking.workspace import (
    WorkspaceRequest,
    book_workspace,
    bookings_of,
    cancel_workspace,
    minutes_booked,
)
from booking.workspace_change import change_workspace
from booking.workspace_checkin import check_in, release_no_shows
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from booking.workspace_search import day_view
from calendars.workspace_models import WorkspaceFeed
from core.errors import RuleError
from tests.booking.workspace_helpers import (
    THURSDAY,
    TUESDAY,
    WEDNESDAY,
    at,
    make_space,
    workspace_entries,
)
from tests.conftest import NOW


@pytest.fixture
def desk(db, make_facility):
    return make_space(db, make_facility(kind="office"))


@pytest.fixture
def employee(make_employee):
    return make_employee()


def book(actor, desk, start, end, now=NOW, **kw) -> WorkspaceBooking:
    (booking,) = book_workspace(actor, [WorkspaceRequest(desk.id, start, end)], now, **kw)
    return booking


def balance(db, company_id: int) -> int:
    return ledger.account_of(company_id).credit_balance


# -- the employee's monthly hours ----------------------------------------------------------


def test_the_monthly_hours_cap_refuses_time_beyond_it(db, make_company, make_employee, desk):
    company = make_company(max_workspace_hours_per_month=2)
    actor = make_employee(company=company)
    first = book(actor, desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    db.session.commit()

    with pytest.raises(BookingError) as refused:
        book(actor, desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))
    db.session.rollback()

    assert refused.value.code == "policy_workspace_month"
    # Exactly up to the cap is allowed.
    book(actor, desk, at(WEDNESDAY, 10), at(WEDNESDAY, 10, 30))
    db.session.commit()
    assert minutes_booked(actor.id, TUESDAY.replace(day=1)) == 120
    # Time given back no longer counts: cancelling frees an hour and a half of the cap.
    cancel_workspace(first, NOW, actor)
    db.session.commit()
    book(actor, desk, at(THURSDAY, 10), at(THURSDAY, 11, 30))
    db.session.commit()
    assert minutes_booked(actor.id, TUESDAY.replace(day=1)) == 120


def test_the_cap_counts_each_month_apart(db, make_company, make_employee, desk):
    company = make_company(max_workspace_hours_per_month=1)
    actor = make_employee(company=company)
    book(actor, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    january = TUESDAY.replace(year=2027, month=1, day=5)  # a Tuesday, no holiday
    book(actor, desk, at(january, 10), at(january, 11))
    db.session.commit()
    assert [b.starts_at for b in bookings_of(actor)] == [at(TUESDAY, 10), at(january, 10)]


# -- the stay credit ------------------------------------------------------------------------


def test_booking_spends_the_credit_and_cancelling_returns_it_by_policy(db, employee, desk):
    before = balance(db, employee.company_id)
    early = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    late = book(employee, desk, at(TUESDAY, 14), at(TUESDAY, 15))
    db.session.commit()
    assert balance(db, employee.company_id) == before - 3000

    # More than 24 hours ahead: everything back; within 24 hours: half.
    assert cancel_workspace(early, NOW, employee) == 2000
    assert cancel_workspace(late, at(TUESDAY, 9), employee) == 500
    db.session.commit()

    assert workspace_entries(db, early.id) == [("spend", -2000), ("refund", 2000)]
    assert workspace_entries(db, late.id) == [("spend", -1000), ("refund", 500)]
    assert balance(db, employee.company_id) == before - 500
    assert (early.status, early.refunded, late.refunded) == (WorkspaceStatus.CANCELLED, 2000, 500)
    # Workspace entries never name a stay.
    assert (
        db.session.scalar(
            select(func.count()).where(
                CreditEntry.workspace_booking_id.is_not(None), CreditEntry.booking_id.is_not(None)
            )
        )
        == 0
    )


def test_a_started_booking_cannot_be_cancelled(db, employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    db.session.commit()
    with pytest.raises(BookingError) as refused:
        cancel_workspace(booking, at(TUESDAY, 10), employee)
    db.session.rollback()
    assert refused.value.code == "not_cancellable"
    assert not is_free(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))


def test_a_company_without_credit_books_nothing(db, make_company, make_employee, desk):
    actor = make_employee(company=make_company(credit=400))
    with pytest.raises(ledger.CreditRefused) as refused:
        book(actor, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    db.session.rollback()
    assert refused.value.code == "credit"
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 0
    assert is_free(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))


# -- a series: all or nothing ---------------------------------------------------------------


def test_a_series_is_booked_together(db, employee, desk):
    days = (TUESDAY, WEDNESDAY, THURSDAY)
    requests = [WorkspaceRequest(desk.id, at(day, 9), at(day, 18)) for day in days]
    bookings = book_workspace(employee, requests, NOW)
    db.session.commit()
    assert [b.starts_at for b in bookings] == [at(day, 9) for day in days]
    assert len({b.series_key for b in bookings}) == 1 and bookings[0].series_key
    assert [workspace_entries(db, b.id) for b in bookings] == [[("spend", -9000)]] * 3


def test_a_series_with_one_day_taken_books_none(db, employee, make_employee, desk):
    other = make_employee()
    book(other, desk, at(THURSDAY, 11), at(THURSDAY, 12))
    db.session.commit()
    before = balance(db, employee.company_id)
    requests = [
        WorkspaceRequest(desk.id, at(day, 9), at(day, 18)) for day in (TUESDAY, WEDNESDAY, THURSDAY)
    ]

    with pytest.raises(SlotTaken):
        book_workspace(employee, requests, NOW)
    db.session.rollback()

    assert bookings_of(employee) == []
    assert is_free(desk.id, at(TUESDAY, 9), at(TUESDAY, 18))
    assert is_free(desk.id, at(WEDNESDAY, 9), at(WEDNESDAY, 18))
    assert db.session.scalar(select(func.count()).select_from(SlotHold)) == 1  # the other's
    assert balance(db, employee.company_id) == before


def test_a_series_breaking_a_rule_on_one_day_books_none(db, employee, desk):
    saturday = THURSDAY + timedelta(days=2)
    requests = [WorkspaceRequest(desk.id, at(day, 10), at(day, 11)) for day in (TUESDAY, saturday)]
    with pytest.raises(RuleError) as refused:  # SlotError
        book_workspace(employee, requests, NOW)
    db.session.rollback()
    assert refused.value.code == "outside_hours"
    assert bookings_of(employee) == []


# -- check-in and the release of no-shows --------------------------------------------------


def test_a_no_show_is_released_and_the_unused_time_refunded(db, employee, make_employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()
    booking_id = booking.id

    # Not yet due (30 minutes after the start): nothing moves.
    release_no_shows(at(TUESDAY, 10, 29))
    assert db.session.get(WorkspaceBooking, booking_id).status == WorkspaceStatus.CONFIRMED

    release_no_shows(at(TUESDAY, 10, 31))

    db.session.expire_all()
    booking = db.session.get(WorkspaceBooking, booking_id)
    # Given back from the next slot boundary (11:00): an hour of two, 1,000 yen.
    assert (booking.status, booking.refunded) == (WorkspaceStatus.NO_SHOW, 1000)
    assert booking.released_at == at(TUESDAY, 10, 31)
    assert workspace_entries(db, booking_id) == [("spend", -2000), ("refund", 1000)]
    assert is_free(desk.id, at(TUESDAY, 11), at(TUESDAY, 12))
    assert not is_free(desk.id, at(TUESDAY, 10, 30), at(TUESDAY, 11))
    (unit_day,) = day_view([desk], TUESDAY, at(TUESDAY, 10, 31))
    free = [s.start for s in unit_day.slots if s.available]
    assert free[0] == at(TUESDAY, 11)
    # Somebody else takes the time given back; the job run again changes nothing.
    book(make_employee(), desk, at(TUESDAY, 11), at(TUESDAY, 12), now=at(TUESDAY, 10, 40))
    db.session.commit()
    release_no_shows(at(TUESDAY, 10, 45))
    assert workspace_entries(db, booking_id) == [("spend", -2000), ("refund", 1000)]
    # Too late to check in now.
    with pytest.raises(BookingError) as refused:
        check_in(employee, booking_id, at(TUESDAY, 10, 50))
    assert refused.value.code == "released"


def test_a_checked_in_booking_is_not_released(db, employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()
    booking_id = booking.id

    check_in(employee, booking_id, at(TUESDAY, 10, 5))
    db.session.commit()
    release_no_shows(at(TUESDAY, 11))

    db.session.expire_all()
    booking = db.session.get(WorkspaceBooking, booking_id)
    assert (booking.status, booking.refunded) == (WorkspaceStatus.CHECKED_IN, 0)
    assert booking.checked_in_at == at(TUESDAY, 10, 5)
    assert not is_free(desk.id, at(TUESDAY, 11), at(TUESDAY, 12))
    assert workspace_entries(db, booking_id) == [("spend", -2000)]


def test_a_unit_that_never_releases_keeps_its_no_shows(db, make_facility, employee):
    desk = make_space(db, make_facility(kind="office"), release_after_minutes=0)
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()
    release_no_shows(at(TUESDAY, 11, 30))
    db.session.expire_all()
    assert db.session.get(WorkspaceBooking, booking.id).status == WorkspaceStatus.CONFIRMED


def test_check_in_opens_15_minutes_before_the_start(db, employee, make_employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()

    with pytest.raises(BookingError) as refused:
        check_in(employee, booking.id, at(TUESDAY, 9, 44))
    db.session.rollback()
    assert refused.value.code == "too_early"
    # Somebody else's booking is not theirs to check in.
    with pytest.raises(BookingError) as foreign:
        check_in(make_employee(), booking.id, at(TUESDAY, 9, 50))
    db.session.rollback()
    assert foreign.value.code == "not_found"

    checked = check_in(employee, booking.id, at(TUESDAY, 9, 45))
    assert (checked.status, checked.checked_in_at) == (
        WorkspaceStatus.CHECKED_IN,
        at(TUESDAY, 9, 45),
    )
    # Checking in again is harmless.
    assert check_in(employee, booking.id, at(TUESDAY, 10)).checked_in_at == at(TUESDAY, 9, 45)


def test_a_cancelled_booking_cannot_be_checked_in(db, employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    cancel_workspace(booking, NOW, employee)
    db.session.commit()
    with pytest.raises(BookingError) as refused:
        check_in(employee, booking.id, at(TUESDAY, 10))
    assert refused.value.code == "released"


def waiting_event(db, desk, start, end) -> WorkspaceBlock:
    """An event of an imported calendar over time a booking holds: a conflict, unheld."""
    feed = WorkspaceFeed(unit_id=desk.id, label="Google", url="https://calendar.example/x.ics")
    db.session.add(feed)
    db.session.flush()
    block = WorkspaceBlock(
        unit_id=desk.id, starts_at=start, ends_at=end, source=WorkspaceBlockSource.IMPORT,
        feed_id=feed.id, event_key="meeting", held=False,
    )  # fmt: skip
    db.session.add(block)
    db.session.commit()
    return block


def block_holds(db, block_id: int) -> list[tuple]:
    return [
        (hold.starts_at, hold.ends_at)
        for hold in db.session.scalars(select(SlotHold).where(SlotHold.block_id == block_id))
    ]


def test_a_cancelled_booking_hands_its_time_to_an_imported_event_at_once(db, employee, desk):
    """The meeting room is also booked in the operator's Google Calendar over an Engawa
    booking: when the booking goes, the event holds the time without waiting for the next
    sync, so nobody else books it in between."""
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    db.session.commit()
    block = waiting_event(db, desk, at(TUESDAY, 10, 30), at(TUESDAY, 12))

    cancel_workspace(booking, NOW, employee)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(WorkspaceBlock, block.id).held
    assert block_holds(db, block.id) == [(at(TUESDAY, 10, 30), at(TUESDAY, 12))]
    assert is_free(desk.id, at(TUESDAY, 10), at(TUESDAY, 10, 30))  # before the event
    with pytest.raises(SlotTaken):
        book(employee, desk, at(TUESDAY, 11), at(TUESDAY, 11, 30))


def test_a_released_no_show_hands_its_time_to_an_imported_event(db, employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 12))
    db.session.commit()
    block = waiting_event(db, desk, at(TUESDAY, 11), at(TUESDAY, 13))

    release_no_shows(at(TUESDAY, 10, 31))

    db.session.expire_all()
    assert db.session.get(WorkspaceBooking, booking.id).status == WorkspaceStatus.NO_SHOW
    assert db.session.get(WorkspaceBlock, block.id).held
    assert block_holds(db, block.id) == [(at(TUESDAY, 11), at(TUESDAY, 13))]


def test_a_changed_booking_hands_its_old_time_to_an_imported_event(db, employee, desk):
    booking = book(employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    db.session.commit()
    block = waiting_event(db, desk, at(TUESDAY, 10), at(TUESDAY, 11))

    change_workspace(employee, booking.id, desk.id, at(WEDNESDAY, 10), at(WEDNESDAY, 11), NOW)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(WorkspaceBlock, block.id).held
    assert block_holds(db, block.id) == [(at(TUESDAY, 10), at(TUESDAY, 11))]
