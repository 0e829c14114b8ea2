"""The employee's workspace pages (issue 19): search, a facility's day, confirm and book,
My workspace, cancel with the refund stated, check-in by a unit's QR code; refusals and
bad input stated on the page with nothing booked; somebody else's booking is 404.

The clock is fixed (tests.conftest.NOW: Tuesday 1 December 2026, 12:00 in Tokyo); every
test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from booking.workspace import WorkspaceRequest, book_workspace
from booking.workspace_checkin import checkin_code
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from tests.booking.workspace_helpers import (
    SATURDAY,
    TUESDAY,
    api_time,
    at,
    make_space,
    workspace_entries,
)
from tests.conftest import NOW, TODAY, signed_in


@pytest.fixture
def office(make_facility):
    return make_facility(kind="office", name_ja="日本橋サテライト", prefecture=13)


@pytest.fixture
def desk(db, office):
    return make_space(db, office, name="Desk A", has_monitor=True)


@pytest.fixture
def booth(db, office):
    return make_space(db, office, name="Booth B", kind="phone_booth")


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def browser(app, employee):
    return signed_in(app, employee)


def _book(db, user, unit, day, start, end, now=NOW) -> WorkspaceBooking:
    booking = book_workspace(
        user, [WorkspaceRequest(unit.id, at(day, *start), at(day, *end))], now
    )[0]
    db.session.commit()
    return booking


def _count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(WorkspaceBooking))


def _search(browser, **params):
    query = {"day": TUESDAY.isoformat(), "starts": "14:00", "ends": "15:30", **params}
    return browser.get("/workspace", query_string=query)


def _slot(page: str, start: str) -> str:
    """The <li> of the slot starting at ``start`` (API time) in a day view page."""
    match = re.search(rf'<li class="ws-slot[^"]*" data-start="{re.escape(start)}"[^>]*>', page)
    assert match, start
    return match.group(0)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', page
    )
    assert match, name
    return match.group(1)


def test_search_finds_a_free_unit_and_not_a_taken_one(db, browser, make_employee, desk, booth):
    _book(db, make_employee(), booth, TUESDAY, (14, 0), (15, 0))
    page = _search(browser)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Desk A" in text and "Booth B" not in text
    assert "日本橋サテライト" in text or "Test Retreat" in text
    assert "¥1,500 (tax incl.)" in text  # 90 minutes at ¥1,000 an hour
    day_link = (
        re.search(r'href="([^"]+)" data-testid="day-link"', text).group(1).replace("&amp;", "&")
    )
    args = parse_qs(urlsplit(day_link).query)
    assert args["date"] == [TUESDAY.isoformat()]
    assert args["start"] == [api_time(TUESDAY, 14)] and args["end"] == [api_time(TUESDAY, 15, 30)]
    # Filters: equipment and kind.
    assert "Desk A" in _search(browser, equipment="monitor").get_data(as_text=True)
    assert "Desk A" not in _search(browser, kind="phone_booth").get_data(as_text=True)
    # Another time, when the booth is free again, finds both.
    later = _search(browser, starts="15:00", ends="16:00").get_data(as_text=True)
    assert "Desk A" in later and "Booth B" in later


def test_search_prices_say_tax_included_in_japanese(client, login, make_employee, desk):
    login(make_employee())
    text = _search(client).get_data(as_text=True)
    assert "¥1,500（税込）" in text


def test_search_refuses_bad_input_with_a_message(browser, desk):
    backwards = _search(browser, starts="15:00", ends="14:00")
    assert backwards.status_code == 400
    assert "The end must be after the start." in backwards.get_data(as_text=True)
    garbled = _search(browser, day="someday")
    assert garbled.status_code == 400
    assert "Please check the search fields." in garbled.get_data(as_text=True)
    past = _search(browser, day=TODAY.isoformat(), starts="09:00", ends="10:00")
    assert past.status_code == 400 and "already passed" in past.get_data(as_text=True)
    assert browser.get("/workspace").status_code == 200  # the form, filled with a default


def test_day_view_marks_taken_slots_and_preselects_a_time(db, browser, make_employee, desk, booth):
    _book(db, make_employee(), desk, TUESDAY, (14, 0), (15, 0))
    response = browser.get(
        f"/workspace/facilities/{desk.facility_id}",
        query_string={
            "date": TUESDAY.isoformat(),
            "unit_id": booth.id,
            "start": api_time(TUESDAY, 10),
            "end": api_time(TUESDAY, 11),
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    desk_form = page[page.index(f'data-unit-id="{desk.id}"') :]
    desk_form = desk_form[: desk_form.index("</form>")]
    assert 'data-available="false"' in _slot(desk_form, api_time(TUESDAY, 14))
    assert 'data-available="false"' in _slot(desk_form, api_time(TUESDAY, 14, 30))
    assert 'data-available="true"' in _slot(desk_form, api_time(TUESDAY, 15))
    assert "Taken" in desk_form and "¥500" in desk_form  # a 30-minute slot's price
    # Each free slot is a radio inside a GET form to the confirm page (no script needed).
    assert 'action="/workspace/book"' in page
    booth_form = page[page.index(f'data-unit-id="{booth.id}"') :]
    booth_form = booth_form[: booth_form.index("</form>")]
    assert re.search(rf'value="{re.escape(api_time(TUESDAY, 10))}" id="[^"]+" checked', booth_form)
    assert '<option value="60" selected>' in booth_form
    assert "workspace.js" in page
    assert 'data-testid="prev-day"' in page and 'data-testid="next-day"' in page


def test_day_view_of_a_closed_day_a_bad_date_and_a_foreign_facility(browser, desk, make_facility):
    closed = browser.get(
        f"/workspace/facilities/{desk.facility_id}", query_string={"date": SATURDAY.isoformat()}
    )
    assert closed.status_code == 200 and "Closed on this day." in closed.get_data(as_text=True)
    bad = browser.get(
        f"/workspace/facilities/{desk.facility_id}", query_string={"date": "2026-13-40"}
    )
    assert bad.status_code == 400 and "not a date" in bad.get_data(as_text=True)
    today = browser.get(f"/workspace/facilities/{desk.facility_id}").get_data(as_text=True)
    assert 'data-testid="prev-day"' not in today  # nothing to book before today
    unlisted = make_facility(kind="office", active=False)
    assert browser.get(f"/workspace/facilities/{unlisted.id}").status_code == 404
    assert browser.get("/workspace/facilities/999999").status_code == 404


def test_book_through_the_confirm_page_then_my_workspace_then_cancel(db, browser, desk):
    quote = browser.get(
        "/workspace/book",
        query_string={"unit_id": desk.id, "start": api_time(TUESDAY, 14), "minutes": 90},
    )
    page = quote.get_data(as_text=True)
    assert quote.status_code == 200, page
    assert "¥1,500 (tax incl.)" in page
    assert "14:00–15:30" in page
    # The terms as dates, times and yen: free until 24 hours before, then half back.
    assert "free cancellation, all ¥1,500 (tax incl.) returns" in page
    assert "14:00" in page and "¥750 (tax incl.) back (50%)" in page
    assert "nothing back" in page
    assert "1.5 with this booking" in page  # the month's workspace hours
    assert _count(db) == 0  # showing the price books nothing

    posted = browser.post(
        "/workspace/book",
        data={
            "unit_id": desk.id,
            "start": _hidden(page, "start"),
            "end": _hidden(page, "end"),
            "request_key": _hidden(page, "request_key"),
            "expected_total": _hidden(page, "expected_total"),
        },
    )
    assert posted.status_code == 303
    booking_page = html.unescape(browser.get(posted.headers["Location"]).get_data(as_text=True))
    assert "Your workspace is booked: Desk A" in booking_page
    assert "¥1,500 (tax incl.) was charged" in booking_page
    booking = db.session.scalar(select(WorkspaceBooking))
    assert booking.status == WorkspaceStatus.CONFIRMED and booking.total_price == 1500
    assert "If you cancel now, the whole ¥1,500 (tax incl.) returns" in booking_page

    mine = browser.get("/workspace/bookings").get_data(as_text=True)
    upcoming = mine[mine.index('data-testid="upcoming"') :]
    assert "Desk A" in upcoming and "Confirmed" in upcoming
    assert "Cancelling now returns ¥1,500." in upcoming

    cancelled = browser.post(
        f"/workspace/bookings/{booking.id}/cancel", data={"expected_refund": "1500"}
    )
    assert cancelled.status_code == 303
    after = html.unescape(browser.get(cancelled.headers["Location"]).get_data(as_text=True))
    assert "The whole ¥1,500 (tax incl.) was returned to your company" in after
    db.session.expire_all()
    assert db.session.get(WorkspaceBooking, booking.id).status == WorkspaceStatus.CANCELLED
    assert workspace_entries(db, booking.id) == [("spend", -1500), ("refund", 1500)]
    mine = browser.get("/workspace/bookings").get_data(as_text=True)
    assert "Cancelled" in mine[mine.index('data-testid="past"') :]


def test_a_late_cancel_shows_and_returns_half(app, db, browser, employee, desk):
    booking = _book(db, employee, desk, TODAY, (18, 0), (19, 0))  # 6 hours after NOW
    page = browser.get(f"/workspace/bookings/{booking.id}").get_data(as_text=True)
    assert "¥500 (tax incl.) returns to your company's credit and ¥500 (tax incl.) is kept" in page
    stale = browser.post(
        f"/workspace/bookings/{booking.id}/cancel", data={"expected_refund": "1000"}
    )
    assert "Cancelling now returns ¥500 (tax incl.), not what was shown" in browser.get(
        stale.headers["Location"]
    ).get_data(as_text=True)
    assert db.session.get(WorkspaceBooking, booking.id).status == WorkspaceStatus.CONFIRMED
    done = browser.post(f"/workspace/bookings/{booking.id}/cancel", data={"expected_refund": "500"})
    text = html.unescape(browser.get(done.headers["Location"]).get_data(as_text=True))
    assert (
        "¥500 (tax incl.) was returned to your company's credit; ¥500 (tax incl.) was kept" in text
    )


def test_another_employees_booking_is_not_found(db, browser, make_employee, desk):
    theirs = _book(db, make_employee(), desk, TUESDAY, (10, 0), (11, 0))
    assert browser.get(f"/workspace/bookings/{theirs.id}").status_code == 404
    assert browser.post(f"/workspace/bookings/{theirs.id}/cancel", data={}).status_code == 404
    assert browser.get("/workspace/bookings/999999").status_code == 404
    assert "Desk A" not in browser.get("/workspace/bookings").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(WorkspaceBooking, theirs.id).status == WorkspaceStatus.CONFIRMED


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "Choose a workspace and a time."),
        ({"start": "tomorrow afternoon", "minutes": "60"}, 400, "ISO 8601 with an offset"),
        ({"start": "2026-12-08T14:00:00", "minutes": "60"}, 400, "ISO 8601 with an offset"),
        ({"start": api_time(TUESDAY, 14)}, 400, "Choose when the booking ends."),
        ({"start": api_time(TUESDAY, 14, 10), "minutes": "60"}, 422, "30-minute slots"),
        ({"start": api_time(SATURDAY, 14), "minutes": "60"}, 422, "not open at that time"),
        ({"start": api_time(TUESDAY, 19, 30), "minutes": "60"}, 422, "end by the closing time"),
        ({"start": api_time(TODAY, 9), "minutes": "60"}, 422, "already passed"),
    ],
)
def test_bad_times_are_stated_and_nothing_is_booked(db, browser, desk, params, status, message):
    response = browser.get("/workspace/book", query_string={"unit_id": desk.id, **params})
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert message in text
    assert 'data-testid="confirm-button"' not in text
    posted = browser.post(
        "/workspace/book",
        data={"unit_id": desk.id, "start": params.get("start", ""), "end": api_time(SATURDAY, 15)},
    )
    assert posted.status_code in (400, 422)
    assert _count(db) == 0


def test_a_time_taken_meanwhile_is_refused_and_rolled_back(db, browser, make_employee, desk):
    page = browser.get(
        "/workspace/book",
        query_string={
            "unit_id": desk.id,
            "start": api_time(TUESDAY, 14),
            "end": api_time(TUESDAY, 15),
        },
    ).get_data(as_text=True)
    _book(db, make_employee(), desk, TUESDAY, (14, 30), (15, 30))
    posted = browser.post(
        "/workspace/book",
        data={
            "unit_id": desk.id,
            "start": api_time(TUESDAY, 14),
            "end": api_time(TUESDAY, 15),
            "request_key": _hidden(page, "request_key"),
            "expected_total": "1000",
        },
    )
    text = posted.get_data(as_text=True)
    assert posted.status_code == 409
    assert "that time was just taken" in text
    assert 'data-testid="confirm-button"' not in text
    assert _count(db) == 1
    # Asking again shows the time is no longer free, with a way back to the day.
    again = browser.get(
        "/workspace/book",
        query_string={"unit_id": desk.id, "start": api_time(TUESDAY, 14), "minutes": "60"},
    ).get_data(as_text=True)
    assert 'data-testid="not-free"' in again and 'data-testid="back-to-day"' in again


def test_a_moved_price_is_not_charged_unseen(db, browser, desk):
    posted = browser.post(
        "/workspace/book",
        data={
            "unit_id": desk.id,
            "start": api_time(TUESDAY, 14),
            "end": api_time(TUESDAY, 15),
            "expected_total": "800",
        },
    )
    assert posted.status_code == 409
    assert "has changed to" in posted.get_data(as_text=True)
    assert 'value="1000"' in posted.get_data(as_text=True)  # the new price, to confirm
    assert _count(db) == 0


def test_only_employees_book_workspace(app, make_user, desk):
    operator = signed_in(app, make_user(Role.OPERATOR, locale="en"))
    assert operator.get("/workspace/bookings").status_code == 403
    refused = operator.get(
        "/workspace/book",
        query_string={"unit_id": desk.id, "start": api_time(TUESDAY, 14), "minutes": "60"},
    )
    assert refused.status_code == 403
    assert "Only employees" in refused.get_data(as_text=True)
    assert operator.get("/workspace").status_code == 200  # searching is open, as for stays


def test_check_in_with_the_units_code(app, db, browser, employee, desk, booth):
    booking = _book(db, employee, desk, TODAY, (12, 0), (13, 0))
    code = checkin_code(app.config["SECRET_KEY"], desk.id)
    url = f"/workspace/check-in/{desk.id}/{code}"
    page = browser.get(url).get_data(as_text=True)
    assert "12:00–13:00" in page and 'data-testid="checkin-button"' in page
    done = browser.post(url)
    assert done.status_code == 303
    assert f"/workspace/bookings/{booking.id}" in done.headers["Location"]
    assert "You are checked in at Desk A until 13:00." in browser.get(
        done.headers["Location"]
    ).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(WorkspaceBooking, booking.id).status == WorkspaceStatus.CHECKED_IN
    assert 'data-testid="checked-in"' in browser.get(url).get_data(as_text=True)

    # Another unit's code, a wrong code, a garbled one: not found.
    assert browser.get(f"/workspace/check-in/{booth.id}/{code}").status_code == 404
    assert browser.get(f"/workspace/check-in/{desk.id}/{'0' * 16}").status_code == 404
    assert browser.get(f"/workspace/check-in/{desk.id}/ü{'0' * 15}").status_code == 404
    assert browser.post(f"/workspace/check-in/{desk.id}/{'0' * 16}").status_code == 404

    # The booth's right code, but no booking of it now: said so, with a way to book.
    none = browser.get(
        f"/workspace/check-in/{booth.id}/{checkin_code(app.config['SECRET_KEY'], booth.id)}"
    )
    text = none.get_data(as_text=True)
    assert none.status_code == 200
    assert (
        "You have no booking of this workspace now." in text and 'data-testid="book-link"' in text
    )


def test_check_in_asks_to_sign_in_first(app, client, desk):
    code = checkin_code(app.config["SECRET_KEY"], desk.id)
    response = client.get(f"/workspace/check-in/{desk.id}/{code}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query)["next"][0].startswith(f"/workspace/check-in/{desk.id}/")
