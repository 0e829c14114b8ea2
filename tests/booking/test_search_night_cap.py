"""Search and the facility's calendar under the 180-night cap of a 住宅宿泊事業 house: a
room with too few nights left in its April–March year is not free for a stay that
would pass the cap, and the reason is told in words."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import event

from availability.models import Block, Occupancy
from booking import search as search_service
from booking.search import SearchQuery, month_calendar, night_cap_notice, search
from core.extensions import db as _db
from tests.conftest import TODAY, days

YEAR_START = date(2026, 4, 1)  # the lodging year TODAY (2026-12-01) is in
NEXT_YEAR = date(2027, 4, 1)


def lodge(db, unit, first: date, nights: int) -> None:
    """``nights`` lodged nights from ``first`` (a direct stay's block, lodging)."""
    block = Block(
        unit_id=unit.id,
        start_date=first,
        end_date=first + timedelta(days=nights),
        source="direct",
        reason="direct",
        lodging=True,
    )
    db.session.add(block)
    db.session.flush()
    db.session.add_all(
        Occupancy(unit_id=unit.id, night=first + timedelta(days=i), block_id=block.id)
        for i in range(nights)
    )
    db.session.commit()


@pytest.fixture
def house(make_facility, make_unit):
    """A private lodging house of one room, with 179 nights lodged this year (from the
    first of April on, so December and later are still free)."""
    facility = make_facility(
        name_ja="民泊の家", licence_type="minpaku", licence_number="M130012345", max_nights=30
    )
    return make_unit(facility=facility)


@pytest.fixture
def house_179(db, house):
    lodge(db, house, YEAR_START, 179)
    return house


def _ids(results) -> set[int]:
    return {r.facility_id for r in results}


def test_179_nights_sold_a_one_night_stay_is_found_a_two_night_stay_is_not(db, house_179):
    facility_id = house_179.facility_id
    assert facility_id in _ids(search(SearchQuery(days(10), days(11))))
    assert facility_id not in _ids(search(SearchQuery(days(10), days(12))))
    facility = house_179.facility
    assert search_service.units_free_for_stay(facility, days(10), days(11)) == {house_179.id}
    assert search_service.units_free_for_stay(facility, days(10), days(12)) == set()


def test_a_hotel_with_as_many_nights_sold_has_no_cap(db, make_facility, make_unit):
    hotel_room = make_unit(facility=make_facility(name_ja="旅館"))
    lodge(db, hotel_room, YEAR_START, 200)
    found = search(SearchQuery(days(10), days(20)))
    assert hotel_room.facility_id in _ids(found)
    assert night_cap_notice(hotel_room.facility, days(10), days(20)) is None


def test_the_cap_is_per_room(db, house_179, make_unit):
    """Another room of the house with nights left is still offered."""
    other = make_unit(facility=house_179.facility, name="離れ")
    results = search(SearchQuery(days(10), days(12)))
    result = next(r for r in results if r.facility_id == house_179.facility_id)
    assert [u.id for u in result.units] == [other.id]


def test_across_the_april_boundary_each_year_counts_its_own_nights(db, house_179):
    facility = house_179.facility
    # One night in each year: 179 + 1 this year, 1 of 180 next year.
    over_april = SearchQuery(date(2027, 3, 31), date(2027, 4, 2))
    assert facility.id in _ids(search(over_april))
    # Two nights before April: 181 this year.
    before_april = SearchQuery(date(2027, 3, 30), date(2027, 4, 1))
    assert facility.id not in _ids(search(before_april))
    assert night_cap_notice(facility, date(2027, 3, 31), date(2027, 4, 2)) is None


def test_a_full_year_opens_again_on_the_first_of_april(db, house):
    lodge(db, house, YEAR_START, 180)
    facility = house.facility
    assert facility.id not in _ids(search(SearchQuery(days(10), days(11))))
    assert facility.id not in _ids(search(SearchQuery(date(2027, 3, 31), date(2027, 4, 2))))
    assert facility.id in _ids(search(SearchQuery(NEXT_YEAR, NEXT_YEAR + timedelta(days=5))))


def test_closings_and_imported_closings_do_not_count(db, house):
    block = Block(
        unit_id=house.id,
        start_date=YEAR_START,
        end_date=YEAR_START + timedelta(days=200),
        source="manual",
        reason="maintenance",
    )
    db.session.add(block)
    db.session.flush()
    db.session.add_all(
        Occupancy(unit_id=house.id, night=YEAR_START + timedelta(days=i), block_id=block.id)
        for i in range(200)
    )
    db.session.commit()
    assert house.facility_id in _ids(search(SearchQuery(days(10), days(20))))


def test_search_counts_the_cap_in_one_query_per_year_not_per_room(
    app, db, make_facility, make_unit
):
    rooms = []
    for n in range(6):
        facility = make_facility(licence_type="minpaku", licence_number=f"M13000{n}")
        rooms.append(make_unit(facility=facility))
    for room in rooms[:3]:
        lodge(db, room, YEAR_START, 179)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = search(SearchQuery(date(2027, 3, 30), date(2027, 4, 2)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert _ids(found) == {r.facility_id for r in rooms[3:]}
    # The free rooms, their cap (one query per lodging year) and their prices.
    assert len(statements) <= 4, statements


def test_notice_says_why_and_how_many_nights_remain(app, db, house_179):
    facility = house_179.facility
    with app.test_request_context("/"), force_locale("en"):
        notice = night_cap_notice(facility, days(10), days(12))
        assert str(notice) == (
            "This house is a private lodging (minpaku): it may host guests on at most 180"
            " nights a year (April to March), and 1 night remains in the year from"
            " 1 Apr 2026, too few for these dates."
        )
        assert night_cap_notice(facility, days(10), days(11)) is None
        lodge(db, house_179, days(40), 1)  # the 180th night
        notice = str(night_cap_notice(facility, days(10), days(11)))
        assert "and 0 nights remain in the year from 1 Apr 2026" in notice
        # Nights of next year are not refused.
        assert night_cap_notice(facility, NEXT_YEAR, NEXT_YEAR + timedelta(days=3)) is None


def test_notice_for_the_year_after_names_that_year(app, db, house):
    lodge(db, house, NEXT_YEAR, 178)
    with app.test_request_context("/"), force_locale("en"):
        first = NEXT_YEAR + timedelta(days=200)
        notice = str(night_cap_notice(house.facility, first, first + timedelta(days=3)))
    assert "2 nights remain in the year from 1 Apr 2027" in notice


# --- the month calendar -------------------------------------------------------------------


def _days(weeks) -> dict:
    return {d.day: d for week in weeks for d in week}


def test_calendar_marks_a_full_year_as_unavailable_until_april(db, house):
    lodge(db, house, YEAR_START, 180)
    march = _days(month_calendar(house.facility, 2027, 3, TODAY))
    assert march[date(2027, 3, 15)].status == "full"
    assert not march[date(2027, 3, 31)].check_in_ok
    assert march[date(2027, 4, 1)].free_units == 1
    assert march[date(2027, 4, 1)].check_in_ok


def test_calendar_offers_only_the_check_outs_the_cap_allows(db, house_179):
    facility = house_179.facility
    march = _days(month_calendar(facility, 2027, 3, TODAY, check_in=date(2027, 3, 20)))
    # Nights are free every day, but one night is all that is left before April.
    assert march[date(2027, 3, 22)].status != "full"
    assert march[date(2027, 3, 21)].check_out_ok
    assert not march[date(2027, 3, 22)].check_out_ok
    over_april = _days(month_calendar(facility, 2027, 3, TODAY, check_in=date(2027, 3, 31)))
    assert all(over_april[date(2027, 4, d)].check_out_ok for d in (1, 2, 3))


def test_calendar_min_nights_over_the_cap_is_no_check_in(db, make_facility, make_unit):
    facility = make_facility(licence_type="minpaku", licence_number="M13009999", min_nights=2)
    room = make_unit(facility=facility)
    lodge(db, room, YEAR_START, 179)
    march = _days(month_calendar(facility, 2027, 3, TODAY))
    assert not march[date(2027, 3, 10)].check_in_ok  # two nights, one left
    assert march[date(2027, 3, 31)].check_in_ok  # one night each side of April


def test_availability_api_marks_nights_of_a_full_year(db, house):
    lodge(db, house, YEAR_START, 180)
    units = search_service.facility_availability(
        house.facility, date(2027, 3, 30), date(2027, 4, 2)
    )
    assert [(n.night, n.available) for n in units[0].nights] == [
        (date(2027, 3, 30), False),
        (date(2027, 3, 31), False),
        (date(2027, 4, 1), True),
    ]


def test_search_page_leaves_the_house_out(db, client, login, make_employee, house_179):
    login(make_employee())
    one = client.get(
        "/", query_string={"check_in": days(10).isoformat(), "check_out": days(11).isoformat()}
    ).get_data(as_text=True)
    two = client.get(
        "/", query_string={"check_in": days(10).isoformat(), "check_out": days(12).isoformat()}
    ).get_data(as_text=True)
    assert "民泊の家" in one
    assert "民泊の家" not in two
