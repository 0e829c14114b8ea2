"""Exported feeds: what a calendar app sees at /calendars/<token>.ics."""

from __future__ import annotations

import re
from datetime import date, timedelta

import icalendar
import pytest
import vobject

from availability import blocks
from availability.models import Block, BlockSource
from booking import cancellation
from booking import services as booking_services
from calendars import export as calendar_export
from tests.conftest import NOW, TODAY, days


def book(db, user, unit, first: int, last: int):
    booking = booking_services.book_stay(
        user, booking_services.StayRequest(unit.id, days(first), days(last), 1), NOW
    )
    db.session.commit()
    return booking


def export_path(db, unit) -> str:
    path = calendar_export.export_for_unit(unit, NOW).path
    db.session.commit()
    return path


def nights_of(events) -> set[date]:
    out = set()
    for start, end in events:
        out |= {start + timedelta(days=i) for i in range((end - start).days)}
    return out


def test_export_lists_bookings_and_blocks_as_all_day_events(
    app, db, client, unit, make_user, make_operator
):
    guest = make_user(name="Hanako Yamada", email="hanako@acme.example")
    book(db, guest, unit, 5, 8)
    operator = make_user("operator", operator=unit.facility.operator)
    blocks.close_dates(operator, [unit], days(20), days(22), "maintenance", "boiler repair", NOW)
    db.session.commit()

    response = client.get(export_path(db, unit))
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    body = response.get_data(as_text=True)
    # All-day events, DTEND exclusive; nothing personal leaves the system.
    assert f"DTSTART;VALUE=DATE:{days(5):%Y%m%d}" in body
    assert f"DTEND;VALUE=DATE:{days(8):%Y%m%d}" in body
    assert "SUMMARY:Reserved" in body and "SUMMARY:Not available" in body
    for secret in ("Hanako", "Yamada", "hanako@acme.example", "boiler", "maintenance"):
        assert secret not in body
    # Opaque UIDs: neither the booking's id nor the kind of row.
    uids = re.findall(r"^UID:(\S+)", body, re.MULTILINE)
    assert len(uids) == 2
    assert all(re.fullmatch(r"[a-z2-7]{26}-[a-z2-7]{16}@engawa\.example", u) for u in uids)
    assert "booking-" not in body and "block-" not in body

    cal = icalendar.Calendar.from_ical(response.data)
    events = [(e.decoded("dtstart"), e.decoded("dtend")) for e in cal.walk("VEVENT")]
    assert nights_of(events) == nights_of([(days(5), days(8)), (days(20), days(22))])
    # A second, independent parser reads the same nights.
    parsed = vobject.readOne(body)
    other = [(e.dtstart.value, e.dtend.value) for e in parsed.vevent_list]
    assert sorted(other) == sorted(events)


def test_cancelled_stays_leave_the_feed(db, client, unit, make_user):
    guest = make_user()
    booking = book(db, guest, unit, 5, 8)
    path = export_path(db, unit)
    assert "Reserved" in client.get(path).get_data(as_text=True)
    cancellation.cancel_booking(guest, booking.id, NOW)
    db.session.commit()
    assert "VEVENT" not in client.get(path).get_data(as_text=True)


def _without_stamps(body: str) -> str:
    return re.sub(r"\r\nDTSTAMP:\d{8}T\d{6}Z", "", body)


def test_uids_are_stable_and_dtstamp_is_the_render_time(app, db, client, unit, make_user):
    book(db, make_user(), unit, 5, 8)
    path = export_path(db, unit)
    first = client.get(path)
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1)  # later: same calendar, same ETag
    second = client.get(path)
    # RFC 5545: DTSTAMP is when this iCalendar object was made, not the booking.
    assert "DTSTAMP:20261201T030000Z" in first.get_data(as_text=True)
    assert "DTSTAMP:20261201T040000Z" in second.get_data(as_text=True)
    assert first.data != second.data
    assert _without_stamps(first.get_data(as_text=True)) == _without_stamps(
        second.get_data(as_text=True)
    )
    assert first.headers["ETag"] == second.headers["ETag"]
    # Another stay adds an event; the first one's lines (its UID too) do not change.
    book(db, make_user(), unit, 10, 12)
    third = _without_stamps(client.get(path).get_data(as_text=True))
    event = _without_stamps(first.get_data(as_text=True)).split("BEGIN:VEVENT")[1]
    event = event.split("END:VEVENT")[0]
    assert event in third


def test_uids_do_not_count_bookings(app, db, client, unit, make_user):
    """Sequential ids would tell anyone holding a feed how many stays the network sells."""
    first = book(db, make_user(), unit, 5, 7)
    second = book(db, make_user(), unit, 8, 10)
    assert second.id == first.id + 1
    body = client.get(export_path(db, unit)).get_data(as_text=True)
    uids = re.findall(r"^UID:(\S+)", body, re.MULTILINE)
    events = [u.split("-")[0] for u in uids]
    assert len(set(events)) == 2
    assert not any(str(first.id) == e or str(second.id) == e for e in events)
    # The same bookings under another secret key: other UIDs (an HMAC, not a code).
    key = calendar_export.uid_key("another secret")
    other = calendar_export.event_uid(key, "booking", first.id, unit.id, "engawa.example")
    assert other not in uids
    mine = calendar_export.uid_key(app.config["SECRET_KEY"])
    assert calendar_export.event_uid(mine, "booking", first.id, unit.id, "engawa.example") in uids


def test_conditional_requests_get_304(app, db, client, unit, make_user):
    book(db, make_user(), unit, 5, 8)
    path = export_path(db, unit)
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert modified == "Tue, 01 Dec 2026 03:00:00 GMT"
    # Later, nothing changed: still 304 (the DTSTAMPs alone do not count as a change).
    app.config["FIXED_NOW"] = NOW + timedelta(hours=2)
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    # A new booking changes the feed: a new ETag, a full answer, and Last-Modified is
    # when this content was first served (docs/CALENDARS.md).
    book(db, make_user(), unit, 10, 12)
    app.config["FIXED_NOW"] = NOW + timedelta(hours=3)
    third = client.get(path, headers={"If-None-Match": etag})
    assert third.status_code == 200 and third.headers["ETag"] != etag
    assert third.headers["Last-Modified"] == "Tue, 01 Dec 2026 06:00:00 GMT"
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 200
    assert "private" in third.headers["Cache-Control"]
    app.config["FIXED_NOW"] = NOW + timedelta(hours=4)
    fourth = client.get(path)
    assert fourth.headers["Last-Modified"] == "Tue, 01 Dec 2026 06:00:00 GMT"
    assert fourth.headers["ETag"] == third.headers["ETag"]


def test_feeds_of_deactivated_rooms_and_facilities_answer_404(db, client, make_unit, make_user):
    room = make_unit()
    other = make_unit(facility=room.facility)
    book(db, make_user(), room, 5, 7)
    room_path = export_path(db, room)
    other_path = export_path(db, other)
    facility_export = calendar_export.export_for_facility(room.facility, NOW)
    db.session.commit()
    facility_path = facility_export.path
    assert client.get(room_path).status_code == 200
    room.active = False
    db.session.commit()
    assert client.get(room_path).status_code == 404
    assert client.get(other_path).status_code == 200
    assert client.get(facility_path).status_code == 200
    room.facility.active = False
    db.session.commit()
    for path in (room_path, other_path, facility_path):
        assert client.get(path).status_code == 404
    # Back on sale: the same addresses work again.
    room.active = room.facility.active = True
    db.session.commit()
    assert client.get(room_path).status_code == 200


def test_rotating_the_token_retires_the_old_address(db, client, unit):
    export = calendar_export.export_for_unit(unit, NOW)
    db.session.commit()
    old = export.path
    calendar_export.rotate(export, NOW)
    db.session.commit()
    assert client.get(old).status_code == 404
    assert client.get(export.path).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/calendars/nope.ics", "/calendars/" + "a" * 43 + ".ics", "/calendars/..%2F..%2Fetc.ics"],
)
def test_unknown_tokens_answer_404(client, path):
    assert client.get(path).status_code == 404


def _imported_block(db, unit, feed_server_url="http://127.0.0.1/x.ics"):
    from calendars.feeds import add_feed

    feed = add_feed(unit, feed_server_url, "Airbnb", NOW)
    block = Block(
        unit_id=unit.id,
        start_date=days(30),
        end_date=days(33),
        source=BlockSource.IMPORT,
        reason="external",
        feed_id=feed.id,
        event_key="abc@airbnb.com",
        summary="Reserved",
        created_at=NOW,
        updated_at=NOW,
    )
    db.session.add(block)
    db.session.flush()
    blocks.reconcile_unit(unit.id, TODAY)
    db.session.commit()


def test_imported_blocks_are_left_out_unless_asked_for(db, client, unit):
    _imported_block(db, unit)
    export = calendar_export.export_for_unit(unit, NOW)
    db.session.commit()
    assert "VEVENT" not in client.get(export.path).get_data(as_text=True)
    export.include_imported = True
    db.session.commit()
    body = client.get(export.path).get_data(as_text=True)
    assert f"DTSTART;VALUE=DATE:{days(30):%Y%m%d}" in body
    # The other channel's words (a guest's name, often) never leave.
    assert "SUMMARY:Not available" in body and "Reserved" not in body


def test_facility_feed_covers_every_unit(db, client, make_unit, make_user):
    first = make_unit()
    second = make_unit(facility=first.facility)
    book(db, make_user(name="Taro Suzuki", email="taro@acme.example"), first, 5, 7)
    book(db, make_user(), second, 9, 11)
    operator = make_user("operator", operator=first.facility.operator)
    blocks.close_dates(operator, [second], days(20), days(22), "private_use", "owner Sato", NOW)
    export = calendar_export.export_for_facility(first.facility, NOW)
    db.session.commit()
    response = client.get(export.path)
    cal = icalendar.Calendar.from_ical(response.data)
    starts = sorted(e.decoded("dtstart") for e in cal.walk("VEVENT"))
    assert starts == [days(5), days(9), days(20)]
    body = response.get_data(as_text=True)
    for secret in ("Taro", "Suzuki", "taro@acme.example", "Sato", "private"):
        assert secret not in body


def test_cli_prints_the_export_path(app, db, unit):
    result = app.test_cli_runner().invoke(args=["calendars", "export-url", str(unit.id)])
    assert result.exit_code == 0, result.output
    path = result.output.strip()
    assert re.fullmatch(r"/calendars/[A-Za-z0-9_-]{43}\.ics", path)
    # Stable: asking again gives the same address.
    again = app.test_cli_runner().invoke(args=["calendars", "export-url", str(unit.id)])
    assert again.output.strip() == path
    missing = app.test_cli_runner().invoke(args=["calendars", "export-url", "999999"])
    assert missing.exit_code != 0 and "No unit" in missing.output


def test_text_is_escaped_and_long_lines_folded(db, client, make_facility, make_unit, make_user):
    facility = make_facility(name_en="Karuizawa; Forest, House \\ Annex " + "長い名前" * 20)
    unit = make_unit(facility=facility, name="離れ, 2F; 和室")
    book(db, make_user(), unit, 5, 7)
    export = calendar_export.export_for_facility(facility, NOW)
    db.session.commit()
    body = client.get(export.path).data
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert body.endswith(b"END:VCALENDAR\r\n")
    cal = icalendar.Calendar.from_ical(body)
    # (icalendar leaves X- properties escaped, as written)
    assert (
        str(cal["X-WR-CALNAME"])
        == "Engawa: Karuizawa\\; Forest\\, House \\\\ Annex " + "長い名前" * 20
    )
    (event,) = cal.walk("VEVENT")
    assert str(event["DESCRIPTION"]) == "離れ, 2F; 和室"
    assert vobject.readOne(body.decode()).vevent.description.value == "離れ, 2F; 和室"
