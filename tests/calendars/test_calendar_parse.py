"""calendars.parse: iCal feed bytes → the nights they block.

Plain functions, no app or database. Dates are fixed; nothing depends on today.
"""

from __future__ import annotations

import os
import re
import time as time_module
from contextlib import contextmanager
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calendars.parse import MAX_EVENTS, FeedParseError, ImportedEvent, read_feed

TOKYO = ZoneInfo("Asia/Tokyo")
WINDOW = (date(2026, 11, 1), date(2027, 3, 1))


def parse(body: bytes | str, *, window=WINDOW, check_in=time(15), check_out=time(10)):
    if isinstance(body, str):
        body = body.encode()
    return read_feed(
        body,
        tz=TOKYO,
        check_in=check_in,
        check_out=check_out,
        window_start=window[0],
        window_end=window[1],
    ).events


def nights(events: list[ImportedEvent]) -> dict[str, tuple[date, date]]:
    return {e.key: (e.start, e.end) for e in events}


def d(text: str) -> date:
    return date.fromisoformat(text)


def calendar(*events: str, newline: str = "\r\n") -> str:
    """A minimal VCALENDAR around VEVENT bodies written one property a line."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Engawa tests//EN"]
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().splitlines(), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return newline.join(lines) + newline


# --- fixtures: feeds as the channels write them ------------------------------

AIRBNB_UID_1 = "1418fb94e984-a1b2c3d4e5f60718293a4b5c6d7e8f90@airbnb.com"
AIRBNB_UID_2 = "7f3e2d1c0b9a-0f1e2d3c4b5a69788796a5b4c3d2e1f0@airbnb.com"
AIRBNB_UID_3 = "2c4e6a8b0d1f-13579bdf2468ace013579bdf2468ace0@airbnb.com"

# CRLF, and long lines folded at 75 octets (continuations start with a space).
AIRBNB = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "PRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN",
        "CALSCALE:GREGORIAN",
        "VERSION:2.0",
        "BEGIN:VEVENT",
        "DTSTAMP:20261201T030000Z",
        "DTSTART;VALUE=DATE:20261205",
        "DTEND;VALUE=DATE:20261208",
        "SUMMARY:Reserved",
        "UID:1418fb94e984-a1b2c3d4e5f60718293a4b5c6d7e8f90@airbn",
        " b.com",
        "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/",
        " details/HMABCDE123\\nPhone Number (Last 4 Digits): 4821",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "DTSTAMP:20261201T030000Z",
        "DTSTART;VALUE=DATE:20261220",
        "DTEND;VALUE=DATE:20261224",
        "SUMMARY:Airbnb (Not available)",
        f"UID:{AIRBNB_UID_2}",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "DTSTAMP:20261201T030000Z",
        "DTSTART;VALUE=DATE:20261230",
        "DTEND;VALUE=DATE:20270104",
        "SUMMARY:Reserved",
        f"UID:{AIRBNB_UID_3}",
        "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/",
        " details/HMXYZ98765\\nPhone Number (Last 4 Digits): 0917",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)

# Bare LF, no folding.
BOOKING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//admin.booking.com//EN
CALSCALE:GREGORIAN
METHOD:PUBLISH
BEGIN:VEVENT
DTSTART;VALUE=DATE:20261210
DTEND;VALUE=DATE:20261213
UID:b7c6d5e4f3a29181d0c@booking.com
SUMMARY:CLOSED - Not available
DTSTAMP:20261201T030000Z
END:VEVENT
BEGIN:VEVENT
DTSTART;VALUE=DATE:20270201
DTEND;VALUE=DATE:20270202
UID:0a9b8c7d6e5f40312ef@booking.com
SUMMARY:CLOSED - Not available
DTSTAMP:20261201T030000Z
END:VEVENT
END:VCALENDAR
"""

GOOGLE = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Engawa Kamakura blocks",
        "X-WR-TIMEZONE:Asia/Tokyo",
        "BEGIN:VTIMEZONE",
        "TZID:America/New_York",
        "X-LIC-LOCATION:America/New_York",
        "BEGIN:DAYLIGHT",
        "TZOFFSETFROM:-0500",
        "TZOFFSETTO:-0400",
        "TZNAME:EDT",
        "DTSTART:19700308T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
        "END:DAYLIGHT",
        "BEGIN:STANDARD",
        "TZOFFSETFROM:-0400",
        "TZOFFSETTO:-0500",
        "TZNAME:EST",
        "DTSTART:19701101T020000",
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        "END:STANDARD",
        "END:VTIMEZONE",
        # 14:00 on 12/05 to 11:00 on 12/07, Tokyo, written in UTC.
        "BEGIN:VEVENT",
        "DTSTART:20261205T050000Z",
        "DTEND:20261207T020000Z",
        "DTSTAMP:20261201T030000Z",
        "UID:owner-stay-0001@google.com",
        "SUMMARY:Owner stay",
        "STATUS:CONFIRMED",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        # 20:00-02:00 New York = 10:00-16:00 on 12/10 in Tokyo: only night 12/10.
        "BEGIN:VEVENT",
        "DTSTART;TZID=America/New_York:20261209T200000",
        "DTEND;TZID=America/New_York:20261210T020000",
        "DTSTAMP:20261201T030000Z",
        "UID:plumber-0002@google.com",
        "SUMMARY:Plumber (booked from NY office)",
        "END:VEVENT",
        # 23:00-00:30 UTC spans midnight UTC; in Tokyo 08:00-09:30 on 12/15.
        "BEGIN:VEVENT",
        "DTSTART:20261214T230000Z",
        "DTEND:20261215T003000Z",
        "DTSTAMP:20261201T030000Z",
        "UID:late-checkout-0003@google.com",
        "SUMMARY:Late checkout of a friend",
        "END:VEVENT",
        # Google exports all-day events as transparent; they still block.
        "BEGIN:VEVENT",
        "DTSTART;VALUE=DATE:20261228",
        "DTEND;VALUE=DATE:20261231",
        "DTSTAMP:20261201T030000Z",
        "UID:year-end-0004@google.com",
        "SUMMARY:年末休業 (year-end closing)",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "DTSTART;VALUE=DATE:20261216",
        "DTEND;VALUE=DATE:20261218",
        "DTSTAMP:20261201T030000Z",
        "UID:cancelled-0005@google.com",
        "SUMMARY:Cancelled painting",
        "STATUS:CANCELLED",
        "END:VEVENT",
        # Cleaning 11:00-17:00 on Mondays from 2027-01-04, four times; the
        # second is excluded, the third moved from Monday 01/18 to Wednesday.
        "BEGIN:VEVENT",
        "DTSTART;TZID=Asia/Tokyo:20270104T110000",
        "DTEND;TZID=Asia/Tokyo:20270104T170000",
        "RRULE:FREQ=WEEKLY;COUNT=4",
        "EXDATE;TZID=Asia/Tokyo:20270111T110000",
        "DTSTAMP:20261201T030000Z",
        "UID:weekly-cleaning-0006@google.com",
        "SUMMARY:Deep cleaning",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "DTSTART;TZID=Asia/Tokyo:20270120T110000",
        "DTEND;TZID=Asia/Tokyo:20270120T170000",
        "RECURRENCE-ID;TZID=Asia/Tokyo:20270118T110000",
        "SEQUENCE:1",
        "DTSTAMP:20261201T030000Z",
        "UID:weekly-cleaning-0006@google.com",
        "SUMMARY:Deep cleaning (moved)",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)


@contextmanager
def process_tz(name: str):
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time_module.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time_module.tzset()


# --- the channels -------------------------------------------------------------


def test_airbnb_crlf_folded_all_day_nights():
    events = parse(AIRBNB)

    assert nights(events) == {
        AIRBNB_UID_1: (d("2026-12-05"), d("2026-12-08")),
        AIRBNB_UID_2: (d("2026-12-20"), d("2026-12-24")),
        AIRBNB_UID_3: (d("2026-12-30"), d("2027-01-04")),
    }
    assert [e.summary for e in events] == ["Reserved", "Airbnb (Not available)", "Reserved"]
    assert events[0].uid == AIRBNB_UID_1  # unfolded


def test_airbnb_with_bom_and_bare_lf_reads_the_same():
    body = b"\xef\xbb\xbf" + AIRBNB.replace("\r\n", "\n").encode()

    assert parse(body) == parse(AIRBNB)


def test_booking_bare_lf_all_day_nights():
    events = parse(BOOKING)

    assert [(e.uid, e.start, e.end, e.summary) for e in events] == [
        (
            "b7c6d5e4f3a29181d0c@booking.com",
            d("2026-12-10"),
            d("2026-12-13"),
            "CLOSED - Not available",
        ),
        (
            "0a9b8c7d6e5f40312ef@booking.com",
            d("2027-02-01"),
            d("2027-02-02"),
            "CLOSED - Not available",
        ),
    ]


def test_google_timed_all_day_and_recurring_nights():
    events = parse(GOOGLE)

    assert nights(events) == {
        # 14:00 → 11:00 two days later: the nights of 12/05 and 12/06.
        "owner-stay-0001@google.com": (d("2026-12-05"), d("2026-12-07")),
        # TZID=America/New_York converted to Tokyo: 10:00-16:00 on 12/10.
        "plumber-0002@google.com": (d("2026-12-10"), d("2026-12-11")),
        # Two UTC dates, one Tokyo morning: the night of 12/14 only.
        "late-checkout-0003@google.com": (d("2026-12-14"), d("2026-12-15")),
        "year-end-0004@google.com": (d("2026-12-28"), d("2026-12-31")),
        # 11:00 Tokyo is 02:00 UTC; 01/11 excluded; 01/18 moved to 01/20.
        "weekly-cleaning-0006@google.com/2027-01-04T02:00:00Z": (d("2027-01-04"), d("2027-01-05")),
        "weekly-cleaning-0006@google.com/2027-01-20T02:00:00Z": (d("2027-01-20"), d("2027-01-21")),
        "weekly-cleaning-0006@google.com/2027-01-25T02:00:00Z": (d("2027-01-25"), d("2027-01-26")),
    }
    moved = [e for e in events if e.start == d("2027-01-20")]
    assert moved[0].summary == "Deep cleaning (moved)"
    assert {e.uid for e in events if "cleaning" in e.key} == {"weekly-cleaning-0006@google.com"}


def test_google_keys_are_stable_across_parses():
    first, second = parse(GOOGLE), parse(GOOGLE)

    assert [e.key for e in first] == [e.key for e in second]
    assert first == second


def test_recurring_keys_do_not_depend_on_the_window():
    early = parse(GOOGLE, window=(date(2026, 11, 1), date(2027, 1, 12)))
    late = parse(GOOGLE, window=(date(2027, 1, 10), date(2027, 3, 1)))

    cleaning = "weekly-cleaning-0006@google.com/"
    assert [e.key for e in early if e.key.startswith(cleaning)] == [
        cleaning + "2027-01-04T02:00:00Z"
    ]
    assert [e.key for e in late if e.key.startswith(cleaning)] == [
        cleaning + "2027-01-20T02:00:00Z",
        cleaning + "2027-01-25T02:00:00Z",
    ]


@pytest.mark.parametrize("process_zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles"])
def test_result_does_not_depend_on_the_process_time_zone(process_zone):
    floating = calendar(
        "UID:floating@example.com\nDTSTART:20261205T140000\nDTEND:20261207T110000",
        "UID:weekly-floating@example.com\nDTSTART:20261207T090000\nDTEND:20261207T120000\n"
        "RRULE:FREQ=DAILY;COUNT=3",
    )
    expected = (parse(GOOGLE), parse(floating), parse(AIRBNB))

    with process_tz(process_zone):
        assert (parse(GOOGLE), parse(floating), parse(AIRBNB)) == expected
    assert nights(expected[1])["floating@example.com"] == (d("2026-12-05"), d("2026-12-07"))


# --- timed events: the nights a guest would be in the room ---------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # A two-day stay, 14:00 → 11:00: overlaps the nights of 12/05 and 12/06.
        ("20261205T140000", "20261207T110000", ("2026-12-05", "2026-12-07")),
        # A meeting 10:00-12:00: after check-out, before check-in.
        ("20261205T100000", "20261205T120000", None),
        # Maintenance 10:00-16:00: overlaps from 15:00, the night of 12/05.
        ("20261205T100000", "20261205T160000", ("2026-12-05", "2026-12-06")),
        # Maintenance 09:00-16:00: the guest of night 12/04 is still in until
        # 10:00, so that night is blocked too (strict overlap rule).
        ("20261205T090000", "20261205T160000", ("2026-12-04", "2026-12-06")),
        # Ending exactly at check-in touches the night of 12/05 but does not block it.
        ("20261205T100000", "20261205T150000", None),
        # 02:00-03:00: in the middle of the night of 12/04.
        ("20261205T020000", "20261205T030000", ("2026-12-04", "2026-12-05")),
    ],
)
def test_timed_event_blocks_the_nights_it_overlaps(start, end, expected):
    feed = calendar(
        f"UID:t@example.com\nDTSTART;TZID=Asia/Tokyo:{start}\nDTEND;TZID=Asia/Tokyo:{end}"
    )

    events = parse(feed)

    if expected is None:
        assert events == []
    else:
        assert nights(events) == {"t@example.com": (d(expected[0]), d(expected[1]))}


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("20261205T180000", ("2026-12-05", "2026-12-06")),
        ("20261206T080000", ("2026-12-05", "2026-12-06")),
        ("20261205T120000", None),
    ],
)
def test_timed_event_without_end_blocks_the_night_holding_its_start(start, expected):
    for event in (
        f"UID:p@example.com\nDTSTART;TZID=Asia/Tokyo:{start}",
        f"UID:p@example.com\nDTSTART;TZID=Asia/Tokyo:{start}\nDURATION:PT0S",
    ):
        events = parse(calendar(event))
        assert [(e.start, e.end) for e in events] == (
            [] if expected is None else [(d(expected[0]), d(expected[1]))]
        )


def test_timed_event_with_duration():
    feed = calendar("UID:x@example.com\nDTSTART:20261205T050000Z\nDURATION:P1DT21H")

    assert nights(parse(feed)) == {"x@example.com": (d("2026-12-05"), d("2026-12-07"))}


def test_facility_check_in_and_check_out_times_are_used():
    feed = calendar(
        "UID:x@example.com\n"
        "DTSTART;TZID=Asia/Tokyo:20261205T100000\n"
        "DTEND;TZID=Asia/Tokyo:20261205T120000"
    )

    events = parse(feed, check_in=time(11), check_out=time(9))

    assert nights(events) == {"x@example.com": (d("2026-12-05"), d("2026-12-06"))}


# --- all-day events --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("DTSTART;VALUE=DATE:20261205\nDTEND;VALUE=DATE:20261207", ("2026-12-05", "2026-12-07")),
        ("DTSTART;VALUE=DATE:20261205", ("2026-12-05", "2026-12-06")),
        ("DTSTART;VALUE=DATE:20261205\nDURATION:P3D", ("2026-12-05", "2026-12-08")),
        ("DTSTART;VALUE=DATE:20261205\nDTEND;VALUE=DATE:20261205", ("2026-12-05", "2026-12-06")),
        ("DTSTART;VALUE=DATE:20261205\nDTEND;VALUE=DATE:20261201", ("2026-12-05", "2026-12-06")),
        # A date is never moved through a time zone, even one named on it.
        (
            "DTSTART;VALUE=DATE;TZID=America/New_York:20261205\n"
            "DTEND;VALUE=DATE;TZID=America/New_York:20261207",
            ("2026-12-05", "2026-12-07"),
        ),
    ],
)
def test_all_day_event_nights(event, expected):
    events = parse(calendar("UID:a@example.com\n" + event))

    assert nights(events) == {"a@example.com": (d(expected[0]), d(expected[1]))}


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xef\xbb\xbf\r\n", "empty"),
        (
            b"<!DOCTYPE html>\n<html><head><title>Airbnb</title></head>"
            b"<body>Page not found</body></html>",
            "not an iCalendar file",
        ),
        (b'{"error": "calendar not found", "status": 404}', "not an iCalendar file"),
        (bytes(range(256)) * 4, "not an iCalendar file"),
        (b"BEGIN:VCALENDAR\r\n", "truncated"),
        (AIRBNB[: AIRBNB.index("SUMMARY:Airbnb")].encode(), "truncated"),
        (AIRBNB.replace("END:VEVENT\r\nBEGIN:VEVENT", "BEGIN:VEVENT", 1).encode(), "malformed"),
        ((AIRBNB + AIRBNB).encode(), "more than one calendar"),
        (calendar().replace("VERSION:2.0", "GARBAGE LINE\r\nVERSION:2.0").encode(), "not a valid"),
    ],
)
def test_refused_bodies(body, message):
    with pytest.raises(FeedParseError, match=message):
        parse(body)


def test_empty_calendar_is_an_empty_list():
    assert parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n") == []
    assert parse(calendar()) == []


def test_too_many_events_is_refused():
    event = "UID:{n}@example.com\nDTSTART;VALUE=DATE:20261205"
    body = calendar(*(event.format(n=n) for n in range(MAX_EVENTS + 1)))

    with pytest.raises(FeedParseError, match="20,000"):
        parse(body)


def test_broken_event_is_skipped_but_not_all_of_them():
    good = "UID:good@example.com\nDTSTART;VALUE=DATE:20261205\nDTEND;VALUE=DATE:20261206"
    no_start = "UID:no-start@example.com\nSUMMARY:Reserved"
    bad_start = "UID:bad-start@example.com\nDTSTART;VALUE=DATE:20261305"
    bad_rule = "UID:bad-rule@example.com\nDTSTART;VALUE=DATE:20261205\nRRULE:FREQ=SOMETIMES"

    assert [e.key for e in parse(calendar(no_start, good, bad_start, bad_rule))] == [
        "good@example.com"
    ]
    with pytest.raises(FeedParseError, match="no readable events"):
        parse(calendar(no_start, bad_start, bad_rule))


def test_sub_daily_repeats_are_skipped():
    every_second = "UID:s@example.com\nDTSTART:19700101T000000Z\nRRULE:FREQ=SECONDLY"
    good = "UID:good@example.com\nDTSTART;VALUE=DATE:20261205"

    assert [e.key for e in parse(calendar(every_second, good))] == ["good@example.com"]


def test_time_zone_with_an_expensive_rule_is_refused():
    body = GOOGLE.replace("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", "RRULE:FREQ=SECONDLY").replace(
        "TZID:America/New_York", "TZID:Custom/Zone"
    )

    with pytest.raises(FeedParseError, match="time zone"):
        parse(body)


# --- keys, status, window ----------------------------------------------------------


def test_duplicate_uids_get_distinct_keys_in_document_order():
    twice = "UID:dup@example.com\nDTSTART;VALUE=DATE:{start}\nSUMMARY:{summary}"
    body = calendar(
        twice.format(start="20261205", summary="first"),
        twice.format(start="20261210", summary="second"),
        twice.format(start="20261215", summary="third"),
    )

    events = parse(body)

    assert [(e.key, e.summary) for e in events] == [
        ("dup@example.com", "first"),
        ("dup@example.com#2", "second"),
        ("dup@example.com#3", "third"),
    ]
    assert {e.uid for e in events} == {"dup@example.com"}


def test_duplicate_keys_count_events_outside_the_window():
    twice = "UID:dup@example.com\nDTSTART;VALUE=DATE:{start}"
    body = calendar(twice.format(start="20200101"), twice.format(start="20261205"))

    assert [e.key for e in parse(body)] == ["dup@example.com#2"]


def test_events_without_uid_get_stable_hash_keys():
    body = calendar(
        "DTSTART;VALUE=DATE:20261205\nDTEND;VALUE=DATE:20261207\nSUMMARY:Blocked",
        "DTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261211\nSUMMARY:Blocked",
    )

    first, second = parse(body), parse(body)

    assert [e.key for e in first] == [e.key for e in second]
    assert len({e.key for e in first}) == 2
    assert all(re.fullmatch(r"nouid-[0-9a-f]{40}", e.key) for e in first)
    assert all(e.uid == "" for e in first)


def test_long_uid_and_summary_are_bounded():
    uid = "u" * 300
    body = calendar(
        f"UID:{uid}\nDTSTART;VALUE=DATE:20261205\nSUMMARY:  {'s' * 250}  ",
        f"UID:{uid}\nDTSTART;VALUE=DATE:20261210\nSUMMARY:again",
        f"UID:{uid[:-1]}v\nDTSTART;VALUE=DATE:20261220\nRRULE:FREQ=DAILY;COUNT=2",
    )

    events = parse(body)

    assert len(events) == 4
    assert len({e.key for e in events}) == 4
    assert all(len(e.key) <= 255 and len(e.uid) == 255 for e in events)
    assert events[0].summary == "s" * 200


def test_cancelled_events_are_skipped_transparent_ones_kept():
    body = calendar(
        "UID:c@example.com\nDTSTART;VALUE=DATE:20261205\nSTATUS:CANCELLED",
        "UID:t@example.com\nDTSTART;VALUE=DATE:20261206\nTRANSP:TRANSPARENT",
    )

    assert [e.key for e in parse(body)] == ["t@example.com"]


def test_cancelled_calendar_is_readable_and_empty():
    assert parse(calendar("UID:c@example.com\nDTSTART;VALUE=DATE:20261205\nSTATUS:CANCELLED")) == []


def test_nights_are_clipped_to_the_window():
    body = calendar(
        "UID:before@example.com\nDTSTART;VALUE=DATE:20261025\nDTEND;VALUE=DATE:20261103",
        "UID:after@example.com\nDTSTART;VALUE=DATE:20270225\nDTEND;VALUE=DATE:20270305",
        "UID:outside@example.com\nDTSTART;VALUE=DATE:20261020\nDTEND;VALUE=DATE:20261101",
        "UID:beyond@example.com\nDTSTART;VALUE=DATE:20270301\nDTEND;VALUE=DATE:20270302",
        "UID:around@example.com\nDTSTART;VALUE=DATE:20260101\nDTEND;VALUE=DATE:20280101",
    )

    assert nights(parse(body)) == {
        "before@example.com": (d("2026-11-01"), d("2026-11-03")),
        "after@example.com": (d("2027-02-25"), d("2027-03-01")),
        "around@example.com": (d("2026-11-01"), d("2027-03-01")),
    }


def test_timed_occurrences_at_the_window_edges():
    # Daily 08:00-09:00 Tokyo: each occurrence is the morning after a night.
    body = calendar(
        "UID:m@example.com\nDTSTART;TZID=Asia/Tokyo:20261025T080000\n"
        "DTEND;TZID=Asia/Tokyo:20261025T090000\nRRULE:FREQ=DAILY;UNTIL=20270401T000000Z"
    )

    events = parse(body, window=(date(2026, 12, 1), date(2026, 12, 4)))

    # The 12/01 morning belongs to night 11/30, outside; the 12/04 morning to
    # night 12/03, the window's last night.
    assert [(e.start, e.end) for e in events] == [
        (d("2026-12-01"), d("2026-12-02")),
        (d("2026-12-02"), d("2026-12-03")),
        (d("2026-12-03"), d("2026-12-04")),
    ]


def test_floating_times_follow_x_wr_timezone():
    body = calendar("UID:f@example.com\nDTSTART:20261205T140000\nDTEND:20261205T160000").replace(
        "VERSION:2.0", "VERSION:2.0\r\nX-WR-TIMEZONE:America/New_York"
    )

    # 14:00-16:00 New York is 04:00-06:00 on 12/06 in Tokyo: the night of 12/05.
    assert nights(parse(body)) == {"f@example.com": (d("2026-12-05"), d("2026-12-06"))}


def test_invalid_x_wr_timezone_is_ignored():
    body = calendar("UID:f@example.com\nDTSTART:20261205T140000\nDTEND:20261205T160000").replace(
        "VERSION:2.0", "VERSION:2.0\r\nX-WR-TIMEZONE:Asia"
    )

    assert nights(parse(body)) == {"f@example.com": (d("2026-12-05"), d("2026-12-06"))}


def test_invalid_utf8_is_replaced_not_fatal():
    body = AIRBNB.replace("SUMMARY:Reserved", "SUMMARY:Reserved \udcff", 1)

    events = parse(body.encode("utf-8", "surrogateescape"))

    assert events[0].summary == "Reserved \ufffd"


# --- properties ----------------------------------------------------------------------


def assert_list_or_refused(body: bytes) -> list[ImportedEvent] | None:
    try:
        events = parse(body)
    except FeedParseError:
        return None
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, ImportedEvent)
        assert WINDOW[0] <= event.start < event.end <= WINDOW[1]
        assert len(event.key) <= 255 and len(event.uid) <= 255 and len(event.summary) <= 200
    return events


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2_000))
def test_any_bytes_give_a_list_or_feed_parse_error(body):
    assert_list_or_refused(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=12))
def test_any_lines_inside_a_calendar_give_a_list_or_feed_parse_error(lines):
    body = "\r\n".join(["BEGIN:VCALENDAR", "BEGIN:VEVENT", *lines, "END:VEVENT", "END:VCALENDAR"])
    assert_list_or_refused(body.encode("utf-8", "surrogatepass"))


@st.composite
def mutated_feeds(draw):
    body = bytearray(draw(st.sampled_from([AIRBNB, GOOGLE, BOOKING])).encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if kind == "truncate":
            del body[at:]
        elif kind == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 40))]
    return bytes(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_feeds())
def test_mutated_feeds_give_a_list_or_feed_parse_error(body):
    assert_list_or_refused(body)


@st.composite
def generated_feeds(draw):
    events = []
    for n in range(draw(st.integers(0, 8))):
        start = date(2026, 9, 1) + timedelta(days=draw(st.integers(0, 240)))
        length = draw(st.integers(-2, 40))
        lines = [f"UID:gen-{n}@example.com"]
        if draw(st.booleans()):
            lines.append(f"DTSTART;VALUE=DATE:{start:%Y%m%d}")
            end = start + timedelta(days=length)
            lines.append(f"DTEND;VALUE=DATE:{end:%Y%m%d}")
        else:
            hour = draw(st.integers(0, 23))
            zone = draw(st.sampled_from(["Z", ";TZID=America/New_York", ";TZID=Asia/Tokyo", ""]))
            suffix, params = ("Z", "") if zone == "Z" else ("", zone)
            lines.append(f"DTSTART{params}:{start:%Y%m%d}T{hour:02}0000{suffix}")
            end = start + timedelta(hours=length * 3)
            lines.append(f"DTEND{params}:{end:%Y%m%d}T{hour:02}0000{suffix}")
        if draw(st.booleans()):
            lines.append(
                f"RRULE:FREQ={draw(st.sampled_from(['DAILY', 'WEEKLY', 'MONTHLY']))};COUNT=5"
            )
        events.append("\n".join(lines))
    return calendar(*events)


@settings(max_examples=200, deadline=None)
@given(
    generated_feeds(),
    st.dates(date(2026, 10, 1), date(2027, 3, 1)),
    st.integers(1, 120),
)
def test_every_event_lies_inside_the_window(body, window_start, days):
    window_end = window_start + timedelta(days=days)

    events = parse(body, window=(window_start, window_end))

    for event in events:
        assert window_start <= event.start < event.end <= window_end
    assert len({e.key for e in events}) == len(events)
