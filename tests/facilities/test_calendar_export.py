"""Exported feeds: what a calendar app sees at /calendars/<token>.ics."""

from __future__ import annotations

import re
from datetime import date, timedelta

import icalendar
import pytest
import vobject

from booking import services as booking_services
from facilities import blocks, calendar_export
from facilities.models import Block, BlockSource
from tests.conftest import NOW, TODAY, days


def book(db, user, unit, first: int, last: int):
    booking = booking_services.book_stay(user, unit.id, days(first), days(last), 1, NOW)
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
    booking = book(db, guest, unit, 5, 8)
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
    assert f"UID:booking-{booking.id}@" in body

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
    booking_services.cancel_booking(guest, booking.id, NOW)
    db.session.commit()
    assert "VEVENT" not in client.get(path).get_data(as_text=True)


def test_uids_are_stable_and_the_body_is_byte_identical(app, db, client, unit, make_user):
    booking = book(db, make_user(), unit, 5, 8)
    path = export_path(db, unit)
    first = client.get(path)
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1)  # later: same calendar, same bytes
    second = client.get(path)
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    # Another stay adds an event; the first one's lines do not change.
    book(db, make_user(), unit, 10, 12)
    third = client.get(path).get_data(as_text=True)
    event = first.get_data(as_text=True).split("BEGIN:VEVENT")[1].split("END:VEVENT")[0]
    assert f"UID:booking-{booking.id}@" in event and event in third


def test_conditional_requests_get_304(db, client, unit, make_user):
    book(db, make_user(), unit, 5, 8)
    path = export_path(db, unit)
    first = client.get(path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    # A new booking changes the feed: a new ETag and a full answer.
    book(db, make_user(), unit, 10, 12)
    third = client.get(path, headers={"If-None-Match": etag})
    assert third.status_code == 200 and third.headers["ETag"] != etag
    assert "private" in third.headers["Cache-Control"]


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
    from facilities.feeds import add_feed

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


def test_facility_feed_covers_every_unit(db, client, make_unit, make_user):
    first = make_unit()
    second = make_unit(facility=first.facility)
    book(db, make_user(), first, 5, 7)
    book(db, make_user(), second, 9, 11)
    export = calendar_export.export_for_facility(first.facility, NOW)
    db.session.commit()
    cal = icalendar.Calendar.from_ical(client.get(export.path).data)
    starts = sorted(e.decoded("dtstart") for e in cal.walk("VEVENT"))
    assert starts == [days(5), days(9)]


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
