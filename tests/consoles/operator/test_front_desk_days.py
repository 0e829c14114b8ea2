"""The front desk's daily pages tell the house as it is: a guest who checked out early
or never came is not in house, the room they left is dirty from the moment they left
and a released night sold again shows one guest; walk-ins (direct stays) arrive, stay
and leave like any stay and count as sold; the stays list pages whatever the query
string carries; a past direct stay is kept.

The operator reads English (``locale="en"``); NOW is 1 December 2026, noon in Tokyo,
and the facility's check-out time is 10:00.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from availability import closing, direct
from availability.models import DirectStay
from booking import front_desk
from booking import services as booking
from consoles.operator import operations
from core.db import TOKYO
from facilities.models import Facility
from tests.conftest import NOW, TODAY, days
from tests.consoles.operator.test_dashboard import counted_queries
from tests.facilities.test_services import stay
from tests.register_helpers import fill_register


def tokyo(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    """An instant of 2026 in Japan time (December unless told)."""
    return datetime(2026, month, day, hour, minute, tzinfo=TOKYO).astimezone(UTC)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def day_of(page: str, n: int) -> str:
    """The Today page's section for the day ``n`` days after TODAY."""
    return page[page.index(f'data-day="{days(n).isoformat()}"') :].split("</section>")[0]


def column(section: str, kind: str) -> str:
    return section[section.index(f'data-testid="{kind}"') :].split("</ul>")[0]


def in_house(section: str) -> int:
    return int(re.search(r'data-testid="in-house">(\d+)<', section).group(1))


def room(page: str, unit) -> str:
    """The housekeeping board's card of ``unit``."""
    return page[page.index(f'data-unit-id="{unit.id}"') :].split("</li>")[0]


def board(db, house, now: datetime = NOW) -> dict[int, operations.RoomStatus]:
    facility = db.session.get(Facility, house.facility.id)
    return {r.unit.id: r for r in operations.housekeeping_board(facility, now)}


@pytest.fixture
def house(app, db, login, make_user, make_facility, make_unit, make_company):
    """An operator (reading English) signed in; a facility of two rooms; employees."""
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, name_en="Birch Inn")
    company = make_company(name="Acme Works")
    login(operator)
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        a=make_unit(facility=facility, name="101 Washitsu"),
        b=make_unit(facility=facility, name="102 Yoshitsu"),
        company=company,
        guest=lambda name: make_user(Role.EMPLOYEE, company=company, name=name),
    )


def leave_early(db, house, unit, name="Early Leaver"):
    """A stay of Nov 30 – Dec 3, checked in on Nov 30, checked out Dec 1 at 09:00."""
    leaver = stay(db, house.guest(name), unit, days(-1), days(2))
    fill_register(leaver)
    front_desk.check_in(house.operator, leaver.id, tokyo(30, 16, month=11))
    front_desk.check_out(house.operator, leaver.id, tokyo(1, 9))
    db.session.commit()
    return leaver


# When the walk-ins that have left by now were recorded.
EARLIER = datetime(2026, 11, 27, 3, tzinfo=UTC)


def record(db, house, unit, first: int, last: int, name="Walk-in Guest", guests=2, now=NOW):
    found = direct.record_direct_stay(
        house.operator,
        unit,
        days(first),
        days(last),
        guest_name=name,
        guests=guests,
        nightly_price=9000,
        note="",
        now=now,
    )
    db.session.commit()
    return found


# --- early check-out, resold nights, no-shows -----------------------------------------------


def test_an_early_check_out_frees_the_room_tonight_and_makes_it_dirty(db, client, house):
    leaver = leave_early(db, house, house.a)

    page = text(client.get(f"/operator/facilities/{house.facility.id}/today"))

    today = day_of(page, 0)
    assert f'data-booking-id="{leaver.id}"' in column(today, "departures")
    assert "Mon 30 Nov → Thu 3 Dec (left Tue 1 Dec)" in column(today, "departures")
    assert f'data-booking-id="{leaver.id}"' not in column(today, "staying")
    assert in_house(today) == 0
    for n in (1, 2):  # not staying on, not leaving again on the date booked
        assert f'data-booking-id="{leaver.id}"' not in day_of(page, n)
    counts = operations.today_counts([house.facility.id], TODAY)
    assert counts[house.facility.id] == operations.TodayCounts(0, 1, 0)

    # Dirty from 09:00, when the guest left, not from the 10:00 of a later date.
    rooms = board(db, house, tokyo(1, 9, 30))
    assert (rooms[house.a.id].status, rooms[house.a.id].checked_out_at) == ("dirty", tokyo(1, 9))
    assert not rooms[house.a.id].occupied_tonight and rooms[house.a.id].departing_today
    card = room(text(client.get(f"/operator/facilities/{house.facility.id}/housekeeping")), house.a)
    assert 'data-status="dirty"' in card and "09:00" in card and "Empty tonight" in card


def test_a_room_cleaned_after_an_early_morning_check_out_stays_clean(db, house):
    guest = stay(db, house.guest("Morning"), house.a, days(-2), days(0))
    fill_register(guest)
    front_desk.check_in(house.operator, guest.id, tokyo(29, 16, month=11))
    front_desk.check_out(house.operator, guest.id, tokyo(1, 8))
    operations.set_housekeeping(house.a, "clean", tokyo(1, 9))
    db.session.commit()

    # The booked check-out time (10:00) passes: the room was turned over at 09:00.
    assert board(db, house)[house.a.id].status == "clean"


def test_a_released_night_sold_again_shows_one_guest_in_the_room(db, client, house):
    leaver = leave_early(db, house, house.a)
    again = booking.book_stay(
        house.guest("Next Guest"), booking.StayRequest(house.a.id, days(0), days(1), 1), NOW
    )
    db.session.commit()

    page = text(client.get(f"/operator/facilities/{house.facility.id}/today"))

    today = day_of(page, 0)
    assert re.findall(r'data-booking-id="(\d+)"', column(today, "arrivals")) == [str(again.id)]
    assert re.findall(r'data-booking-id="(\d+)"', column(today, "departures")) == [str(leaver.id)]
    assert "101 Washitsu" not in column(today, "staying")
    assert in_house(today) == 1
    tomorrow = day_of(page, 1)
    assert re.findall(r'data-booking-id="(\d+)"', column(tomorrow, "departures")) == [str(again.id)]
    assert in_house(tomorrow) == 0
    assert operations.today_counts([house.facility.id], TODAY)[house.facility.id] == (
        operations.TodayCounts(1, 1, 1)
    )
    rooms = board(db, house)
    assert rooms[house.a.id].occupied_tonight and rooms[house.a.id].arriving_today


def test_a_no_show_is_not_in_house_and_dirties_nothing(db, client, house):
    absent = stay(db, house.guest("Never Came"), house.b, days(0), days(2))
    front_desk.mark_no_show(house.operator, absent.id, tokyo(1, 11))
    db.session.commit()

    page = text(client.get(f"/operator/facilities/{house.facility.id}/today"))

    for n in range(3):
        assert f'data-booking-id="{absent.id}"' not in day_of(page, n)
        assert in_house(day_of(page, n)) == 0
    assert house.facility.id not in operations.today_counts([house.facility.id], TODAY)
    rooms = board(db, house, tokyo(3, 11))
    assert rooms[house.b.id].status == "clean" and not rooms[house.b.id].occupied_tonight


def test_a_guest_who_checks_out_after_the_date_booked_leaves_that_day(db, client, house):
    late = stay(db, house.guest("Late Leaver"), house.a, days(-3), days(-1))
    fill_register(late)
    front_desk.check_in(house.operator, late.id, tokyo(28, 16, month=11))
    front_desk.check_out(house.operator, late.id, tokyo(1, 11))  # a day late
    db.session.commit()

    page = text(client.get(f"/operator/facilities/{house.facility.id}/today"))

    assert f'data-booking-id="{late.id}"' in column(day_of(page, 0), "departures")
    assert operations.today_counts([house.facility.id], TODAY)[house.facility.id] == (
        operations.TodayCounts(0, 1, 0)
    )
    assert board(db, house)[house.a.id].checked_out_at == tokyo(1, 11)


# --- direct stays (walk-ins) ------------------------------------------------------------------


def test_today_lists_a_walk_in_arriving_staying_and_leaving(db, client, house):
    arriving = record(db, house, house.b, 0, 2)
    leaving = record(db, house, house.a, -2, 0, name="Left Today", guests=1, now=EARLIER)

    page = text(client.get(f"/operator/facilities/{house.facility.id}/today"))

    today = day_of(page, 0)
    arrivals = column(today, "arrivals")
    assert f'data-direct-id="{arriving.id}"' in arrivals
    assert "Walk-in Guest" in arrivals and "2 guests" in arrivals and "Direct stay" in arrivals
    assert f"/operator/direct-stays/{arriving.id}" in arrivals
    assert "Check in" not in arrivals  # the front-desk buttons are for bookings
    assert f'data-direct-id="{leaving.id}"' in column(today, "departures")
    assert in_house(today) == 1
    assert f'data-direct-id="{arriving.id}"' in column(day_of(page, 1), "staying")
    assert f'data-direct-id="{arriving.id}"' in column(day_of(page, 2), "departures")
    assert operations.today_counts([house.facility.id], TODAY)[house.facility.id] == (
        operations.TodayCounts(1, 1, 1)
    )
    dashboard = text(client.get("/operator/"))
    card = dashboard[dashboard.index(f'data-facility-id="{house.facility.id}"') :]
    assert re.search(r'data-testid="arrivals">1<', card)
    assert re.search(r'data-testid="in-house">1<', card)


def test_the_housekeeping_board_knows_walk_ins(db, client, house):
    record(db, house, house.b, 0, 2)
    record(db, house, house.a, -2, 0, name="Left Today", now=EARLIER)

    rooms = board(db, house)
    assert (rooms[house.a.id].status, rooms[house.a.id].departing_today) == ("dirty", True)
    assert rooms[house.a.id].checked_out_at == tokyo(1, 10)
    assert rooms[house.b.id].occupied_tonight and rooms[house.b.id].arriving_today
    assert rooms[house.b.id].status == "clean"
    before_ten = board(db, house, tokyo(1, 9))
    assert before_ten[house.a.id].status == "clean"  # the walk-in leaves at 10:00
    page = text(client.get(f"/operator/facilities/{house.facility.id}/housekeeping"))
    assert "Occupied tonight" in room(page, house.b) and "Arrival today" in room(page, house.b)


def test_month_occupancy_counts_a_direct_stay_as_sold(db, client, house):
    stay(db, house.guest("Booked"), house.a, days(0), days(3))  # Dec 1–3
    record(db, house, house.b, 3, 5)  # Dec 4, 5
    closing.close_facility_dates(
        house.operator, house.facility, house.a.id, days(10), days(10), "maintenance", "", NOW
    )
    db.session.commit()

    december = operations.month_occupancy(db.session.get(Facility, house.facility.id), 2026, 12)
    assert (december.sold, december.closed, december.available) == (5, 1, 61)
    by_night = {n.night: n for n in december.nights}
    assert (by_night[days(3)].sold, by_night[days(3)].closed, by_night[days(3)].available) == (
        1,
        0,
        2,
    )
    page = text(client.get(f"/operator/facilities/{house.facility.id}/occupancy?month=2026-12"))
    assert re.search(r'data-testid="sold">5<', page)
    assert re.search(r'data-testid="available">61<', page)
    assert re.search(r'data-testid="closed">1<', page)


def test_a_past_or_begun_direct_stay_cannot_be_removed(db, client, house):
    past = record(db, house, house.a, -3, 0, name="Stayed Before", now=EARLIER)
    begun = record(db, house, house.b, -1, 2, name="In The House")

    for found, words in (
        (past, "This stay has ended"),
        (begun, "This stay began on"),
    ):
        response = client.post(f"/operator/direct-stays/{found.id}/cancel")
        assert response.status_code == 303
        assert response.headers["Location"] == f"/operator/direct-stays/{found.id}"
        page = text(client.get(response.headers["Location"]))
        assert words in page and "cannot be removed" in page
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(DirectStay)) == 2


# --- the stays list ---------------------------------------------------------------------------


def many_stays(db, house, n: int = 52):
    for i in range(n):
        unit = house.a if i % 2 else house.b
        request = booking.StayRequest(unit.id, days(i // 2), days(i // 2 + 1), 1)
        booking.book_stay(house.guest(f"Guest {i:02d}"), request, NOW)
    db.session.commit()


@pytest.mark.parametrize(
    "query",
    [
        "facility_id=9&endpoint=x",
        "facility_id=9&endpoint=x&status=confirmed&q=Guest",
        "start=garbage&facility_id=9&_external=1&_anchor=x",
    ],
)
def test_the_stays_list_pages_whatever_the_query_string_carries(db, client, house, query):
    many_stays(db, house)
    url = f"/operator/facilities/{house.facility.id}/bookings?{query}"

    response = client.get(url)

    assert response.status_code == (400 if "garbage" in query else 200)
    page = text(response)
    assert len(re.findall(r"data-booking-id=", page)) == 50
    nxt = re.search(r'<a href="([^"]+)" rel="next"', page).group(1)
    assert "facility_id=" not in nxt and "endpoint" not in nxt and "_external" not in nxt
    assert "page=2" in nxt and f"start={TODAY.isoformat()}" in nxt
    if "q=Guest" in query:
        assert "status=confirmed" in nxt and "q=Guest" in nxt
    second = client.get(nxt)
    assert second.status_code == 200
    assert len(re.findall(r"data-booking-id=", text(second))) == 2
    assert 'rel="prev"' in text(second)


def test_the_direct_stays_of_the_list_are_read_in_a_fixed_number_of_queries(
    db, client, house, make_unit
):
    url = f"/operator/facilities/{house.facility.id}/bookings"
    record(db, house, house.a, 1, 2)
    client.get(url)  # warm: anything done once per session
    with counted_queries(db) as one:
        assert client.get(url).status_code == 200
    for n in range(4):
        record(db, house, make_unit(facility=house.facility, name=f"2{n:02d}"), 1, 3)
    with counted_queries(db) as five:
        page = text(client.get(url))
    assert page.count("data-direct-id=") == 5
    assert len(five) == len(one), "\n".join(five)
