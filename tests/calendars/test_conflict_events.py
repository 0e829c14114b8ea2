"""A calendar conflict is news for the operator: one ``calendar.conflict`` event per conflict
found, in the sync's own transaction; never again for the same conflict seen on the next
sync, and none for an echo of our own stay or a feed that failed.

Feeds come from a real HTTP server on 127.0.0.1; the sync job runs as the scheduler runs it.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from accounts.events import CALENDAR_CONFLICT, Event
from booking import services as booking_services
from calendars import feeds
from calendars.models import CalendarConflict
from tests.calendars.test_calendar_sync import AIRBNB, add, sync
from tests.conftest import NOW

pytestmark = pytest.mark.usefixtures("sync_config")

# A channel's guest over 12-07 … 12-10 (and a closed period 12-20 … 12-24).
GUEST = AIRBNB


def conflict_events(db) -> list[Event]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Event).where(Event.type == CALENDAR_CONFLICT).order_by(Event.id))
    )


def book(make_user, unit, check_in: str, check_out: str):
    return booking_services.book_stay(
        make_user(),
        booking_services.StayRequest(
            unit.id, date.fromisoformat(check_in), date.fromisoformat(check_out), 1
        ),
        NOW,
    )


def test_a_new_conflict_is_one_event_for_the_operator(db, unit, feed_server, make_user):
    booking = book(make_user, unit, "2026-12-08", "2026-12-12")
    db.session.commit()
    add(db, unit, feed_server.serve("/airbnb.ics", GUEST))

    assert "1 open conflicts" in sync(db)

    conflict = db.session.scalar(select(CalendarConflict))
    [event] = conflict_events(db)
    assert event.operator_id == unit.facility.operator_id
    assert (event.subject_type, event.subject_id) == ("conflict", conflict.id)
    assert conflict.booking_id == booking.id
    assert event.facts == {}
    assert event.company_id is None and event.user_id is None
    assert event.created_at == NOW and event.dispatched_at is None


def test_the_same_conflict_seen_again_is_not_news(db, unit, feed_server, make_user):
    book(make_user, unit, "2026-12-08", "2026-12-12")
    db.session.commit()
    url = feed_server.serve("/airbnb.ics", GUEST, etag='"v1"')
    add(db, unit, url)
    sync(db)
    assert len(conflict_events(db)) == 1

    # Not modified (the conflict is looked at again), then the same event re-sent with
    # other bytes (a new summary, a new sync of the whole feed), the next day too.
    assert "1 open conflicts" in sync(db, now=NOW + timedelta(minutes=15))
    feed_server.serve("/airbnb.ics", GUEST.replace("SUMMARY:Reserved", "SUMMARY:Reserved (2)"))
    assert "1 open conflicts" in sync(db, now=NOW + timedelta(days=1))
    assert len(conflict_events(db)) == 1

    # Resolved by the operator, then seen again: still the one event.
    feeds.resolve_conflict(db.session.scalar(select(CalendarConflict)), make_user(), NOW)
    db.session.commit()
    sync(db, now=NOW + timedelta(days=1, minutes=15))
    assert len(conflict_events(db)) == 1


def test_each_new_conflict_is_its_own_event(db, unit, feed_server, make_user):
    first = book(make_user, unit, "2026-12-08", "2026-12-09")
    second = book(make_user, unit, "2026-12-21", "2026-12-22")
    db.session.commit()
    add(db, unit, feed_server.serve("/airbnb.ics", GUEST))

    assert "2 open conflicts" in sync(db)

    conflicts = {c.booking_id: c.id for c in db.session.scalars(select(CalendarConflict))}
    assert set(conflicts) == {first.id, second.id}
    events = conflict_events(db)
    assert sorted(e.subject_id for e in events) == sorted(conflicts.values())
    assert {e.operator_id for e in events} == {unit.facility.operator_id}


def test_no_conflict_no_event(db, unit, feed_server, make_user):
    # A stay on other nights, and the channel's echo of another stay of ours.
    book(make_user, unit, "2026-12-14", "2026-12-16")
    echo = book(make_user, unit, "2026-12-26", "2026-12-28")
    db.session.commit()
    closed_echo = GUEST.replace("20261224", "20261228").replace("20261220", "20261226")
    add(db, unit, feed_server.serve("/airbnb.ics", closed_echo))

    assert "0 open conflicts" in sync(db)
    assert echo.id not in {c.booking_id for c in db.session.scalars(select(CalendarConflict))}
    assert conflict_events(db) == []


def test_a_failed_sync_makes_no_event(db, unit, feed_server, make_user):
    book(make_user, unit, "2026-12-08", "2026-12-12")
    db.session.commit()
    url = feed_server.serve("/airbnb.ics", body=b"<html>Sign in</html>", status=500)
    add(db, unit, url)

    assert "1 failed" in sync(db)
    feed_server.serve("/airbnb.ics", GUEST[: len(GUEST) // 2])  # truncated: unreadable
    assert "1 failed" in sync(db, now=NOW + timedelta(hours=1))

    assert db.session.scalar(select(CalendarConflict)) is None
    assert conflict_events(db) == []
