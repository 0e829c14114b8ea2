"""Changing a workspace booking (issue 19): another time or another space of the same
facility, until 24 hours before its start, settled on the company's credit (a dearer
time charged, a cheaper one refunded in full), atomic (a time taken meanwhile keeps the
old one), through the service, the pages and the API; someone else's booking is not
found, a stay's desk, a booking already begun and one within 24 hours of its start are
refused (the last can still be cancelled, half back: no way around the late charge).

The clock is fixed (tests.conftest.NOW: Tuesday 1 December 2026, 12:00 in Tokyo); every
test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts.events import WORKSPACE_CHANGED, Event
from availability.workspace import SlotHold, SlotTaken, is_free
from billing import ledger
from booking import services
from booking.services import BookingError, BookingNotFound, PriceChanged
from booking.workspace import WorkspaceRequest, book_workspace, cancel_workspace
from booking.workspace_change import change_workspace, quote_change
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from core.errors import RuleError
from tests.booking.workspace_helpers import (
    SATURDAY,
    TUESDAY,
    WEDNESDAY,
    api_time,
    at,
    make_space,
    workspace_entries,
)
from tests.conftest import NOW, TODAY, bearer, signed_in

BOOKINGS = "/api/v1/workspace-bookings"
TOMORROW = TODAY + timedelta(days=1)  # Wednesday 2 December: 12:00 is 24 hours after NOW
EARLY = NOW - timedelta(minutes=1)  # 24 hours and a minute before TOMORROW 12:00
LATE = NOW + timedelta(minutes=1)  # 23 hours 59 minutes before it


@pytest.fixture
def office(make_facility):
    return make_facility(kind="office")


@pytest.fixture
def desk(db, office):
    return make_space(db, office, name="Desk A")


@pytest.fixture
def booth(db, office):
    return make_space(db, office, name="Booth B", kind="phone_booth", hourly_price=2000)


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


def book(db, actor, unit, start, end, now=NOW, **kw) -> WorkspaceBooking:
    (booking,) = book_workspace(actor, [WorkspaceRequest(unit.id, start, end)], now, **kw)
    db.session.commit()
    return booking


def balance(company_id: int) -> int:
    return ledger.account_of(company_id).credit_balance


def holds_of(db, booking_id: int) -> list[tuple[int, object, object]]:
    db.session.expire_all()
    return [
        (h.unit_id, h.starts_at, h.ends_at)
        for h in db.session.scalars(select(SlotHold).where(SlotHold.booking_id == booking_id))
    ]


# -- the service ---------------------------------------------------------------------------


def test_a_dearer_time_charges_the_difference_and_moves_the_hold(db, employee, desk, booth):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    before = balance(employee.company_id)

    quote = quote_change(employee, booking.id, booth.id, at(WEDNESDAY, 14), at(WEDNESDAY, 15), NOW)
    assert (quote.money.difference, quote.money.charged, quote.available) == (1000, 1000, True)
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]

    result = change_workspace(
        employee,
        booking.id,
        booth.id,
        at(WEDNESDAY, 14),
        at(WEDNESDAY, 15),
        NOW,
        expected_difference=1000,
    )
    db.session.commit()

    assert result.money.charged == 1000 and result.old_starts_at == at(TUESDAY, 10)
    booking = db.session.get(WorkspaceBooking, booking.id)
    assert (booking.unit_id, booking.starts_at, booking.total_price) == (
        booth.id,
        at(WEDNESDAY, 14),
        2000,
    )
    assert holds_of(db, booking.id) == [(booth.id, at(WEDNESDAY, 14), at(WEDNESDAY, 15))]
    assert is_free(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))
    assert workspace_entries(db, booking.id) == [("spend", -1000), ("change", -1000)]
    assert balance(employee.company_id) == before - 1000
    event = db.session.scalar(select(Event).where(Event.type == WORKSPACE_CHANGED))
    assert event.subject_id == booking.id and event.user_id == employee.id
    assert event.facts["old_unit_id"] == desk.id
    assert (event.facts["charged"], event.facts["refunded"], event.facts["kept"]) == (1000, 0, 0)


def test_moving_over_its_own_old_time_works(db, employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    change_workspace(employee, booking.id, desk.id, at(TUESDAY, 10, 30), at(TUESDAY, 11, 30), NOW)
    db.session.commit()
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10, 30), at(TUESDAY, 11, 30))]
    assert is_free(desk.id, at(TUESDAY, 10), at(TUESDAY, 10, 30))
    assert workspace_entries(db, booking.id) == [("spend", -1000)]  # same price: no entry


def test_a_taken_time_changes_nothing(db, employee, make_employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    book(db, make_employee(), desk, at(TUESDAY, 14, 30), at(TUESDAY, 15, 30))
    before = balance(employee.company_id)

    assert not quote_change(
        employee, booking.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 16), NOW
    ).available
    with pytest.raises(SlotTaken):
        change_workspace(employee, booking.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 16), NOW)
    db.session.rollback()

    booking = db.session.get(WorkspaceBooking, booking.id)
    assert (booking.starts_at, booking.total_price) == (at(TUESDAY, 10), 1000)
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]
    assert balance(employee.company_id) == before
    assert db.session.scalar(select(Event).where(Event.type == WORKSPACE_CHANGED)) is None


def test_a_taken_time_keeps_the_old_hold_even_without_the_callers_rollback(db, employee, desk):
    """The release and the claim are one savepoint: the refusal restores the old hold."""
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    book(db, employee, desk, at(TUESDAY, 11), at(TUESDAY, 12))
    with pytest.raises(SlotTaken):
        change_workspace(employee, booking.id, desk.id, at(TUESDAY, 10), at(TUESDAY, 12), NOW)
    db.session.commit()
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_a_change_24_hours_and_a_minute_ahead_refunds_the_whole_cheaper_difference(
    db, employee, desk
):
    booking = book(db, employee, desk, at(TOMORROW, 12), at(TOMORROW, 14), now=EARLY)
    before = balance(employee.company_id)

    quote = quote_change(employee, booking.id, desk.id, at(TOMORROW, 12), at(TOMORROW, 13), EARLY)
    assert (quote.money.difference, quote.money.charged, quote.money.refunded) == (-1000, 0, 1000)
    result = change_workspace(
        employee,
        booking.id,
        desk.id,
        at(TOMORROW, 12),
        at(TOMORROW, 13),
        EARLY,
        expected_difference=-1000,
    )
    db.session.commit()

    assert result.money.refunded == 1000
    assert workspace_entries(db, booking.id) == [("spend", -2000), ("change", 1000)]
    assert balance(employee.company_id) == before + 1000
    event = db.session.scalar(select(Event).where(Event.type == WORKSPACE_CHANGED))
    assert (event.facts["refunded"], event.facts["kept"]) == (1000, 0)


@pytest.mark.parametrize("now", [LATE, NOW], ids=["23h59_before", "exactly_24h_before"])
def test_within_24_hours_of_its_start_a_booking_cannot_be_changed(db, employee, desk, now):
    booking = book(db, employee, desk, at(TOMORROW, 12), at(TOMORROW, 14), now=EARLY)
    before = balance(employee.company_id)
    far_ahead = (desk.id, at(WEDNESDAY, 12), at(WEDNESDAY, 14))  # same price, a week on

    with pytest.raises(BookingError) as quoted:
        quote_change(employee, booking.id, *far_ahead, now)
    with pytest.raises(BookingError) as refused:
        change_workspace(employee, booking.id, *far_ahead, now, expected_difference=0)
    db.session.rollback()

    assert quoted.value.code == refused.value.code == "not_changeable"
    with force_locale("en"):  # a service answers in the default language (ja)
        message = str(refused.value.message)
    assert "only until 24 hours before its start" in message
    assert "You can still cancel it" in message and "¥1,000" in message and "50%" in message
    assert holds_of(db, booking.id) == [(desk.id, at(TOMORROW, 12), at(TOMORROW, 14))]
    # The loophole stays closed: cancelling now keeps the late half, as the terms say.
    booking = db.session.get(WorkspaceBooking, booking.id)
    assert cancel_workspace(booking, now, employee) == 1000
    db.session.commit()
    assert balance(employee.company_id) == before + 1000


def test_a_moved_price_is_refused(db, employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    desk.hourly_price = 1200
    db.session.commit()
    with pytest.raises(PriceChanged) as refused:
        change_workspace(
            employee,
            booking.id,
            desk.id,
            at(TUESDAY, 14),
            at(TUESDAY, 15),
            NOW,
            expected_difference=0,
        )
    db.session.rollback()
    assert refused.value.code == "price_changed"
    assert "¥1,200" in str(refused.value.message)
    assert db.session.get(WorkspaceBooking, booking.id).starts_at == at(TUESDAY, 10)


def test_the_hours_cap_counts_the_new_length_instead_of_the_old(
    db, make_company, make_employee, desk
):
    actor = make_employee(company=make_company(max_workspace_hours_per_month=2))
    booking = book(db, actor, desk, at(TUESDAY, 10), at(TUESDAY, 11, 30))
    book(db, actor, desk, at(WEDNESDAY, 10), at(WEDNESDAY, 10, 30))
    # 1.5 h moved to another 1.5 h: still 2 h in the month.
    change_workspace(actor, booking.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 15, 30), NOW)
    db.session.commit()
    with pytest.raises(BookingError) as refused:
        change_workspace(actor, booking.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 16), NOW)
    db.session.rollback()
    assert refused.value.code == "policy_workspace_month"


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (at(TUESDAY, 14, 10), at(TUESDAY, 15), "not_on_slot"),
        (at(SATURDAY, 10), at(SATURDAY, 11), "outside_hours"),
        (at(TUESDAY, 19, 30), at(TUESDAY, 20, 30), "spans_closing"),
        (at(TODAY, 9), at(TODAY, 10), "in_past"),
        (at(TUESDAY, 10), at(TUESDAY, 11), "unchanged"),
    ],
)
def test_the_new_time_keeps_the_rules_of_a_booking(db, employee, desk, start, end, code):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    with pytest.raises(RuleError) as refused:
        change_workspace(employee, booking.id, desk.id, start, end, NOW)
    db.session.rollback()
    assert refused.value.code == code
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_another_facility_is_refused(db, employee, desk, make_facility):
    elsewhere = make_space(db, make_facility(kind="office"), name="Desk Z")
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    with pytest.raises(BookingError) as refused:
        change_workspace(employee, booking.id, elsewhere.id, at(TUESDAY, 10), at(TUESDAY, 11), NOW)
    db.session.rollback()
    assert refused.value.code == "other_facility"


def test_someone_elses_booking_is_not_found(db, employee, make_employee, desk):
    theirs = book(db, make_employee(), desk, at(TUESDAY, 10), at(TUESDAY, 11))
    with pytest.raises(BookingNotFound):
        quote_change(employee, theirs.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 15), NOW)
    with pytest.raises(BookingNotFound):
        change_workspace(employee, theirs.id, desk.id, at(TUESDAY, 14), at(TUESDAY, 15), NOW)
    db.session.rollback()
    assert holds_of(db, theirs.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_a_booking_begun_or_cancelled_cannot_be_changed(db, employee, desk):
    begun = book(db, employee, desk, at(TODAY, 18), at(TODAY, 19))
    with pytest.raises(BookingError) as refused:
        change_workspace(
            employee, begun.id, desk.id, at(TUESDAY, 10), at(TUESDAY, 11), at(TODAY, 18, 15)
        )
    db.session.rollback()
    assert refused.value.code == "not_changeable"
    cancelled = book(db, employee, desk, at(WEDNESDAY, 10), at(WEDNESDAY, 11))
    cancel_workspace(cancelled, NOW, employee)
    db.session.commit()
    with pytest.raises(BookingError) as refused:
        change_workspace(employee, cancelled.id, desk.id, at(TUESDAY, 10), at(TUESDAY, 11), NOW)
    db.session.rollback()
    assert refused.value.code == "not_changeable"


@pytest.fixture
def stay_desk(db, employee, make_unit):
    """A desk booked with a stay at the stay's facility (it follows the stay)."""
    room = make_unit()
    desk = make_space(db, room.facility, name="Desk S")
    stay = services.book_stay(employee, services.StayRequest(room.id, TUESDAY, WEDNESDAY, 1), NOW)
    (booking,) = book_workspace(
        employee, [WorkspaceRequest(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))], NOW, stay=stay
    )
    db.session.commit()
    return booking


def test_a_stays_desk_is_refused_with_a_clear_message(db, employee, stay_desk):
    assert stay_desk.stay_id is not None and stay_desk.status == WorkspaceStatus.CONFIRMED
    unit_id = stay_desk.unit_id
    with pytest.raises(BookingError) as refused:
        change_workspace(employee, stay_desk.id, unit_id, at(TUESDAY, 14), at(TUESDAY, 15), NOW)
    db.session.rollback()
    assert refused.value.code == "not_changeable"
    with force_locale("en"):  # a service answers in the default language (ja)
        assert "follows it" in str(refused.value.message)


# -- the pages -----------------------------------------------------------------------------


@pytest.fixture
def browser(app, employee):
    return signed_in(app, employee)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', page
    )
    assert match, name
    return html.unescape(match.group(1))


def _show(browser, booking, unit, day, starts, minutes):
    return browser.get(
        f"/workspace/bookings/{booking.id}/change",
        query_string={
            "unit_id": unit.id,
            "day": day.isoformat(),
            "starts": starts,
            "minutes": minutes,
        },
    )


def test_change_through_the_pages(db, browser, employee, desk, booth):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    page = browser.get(f"/workspace/bookings/{booking.id}").get_data(as_text=True)
    assert f'href="/workspace/bookings/{booking.id}/change"' in page

    form = browser.get(f"/workspace/bookings/{booking.id}/change")
    text = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "10:00–11:00" in text and 'data-testid="show-change"' in text
    assert '<option selected value="10:00">' in text or 'value="10:00" selected' in text
    assert 'data-testid="confirm-button"' not in text  # nothing to confirm before a preview

    shown = _show(browser, booking, booth, WEDNESDAY, "14:00", 90)
    text = html.unescape(shown.get_data(as_text=True))
    assert shown.status_code == 200, text
    assert "14:00–15:30" in text and "Booth B" in text
    assert "¥3,000 (tax incl.)" in text  # the new price
    money = text.index("¥2,000 (tax incl.) more will be charged to your company's stay credit")
    assert money < text.index('data-testid="confirm-button"')  # the yen before the button
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]

    posted = browser.post(
        f"/workspace/bookings/{booking.id}/change",
        data={
            name: _hidden(text, name) for name in ("unit_id", "start", "end", "expected_difference")
        },
    )
    assert posted.status_code == 303
    after = html.unescape(browser.get(posted.headers["Location"]).get_data(as_text=True))
    assert "Your workspace booking is now Booth B" in after and "14:00–15:30" in after
    assert "¥2,000 (tax incl.) more was charged to your company's stay credit." in after
    assert holds_of(db, booking.id) == [(booth.id, at(WEDNESDAY, 14), at(WEDNESDAY, 15, 30))]

    # The same form sent again (a double submit) changes nothing more.
    again = browser.post(
        f"/workspace/bookings/{booking.id}/change",
        data={
            name: _hidden(text, name) for name in ("unit_id", "start", "end", "expected_difference")
        },
    )
    assert again.status_code == 303
    assert "already has this time" in browser.get(again.headers["Location"]).get_data(as_text=True)
    assert workspace_entries(db, booking.id) == [("spend", -1000), ("change", -2000)]


def test_the_form_offers_the_facilitys_units_hours_and_lengths(db, browser, employee, office):
    # Holidays open as Monday (a weekday index, not hours); 15-minute slots from 08:00.
    early = make_space(
        db,
        office,
        name="Room C",
        kind="meeting_room",
        slot_minutes=15,
        min_minutes=60,
        max_minutes=120,
        hours={"week": [[480, 1080]] * 5 + [None, None], "holiday": 0},
    )
    make_space(db, office, name="Room D", active=False)
    booking = book(db, employee, early, at(TUESDAY, 10), at(TUESDAY, 11))
    page = browser.get(f"/workspace/bookings/{booking.id}/change")
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    assert "Room C" in text and "Room D" not in text  # active units only
    starts = re.search(r'<select[^>]*name="starts".*?</select>', text, re.S).group(0)
    assert ">08:00<" in starts and ">08:15<" in starts and ">17:45<" in starts
    assert ">18:00<" not in starts and ">07:45<" not in starts
    lengths = re.search(r'<select[^>]*name="minutes".*?</select>', text, re.S).group(0)
    assert re.findall(r'value="(\d+)"', lengths) == ["60", "75", "90", "105", "120"]


def test_24_hours_and_a_minute_ahead_the_page_changes_it_and_says_until_when(
    app, db, browser, employee, desk
):
    app.config["FIXED_NOW"] = EARLY
    booking = book(db, employee, desk, at(TOMORROW, 12), at(TOMORROW, 14), now=EARLY)
    page = html.unescape(browser.get(f"/workspace/bookings/{booking.id}").get_data(as_text=True))
    assert 'data-testid="change-link"' in page
    assert "You can change this booking until" in page and "12:00 (Japan time)" in page

    shown = _show(browser, booking, desk, TOMORROW, "12:00", 60)
    text = html.unescape(shown.get_data(as_text=True))
    assert shown.status_code == 200, text
    assert "¥1,000 (tax incl.) will be returned to your company's credit." in text
    assert "is kept" not in text
    posted = browser.post(
        f"/workspace/bookings/{booking.id}/change",
        data={
            name: _hidden(text, name) for name in ("unit_id", "start", "end", "expected_difference")
        },
    )
    assert posted.status_code == 303
    after = html.unescape(browser.get(posted.headers["Location"]).get_data(as_text=True))
    assert "¥1,000 (tax incl.) was returned to your company's credit." in after
    assert holds_of(db, booking.id) == [(desk.id, at(TOMORROW, 12), at(TOMORROW, 13))]


def test_23_hours_59_ahead_the_pages_refuse_and_hide_the_link(app, db, browser, employee, desk):
    booking = book(db, employee, desk, at(TOMORROW, 12), at(TOMORROW, 14), now=EARLY)
    app.config["FIXED_NOW"] = LATE
    page = html.unescape(browser.get(f"/workspace/bookings/{booking.id}").get_data(as_text=True))
    assert 'data-testid="change-link"' not in page
    assert "Changes were possible until" in page and "12:00 (Japan time)" in page
    assert 'data-testid="cancel-button"' in page  # it can still be cancelled, half back
    assert 'data-refund="1000"' in page

    asks = (
        lambda: browser.get(f"/workspace/bookings/{booking.id}/change"),
        lambda: _show(browser, booking, desk, WEDNESDAY, "12:00", 120),
        lambda: browser.post(
            f"/workspace/bookings/{booking.id}/change",
            data={
                "unit_id": desk.id,
                "start": api_time(WEDNESDAY, 12),
                "end": api_time(WEDNESDAY, 14),
                "expected_difference": "0",
            },
        ),
    )
    for ask in asks:
        refused = ask()
        assert refused.status_code == 303
        assert refused.headers["Location"].endswith(f"/workspace/bookings/{booking.id}")
        after = html.unescape(browser.get(refused.headers["Location"]).get_data(as_text=True))
        assert "can be changed only until 24 hours before its start" in after
        assert "You can still cancel it until it begins: 50% of its price (¥1,000" in after
        assert 'data-testid="change-link"' not in after
    assert holds_of(db, booking.id) == [(desk.id, at(TOMORROW, 12), at(TOMORROW, 14))]
    assert workspace_entries(db, booking.id) == [("spend", -2000)]


def test_a_taken_time_is_stated_with_409(db, browser, employee, make_employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    shown = _show(browser, booking, desk, TUESDAY, "14:00", 60)
    text = shown.get_data(as_text=True)
    book(db, make_employee(), desk, at(TUESDAY, 14), at(TUESDAY, 15))

    # Taken before the preview: said, and no confirm button.
    taken = _show(browser, booking, desk, TUESDAY, "14:00", 60)
    assert taken.status_code == 409
    assert "already taken" in taken.get_data(as_text=True)
    assert 'data-testid="confirm-button"' not in taken.get_data(as_text=True)
    # Taken between the preview and the confirm: said, and the old time kept.
    posted = browser.post(
        f"/workspace/bookings/{booking.id}/change",
        data={name: _hidden(text, name) for name in ("unit_id", "start", "end")},
    )
    assert posted.status_code == 409
    assert "that time was just taken" in posted.get_data(as_text=True)
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_a_moved_price_shows_the_new_one_with_409(db, browser, employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    desk.hourly_price = 1200
    db.session.commit()
    posted = browser.post(
        f"/workspace/bookings/{booking.id}/change",
        data={
            "unit_id": desk.id,
            "start": api_time(TUESDAY, 14),
            "end": api_time(TUESDAY, 15),
            "expected_difference": "0",
        },
    )
    text = html.unescape(posted.get_data(as_text=True))
    assert posted.status_code == 409
    assert "has changed to ¥1,200" in text
    assert 'name="expected_difference" value="200"' in text  # the new difference, to confirm
    assert db.session.get(WorkspaceBooking, booking.id).starts_at == at(TUESDAY, 10)


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"day": SATURDAY.isoformat()}, 422, "not open at that time"),
        ({"starts": "19:30"}, 422, "end by the closing time"),
        ({"day": "not a date"}, 400, "Please check the fields below."),
        ({"minutes": "7"}, 400, "Please check the fields below."),
        ({"unit_id": "abc"}, 400, "Please check the fields below."),
    ],
)
def test_bad_input_is_stated_and_nothing_changes(
    db, browser, employee, desk, params, status, message
):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    query = {"unit_id": desk.id, "day": TUESDAY.isoformat(), "starts": "14:00", "minutes": 60}
    shown = browser.get(f"/workspace/bookings/{booking.id}/change", query_string=query | params)
    text = shown.get_data(as_text=True)
    assert shown.status_code == status, text
    assert message in text
    assert 'data-testid="confirm-button"' not in text
    bad = browser.post(f"/workspace/bookings/{booking.id}/change", data={"unit_id": desk.id})
    assert bad.status_code == 400
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_someone_elses_booking_is_404_on_the_pages(db, browser, make_employee, desk):
    theirs = book(db, make_employee(), desk, at(TUESDAY, 10), at(TUESDAY, 11))
    assert browser.get(f"/workspace/bookings/{theirs.id}/change").status_code == 404
    assert _show(browser, theirs, desk, TUESDAY, "14:00", 60).status_code == 404
    posted = browser.post(
        f"/workspace/bookings/{theirs.id}/change",
        data={"unit_id": desk.id, "start": api_time(TUESDAY, 14), "end": api_time(TUESDAY, 15)},
    )
    assert posted.status_code == 404
    assert browser.get("/workspace/bookings/999999/change").status_code == 404
    assert holds_of(db, theirs.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]


def test_a_stays_desk_has_no_change_link_and_is_refused(db, browser, stay_desk):
    page = browser.get(f"/workspace/bookings/{stay_desk.id}").get_data(as_text=True)
    assert 'data-testid="change-link"' not in page
    refused = browser.get(f"/workspace/bookings/{stay_desk.id}/change")
    assert refused.status_code == 303
    after = html.unescape(browser.get(refused.headers["Location"]).get_data(as_text=True))
    assert "This desk was booked with your stay and follows it" in after


# -- the API -------------------------------------------------------------------------------


@pytest.fixture
def auth(db, employee):
    return bearer(db, employee)


def _patch(client, auth, booking_id, **body):
    return client.patch(f"{BOOKINGS}/{booking_id}", json=body, headers=auth)


def _error(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_patch_moves_the_booking(client, db, auth, employee, desk, booth):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    response = _patch(
        client,
        auth,
        booking.id,
        unit_id=booth.id,
        start=api_time(TUESDAY, 10, 30),
        end=api_time(TUESDAY, 11, 30),
        expected_total=2000,
    )
    body = response.get_json()
    assert response.status_code == 200, body
    assert (body["id"], body["unit_id"], body["start"], body["end"]) == (
        booking.id,
        booth.id,
        "2026-12-08T10:30:00+09:00",
        "2026-12-08T11:30:00+09:00",
    )
    assert body["total_price"] == 2000
    assert body["change"] == {
        "old_total": 1000,
        "new_total": 2000,
        "difference": 1000,
        "charged": 1000,
        "refunded": 0,
        "kept": 0,
    }
    # Retried (the first answer lost): the booking, nothing moved.
    again = _patch(
        client, auth, booking.id, start=api_time(TUESDAY, 10, 30), end=api_time(TUESDAY, 11, 30)
    )
    assert again.status_code == 200 and again.get_json()["change"]["difference"] == 0
    assert workspace_entries(db, booking.id) == [("spend", -1000), ("change", -1000)]


def test_patch_over_its_own_time_without_a_unit_keeps_the_unit(client, db, auth, employee, desk):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    response = _patch(
        client, auth, booking.id, start=api_time(TUESDAY, 10, 30), end=api_time(TUESDAY, 11, 30)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["unit_id"] == desk.id
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10, 30), at(TUESDAY, 11, 30))]


def test_patch_refusals(client, db, auth, employee, make_employee, desk, make_facility):
    booking = book(db, employee, desk, at(TUESDAY, 10), at(TUESDAY, 11))
    theirs = book(db, make_employee(), desk, at(TUESDAY, 14), at(TUESDAY, 15))
    elsewhere = make_space(db, make_facility(kind="office"), name="Desk Z")
    tuesday = {"start": api_time(TUESDAY, 12), "end": api_time(TUESDAY, 13)}

    taken = {"start": api_time(TUESDAY, 14), "end": api_time(TUESDAY, 15)}
    assert _error(_patch(client, auth, booking.id, **taken)) == (409, "taken")
    assert _error(_patch(client, auth, booking.id, **tuesday, expected_total=900)) == (
        409,
        "price_changed",
    )
    closed = {"start": api_time(SATURDAY, 10), "end": api_time(SATURDAY, 11)}
    assert _error(_patch(client, auth, booking.id, **closed)) == (422, "outside_hours")
    assert _error(_patch(client, auth, booking.id, unit_id=elsewhere.id, **tuesday)) == (
        422,
        "other_facility",
    )
    assert _error(_patch(client, auth, theirs.id, **tuesday)) == (404, "not_found")
    assert _error(_patch(client, auth, 999999, **tuesday)) == (404, "not_found")
    assert _error(_patch(client, auth, booking.id, start=api_time(TUESDAY, 12))) == (
        400,
        "missing_field",
    )
    assert _error(
        client.patch(
            f"{BOOKINGS}/{booking.id}",
            data="[]",
            headers=auth | {"Content-Type": "application/json"},
        )
    ) == (400, "malformed_json")
    assert holds_of(db, booking.id) == [(desk.id, at(TUESDAY, 10), at(TUESDAY, 11))]
    assert holds_of(db, theirs.id) == [(desk.id, at(TUESDAY, 14), at(TUESDAY, 15))]
    assert workspace_entries(db, booking.id) == [("spend", -1000)]


def test_patch_of_a_stays_desk_or_a_begun_booking_is_409(
    client, db, auth, employee, desk, stay_desk
):
    tuesday = {"start": api_time(WEDNESDAY, 12), "end": api_time(WEDNESDAY, 13)}
    refused = _patch(client, auth, stay_desk.id, **tuesday)
    assert _error(refused) == (409, "not_changeable")
    assert "follows it" in refused.get_json()["error"]["message"]
    # Begun: a booking whose start is already past by the clock of the request.
    begun = book(db, employee, desk, at(TODAY, 18), at(TODAY, 19))
    begun_row = db.session.get(WorkspaceBooking, begun.id)
    begun_row.starts_at = begun_row.starts_at - timedelta(days=30)  # started long ago
    begun_row.ends_at = begun_row.ends_at - timedelta(days=30)
    db.session.commit()
    assert _error(_patch(client, auth, begun.id, **tuesday)) == (409, "not_changeable")
    assert db.session.get(WorkspaceBooking, begun.id).status == WorkspaceStatus.CONFIRMED


def test_patch_24_hours_and_a_minute_ahead_is_200_and_23_hours_59_is_409(
    app, client, db, auth, employee, desk
):
    early = book(db, employee, desk, at(TOMORROW, 12), at(TOMORROW, 14), now=EARLY)
    late = book(db, employee, desk, at(TOMORROW, 15), at(TOMORROW, 17), now=EARLY)
    app.config["FIXED_NOW"] = EARLY
    moved = _patch(client, auth, early.id, start=api_time(TOMORROW, 12), end=api_time(TOMORROW, 13))
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["change"] == {
        "old_total": 2000,
        "new_total": 1000,
        "difference": -1000,
        "charged": 0,
        "refunded": 1000,
        "kept": 0,
    }

    app.config["FIXED_NOW"] = at(TOMORROW, 15) - timedelta(hours=23, minutes=59)
    far_ahead = {"start": api_time(WEDNESDAY, 15), "end": api_time(WEDNESDAY, 17)}
    refused = _patch(client, auth, late.id, **far_ahead)
    assert _error(refused) == (409, "not_changeable")
    message = refused.get_json()["error"]["message"]
    assert "only until 24 hours before its start" in message and "cancel" in message
    assert holds_of(db, late.id) == [(desk.id, at(TOMORROW, 15), at(TOMORROW, 17))]
    assert workspace_entries(db, late.id) == [("spend", -2000)]
    # Still cancellable, by the terms: half back.
    cancelled = client.delete(f"{BOOKINGS}/{late.id}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.get_json()["refund"] == 1000
