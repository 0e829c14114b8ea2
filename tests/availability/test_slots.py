"""Workspace slot arithmetic (``availability.slots``): opening hours and holidays, slot
sizes, the booking checks with every refusal code, times from any offset, the API's
ISO times, the base price; with hypothesis, accepted bookings always claim slots of
their day's opening and prices never pass the day price.

Pure functions only: no app, no database.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import jpholiday
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import availability.slots as slots_module
from availability.slots import (
    DAY_MINUTES,
    Opening,
    OpeningHours,
    ScheduleError,
    SlotError,
    SlotRules,
    Span,
    WorkspacePrices,
    booking_price,
    check_booking,
    check_hours,
    check_slot_size,
    day_slots,
    format_api_time,
    parse_api_time,
    slot_starts,
)
from core.db import TOKYO

MONDAY = date(2026, 12, 7)
SUNDAY = date(2026, 12, 6)
LABOUR_THANKSGIVING = date(2026, 11, 23)  # 勤労感謝の日, a Monday
NEW_YEAR = date(2027, 1, 1)  # 元日, a Friday
SUNDAY_INDEX = 6

WEEKDAY_HOURS = Opening(time(9), time(18))
SATURDAY_HOURS = Opening(time(10), time(17))
SUNDAY_HOURS = Opening(time(10), time(16))
# Open every day, holidays with Sunday's hours.
HOURS = OpeningHours((WEEKDAY_HOURS,) * 5 + (SATURDAY_HOURS, SUNDAY_HOURS), holiday=SUNDAY_INDEX)
HOLIDAYS_CLOSED = replace(HOURS, holiday=None)
SUNDAYS_CLOSED = OpeningHours((WEEKDAY_HOURS,) * 5 + (SATURDAY_HOURS, None), holiday=SUNDAY_INDEX)
LATE = OpeningHours((Opening(time(20)),) * 7)  # 20:00–24:00
ALL_DAY = OpeningHours((Opening(time(0)),) * 7)

RULES_30 = SlotRules(slot_minutes=30, min_minutes=60, max_minutes=240)
RULES_15 = SlotRules(slot_minutes=15, min_minutes=15, max_minutes=480)

NEW_YORK_WINTER = timezone(timedelta(hours=-5))
NEPAL = timezone(timedelta(hours=5, minutes=45))


def jst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO)


def code_of(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.code


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [15, 30])
def test_slot_sizes_of_15_and_30_minutes_are_taken(size):
    assert check_slot_size(size) == size


@pytest.mark.parametrize("size", [20, 0, 60, -15, True, 15.0, "15", None])
def test_any_other_slot_size_is_refused(size):
    with pytest.raises(ScheduleError) as excinfo:
        check_slot_size(size)
    assert code_of(excinfo) == "slot_size"


def test_an_opening_closes_after_it_opens():
    assert Opening(time(9), time(18)).closes_minute == 18 * 60
    assert Opening(time(20)).closes_minute == DAY_MINUTES  # None: midnight, 24:00
    for opens, closes in [(time(18), time(9)), (time(9), time(9)), (time(9), time(0))]:
        with pytest.raises(ScheduleError) as excinfo:
            Opening(opens, closes)
        assert code_of(excinfo) == "invalid_hours"


@pytest.mark.parametrize(
    "opens",
    [time(9, 0, 30), time(9, 0, 0, 1), time(9, tzinfo=TOKYO), datetime(2026, 12, 7, 9), None],
)
def test_an_opening_is_whole_minutes_of_a_zoneless_clock(opens):
    with pytest.raises(ScheduleError) as excinfo:
        Opening(opens, time(18))
    assert code_of(excinfo) == "invalid_hours"


def test_an_opening_from_minutes_since_midnight():
    assert Opening.from_minutes(9 * 60 + 30, DAY_MINUTES) == Opening(time(9, 30), None)
    assert Opening.from_minutes(0, 15) == Opening(time(0), time(0, 15))
    for opens, closes in [(-15, 60), (0, DAY_MINUTES + 15), (DAY_MINUTES, DAY_MINUTES)]:
        with pytest.raises(ScheduleError):
            Opening.from_minutes(opens, closes)


@pytest.mark.parametrize(
    "week, holiday",
    [
        ((WEEKDAY_HOURS,) * 6, None),
        ((WEEKDAY_HOURS,) * 8, None),
        ([WEEKDAY_HOURS] * 7, None),
        ((WEEKDAY_HOURS,) * 6 + ((time(9), time(18)),), None),
        ((WEEKDAY_HOURS,) * 7, 7),
        ((WEEKDAY_HOURS,) * 7, -1),
        ((WEEKDAY_HOURS,) * 7, True),
        ((WEEKDAY_HOURS,) * 7, "sunday"),
    ],
)
def test_opening_hours_are_seven_days_and_a_holiday_rule(week, holiday):
    with pytest.raises(ScheduleError) as excinfo:
        OpeningHours(week, holiday)
    assert code_of(excinfo) == "invalid_hours"


def test_opening_hours_must_lie_on_the_slot_boundaries():
    quarter_past = OpeningHours((Opening(time(9, 15), time(18)),) * 7)
    check_hours(quarter_past, 15)
    with pytest.raises(ScheduleError) as excinfo:
        check_hours(quarter_past, 30)
    assert code_of(excinfo) == "invalid_hours"
    with pytest.raises(ScheduleError) as excinfo:
        day_slots(quarter_past, MONDAY, 30)
    assert code_of(excinfo) == "invalid_hours"
    with pytest.raises(ScheduleError) as excinfo:
        check_booking(jst(MONDAY, 10), jst(MONDAY, 11), quarter_past, RULES_30)
    assert code_of(excinfo) == "invalid_hours"
    with pytest.raises(ScheduleError) as excinfo:
        check_hours(HOURS, 20)
    assert code_of(excinfo) == "slot_size"


@pytest.mark.parametrize(
    "slot, low, high",
    [
        (30, 45, 120),  # not a multiple of the slot
        (30, 60, 100),
        (30, 120, 60),  # minimum above maximum
        (30, 0, 60),
        (15, 15, DAY_MINUTES + 15),
        (30, 60.0, 120),
        (30, True, 120),
    ],
)
def test_booking_lengths_are_multiples_of_the_slot_in_order(slot, low, high):
    with pytest.raises(ScheduleError) as excinfo:
        SlotRules(slot, low, high)
    assert code_of(excinfo) == "booking_length"


def test_slot_rules_refuse_a_slot_of_20_minutes():
    with pytest.raises(ScheduleError) as excinfo:
        SlotRules(20, 60, 120)
    assert code_of(excinfo) == "slot_size"


# -- a day's slots --------------------------------------------------------------------


def test_a_weekday_has_its_slots_in_order_as_utc():
    slots = day_slots(HOURS, MONDAY, 30)
    assert len(slots) == 18
    assert slots[0] == Span(
        datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(2026, 12, 7, 0, 30, tzinfo=UTC)
    )
    assert slots[-1].end == jst(MONDAY, 18) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert all(slot.start.tzinfo is UTC and slot.end.tzinfo is UTC for slot in slots)
    assert all(a.end == b.start for a, b in zip(slots, slots[1:], strict=False))
    assert {slot.minutes for slot in slots} == {30}
    quarters = day_slots(HOURS, MONDAY, 15)
    assert len(quarters) == 36
    assert quarters[1].start == jst(MONDAY, 9, 15)


def test_a_slot_unpacks_as_start_and_end():
    start, end = day_slots(HOURS, MONDAY, 30)[0]
    assert (start, end) == (jst(MONDAY, 9), jst(MONDAY, 9, 30))


def test_a_closed_day_has_no_slots():
    assert day_slots(SUNDAYS_CLOSED, SUNDAY, 30) == []
    assert len(day_slots(HOURS, SUNDAY, 30)) == 12


@pytest.mark.parametrize("holiday", [LABOUR_THANKSGIVING, NEW_YEAR])
def test_a_holiday_is_closed_or_has_sundays_hours(holiday):
    assert day_slots(HOLIDAYS_CLOSED, holiday, 30) == []
    slots = day_slots(HOURS, holiday, 30)
    assert (slots[0].start, slots[-1].end) == (jst(holiday, 10), jst(holiday, 16))
    # Sundays closed and holidays as Sunday: closed too.
    assert day_slots(SUNDAYS_CLOSED, holiday, 30) == []


def test_the_day_after_a_holiday_has_its_own_hours():
    slots = day_slots(HOLIDAYS_CLOSED, LABOUR_THANKSGIVING + timedelta(days=1), 30)
    assert (slots[0].start, slots[-1].end) == (
        jst(date(2026, 11, 24), 9),
        jst(date(2026, 11, 24), 18),
    )


def test_an_opening_to_midnight_ends_at_the_next_tokyo_day():
    slots = day_slots(LATE, MONDAY, 30)
    assert len(slots) == 8
    assert (
        slots[-1].end == jst(MONDAY + timedelta(days=1), 0) == datetime(2026, 12, 7, 15, tzinfo=UTC)
    )
    whole_day = day_slots(ALL_DAY, MONDAY, 15)
    assert len(whole_day) == DAY_MINUTES // 15
    assert whole_day[0].start == datetime(2026, 12, 6, 15, tzinfo=UTC)  # 00:00 JST


def test_day_slots_take_a_date_not_a_datetime():
    with pytest.raises(TypeError):
        day_slots(HOURS, datetime(2026, 12, 7, tzinfo=TOKYO), 30)


# -- a booking's times ----------------------------------------------------------------


def test_a_booking_inside_the_hours_is_normalised_to_utc():
    span = check_booking(jst(MONDAY, 14), jst(MONDAY, 15, 30), HOURS, RULES_30)
    assert span == Span(
        datetime(2026, 12, 7, 5, tzinfo=UTC), datetime(2026, 12, 7, 6, 30, tzinfo=UTC)
    )
    assert span.start.tzinfo is UTC and span.minutes == 90


@pytest.mark.parametrize(
    "start, end",
    [
        (datetime(2026, 12, 7, 5, tzinfo=UTC), datetime(2026, 12, 7, 6, 30, tzinfo=UTC)),
        (
            datetime(2026, 12, 7, 0, tzinfo=NEW_YORK_WINTER),
            datetime(2026, 12, 7, 1, 30, tzinfo=NEW_YORK_WINTER),
        ),
        (datetime(2026, 12, 7, 10, 45, tzinfo=NEPAL), datetime(2026, 12, 7, 12, 15, tzinfo=NEPAL)),
        (jst(MONDAY, 14), datetime(2026, 12, 7, 6, 30, tzinfo=UTC)),
    ],
)
def test_a_booking_from_any_offset_is_judged_on_the_tokyo_clock(start, end):
    # 14:00–15:30 JST however it is written.
    span = check_booking(start, end, HOURS, RULES_30)
    assert span == check_booking(jst(MONDAY, 14), jst(MONDAY, 15, 30), HOURS, RULES_30)
    assert format_api_time(span.start) == "2026-12-07T14:00:00+09:00"


def test_the_day_is_the_tokyo_day_of_the_start_not_the_utc_day():
    # Sunday 23:30 UTC is Monday 08:30 JST: before Monday's opening, not inside Sunday's.
    start = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    with pytest.raises(SlotError) as excinfo:
        check_booking(start, start + timedelta(hours=1), HOURS, RULES_30)
    assert code_of(excinfo) == "outside_hours"
    # Sunday 01:00 UTC is Sunday 10:00 JST: Sunday's opening.
    start = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    with pytest.raises(SlotError) as excinfo:
        check_booking(start, start + timedelta(hours=1), SUNDAYS_CLOSED, RULES_30)
    assert code_of(excinfo) == "outside_hours"
    assert check_booking(start, start + timedelta(hours=1), HOURS, RULES_30).minutes == 60


@pytest.mark.parametrize(
    "start, end",
    [
        ((9, 0), (10, 0)),  # at opening
        ((17, 0), (18, 0)),  # ending at closing
        ((9, 0), (13, 0)),  # exactly the maximum
        ((14, 0), (15, 0)),  # exactly the minimum
    ],
)
def test_bookings_at_the_edges_are_taken(start, end):
    span = check_booking(jst(MONDAY, *start), jst(MONDAY, *end), HOURS, RULES_30)
    assert span.start == jst(MONDAY, *start)


def test_the_last_slot_of_the_day_can_be_booked():
    rules = SlotRules(30, 30, 60)
    last = day_slots(HOURS, MONDAY, 30)[-1]
    assert check_booking(last.start, last.end, HOURS, rules) == last
    quarter = day_slots(HOURS, MONDAY, 15)[-1]
    assert check_booking(quarter.start, quarter.end, HOURS, RULES_15) == quarter
    midnight = day_slots(LATE, MONDAY, 30)[-1]
    assert check_booking(midnight.start, midnight.end, LATE, rules) == midnight


def refusal(start, end, hours=HOURS, rules=RULES_30) -> str:
    with pytest.raises(SlotError) as excinfo:
        check_booking(start, end, hours, rules)
    return code_of(excinfo)


@pytest.mark.parametrize(
    "start, end",
    [
        (datetime(2026, 12, 7, 14), jst(MONDAY, 15)),
        (jst(MONDAY, 14), datetime(2026, 12, 7, 15)),
        (MONDAY, jst(MONDAY, 15)),
        ("2026-12-07T14:00:00+09:00", jst(MONDAY, 15)),
    ],
)
def test_a_naive_or_missing_time_is_refused(start, end):
    assert refusal(start, end) == "invalid_time"


def test_the_end_must_be_after_the_start():
    assert refusal(jst(MONDAY, 15), jst(MONDAY, 15)) == "order"
    assert refusal(jst(MONDAY, 15), jst(MONDAY, 14)) == "order"
    # Later on the face of it, earlier in fact.
    assert refusal(jst(MONDAY, 15), datetime(2026, 12, 7, 5, tzinfo=UTC)) == "order"


def test_times_off_the_slot_boundaries_are_refused():
    assert refusal(jst(MONDAY, 14, 10), jst(MONDAY, 15, 10)) == "not_on_slot"
    assert refusal(jst(MONDAY, 14), jst(MONDAY, 15, 15)) == "not_on_slot"
    assert refusal(jst(MONDAY, 14).replace(second=1), jst(MONDAY, 15)) == "not_on_slot"
    assert refusal(jst(MONDAY, 14), jst(MONDAY, 15).replace(microsecond=1)) == "not_on_slot"
    # 14:15 is a slot of a 15-minute unit, not of a 30-minute one.
    assert refusal(jst(MONDAY, 14, 15), jst(MONDAY, 15, 15)) == "not_on_slot"
    assert check_booking(jst(MONDAY, 14, 15), jst(MONDAY, 15, 15), HOURS, RULES_15).minutes == 60
    # 10:45 at +05:30 is 14:15 JST: off the half-hours even though it looks like :45.
    india = timezone(timedelta(hours=5, minutes=30))
    start = datetime(2026, 12, 7, 10, 45, tzinfo=india)
    assert refusal(start, start + timedelta(hours=1)) == "not_on_slot"


def test_times_outside_the_opening_are_refused():
    assert refusal(jst(MONDAY, 8, 30), jst(MONDAY, 9, 30)) == "outside_hours"
    assert refusal(jst(MONDAY, 18), jst(MONDAY, 19)) == "outside_hours"  # at closing
    assert refusal(jst(MONDAY, 22), jst(MONDAY, 23)) == "outside_hours"
    assert refusal(jst(SUNDAY, 11), jst(SUNDAY, 12), SUNDAYS_CLOSED) == "outside_hours"


@pytest.mark.parametrize("holiday", [LABOUR_THANKSGIVING, NEW_YEAR])
def test_a_holiday_is_closed_or_bookable_in_sundays_hours(holiday):
    assert refusal(jst(holiday, 11), jst(holiday, 12), HOLIDAYS_CLOSED) == "outside_hours"
    # A weekday's 09:00 is before Sunday's opening at 10:00.
    assert refusal(jst(holiday, 9), jst(holiday, 10)) == "outside_hours"
    assert refusal(jst(holiday, 15), jst(holiday, 17)) == "spans_closing"
    assert check_booking(jst(holiday, 10), jst(holiday, 11), HOURS, RULES_30).minutes == 60


def test_a_booking_never_spans_closing_time_or_midnight():
    assert refusal(jst(MONDAY, 17, 30), jst(MONDAY, 18, 30)) == "spans_closing"
    rules = SlotRules(30, 30, DAY_MINUTES)
    assert (
        refusal(jst(MONDAY, 23, 30), jst(MONDAY, 23, 30) + timedelta(hours=1), LATE, rules)
        == "spans_closing"
    )
    assert (
        refusal(jst(MONDAY, 0), jst(MONDAY, 0) + timedelta(days=1, minutes=30), ALL_DAY, rules)
        == "spans_closing"
    )
    assert (
        refusal(jst(MONDAY, 17), jst(MONDAY, 17) + timedelta(days=1), HOURS, rules)
        == "spans_closing"
    )
    # The whole of an always-open day, midnight to midnight, is one booking.
    assert (
        check_booking(jst(MONDAY, 0), jst(MONDAY, 0) + timedelta(days=1), ALL_DAY, rules).minutes
        == DAY_MINUTES
    )


def test_lengths_below_the_minimum_or_above_the_maximum_are_refused():
    assert refusal(jst(MONDAY, 14), jst(MONDAY, 14, 30)) == "too_short"
    assert refusal(jst(MONDAY, 9), jst(MONDAY, 13, 30)) == "too_long"
    assert check_booking(jst(MONDAY, 9), jst(MONDAY, 17), HOURS, RULES_15).minutes == 480
    assert refusal(jst(MONDAY, 9), jst(MONDAY, 17, 15), rules=RULES_15) == "too_long"


# -- slot starts ----------------------------------------------------------------------


def test_slot_starts_are_each_slot_of_a_booking_in_utc():
    starts = slot_starts(jst(MONDAY, 14), jst(MONDAY, 15, 30), 30)
    assert starts == [
        datetime(2026, 12, 7, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 7, 5, 30, tzinfo=UTC),
        datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
    ]
    assert all(start.tzinfo is UTC for start in starts)
    assert len(slot_starts(jst(MONDAY, 14), jst(MONDAY, 15, 30), 15)) == 6
    from_utc = slot_starts(
        datetime(2026, 12, 7, 5, tzinfo=UTC), datetime(2026, 12, 7, 6, 30, tzinfo=UTC), 30
    )
    assert from_utc == starts


def test_slot_starts_refuse_what_is_not_a_slot_range():
    with pytest.raises(SlotError) as excinfo:
        slot_starts(datetime(2026, 12, 7, 14), datetime(2026, 12, 7, 15), 30)
    assert code_of(excinfo) == "invalid_time"
    with pytest.raises(SlotError) as excinfo:
        slot_starts(jst(MONDAY, 15), jst(MONDAY, 14), 30)
    assert code_of(excinfo) == "order"
    with pytest.raises(SlotError) as excinfo:
        slot_starts(jst(MONDAY, 14), jst(MONDAY, 14, 45), 30)
    assert code_of(excinfo) == "not_on_slot"
    with pytest.raises(ScheduleError) as excinfo:
        slot_starts(jst(MONDAY, 14), jst(MONDAY, 15), 20)
    assert code_of(excinfo) == "slot_size"


# -- the API's times ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T14:00:00+09:00",
        "2026-12-07T14:00+09:00",
        "2026-12-07T05:00:00Z",
        "2026-12-07T05:00:00+00:00",
        "2026-12-07T00:00:00.000-05:00",
    ],
)
def test_an_api_time_with_an_offset_is_parsed_to_utc(text):
    parsed = parse_api_time(text)
    assert parsed == datetime(2026, 12, 7, 5, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T14:00:00",  # naive
        "2026-12-07",
        "2026-12-07 14:00:00+09:00",
        "2026-12-07T14:00:00+0900",
        "20261207T140000+09:00",
        "2026-02-30T14:00:00+09:00",  # no such day
        "2026-12-07T24:00:00+09:00",
        "2026-12-07T14:00:00+24:00",
        "２０２６-12-07T14:00:00+09:00",
        "",
        None,
        1765083600,
    ],
)
def test_an_api_time_without_an_offset_or_malformed_is_refused(text):
    with pytest.raises(SlotError) as excinfo:
        parse_api_time(text)
    assert code_of(excinfo) == "invalid_time"


def test_api_times_are_written_in_japan_time():
    assert format_api_time(datetime(2026, 12, 7, 5, tzinfo=UTC)) == "2026-12-07T14:00:00+09:00"
    assert format_api_time(datetime(2026, 12, 7, 15, tzinfo=UTC)) == "2026-12-08T00:00:00+09:00"
    assert (
        format_api_time(datetime(2026, 12, 7, 0, tzinfo=NEW_YORK_WINTER))
        == "2026-12-07T14:00:00+09:00"
    )
    with pytest.raises(SlotError) as excinfo:
        format_api_time(datetime(2026, 12, 7, 14))
    assert code_of(excinfo) == "invalid_time"
    moment = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
    assert parse_api_time(format_api_time(moment)) == moment


# -- price ----------------------------------------------------------------------------


def test_the_price_is_hourly_per_minute_rounded_down():
    assert booking_price(WorkspacePrices(1000), 90) == 1500
    assert booking_price(WorkspacePrices(999), 15) == 249  # 249.75 → 249
    assert booking_price(WorkspacePrices(1001), 30) == 500  # 500.5 → 500
    assert booking_price(WorkspacePrices(0), 60) == 0
    assert booking_price(WorkspacePrices(1000), 0) == 0


def test_the_day_price_caps_a_booking():
    prices = WorkspacePrices(hourly=1000, day=5000)
    assert booking_price(prices, 4 * 60) == 4000
    assert booking_price(prices, 5 * 60) == 5000
    assert booking_price(prices, 8 * 60) == 5000
    assert booking_price(WorkspacePrices(1000), 8 * 60) == 8000


@pytest.mark.parametrize(
    "hourly, day",
    [(-1, None), (1000, -1), (1000.0, None), (True, None), (1000, 5000.5), ("1000", None)],
)
def test_prices_are_non_negative_whole_yen(hourly, day):
    with pytest.raises(ScheduleError) as excinfo:
        WorkspacePrices(hourly, day)
    assert code_of(excinfo) == "invalid_price"


@pytest.mark.parametrize("minutes", [-30, 1.5, True])
def test_a_price_is_for_whole_non_negative_minutes(minutes):
    with pytest.raises(ValueError):
        booking_price(WorkspacePrices(1000), minutes)


# -- properties -----------------------------------------------------------------------


@st.composite
def bookings(draw):
    """An opening, rules, and a booking near the opening written at any offset: often
    one the rules accept, sometimes one just outside them."""
    slot = draw(st.sampled_from([15, 30]))
    per_day = DAY_MINUTES // slot
    opens = draw(st.integers(0, per_day - 1))
    closes = draw(st.integers(opens + 1, per_day))
    opening = Opening.from_minutes(opens * slot, closes * slot)
    week = tuple(None if draw(st.integers(0, 9)) == 9 else opening for _ in range(7))
    hours = OpeningHours(week, draw(st.one_of(st.none(), st.integers(0, 6))))
    low = draw(st.integers(1, 4))
    high = draw(st.integers(low, per_day))
    rules = SlotRules(slot, low * slot, high * slot)
    day = draw(st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    if draw(st.integers(0, 4)):  # mostly a start in the opening, for as long as it lasts
        begin = draw(st.integers(opens, closes - 1))
        length = draw(st.integers(min(low, closes - begin), closes - begin))
    else:
        begin = draw(st.integers(max(0, opens - 2), min(per_day - 1, closes + 1)))
        length = draw(st.integers(1, max(1, closes - begin + 2)))
    jitter = draw(st.sampled_from([0] * 9 + [1, 7]))
    start = jst(day, 0) + timedelta(minutes=begin * slot + jitter)
    end = start + timedelta(minutes=length * slot)
    offset = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    # The answer, worked out from the drawing rather than from the Tokyo clock.
    weekday = hours.holiday if jpholiday.is_holiday(day) else day.weekday()
    is_open = weekday is not None and week[weekday] is not None
    if jitter:
        expected = "not_on_slot"
    elif not is_open or not opens <= begin < closes:
        expected = "outside_hours"
    elif begin + length > closes:
        expected = "spans_closing"
    elif length < low:
        expected = "too_short"
    elif length > high:
        expected = "too_long"
    else:
        expected = None
    return hours, rules, start.astimezone(offset), end.astimezone(offset), expected


@settings(max_examples=400, deadline=None)
@given(case=bookings())
def test_an_accepted_booking_claims_slots_of_its_days_opening(case):
    """A booking is refused with the first rule it breaks; one accepted claims slots of
    its Tokyo day's opening, one per slot of its length."""
    hours, rules, start, end, expected = case
    try:
        span = check_booking(start, end, hours, rules)
    except SlotError as refused:
        assert refused.code == expected
        return
    assert expected is None
    day = start.astimezone(TOKYO).date()
    slots = day_slots(hours, day, rules.slot_minutes)
    claimed = slot_starts(span.start, span.end, rules.slot_minutes)
    assert set(claimed) <= {slot.start for slot in slots}
    assert len(claimed) == span.minutes // rules.slot_minutes == len(set(claimed))
    assert claimed[0] == span.start == start and span.end == end
    assert claimed[-1] + timedelta(minutes=rules.slot_minutes) == span.end
    assert rules.min_minutes <= span.minutes <= rules.max_minutes
    assert all(moment.tzinfo is UTC for moment in (*claimed, span.start, span.end))


@settings(max_examples=200, deadline=None)
@given(
    slot=st.sampled_from([15, 30]),
    opens=st.integers(0, 95),
    length=st.integers(1, 96),
    day=st.dates(date(2026, 1, 1), date(2027, 12, 31)),
)
def test_a_days_slots_tile_its_opening(slot, opens, length, day):
    opens_minute = opens * 15 // slot * slot
    closes_minute = min(DAY_MINUTES, opens_minute + length * slot)
    opening = Opening.from_minutes(opens_minute, closes_minute)
    slots = day_slots(OpeningHours((opening,) * 7, holiday=0), day, slot)
    assert len(slots) == (closes_minute - opens_minute) // slot
    assert slots[0].start == jst(day, 0) + timedelta(minutes=opens_minute)
    assert slots[-1].end == jst(day, 0) + timedelta(minutes=closes_minute)
    assert all(
        a.end == b.start and a.minutes == slot for a, b in zip(slots, slots[1:], strict=False)
    )


@settings(max_examples=300, deadline=None)
@given(
    hourly=st.integers(0, 50_000),
    day=st.one_of(st.none(), st.integers(0, 200_000)),
    shorter=st.integers(0, DAY_MINUTES),
    extra=st.integers(0, DAY_MINUTES),
)
def test_a_price_never_passes_the_day_price_and_grows_with_length(hourly, day, shorter, extra):
    prices = WorkspacePrices(hourly, day)
    short, long = booking_price(prices, shorter), booking_price(prices, shorter + extra)
    assert 0 <= short <= long
    assert short * 60 <= hourly * shorter  # never rounded up
    if day is not None:
        assert long <= day
    else:
        assert hourly * shorter < (short + 1) * 60  # less than a yen given away


def test_the_module_imports_only_the_standard_library_jpholiday_babel_and_core():
    tree = ast.parse(Path(slots_module.__file__).read_text(encoding="utf-8"))
    roots = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert roots - set(sys.stdlib_module_names) <= {"jpholiday", "flask_babel", "core"}
