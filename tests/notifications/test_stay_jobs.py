"""The jobs that make events of their own: reminders, thank-yous, the operators' daily
summary and the feed watch; each once, however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Role
from booking import cancellation
from calendars.models import CalendarFeed
from core.db import TOKYO
from core.extensions import db as _db
from notifications import stay_jobs
from tests.conftest import NOW
from tests.notifications.mailing import book, queued, run_outbox


def tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of December 2026 in Japan time."""
    return datetime(2026, 12, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def events_of(type_: str) -> list[Event]:
    _db.session.rollback()  # what the jobs committed
    return list(_db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


@pytest.fixture
def guest(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def operator_user(make_user, unit):
    return make_user(Role.OPERATOR, operator=unit.facility.operator)


# --- reminders ----------------------------------------------------------------------------


def test_the_reminder_goes_3_days_before_check_in_once(app, db, guest, unit, operator_user):
    booking = book(guest, unit, 4, 6)  # booked Dec 1, checks in Dec 5
    assert "0 reminders" in stay_jobs.stay_notices(tokyo(1, 23))  # 4 days before: not yet
    for hour in (0, 1, 13):  # the hourly job on Dec 2, three times
        stay_jobs.stay_notices(tokyo(2, hour))
        run_outbox(tokyo(2, hour))
    (event,) = events_of(ev.STAY_REMINDER)
    assert (event.subject_type, event.subject_id, event.dedupe_key) == (
        "booking",
        booking.id,
        f"reminder:{booking.id}:{booking.check_in.isoformat()}",
    )
    assert (event.user_id, event.company_id, event.operator_id) == (
        guest.id,
        guest.company_id,
        unit.facility.operator_id,
    )
    assert [mail.user_id for mail in queued("stay_reminder")] == [guest.id]
    stay_jobs.stay_notices(tokyo(3, 9))  # 2 days before: nothing new
    assert len(events_of(ev.STAY_REMINDER)) == 1


def test_a_stay_booked_on_the_reminder_day_or_later_gets_no_reminder(app, db, guest, unit):
    book(guest, unit, 3, 5)  # booked Dec 1 for Dec 4: the reminder day was Dec 1 itself
    book(guest, unit, 2, 3)  # 1 day before check-in
    for hour in (12, 13, 23):
        stay_jobs.stay_notices(tokyo(1, hour))
    stay_jobs.stay_notices(tokyo(2, 9))
    assert events_of(ev.STAY_REMINDER) == []


def test_a_cancelled_stay_gets_no_reminder_nor_thanks(app, db, guest, unit):
    booking = book(guest, unit, 4, 6)
    cancellation.cancel_booking(guest, booking.id, NOW)
    db.session.commit()
    stay_jobs.stay_notices(tokyo(2, 9))
    stay_jobs.stay_notices(tokyo(6, 12))
    assert events_of(ev.STAY_REMINDER) == [] and events_of(ev.STAY_THANKS) == []


# --- thank-yous ---------------------------------------------------------------------------


def test_the_thank_you_goes_after_check_out_once(app, db, guest, unit):
    booking = book(guest, unit, 1, 3)  # checks out Dec 4 at 10:00
    assert "0 thank-yous" in stay_jobs.stay_notices(tokyo(4, 9))  # still in the room
    assert "1 thank-yous" in stay_jobs.stay_notices(tokyo(4, 10))
    for when in (tokyo(4, 11), tokyo(5, 9)):
        stay_jobs.stay_notices(when)
        run_outbox(when)
    (event,) = events_of(ev.STAY_THANKS)
    assert event.dedupe_key == f"thanks:{booking.id}" and event.user_id == guest.id
    assert [mail.user_id for mail in queued("stay_thanks")] == [guest.id]


def test_a_stay_that_ended_yesterday_is_thanked_but_not_older_ones(app, db, guest, unit):
    yesterday = book(guest, unit, 1, 2)  # out Dec 3
    older = book(guest, unit, 2, 3)  # out Dec 4 ... seen from Dec 6: two days ago
    stay_jobs.stay_notices(tokyo(4, 0, 30))  # Dec 4 00:30: Dec 3's stay, not yet Dec 4's
    assert [e.subject_id for e in events_of(ev.STAY_THANKS)] == [yesterday.id]
    stay_jobs.stay_notices(tokyo(6, 12))  # Dec 4's check-out is two days ago now
    assert [e.subject_id for e in events_of(ev.STAY_THANKS)] == [yesterday.id]
    assert older.id not in [e.subject_id for e in events_of(ev.STAY_THANKS)]


# --- the operators' daily summary ---------------------------------------------------------


def test_the_daily_summary_goes_to_organisations_with_movements_only(
    app, db, guest, unit, make_unit, make_user, operator_user
):
    quiet = make_unit()  # another organisation, whose stay neither starts nor ends Dec 5
    make_user(Role.OPERATOR, operator=quiet.facility.operator)
    book(guest, unit, 4, 6)  # arrives Dec 5
    book(guest, quiet, 3, 7)  # in house on Dec 5
    seven = tokyo(5, 7)
    assert "1 daily summaries" in stay_jobs.operator_digest(seven)
    assert "0 daily summaries" in stay_jobs.operator_digest(seven)  # run twice: once
    (event,) = events_of(ev.OPERATOR_DIGEST)
    assert event.operator_id == unit.facility.operator_id
    assert event.facts == {"day": "2026-12-05"}
    assert event.dedupe_key == f"digest:{unit.facility.operator_id}:2026-12-05"
    run_outbox(seven)
    assert [mail.user_id for mail in queued("operator_digest")] == [operator_user.id]


def test_a_day_whose_stays_were_cancelled_sends_no_summary(app, db, guest, unit, operator_user):
    booking = book(guest, unit, 4, 6)
    stay_jobs.operator_digest(tokyo(5, 7))
    cancellation.cancel_booking(guest, booking.id, NOW)  # before the mail job ran
    db.session.commit()
    run_outbox(tokyo(5, 7, 1))
    assert queued("operator_digest") == []


def test_a_departure_alone_makes_a_summary(app, db, guest, unit, operator_user):
    book(guest, unit, 2, 4)  # leaves Dec 5
    stay_jobs.operator_digest(tokyo(5, 7))
    assert len(events_of(ev.OPERATOR_DIGEST)) == 1


# --- the feed watch -----------------------------------------------------------------------


def feed(db, unit, **kw) -> CalendarFeed:
    made = CalendarFeed(
        unit_id=unit.id,
        label=kw.pop("label", "Airbnb"),
        url="https://example.com/cal.ics",
        created_at=kw.pop("created_at", NOW - timedelta(days=3)),
        **kw,
    )
    db.session.add(made)
    db.session.commit()
    return made


def test_a_feed_silent_for_6_hours_is_one_incident(app, db, unit, operator_user):
    silent = feed(db, unit, last_success_at=NOW - timedelta(hours=6, minutes=1))
    feed(db, unit, label="fresh", last_success_at=NOW - timedelta(hours=5))
    feed(db, unit, label="new", created_at=NOW - timedelta(hours=2))  # never synced, young
    feed(db, unit, label="off", active=False, last_success_at=NOW - timedelta(days=2))
    for minutes in (0, 15, 30):
        stay_jobs.feed_watch(NOW + timedelta(minutes=minutes))
        run_outbox(NOW + timedelta(minutes=minutes))
    (event,) = events_of(ev.FEED_FAILING)
    since = silent.last_success_at
    assert (event.subject_type, event.subject_id) == ("feed", silent.id)
    assert event.operator_id == unit.facility.operator_id
    assert event.facts == {"since": since.isoformat()}
    assert event.dedupe_key == f"feed:{silent.id}:{since.isoformat()}"
    assert [mail.user_id for mail in queued("feed_failing")] == [operator_user.id]


def test_a_feed_that_never_synced_fails_6_hours_after_it_was_added(app, db, unit, operator_user):
    never = feed(db, unit, created_at=NOW - timedelta(hours=7), last_error="http_status: 404")
    stay_jobs.feed_watch(NOW)
    (event,) = events_of(ev.FEED_FAILING)
    assert event.facts == {"since": never.created_at.isoformat()}


def test_a_feed_that_recovers_and_fails_again_is_a_new_incident(app, db, unit, operator_user):
    flaky = feed(db, unit, last_success_at=NOW - timedelta(hours=7))
    stay_jobs.feed_watch(NOW)
    flaky.last_success_at = NOW + timedelta(hours=1)  # synced again
    db.session.commit()
    stay_jobs.feed_watch(NOW + timedelta(hours=2))  # healthy: nothing
    assert len(events_of(ev.FEED_FAILING)) == 1
    stay_jobs.feed_watch(NOW + timedelta(hours=8))  # silent for 7 hours again
    stay_jobs.feed_watch(NOW + timedelta(hours=9))
    assert len(events_of(ev.FEED_FAILING)) == 2
    run_outbox(NOW + timedelta(hours=9))
    assert len(queued("feed_failing")) == 2


def test_a_feed_of_a_room_off_sale_is_not_watched(app, db, unit, operator_user):
    feed(db, unit, last_success_at=NOW - timedelta(days=1))
    unit.active = False
    db.session.commit()
    stay_jobs.feed_watch(NOW)
    assert events_of(ev.FEED_FAILING) == []
