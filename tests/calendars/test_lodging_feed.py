"""A feed whose events are stays booked on another channel: the operator marks it, its
reservations count as lodged nights towards a 住宅宿泊事業 house's 180 nights a year
(the host's closings on it never do), and unmarking it stops that at once."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from accounts.models import Role
from availability.models import Block, Occupancy
from availability.night_cap import sold_nights
from booking.search import SearchQuery, search
from calendars import sync as calendar_sync
from calendars.jobs import sync_calendars
from calendars.models import CalendarFeed
from tests.calendars.test_calendar_sync import AIRBNB, BOOKING_COM, _apply, _cal
from tests.conftest import NOW, signed_in

pytestmark = pytest.mark.usefixtures("sync_config")

YEAR = 2026  # the lodging year of NOW: April 2026 to March 2027
# AIRBNB: a reservation over 12-07..12-10 (3 nights) and the host's closing
# "Airbnb (Not available)" over 12-20..12-24 (4 nights), which is no stay.
RESERVED_NIGHTS = 3


@pytest.fixture
def house(make_facility, make_unit):
    facility = make_facility(name_ja="町家の民泊", licence_type="minpaku", licence_number="M26001")
    return make_unit(facility=facility)


@pytest.fixture
def host(make_user, house):
    """The house's operator, reading English."""
    return make_user(Role.OPERATOR, operator=house.facility.operator, locale="en")


def lodging_flags(db, feed_id: int) -> list[bool]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Block.lodging).where(Block.feed_id == feed_id).order_by(Block.start_date)
        )
    )


def add_feed(browser, unit, url: str, label: str = "Airbnb", counts: bool = True):
    data = {"label": label, "url": url}
    if counts:
        data["counts_as_lodging"] = "y"
    response = browser.post(f"/operator/units/{unit.id}/feeds", data=data)
    assert response.status_code == 302
    return response


def test_a_marked_feed_counts_its_reservations_not_its_closings(app, db, house, host, feed_server):
    browser = signed_in(app, host)
    add_feed(browser, house, feed_server.serve("/airbnb.ics", AIRBNB))
    feed = db.session.scalar(select(CalendarFeed))
    assert feed.counts_as_lodging is True

    sync_calendars(NOW)
    # Both block their nights; only the reservation is a lodged stay.
    assert lodging_flags(db, feed.id) == [True, False]
    assert sold_nights([house.id], YEAR) == {house.id: RESERVED_NIGHTS}


def test_an_unmarked_feed_is_closings_that_do_not_count(app, db, house, host, feed_server):
    browser = signed_in(app, host)
    add_feed(browser, house, feed_server.serve("/bcom.ics", BOOKING_COM), counts=False)
    sync_calendars(NOW)
    feed = db.session.scalar(select(CalendarFeed))
    assert feed.counts_as_lodging is False
    assert lodging_flags(db, feed.id) == [False]
    assert sold_nights([house.id], YEAR) == {house.id: 0}


def test_toggling_the_flag_updates_the_imported_blocks_at_once(app, db, house, host, feed_server):
    browser = signed_in(app, host)
    add_feed(browser, house, feed_server.serve("/airbnb.ics", AIRBNB), counts=False)
    sync_calendars(NOW)
    feed_id = db.session.scalar(select(CalendarFeed.id))
    assert sold_nights([house.id], YEAR)[house.id] == 0

    response = browser.post(
        f"/operator/feeds/{feed_id}/lodging", data={"counts_as_lodging": "y"}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "are now counted as stays towards the 180 nights a year" in page
    assert lodging_flags(db, feed_id) == [True, False]  # the closing does not count
    assert sold_nights([house.id], YEAR)[house.id] == RESERVED_NIGHTS
    # The feed list says so.
    item = re.search(rf'<li data-feed-id="{feed_id}">.*?</li>', page, re.S).group(0)
    assert 'data-testid="feed-lodging"' in item
    assert re.search(r'<input checked [^>]*name="counts_as_lodging"', item)

    # A later sync (the events changed or not) keeps the reservation counting.
    sync_calendars(NOW + timedelta(days=1))
    assert lodging_flags(db, feed_id) == [True, False]

    response = browser.post(f"/operator/feeds/{feed_id}/lodging", data={}, follow_redirects=True)
    assert "are no longer counted as stays" in response.get_data(as_text=True)
    assert lodging_flags(db, feed_id) == [False, False]
    assert sold_nights([house.id], YEAR)[house.id] == 0


def test_marked_stays_elsewhere_use_up_the_cap_in_search(app, db, house, host, feed_server):
    # 177 nights lodged from April on; the channel's 3 reserved nights make 180.
    block = Block(
        unit_id=house.id,
        start_date=date(2026, 4, 1),
        end_date=date(2026, 4, 1) + timedelta(days=177),
        source="direct",
        reason="direct",
        lodging=True,
    )
    db.session.add(block)
    db.session.flush()
    db.session.add_all(
        Occupancy(unit_id=house.id, night=block.start_date + timedelta(days=i), block_id=block.id)
        for i in range(177)
    )
    db.session.commit()
    stay = SearchQuery(date(2027, 1, 10), date(2027, 1, 11))
    assert house.facility_id in {r.facility_id for r in search(stay)}

    add_feed(signed_in(app, host), house, feed_server.serve("/airbnb.ics", AIRBNB))
    sync_calendars(NOW)
    db.session.expire_all()
    assert sold_nights([house.id], YEAR)[house.id] == 180
    assert house.facility_id not in {r.facility_id for r in search(stay)}


def test_the_feed_form_and_list_show_the_flag(app, db, house, host, feed_server):
    browser = signed_in(app, host)
    page = browser.get(f"/operator/facilities/{house.facility_id}/calendars").get_data(as_text=True)
    assert "stays booked on another channel" in page
    assert re.search(
        r'<label class="check"><input id="feed-counts-\d+" name="counts_as_lodging"', page
    )
    add_feed(browser, house, feed_server.serve("/bcom.ics", BOOKING_COM), counts=False)
    page = browser.get(f"/operator/facilities/{house.facility_id}/calendars").get_data(as_text=True)
    assert 'data-testid="feed-lodging"' not in page


def test_another_operators_feed_is_404_and_unchanged(app, db, house, host, make_user, feed_server):
    add_feed(signed_in(app, host), house, feed_server.serve("/airbnb.ics", AIRBNB), counts=False)
    sync_calendars(NOW)
    feed_id = db.session.scalar(select(CalendarFeed.id))
    stranger = signed_in(app, make_user(Role.OPERATOR))
    response = stranger.post(f"/operator/feeds/{feed_id}/lodging", data={"counts_as_lodging": "y"})
    assert response.status_code == 404
    assert stranger.post("/operator/feeds/999999/lodging", data={}).status_code == 404
    assert lodging_flags(db, feed_id) == [False, False]
    employee = signed_in(app, make_user(Role.EMPLOYEE))
    assert employee.post(f"/operator/feeds/{feed_id}/lodging", data={}).status_code == 403


# --- closings are never lodged nights --------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "reservation", "lodged"),
    [
        ("Reserved", True, True),  # Airbnb's guest
        ("Reserved - Tanaka", True, True),  # Vrbo's
        ("RESERVED", True, True),
        ("Airbnb (Not available)", False, False),  # Airbnb's host closing
        ("Blocked", False, False),
        # Booking.com writes its guests and its closings alike: a doubt counts towards
        # the 180 nights (a legal maximum), as does an event that says nothing.
        ("CLOSED - Not available", False, True),
        ("Not available", False, True),
        ("", False, True),
    ],
)
def test_a_marked_feed_counts_all_but_the_closings_it_tells_apart(summary, reservation, lodged):
    """One rule tells a reservation from a closing, for echoes and lodged nights alike."""
    assert calendar_sync.is_reservation(summary) is reservation
    assert calendar_sync.lodged(True, summary) is lodged
    assert calendar_sync.lodged(False, summary) is False


def test_a_marked_booking_com_feed_counts_its_events(app, db, house, host, feed_server):
    browser = signed_in(app, host)
    add_feed(browser, house, feed_server.serve("/bcom.ics", BOOKING_COM), label="Booking.com")
    feed = db.session.scalar(select(CalendarFeed))
    assert feed.counts_as_lodging is True
    sync_calendars(NOW)
    assert lodging_flags(db, feed.id) == [True]  # "CLOSED - Not available": guest or closing
    assert sold_nights([house.id], YEAR) == {house.id: 2}  # 12/15 and 12/16


def test_an_event_turned_closing_stops_counting_and_back(app, db, house, host, feed_server):
    """A re-sync follows the event's summary: a reservation the channel lists as closed
    stops counting, and counts again once it is a reservation."""
    add_feed(signed_in(app, host), house, feed_server.serve("/airbnb.ics", AIRBNB))
    feed_id = db.session.scalar(select(CalendarFeed.id))

    def feed_of(summary_1: str, summary_2: str) -> bytes:
        return _cal(
            ("r1@airbnb.com", "20261207", "20261210", summary_1),
            ("c1@airbnb.com", "20261215", "20261217", summary_2),
        )

    _apply(app, db, feed_id, feed_of("Reserved", "Airbnb (Not available)"), NOW)
    assert lodging_flags(db, feed_id) == [True, False]
    later = NOW + timedelta(hours=1)
    _apply(app, db, feed_id, feed_of("Airbnb (Not available)", "Reserved"), later)
    assert lodging_flags(db, feed_id) == [False, True]
    assert sold_nights([house.id], YEAR) == {house.id: 2}
