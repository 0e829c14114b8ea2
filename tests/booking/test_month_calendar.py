"""The facility's month calendar as a date-range picker: what each day says (holidays,
weekends, rooms free for the party, possible check-in and check-out days) and how the
calendar macro marks and links the range being chosen, without JavaScript."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import render_template_string

from booking import services
from booking.search import month_calendar
from tests.conftest import NOW, TODAY, days

MACRO = """{% from "booking/_calendar.html" import stay_calendar %}
{{- stay_calendar(weeks, facility, month, check_in, check_out, today, horizon_end, stay_args) }}"""


def _days(weeks) -> dict:
    return {d.day: d for week in weeks for d in week}


def _book(make_employee, unit, check_in: date, check_out: date) -> None:
    services.book_stay(make_employee(), services.StayRequest(unit.id, check_in, check_out, 1), NOW)


def _render(app, facility, month: date, check_in=None, check_out=None, guests=1, stay_args=None):
    weeks = month_calendar(
        facility,
        month.year,
        month.month,
        TODAY,
        guests=guests,
        check_in=check_in,
        last_check_in=TODAY + timedelta(days=180),
    )
    with app.test_request_context("/"):
        return render_template_string(
            MACRO,
            weeks=weeks,
            facility=facility,
            month=month,
            check_in=check_in,
            check_out=check_out,
            today=TODAY,
            horizon_end=TODAY + timedelta(days=180),
            stay_args=stay_args or {},
        )


def _cell(page: str, day: date) -> str:
    """The <td> of one day, with its contents."""
    found = re.search(rf'<td class="([^"]*)" data-date="{day.isoformat()}".*?</td>', page, re.S)
    assert found, f"no cell for {day}"
    return found.group(0)


def _classes(page: str, day: date) -> set[str]:
    return set(re.match(r'<td class="([^"]*)"', _cell(page, day)).group(1).split())


def _href(page: str, day: date) -> str | None:
    found = re.search(r'<a class="pick" href="([^"]+)"', _cell(page, day))
    return found.group(1).replace("&amp;", "&") if found else None


# --- the data ---------------------------------------------------------------------------


def test_days_carry_holidays_and_weekends(db, make_unit):
    unit = make_unit()
    january = _days(month_calendar(unit.facility, 2027, 1, TODAY))

    assert january[date(2027, 1, 1)].holiday == "元日"
    assert january[date(2027, 1, 11)].holiday == "成人の日"  # second Monday of January
    assert not january[date(2027, 1, 11)].sunday and not january[date(2027, 1, 11)].saturday
    saturday, sunday, monday = (january[date(2027, 1, d)] for d in (9, 10, 4))
    assert saturday.saturday and not saturday.sunday and saturday.holiday is None
    assert sunday.sunday and not sunday.saturday and sunday.holiday is None
    assert not monday.saturday and not monday.sunday and monday.holiday is None
    # The padding days of the months either side are marked too: 2026-12-27 is a Sunday.
    assert january[date(2026, 12, 27)].sunday and not january[date(2026, 12, 27)].in_month


def test_days_count_only_rooms_that_sleep_the_party(db, make_facility, make_unit, make_employee):
    facility = make_facility()
    small = make_unit(facility=facility, capacity=2, base_price=9000)
    large = make_unit(facility=facility, capacity=4, base_price=20000)
    _book(make_employee, large, days(10), days(11))  # 2026-12-11
    db.session.commit()

    for_two = _days(month_calendar(facility, 2026, 12, TODAY, guests=2))
    for_four = _days(month_calendar(facility, 2026, 12, TODAY, guests=4))

    assert for_two[days(12)].free_unit_ids == (small.id, large.id)
    assert for_two[days(12)].price_from == 9000
    assert for_four[days(12)].free_unit_ids == (large.id,)
    assert for_four[days(12)].price_from == 20000  # not the room too small for four
    # The night the large room is taken: a pair still fits, four people do not.
    assert for_two[days(10)].status == "few" and for_two[days(10)].check_in_ok
    assert for_four[days(10)].status == "full" and for_four[days(10)].price_from is None
    assert not for_four[days(10)].check_in_ok
    # Nobody fits five.
    assert all(not d.check_in_ok for d in month_calendar(facility, 2026, 12, TODAY, guests=5)[2])


def test_check_in_days_need_the_minimum_stay_free_and_not_past_or_beyond_the_horizon(
    db, make_facility, make_unit, make_employee
):
    facility = make_facility(min_nights=2, max_nights=5)
    unit = make_unit(facility=facility)
    _book(make_employee, unit, days(12), days(14))  # nights 12-13 and 12-14 taken
    db.session.commit()

    december = _days(month_calendar(facility, 2026, 12, TODAY, last_check_in=days(20)))
    assert december[TODAY].check_in_ok
    assert not december[TODAY - timedelta(days=1)].check_in_ok  # past
    assert december[TODAY - timedelta(days=1)].status == "past"
    assert december[days(10)].check_in_ok  # nights 11 and 12 free
    assert not december[days(11)].check_in_ok  # one free night, then taken: under 2
    assert not december[days(12)].check_in_ok  # taken
    assert december[days(20)].check_in_ok
    assert not december[days(21)].check_in_ok  # beyond the booking horizon


def test_check_out_days_keep_one_room_free_within_min_and_max_nights(
    db, make_facility, make_unit, make_employee
):
    facility = make_facility(min_nights=1, max_nights=5)
    a = make_unit(facility=facility)
    b = make_unit(facility=facility)
    # Every night has a free room, but no one room is free on both the 12th and 13th.
    _book(make_employee, a, days(11), days(12))  # 2026-12-12: a taken
    _book(make_employee, b, days(12), days(13))  # 2026-12-13: b taken
    db.session.commit()

    december = _days(month_calendar(facility, 2026, 12, TODAY, check_in=days(10)))
    outs = sorted(d for d, day in december.items() if day.check_out_ok)
    # From the 11th: one night (any room), two nights (b), never across both taken nights.
    assert outs == [days(11), days(12)]

    later = _days(month_calendar(facility, 2026, 12, TODAY, check_in=days(13)))
    outs = sorted(d for d, day in later.items() if day.check_out_ok)
    assert outs == [days(n) for n in range(14, 19)]  # 1 to 5 nights, the maximum

    longer = make_facility(min_nights=3, max_nights=30)
    make_unit(facility=longer)
    free = _days(month_calendar(longer, 2026, 12, TODAY, check_in=days(5)))
    assert not free[days(6)].check_out_ok and not free[days(7)].check_out_ok  # under 3
    assert free[days(8)].check_out_ok
    # A check-in that is no possible check-in (past) offers no check-out.
    past = _days(month_calendar(longer, 2026, 12, TODAY, check_in=TODAY - timedelta(days=2)))
    assert not any(day.check_out_ok for day in past.values())


def test_check_out_days_of_a_check_in_in_an_earlier_month(db, make_facility, make_unit):
    facility = make_facility(min_nights=1, max_nights=14)
    make_unit(facility=facility)
    # February 2027's grid starts on Sunday 31 January; the stay starts on 25 January.
    february = _days(month_calendar(facility, 2027, 2, TODAY, check_in=date(2027, 1, 25)))
    assert min(february) == date(2027, 1, 31)
    assert february[date(2027, 1, 31)].check_out_ok
    assert february[date(2027, 2, 8)].check_out_ok  # 14 nights
    assert not february[date(2027, 2, 9)].check_out_ok  # 15 nights


# --- the macro ------------------------------------------------------------------------


def test_the_chosen_range_is_marked_across_a_month_boundary(app, db, make_facility, make_unit):
    facility = make_facility(min_nights=1, max_nights=14)
    make_unit(facility=facility, base_price=12000)
    check_in, check_out = date(2026, 12, 30), date(2027, 1, 3)

    for month in (date(2026, 12, 1), date(2027, 1, 1)):
        page = _render(app, facility, month, check_in, check_out)
        assert "range-start" in _classes(page, check_in)
        for night in (date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2)):
            assert "in-range" in _classes(page, night), (month, night)
        assert "range-start" not in _classes(page, date(2026, 12, 29))
        assert not {"in-range", "range-start"} & _classes(page, date(2026, 12, 29))
        assert 'data-check-in="2026-12-30"' in page and 'data-check-out="2027-01-03"' in page
        status = re.search(r'<p class="stay-status"[^>]*>(.*?)</p>', page, re.S).group(1)
        assert "2026年12月30日(水)" in status and "2027年1月3日(日)" in status

    january = _render(app, facility, date(2027, 1, 1), check_in, check_out)
    assert "range-end" in _classes(january, check_out)
    assert not {"in-range", "range-end"} & _classes(january, date(2027, 1, 4))
    # The state is spoken too, not only coloured.
    assert "チェックイン" in _cell(january, check_in) and "チェックアウト" in _cell(
        january, check_out
    )


def test_days_are_links_that_choose_check_in_then_check_out(app, db, make_facility, make_unit):
    facility = make_facility(min_nights=2, max_nights=5)
    unit = make_unit(facility=facility, base_price=12000)
    december = date(2026, 12, 1)

    # Nothing chosen: a possible check-in links to this page with check_in set.
    page = _render(
        app, facility, december, guests=2, stay_args={"unit_id": str(unit.id), "guests": "2"}
    )
    link = _href(page, days(10))
    assert f"/facilities/{facility.id}?" in link and "check_in=2026-12-11" in link
    assert "month=2026-12" in link and f"unit_id={unit.id}" in link and "guests=2" in link
    assert "check_out" not in link and link.endswith("#stay-calendar")
    assert _href(page, TODAY - timedelta(days=1)) is None  # past: not a link
    assert 'aria-disabled="true"' in _cell(page, TODAY - timedelta(days=1))

    # Check-in chosen: the days 2 to 5 nights later set the check-out; beyond, nothing.
    page = _render(app, facility, december, check_in=days(10))
    assert "check_out" not in (_href(page, days(11)) or "")  # 1 night: under the minimum
    assert 'aria-disabled="true"' in _cell(page, days(11))
    for n in (2, 5):
        assert f"check_in=2026-12-11&check_out={days(10 + n).isoformat()}" in _href(
            page, days(10 + n)
        )
    assert _href(page, days(16)) is None and 'aria-disabled="true"' in _cell(page, days(16))
    assert "check_in=2026-12-08" in _href(page, days(7))  # an earlier day: a new check-in
    clear = _href(page, days(10))  # the check-in again: clears it
    assert "check_in" not in clear and "check_out" not in clear
    assert "チェックアウト" in page  # the status tells what to do next


def test_the_calendar_names_each_day_and_marks_weekends_and_holidays(
    app, db, make_facility, make_unit, make_employee
):
    facility = make_facility()
    a = make_unit(facility=facility, base_price=12000)
    make_unit(facility=facility, base_price=15000)
    _book(make_employee, a, date(2027, 1, 1), date(2027, 1, 2))
    db.session.commit()
    page = _render(app, facility, date(2027, 1, 1))

    new_year = _cell(page, date(2027, 1, 1))
    assert {"holiday", "few"} <= _classes(page, date(2027, 1, 1))
    assert 'title="元日"' in new_year
    name = re.sub(r"\s+", " ", re.search(r'<span class="sr">(.*?)</span>', new_year, re.S).group(1))
    assert name == "2027年1月1日(金) 元日 残りわずか ¥15,000〜"
    assert "sat" in _classes(page, date(2027, 1, 2)) and "sun" in _classes(page, date(2027, 1, 3))
    assert "holiday" in _classes(page, date(2027, 1, 11))
    assert not {"sat", "sun", "holiday"} & _classes(page, date(2027, 1, 4))


def test_the_facility_page_highlights_the_stay_and_keeps_it_across_months(
    db, client, login, make_employee, make_facility, make_unit
):
    login(make_employee())
    facility = make_facility(max_nights=14)
    make_unit(facility=facility)
    stay = {"check_in": "2026-12-30", "check_out": "2027-01-03"}

    for month in ("2026-12", "2027-01"):
        page = client.get(
            f"/facilities/{facility.id}", query_string={"month": month, **stay}
        ).get_data(as_text=True)
        assert "range-start" in _classes(page, date(2026, 12, 30))
        assert "in-range" in _classes(page, date(2027, 1, 1))
        # The month links keep the stay being chosen.
        for rel in ("next",):
            link = re.search(rf'<a href="([^"]+)" rel="{rel}"', page).group(1)
            assert "check_in=2026-12-30" in link and "check_out=2027-01-03" in link
    assert 'data-status="past"' in _cell(
        client.get(f"/facilities/{facility.id}?month=2026-12").get_data(as_text=True),
        date(2026, 11, 30),
    )
