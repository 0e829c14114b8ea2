"""Importing external calendars: nights blocked, moved, released — and never lost on a bad fetch.

Feeds come from a real HTTP server on 127.0.0.1 (tests/calendars/feedserver.py);
the job runs exactly as the scheduler runs it.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from availability.models import Block, Occupancy
from booking import cancellation
from booking import services as booking_services
from calendars import feeds
from calendars import sync as calendar_sync
from calendars.fetch import FetchResult
from calendars.jobs import sync_calendars
from calendars.models import CalendarConflict, CalendarFeed
from pricing import engine, refresh
from tests.conftest import NOW, TODAY, days

pytestmark = pytest.mark.usefixtures("sync_config")

AIRBNB = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "VERSION:2.0\r\n"
    "BEGIN:VEVENT\r\n"
    "DTEND;VALUE=DATE:20261210\r\n"
    "DTSTART;VALUE=DATE:20261207\r\n"
    "UID:1418fb94e984-0b7dd5ac6bd8e16d8d4d5e3ac8fc1b1b@airbnb.com\r\n"
    "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEFGH\r\n"
    " \\nPhone Number (Last 4 Digits): 1234\r\n"
    "SUMMARY:Reserved\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\n"
    "DTEND;VALUE=DATE:20261224\r\n"
    "DTSTART;VALUE=DATE:20261220\r\n"
    "UID:7f3b2d1a9c8e-4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e@airbnb.c\r\n"
    " om\r\n"
    "SUMMARY:Airbnb (Not available)\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

BOOKING_COM = (
    "BEGIN:VCALENDAR\n"
    "VERSION:2.0\n"
    "PRODID:-//admin.booking.com//EN\n"
    "BEGIN:VEVENT\n"
    "UID:aa11bb22cc33@booking.com\n"
    "DTSTAMP:20261128T000000Z\n"
    "DTSTART;VALUE=DATE:20261215\n"
    "DTEND;VALUE=DATE:20261217\n"
    "SUMMARY:CLOSED - Not available\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n"
)

GOOGLE = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
    "VERSION:2.0\r\n"
    "X-WR-TIMEZONE:Asia/Tokyo\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:America/New_York\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:19701101T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
    "TZOFFSETFROM:-0400\r\n"
    "TZOFFSETTO:-0500\r\n"
    "TZNAME:EST\r\n"
    "END:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    # 2026-12-04 02:00 New York = 12-04 16:00 Tokyo → 12-06 01:00 NY = 12-06 15:00 Tokyo
    "DTSTART;TZID=America/New_York:20261204T020000\r\n"
    "DTEND;TZID=America/New_York:20261206T010000\r\n"
    "UID:timed-1@google.com\r\n"
    "SUMMARY:Owner visit\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\n"
    # Every Saturday night, three times, from 2027-01-09 (all-day)
    "DTSTART;VALUE=DATE:20270109\r\n"
    "DTEND;VALUE=DATE:20270110\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=3\r\n"
    "UID:weekly-1@google.com\r\n"
    "SUMMARY:Cleaning crew\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def nights(start: str, end: str) -> set[date]:
    first, last = d(start), d(end)
    return {first + timedelta(days=i) for i in range((last - first).days)}


def held(db, unit_id: int) -> set[date]:
    """Nights of the unit held by blocks."""
    return set(
        db.session.scalars(
            select(Occupancy.night).where(
                Occupancy.unit_id == unit_id, Occupancy.block_id.is_not(None)
            )
        )
    )


def snapshot(db, unit_id: int):
    blocks = db.session.execute(
        select(Block.id, Block.event_key, Block.start_date, Block.end_date, Block.updated_at)
        .where(Block.unit_id == unit_id)
        .order_by(Block.id)
    ).all()
    occupancy = db.session.execute(
        select(Occupancy.id, Occupancy.night, Occupancy.block_id, Occupancy.booking_id)
        .where(Occupancy.unit_id == unit_id)
        .order_by(Occupancy.id)
    ).all()
    return blocks, occupancy


def add(db, unit, url: str, label: str = "Airbnb") -> CalendarFeed:
    feed = feeds.add_feed(unit, url, label, NOW)
    db.session.commit()
    return feed


def sync(db, unit=None, now=NOW) -> str:
    summary = sync_calendars(now, unit_id=unit.id if unit else None)
    db.session.expire_all()
    return summary


# --- the three channels -----------------------------------------------------------


def test_airbnb_feed_blocks_its_nights(db, unit, feed_server):
    feed = add(db, unit, feed_server.serve("/airbnb/abc.ics", AIRBNB))
    summary = sync(db)
    assert summary.startswith("1 feeds: 1 changed")
    assert held(db, unit.id) == nights("2026-12-07", "2026-12-10") | nights(
        "2026-12-20", "2026-12-24"
    )
    blocks = db.session.scalars(select(Block).where(Block.feed_id == feed.id)).all()
    assert {b.summary for b in blocks} == {"Reserved", "Airbnb (Not available)"}
    feed = db.session.get(CalendarFeed, feed.id)
    assert feed.events_imported == 2 and feed.last_success_at == NOW and feed.last_error is None
    # The sync identified itself.
    _path, headers = feed_server.requests[-1]
    assert headers["User-Agent"].startswith("Engawa-Calendar-Sync")


def test_booking_com_feed_with_bare_newlines(db, unit, feed_server):
    add(db, unit, feed_server.serve("/bcom.ics", BOOKING_COM), "Booking.com")
    sync(db)
    assert held(db, unit.id) == nights("2026-12-15", "2026-12-17")


def test_google_feed_with_timed_and_recurring_events(db, unit, feed_server):
    add(db, unit, feed_server.serve("/google.ics", GOOGLE), "Google")
    sync(db)
    # Timed: Tokyo 12-04 16:00 → 12-06 15:00 covers the nights of the 4th and 5th
    # (a night is check-in 15:00 to check-out 10:00); the weekly event, three nights.
    assert held(db, unit.id) == nights("2026-12-04", "2026-12-06") | {
        d("2027-01-09"),
        d("2027-01-16"),
        d("2027-01-23"),
    }


def test_blocked_nights_show_as_unavailable_in_the_api(db, app, unit, feed_server, make_user):
    from accounts.services import create_api_token

    add(db, unit, feed_server.serve("/bcom.ics", BOOKING_COM))
    sync(db)
    employee = make_user()
    _token, secret = create_api_token(employee, "t", NOW)
    db.session.commit()
    response = app.test_client().get(
        f"/api/v1/facilities/{unit.facility_id}/availability?from=2026-12-14&to=2026-12-18",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    unit_nights = next(u for u in body["units"] if u["id"] == unit.id)["nights"]
    free = {n["date"]: n["available"] for n in unit_nights}
    assert free == {
        "2026-12-14": True,
        "2026-12-15": False,
        "2026-12-16": False,
        "2026-12-17": True,
    }


def test_a_booking_on_imported_nights_is_refused(db, unit, feed_server, make_user):
    add(db, unit, feed_server.serve("/bcom.ics", BOOKING_COM))
    sync(db)
    with pytest.raises(booking_services.BookingConflict):
        booking_services.book_stay(
            make_user(),
            booking_services.StayRequest(unit.id, d("2026-12-16"), d("2026-12-18"), 1),
            NOW,
        )


# --- events that change ---------------------------------------------------------------


def test_an_event_that_moves_moves_its_block(db, unit, feed_server):
    url = feed_server.serve("/bcom.ics", BOOKING_COM)
    add(db, unit, url)
    sync(db)
    feed_server.serve(
        "/bcom.ics", BOOKING_COM.replace("20261215", "20261218").replace("20261217", "20261221")
    )
    sync(db)
    assert held(db, unit.id) == nights("2026-12-18", "2026-12-21")
    assert db.session.scalar(select(func.count()).select_from(Block)) == 1


def test_an_event_that_disappears_releases_its_nights(db, unit, feed_server):
    add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    start = AIRBNB.index("BEGIN:VEVENT")
    end = AIRBNB.index("END:VEVENT\r\n") + len("END:VEVENT\r\n")
    feed_server.serve("/airbnb.ics", AIRBNB[:start] + AIRBNB[end:])
    sync(db)
    assert held(db, unit.id) == nights("2026-12-20", "2026-12-24")


def test_an_empty_calendar_releases_everything(db, unit, feed_server):
    add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    feed_server.serve("/airbnb.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    sync(db)
    assert held(db, unit.id) == set()


# --- bad fetches keep every block -----------------------------------------------------

BAD = {
    "500": dict(body=b"oops", status=500),
    "html": dict(
        body=b"<!DOCTYPE html><html><body>Login</body></html>",
        headers={"Content-Type": "text/html"},
    ),
    "empty": dict(body=b""),
    "truncated": dict(body=AIRBNB[: len(AIRBNB) // 2].encode()),
    "20mb": dict(chunked_bytes=20 * 1024 * 1024),
    "slow": dict(body=AIRBNB.encode(), delay=2.5),
    "404": dict(body=b"", status=404),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_fetch_keeps_every_block(app, db, unit, feed_server, kind):
    if kind == "slow":
        app.config["CALENDAR_FETCH_TIMEOUT"] = 1  # the feed answers after 2.5 s
    feed = add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    before = snapshot(db, unit.id)
    feed_server.serve("/airbnb.ics", **BAD[kind])
    later = NOW + timedelta(minutes=15)
    summary = sync(db, now=later)
    assert "1 failed" in summary
    assert snapshot(db, unit.id) == before
    feed = db.session.get(CalendarFeed, feed.id)
    assert feed.last_error and feed.last_error_at == later
    assert feed.last_success_at == NOW  # the last *good* sync
    assert feed.failures == 1
    assert feed.events_imported == 2


def test_a_refused_address_is_recorded_and_keeps_blocks(app, db, unit, feed_server):
    add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    before = snapshot(db, unit.id)
    app.config["CALENDAR_ALLOW_PRIVATE_HOSTS"] = False
    sync(db)
    assert snapshot(db, unit.id) == before
    feed = db.session.scalar(select(CalendarFeed))
    assert "not allowed" in feed.last_error


def test_not_modified_changes_nothing(db, unit, feed_server):
    feed = add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB, etag='"v1"'))
    sync(db)
    before = snapshot(db, unit.id)
    summary = sync(db, now=NOW + timedelta(minutes=15))
    assert "1 unchanged" in summary
    _path, headers = feed_server.requests[-1]
    assert headers.get("If-None-Match") == '"v1"'
    assert snapshot(db, unit.id) == before
    assert db.session.get(CalendarFeed, feed.id).last_success_at == NOW + timedelta(minutes=15)


def test_a_second_run_changes_nothing(db, unit, feed_server):
    add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    add(db, unit, feed_server.serve("/google.ics", GOOGLE), "Google")
    sync(db)
    before = snapshot(db, unit.id)
    sync(db, now=NOW + timedelta(minutes=15))
    assert snapshot(db, unit.id) == before


# --- conflicts and overlaps -----------------------------------------------------------


def test_an_event_over_an_engawa_booking_becomes_a_conflict(db, unit, feed_server, make_user):
    booking = booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-12"), 1), NOW
    )
    db.session.commit()
    feed = add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    summary = sync(db)
    assert "1 open conflicts" in summary
    conflict = db.session.scalar(select(CalendarConflict))
    assert conflict.booking_id == booking.id and conflict.feed_id == feed.id
    assert (conflict.first_night, conflict.nights) == (d("2026-12-08"), 2)
    assert conflict.event_summary == "Reserved"
    # The rest of the feed still imported; the booking keeps every night.
    assert held(db, unit.id) == {d("2026-12-07")} | nights("2026-12-20", "2026-12-24")
    assert (
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking.id)
        )
        == 4
    )
    # A re-sync does not duplicate it; resolving closes it for good.
    sync(db)
    assert db.session.scalar(select(func.count()).select_from(CalendarConflict)) == 1
    feeds.resolve_conflict(conflict, make_user(), NOW)
    db.session.commit()
    sync(db)
    assert feeds.open_conflicts([unit.facility_id]) == []


def test_a_conflict_clears_when_the_booking_is_cancelled(db, unit, feed_server, make_user):
    guest = make_user()
    booking = booking_services.book_stay(
        guest, booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-12"), 1), NOW
    )
    db.session.commit()
    add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    cancellation.cancel_booking(guest, booking.id, NOW)
    db.session.commit()
    sync(db)
    assert feeds.open_conflicts([unit.facility_id]) == []
    # The imported event now holds the nights the booking gave up.
    assert nights("2026-12-07", "2026-12-10") <= held(db, unit.id)


def test_two_feeds_over_one_night_hand_it_over(db, unit, feed_server):
    add(db, unit, feed_server.serve("/bcom.ics", BOOKING_COM), "Booking.com")
    airbnb_same = BOOKING_COM.replace("aa11bb22cc33@booking.com", "x@airbnb.com")
    add(db, unit, feed_server.serve("/airbnb.ics", airbnb_same), "Airbnb")
    sync(db)
    assert held(db, unit.id) == nights("2026-12-15", "2026-12-17")
    feed_server.serve("/bcom.ics", "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n")
    sync(db)
    assert held(db, unit.id) == nights("2026-12-15", "2026-12-17")  # Airbnb's block holds them


def test_removing_a_feed_opens_its_nights(db, unit, feed_server):
    feed = add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    feeds.remove_feed(db.session.get(CalendarFeed, feed.id), TODAY)
    db.session.commit()
    assert held(db, unit.id) == set()
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def imported(db, feed_id: int) -> set[date]:
    """Nights the feed's blocks want."""
    out: set[date] = set()
    for start, end in db.session.execute(
        select(Block.start_date, Block.end_date).where(Block.feed_id == feed_id)
    ):
        out |= {start + timedelta(days=i) for i in range((end - start).days)}
    return out


def served_export(db, client, feed_server, path: str, export) -> str:
    """Serve Engawa's own export (as a channel that re-publishes it would)."""
    db.session.commit()
    response = client.get(export.path)
    assert response.status_code == 200
    return feed_server.serve(path, response.data)


def test_echoes_are_skipped_only_in_the_room_they_came_from(
    db, client, make_unit, make_user, feed_server
):
    from availability import blocks
    from calendars import export as calendar_export

    room_a = make_unit(name="A")
    room_b = make_unit(facility=room_a.facility, name="B")
    whole_house = make_unit(facility=room_a.facility, name="Whole house")
    for room, first, last in ((room_a, 5, 8), (whole_house, 20, 22)):
        booking_services.book_stay(
            make_user(), booking_services.StayRequest(room.id, days(first), days(last), 1), NOW
        )
    operator = make_user("operator", operator=room_a.facility.operator)
    blocks.close_dates(operator, [room_b], days(10), days(12), "maintenance", "", NOW)
    a_url = served_export(
        db, client, feed_server, "/a.ics", calendar_export.export_for_unit(room_a, NOW)
    )
    house_url = served_export(
        db,
        client,
        feed_server,
        "/house.ics",
        calendar_export.export_for_facility(room_a.facility, NOW),
    )
    # A channel that re-publishes room A's feed, imported back into A: all echoes.
    echo = add(db, room_a, a_url, "Echo")
    # Room A's feed imported into room B: A's stay blocks B.
    a_into_b = add(db, room_b, a_url, "Room A")
    # The facility's feed imported into the whole-house room: every other room's
    # nights block it; its own stay in the facility feed is an echo.
    house = add(db, whole_house, house_url, "Every room")
    summary = sync(db)
    assert summary.startswith("3 feeds: 3 changed")
    assert imported(db, echo.id) == set()
    assert db.session.get(CalendarFeed, echo.id).events_imported == 0
    assert imported(db, a_into_b.id) == {days(5), days(6), days(7)}
    assert db.session.get(CalendarFeed, a_into_b.id).events_imported == 1
    assert imported(db, house.id) == {days(5), days(6), days(7), days(10), days(11)}
    assert db.session.get(CalendarFeed, house.id).events_imported == 2
    assert {days(5), days(6), days(7)} <= held(db, room_b.id)
    assert feeds.open_conflicts([room_a.facility_id]) == []


def test_a_facility_feed_into_one_of_its_rooms_skips_that_rooms_events(
    db, client, make_unit, make_user, feed_server
):
    from calendars import export as calendar_export

    room_a = make_unit()
    room_b = make_unit(facility=room_a.facility)
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(room_a.id, days(5), days(8), 1), NOW
    )
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(room_b.id, days(5), days(7), 1), NOW
    )
    url = served_export(
        db, client, feed_server, "/f.ics", calendar_export.export_for_facility(room_a.facility, NOW)
    )
    feed = add(db, room_a, url, "Facility")
    sync(db)
    # Room B's stay is foreign to room A, and its nights are A's own booking's:
    # a real conflict (one house sold twice), not an echo.
    assert imported(db, feed.id) == {days(5), days(6)}
    (conflict,) = feeds.open_conflicts([room_a.facility_id])
    assert conflict.unit_id == room_a.id and conflict.nights == 2


def test_an_engawa_event_passed_on_by_another_room_is_still_known(
    db, client, make_unit, make_user, feed_server
):
    """Room B imports room A and passes on what it imported (include_imported);
    room A imports room B: its own stay must not come back as a block."""
    from availability import blocks
    from calendars import export as calendar_export

    room_a = make_unit()
    room_b = make_unit(facility=room_a.facility)
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(room_a.id, days(5), days(8), 1), NOW
    )
    operator = make_user("operator", operator=room_a.facility.operator)
    blocks.close_dates(operator, [room_b], days(10), days(12), "maintenance", "", NOW)
    a_url = served_export(
        db, client, feed_server, "/a.ics", calendar_export.export_for_unit(room_a, NOW)
    )
    add(db, room_b, a_url, "Room A")
    sync(db, unit=room_b)
    b_export = calendar_export.export_for_unit(room_b, NOW)
    b_export.include_imported = True
    b_url = served_export(db, client, feed_server, "/b.ics", b_export)
    assert client.get(b_export.path).data.count(b"BEGIN:VEVENT") == 2
    b_into_a = add(db, room_a, b_url, "Room B")
    sync(db, unit=room_a)
    assert imported(db, b_into_a.id) == {days(10), days(11)}


def test_echo_rule_is_one_for_stays_begun_or_not(app, db, unit, make_user):
    """An event listed with exactly a stay's dates and not called a reservation is
    the channel's copy of the stay, begun or not; anything else is a conflict."""
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-11"), 1), NOW
    )
    db.session.commit()
    feed = add(db, unit, "https://calendar.example/a.ics")
    echo = _cal(("e1@airbnb.com", "20261208", "20261211", "Airbnb (Not available)"))
    # First seen when the stay has begun (today is 12-09): still the echo.
    begun = NOW + timedelta(days=8)
    assert _apply(app, db, feed.id, echo, begun).conflicts == 0
    assert feeds.open_conflicts([unit.facility_id]) == []
    block = db.session.scalar(select(Block).where(Block.feed_id == feed.id))
    assert (block.start_date, block.end_date) == (d("2026-12-08"), d("2026-12-11"))
    assert _apply(app, db, feed.id, echo, begun + timedelta(days=1)).conflicts == 0


@pytest.mark.parametrize("begun", [False, True])
@pytest.mark.parametrize(
    ("start", "end", "summary"),
    [
        ("20261207", "20261211", "CLOSED - Not available"),  # a night more
        ("20261208", "20261210", "Not available"),  # a night less
        ("20261208", "20261211", "Reserved"),  # a guest of theirs, same dates
    ],
)
def test_any_other_overlap_is_a_conflict(app, db, unit, make_user, start, end, summary, begun):
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-11"), 1), NOW
    )
    db.session.commit()
    feed = add(db, unit, "https://calendar.example/a.ics")
    now = NOW + timedelta(days=8) if begun else NOW
    body = _cal(("x1@airbnb.com", start, end, summary))
    assert _apply(app, db, feed.id, body, now).conflicts == 1


def test_control_characters_in_imported_text_never_reach_the_database(app, db, unit, make_user):
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-11"), 1), NOW
    )
    db.session.commit()
    feed = add(db, unit, "https://calendar.example/a.ics")
    body = _cal(
        ("n\x00ul\x01@airbnb.com", "20261208", "20261211", "Re\x00served\x07 by\x1b Taro"),
        ("tab\x7f@airbnb.com", "20261220", "20261222", "Closed\tfor\\nrepairs"),
    )
    settings_ = calendar_sync.FetchSettings.from_config(app.config)
    result = FetchResult(not_modified=False, body=body, etag='"v\x001"', last_modified="x\x00y")
    outcome = calendar_sync.apply_result(
        db.session.get(CalendarFeed, feed.id), result, NOW, settings_
    )
    db.session.commit()
    assert outcome.status == "changed" and outcome.conflicts == 1
    db.session.expire_all()
    rows = db.session.execute(
        select(Block.event_key, Block.summary).where(Block.feed_id == feed.id).order_by(Block.id)
    ).all()
    assert rows == [
        ("nul@airbnb.com", "Reserved by Taro"),
        ("tab@airbnb.com", "Closed for repairs"),
    ]
    conflict = db.session.scalar(select(CalendarConflict))
    assert conflict.event_summary == "Reserved by Taro" and conflict.event_key == "nul@airbnb.com"
    stored = db.session.get(CalendarFeed, feed.id)
    assert stored.etag is None and stored.last_modified is None


# --- secrets and robustness -----------------------------------------------------------


def test_feed_urls_never_reach_the_logs(db, unit, feed_server, caplog):
    caplog.set_level(logging.DEBUG)
    url = feed_server.serve("/ical/secret-token-abc123.ics", status=500, body=b"")
    add(db, unit, url + "?s=topsecret")
    sync(db)
    feed = db.session.scalar(select(CalendarFeed))
    text = caplog.text + (feed.last_error or "")
    assert "secret-token-abc123" not in text and "topsecret" not in text
    assert feeds.masked_url(feed.url) == "http://127.0.0.1/…"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.binary(max_size=2048))
def test_random_bytes_never_crash_nor_release_blocks(app, db, unit, feed_server, body):
    if db.session.scalar(select(func.count()).select_from(CalendarFeed)) == 0:
        add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
        sync(db)
    feed = db.session.scalar(select(CalendarFeed))
    before = held(db, unit.id)
    settings_ = calendar_sync.FetchSettings.from_config(app.config)
    result = FetchResult(not_modified=False, body=body, etag=None, last_modified=None)
    outcome = calendar_sync.apply_result(feed, result, NOW + timedelta(minutes=1), settings_)
    db.session.commit()
    assert outcome.status == "failed"
    assert held(db, unit.id) == before


# --- found in review ------------------------------------------------------------------


def _cal(*events: tuple[str, str, str, str]) -> bytes:
    """An all-day calendar of (uid, first night, end, summary)."""
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    for uid, start, end, summary in events:
        body += (
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{start}\r\n"
            f"DTEND;VALUE=DATE:{end}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
        )
    return (body + "END:VCALENDAR\r\n").encode()


def _apply(app, db, feed_id: int, body: bytes, now):
    feed = db.session.get(CalendarFeed, feed_id)
    settings_ = calendar_sync.FetchSettings.from_config(app.config)
    result = FetchResult(not_modified=False, body=body, etag=None, last_modified=None)
    outcome = calendar_sync.apply_result(feed, result, now, settings_)
    db.session.commit()
    return outcome


def test_an_ended_event_that_comes_back_extended_is_imported(app, db, unit):
    feed = add(db, unit, "https://calendar.example/a.ics")
    _apply(app, db, feed.id, _cal(("x@airbnb.com", "20261202", "20261205", "Reserved")), NOW)
    # Four days later the stay has ended, then the guest extends it; a new stay too.
    later = NOW + timedelta(days=4)
    body = _cal(
        ("x@airbnb.com", "20261202", "20261208", "Reserved"),
        ("y@airbnb.com", "20261210", "20261212", "Reserved"),
    )
    assert _apply(app, db, feed.id, body, later).status == "changed"
    assert nights("2026-12-05", "2026-12-08") | nights("2026-12-10", "2026-12-12") <= held(
        db, unit.id
    )


def test_an_unreadable_event_keeps_its_block(app, db, unit):
    feed = add(db, unit, "https://calendar.example/a.ics")
    good = _cal(
        ("x@airbnb.com", "20261203", "20261205", "Reserved"),
        ("y@airbnb.com", "20261210", "20261212", "Reserved"),
    )
    _apply(app, db, feed.id, good, NOW)
    broken = good.replace(b"DTSTART;VALUE=DATE:20261210", b"DTSTART;VALUE=DATE:2026121")
    outcome = _apply(app, db, feed.id, broken, NOW + timedelta(minutes=15))
    assert outcome.status == "changed"
    assert nights("2026-12-10", "2026-12-12") <= held(db, unit.id)


def test_a_feed_removed_during_a_sync_is_skipped(app, db, unit, make_unit):
    first = add(db, unit, "https://calendar.example/a.ics")
    second = add(db, make_unit(), "https://calendar.example/b.ics", "Google")
    body = _cal(("x@airbnb.com", "20261203", "20261205", "Reserved"))
    first_id = first.id

    def fetcher(target, settings_):
        if target.feed_id == first_id:
            # The operator removes the feed (in a request of their own) while the
            # job is fetching it.
            with app.app_context():
                feeds.remove_feed(db.session.get(CalendarFeed, first_id), TODAY)
                db.session.commit()
                db.session.remove()
        return FetchResult(not_modified=False, body=body, etag=None, last_modified=None)

    app.config["CALENDAR_SYNC_WORKERS"] = 1
    summary = sync_calendars(NOW, fetcher=fetcher)
    assert "1 changed" in summary and "1 failed" in summary
    db.session.expire_all()
    assert db.session.get(CalendarFeed, second.id).events_imported == 1
    assert held(db, unit.id) == set()  # nothing imported for the removed feed


def test_our_stay_echoed_back_as_closed_is_not_a_conflict(app, db, unit, make_user):
    booking_services.book_stay(
        make_user(), booking_services.StayRequest(unit.id, d("2026-12-08"), d("2026-12-11"), 1), NOW
    )
    db.session.commit()
    feed = add(db, unit, "https://calendar.example/a.ics")
    echo = _cal(("e1@airbnb.com", "20261208", "20261211", "Airbnb (Not available)"))
    assert _apply(app, db, feed.id, echo, NOW).conflicts == 0
    # Their own guest on exactly the same dates is a real double booking.
    guest = _cal(("g1@airbnb.com", "20261208", "20261211", "Reserved"))
    assert _apply(app, db, feed.id, guest, NOW + timedelta(minutes=15)).conflicts == 1


def test_imported_blocks_reprice_their_facility_after_each_change(db, unit, feed_server):
    engine.recompute(NOW)
    feed = add(db, unit, feed_server.serve("/airbnb.ics", AIRBNB))
    sync(db)
    assert refresh.refresh_pending()  # new blocks queued a re-price…
    refresh.refresh_queued(NOW)
    assert engine.recompute(NOW, force=True).changed == 0  # …which left nothing to do

    feeds.remove_feed(db.session.get(CalendarFeed, feed.id), TODAY)
    db.session.commit()
    assert refresh.refresh_pending()
    refresh.refresh_queued(NOW)
    assert engine.recompute(NOW, force=True).changed == 0
