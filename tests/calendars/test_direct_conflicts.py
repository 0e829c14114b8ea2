"""An imported event over a direct stay (a walk-in the operator recorded) is a calendar
conflict, exactly as one over an Engawa booking: opened once (one ``calendar.conflict``
event), listed on the operator's calendar sync page and dashboard, resolved by hand or
cleared when the event goes away, banded red on the tape chart, and told by mail, notice
and webhook (the webhook without the guest's name). The event's block holds none of the
direct stay's nights.

Feeds come from a real HTTP server on 127.0.0.1; the sync job runs as the scheduler runs it.
The operator reads English so the words are stable.
"""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.events import CALENDAR_CONFLICT, Event
from accounts.models import Role
from availability import direct
from availability.models import Block, DirectStay, Occupancy
from booking import services as booking_services
from calendars import feeds
from calendars.models import CalendarConflict
from notifications import notices, webhook_payloads
from notifications.mail_context import load_facts
from notifications.models import Notice
from tests.calendars.test_calendar_sync import AIRBNB, add, d, nights, sync
from tests.conftest import NOW, signed_in
from tests.consoles.operator.test_tape_chart import chart, column
from tests.notifications.mailing import assert_well_formed, run_outbox, text_of
from tests.smtp import MailCatcher

pytestmark = pytest.mark.usefixtures("sync_config")

GUEST_NAME = "山田 太郎"
# AIRBNB's guest stays 12-07 … 12-10; the walk-in holds 12-08 … 12-12: two nights shared.
EMPTY = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def house(db, make_user, make_unit):
    """A room, its operator (reading English) and a direct stay of 12-08 … 12-12."""
    unit = make_unit(name="101 和室", capacity=4)
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator, locale="en")
    walk_in = direct.record_direct_stay(
        operator,
        unit,
        d("2026-12-08"),
        d("2026-12-12"),
        guest_name=GUEST_NAME,
        guests=2,
        nightly_price=12000,
        note="",
        now=NOW,
    )
    db.session.commit()
    return SimpleNamespace(unit=unit, operator=operator, direct=walk_in, block_id=walk_in.block_id)


def held_by(db, block_id: int) -> set:
    return set(db.session.scalars(select(Occupancy.night).where(Occupancy.block_id == block_id)))


def conflict_events(db) -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(select(Event).where(Event.type == CALENDAR_CONFLICT)))


def the_conflict(db) -> CalendarConflict:
    db.session.expire_all()
    (conflict,) = db.session.scalars(select(CalendarConflict))
    return conflict


def test_an_event_over_a_direct_stay_is_an_open_conflict(db, house, feed_server):
    feed = add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))

    assert "1 open conflicts" in sync(db)

    conflict = the_conflict(db)
    assert (conflict.direct_stay_id, conflict.booking_id) == (house.direct.id, None)
    assert conflict.feed_id == feed.id and conflict.is_open and conflict.is_direct
    assert (conflict.first_night, conflict.nights) == (d("2026-12-08"), 2)
    assert conflict.stay_dates == (d("2026-12-08"), d("2026-12-12"))
    # The direct stay keeps every night; the event holds only the one it does not.
    event_block = db.session.scalar(select(Block).where(Block.feed_id == feed.id))
    assert held_by(db, event_block.id) == {d("2026-12-07")}
    assert held_by(db, house.block_id) == nights("2026-12-08", "2026-12-12")
    [event] = conflict_events(db)
    assert (event.subject_type, event.subject_id) == ("conflict", conflict.id)
    assert event.operator_id == house.unit.facility.operator_id

    # Seen again (the same bytes the next day, then a new summary): no second conflict
    # and no second event.
    assert "1 open conflicts" in sync(db, now=NOW + timedelta(days=1))
    feed_server.serve("/airbnb.ics", AIRBNB.replace("SUMMARY:Reserved", "SUMMARY:Reserved 2"))
    assert "1 open conflicts" in sync(db, now=NOW + timedelta(days=1, minutes=15))
    assert the_conflict(db).id == conflict.id and len(conflict_events(db)) == 1


def test_it_clears_when_the_event_goes_and_opens_again_when_it_returns(db, house, feed_server):
    url = feed_server.serve("/airbnb.ics", AIRBNB)
    add(db, house.unit, url)
    sync(db)

    feed_server.serve("/airbnb.ics", EMPTY)
    assert "0 open conflicts" in sync(db, now=NOW + timedelta(minutes=15))
    conflict = the_conflict(db)
    assert conflict.resolution == "cleared" and not conflict.is_open
    assert feeds.open_conflicts([house.unit.facility_id]) == []

    feed_server.serve("/airbnb.ics", AIRBNB)
    assert "1 open conflicts" in sync(db, now=NOW + timedelta(minutes=30))
    assert the_conflict(db).is_open and len(conflict_events(db)) == 1


def test_removing_the_direct_stay_removes_its_conflict_and_frees_the_nights(db, house, feed_server):
    feed = add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    direct.cancel_direct_stay(db.session.get(DirectStay, house.direct.id), NOW)
    db.session.commit()

    assert db.session.scalar(select(CalendarConflict)) is None
    event_block = db.session.scalar(select(Block).where(Block.feed_id == feed.id))
    assert held_by(db, event_block.id) == nights("2026-12-07", "2026-12-10")
    assert "0 open conflicts" in sync(db, now=NOW + timedelta(minutes=15))


def test_the_channels_copy_of_the_direct_stay_is_no_conflict(db, house, feed_server):
    echo = AIRBNB.replace("20261210", "20261212").replace("20261207", "20261208")
    echo = echo.replace("SUMMARY:Reserved", "SUMMARY:Airbnb (Not available)")
    add(db, house.unit, feed_server.serve("/airbnb.ics", echo))

    assert "0 open conflicts" in sync(db)
    assert conflict_events(db) == []


def test_one_event_over_a_booking_and_a_direct_stay_is_two_conflicts(
    db, house, feed_server, make_user
):
    booking = booking_services.book_stay(
        make_user(),
        booking_services.StayRequest(house.unit.id, d("2026-12-06"), d("2026-12-08"), 1),
        NOW,
    )
    db.session.commit()
    add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))

    assert "2 open conflicts" in sync(db)
    assert "2 open conflicts" in sync(db, now=NOW + timedelta(days=1))

    found = {
        (c.booking_id, c.direct_stay_id): (c.first_night, c.nights)
        for c in db.session.scalars(select(CalendarConflict))
    }
    assert found == {
        (booking.id, None): (d("2026-12-07"), 1),
        (None, house.direct.id): (d("2026-12-08"), 2),
    }
    assert len(conflict_events(db)) == 2


def conflict_row(feed_id, unit_id, **stay) -> CalendarConflict:
    return CalendarConflict(
        feed_id=feed_id,
        unit_id=unit_id,
        event_key="uid-1",
        event_start=d("2026-12-07"),
        event_end=d("2026-12-10"),
        first_night=d("2026-12-08"),
        nights=2,
        detected_at=NOW,
        **stay,
    )


@pytest.mark.parametrize("stays", ["neither", "both", "twice"])
def test_the_database_wants_exactly_one_stay_once(db, house, make_user, stays):
    feed = add(db, house.unit, "https://calendar.example/a.ics")
    booking = booking_services.book_stay(
        make_user(),
        booking_services.StayRequest(house.unit.id, d("2026-12-14"), d("2026-12-15"), 1),
        NOW,
    )
    db.session.commit()
    rows = {
        "neither": [{}],
        "both": [{"booking_id": booking.id, "direct_stay_id": house.direct.id}],
        "twice": [{"direct_stay_id": house.direct.id}, {"direct_stay_id": house.direct.id}],
    }[stays]
    db.session.add_all(conflict_row(feed.id, house.unit.id, **row) for row in rows)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    # The same event over a booking and a direct stay: one of each kind is fine.
    db.session.add_all(
        [
            conflict_row(feed.id, house.unit.id, booking_id=booking.id),
            conflict_row(feed.id, house.unit.id, direct_stay_id=house.direct.id),
        ]
    )
    db.session.commit()


def test_the_operator_sees_it_resolves_it_and_another_cannot(
    app, db, house, feed_server, make_user
):
    add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    conflict = the_conflict(db)
    browser = signed_in(app, house.operator)

    page = browser.get("/operator/calendars").get_data(as_text=True)
    assert f'data-conflict-id="{conflict.id}"' in page
    assert 'data-stay="direct"' in page and f"Direct stay: {GUEST_NAME}" in page
    assert f'href="/operator/direct-stays/{house.direct.id}"' in page
    dashboard = browser.get("/operator/").get_data(as_text=True)
    assert f'data-conflict-id="{conflict.id}"' in dashboard

    stranger = signed_in(app, make_user(Role.OPERATOR))
    assert stranger.post(f"/operator/conflicts/{conflict.id}/resolve").status_code == 404
    assert stranger.post("/operator/conflicts/999999/resolve").status_code == 404
    assert the_conflict(db).is_open

    assert browser.post(f"/operator/conflicts/{conflict.id}/resolve").status_code == 302
    resolved = the_conflict(db)
    assert resolved.resolution == "operator" and resolved.resolved_by_id == house.operator.id
    assert 'data-testid="no-conflicts"' in browser.get("/operator/calendars").get_data(as_text=True)
    # Resolved stays resolved at the next sync, and is no news again.
    sync(db, now=NOW + timedelta(days=1))
    assert the_conflict(db).resolution == "operator" and len(conflict_events(db)) == 1


def test_the_tape_chart_bands_the_nights_red_and_outlines_the_direct_stay(
    app, db, house, feed_server
):
    feed = add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    client = signed_in(app, house.operator)

    page = chart(client, house.unit.facility)

    [band] = page.of("conflict", house.unit)
    assert band.attrs["data-direct-id"] == str(house.direct.id)
    assert "data-booking-id" not in band.attrs
    assert (band.column, band.span) == (column(d("2026-12-08")), 2)
    walk_in = page.bar(block_id=house.block_id)
    assert walk_in.attrs["data-kind"] == "direct" and "has-conflict" in walk_in.classes
    assert "in conflict with Airbnb" in walk_in.attrs["title"]
    event_block = db.session.scalar(select(Block).where(Block.feed_id == feed.id))
    event_bar = page.bar(block_id=event_block.id)
    assert (event_bar.column, event_bar.span) == (column(d("2026-12-07")), 1)
    assert "has-conflict" not in event_bar.classes


def test_the_notice_and_the_webhook_tell_it_without_the_guests_name(db, house, feed_server):
    add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    [event] = conflict_events(db)

    facts = load_facts(event)
    assert facts.params["direct_stay"] is True and facts.values["booking"] is None
    with force_locale("en"):
        text = notices.notice_text("calendar_conflict", facts.params)
    assert "overlaps a direct stay" in text and "(2 nights)" in text
    assert GUEST_NAME not in json.dumps(facts.params, ensure_ascii=False)

    body = json.loads(webhook_payloads.event_body(event, webhook_payloads.OPERATOR))
    obj = body["data"]["object"]
    conflict = the_conflict(db)
    assert obj["object"] == "calendar_conflict" and obj["id"] == conflict.id
    assert (obj["booking_id"], obj["direct_stay_id"]) == (None, house.direct.id)
    assert (obj["first_night"], obj["nights"]) == ("2026-12-08", 2)
    assert GUEST_NAME not in json.dumps(body, ensure_ascii=False)


def test_the_operators_are_mailed_and_get_a_notice(app, db, house, feed_server):
    add(db, house.unit, feed_server.serve("/airbnb.ics", AIRBNB))
    with MailCatcher() as inbox:
        app.config.update(SMTP_HOST=inbox.host, SMTP_PORT=inbox.port)
        sync(db)
        run_outbox()
        (mail,) = inbox.to(house.operator.email)

    assert_well_formed(mail)
    subject, text = str(mail["Subject"]), text_of(mail)
    assert "Calendar conflict: 101 和室" in subject and "direct stay" in subject
    assert "Airbnb" in text and "Direct stay" in text and "booking number" not in subject
    assert GUEST_NAME not in text
    (notice,) = db.session.scalars(select(Notice).where(Notice.user_id == house.operator.id))
    with force_locale("en"):
        assert "overlaps a direct stay" in notices.notice_text(notice.kind, notice)
