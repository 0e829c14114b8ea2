"""The employee's programme pages (booking/programme_views.py): the list and its filters,
a programme with the fee shown before the confirm button, join and leave, my
programmes, the regional page, the stay page and its .ics; foreign ids are not found,
forms need their CSRF token."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from accounts.models import Role
from billing.models import CreditEntry, EntryKind
from booking import services
from regions import programme_money
from regions.models import ProgrammeSignup, SessionStatus, SignupStatus
from tests.conftest import NOW, signed_in
from tests.regions.programme_fixtures import make_programme


@pytest.fixture
def organiser(make_operator):
    return make_operator(name="長野市", kind="municipality")


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def browser(app, employee):
    return signed_in(app, employee)


def book(db, user, unit, check_in=date(2026, 12, 10), check_out=date(2026, 12, 13)):
    booking = services.book_stay(user, services.StayRequest(unit.id, check_in, check_out, 1), NOW)
    db.session.commit()
    return booking


def signups(db) -> list[ProgrammeSignup]:
    db.session.expire_all()
    return db.session.scalars(select(ProgrammeSignup).order_by(ProgrammeSignup.id)).all()


def join_form(browser, session_id: int, **params) -> tuple[int, str]:
    response = browser.get(f"/programmes/sessions/{session_id}/join", query_string=params)
    return response.status_code, response.get_data(as_text=True)


def hidden(page: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    return found[1] if found else None


def confirm(browser, session_id: int, page: str):
    """POST the confirm form as the page rendered it."""
    data = {
        name: value
        for name in ("participants", "booking_id", "expected_fee", "waitlist", "csrf_token")
        if (value := hidden(page, name)) is not None
    }
    return browser.post(f"/programmes/sessions/{session_id}/join", data=data)


# -- the list ------------------------------------------------------------------------------


def test_the_list_shows_sessions_and_filters_them(db, browser, organiser, make_operator):
    nagano = make_programme(db, organiser, price_kind="credit", price=2500)
    tour = make_programme(
        db,
        make_operator(),
        municipality_code="202029",
        kind="tour",
        title_ja="松本城ガイドツアー",
        price_kind="local",
        price=1000,
    )
    make_programme(db, organiser, published=False, title_ja="非公開")
    page = browser.get("/programmes").get_data(as_text=True)
    assert "雪かきボランティア" in page and "松本城ガイドツアー" in page
    assert "非公開" not in page
    assert "長野県長野市" in page
    assert 'data-seats-left="5"' in page
    assert "¥2,500" in page and "¥1,000" in page

    def titles(**params) -> str:
        response = browser.get("/programmes", query_string=params)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert "松本城" not in titles(municipality="202011")
    assert "雪かき" not in titles(kind="tour")
    assert "雪かき" not in titles(prefecture="13")
    assert "雪かき" not in titles(date_from="2026-12-12", date_to="2026-12-20")
    assert f'data-session-id="{nagano.sessions[0].id}"' in titles(
        date_from="2026-12-11", date_to="2026-12-11"
    )
    assert f'data-session-id="{tour.sessions[0].id}"' in titles(prefecture="20")


@pytest.mark.parametrize(
    "params",
    [
        {"municipality": "202012"},  # wrong check digit
        {"municipality": "abc"},
        {"date_from": "2026-12-20", "date_to": "2026-12-10"},
        {"date_from": "not-a-date"},
        {"date_from": "9999-12-31"},  # the calendar's end: refused, not an overflow
        {"date_to": "9999-12-31"},
        {"prefecture": "99"},
        {"kind": "party"},
    ],
)
def test_bad_filters_are_stated(db, browser, organiser, params):
    make_programme(db, organiser)
    response = browser.get("/programmes", query_string=params)
    assert response.status_code == 400
    assert 'data-testid="filter-error"' in response.get_data(as_text=True)


def test_during_my_stays_shows_what_is_near_them(db, browser, employee, organiser, make_unit):
    near = make_programme(db, organiser)
    make_programme(db, organiser, latitude=35.0, longitude=135.0, title_ja="遠くの催し")
    assert "雪かき" not in browser.get("/programmes?during_stays=y").get_data(as_text=True)
    book(db, employee, make_unit())
    page = browser.get("/programmes?during_stays=y").get_data(as_text=True)
    assert f'data-session-id="{near.sessions[0].id}"' in page
    assert "遠くの催し" not in page


# -- a programme, join, leave --------------------------------------------------------------


def test_join_shows_the_fee_before_the_confirm_button(
    db, app, organiser, make_employee, make_company, make_unit
):
    employee = make_employee(company=make_company(programmes_on_credit=True), locale="en")
    browser = signed_in(app, employee)
    programme = make_programme(db, organiser, price_kind="credit", price=3000)
    session = programme.sessions[0]
    stay = book(db, employee, make_unit())
    detail = browser.get(f"/programmes/{programme.id}").get_data(as_text=True)
    assert "市役所前広場" in detail and 'data-testid="map"' in detail
    assert 'data-testid="join-form"' in detail
    assert f'<option value="{stay.id}">' in detail

    status, page = join_form(browser, session.id, participants=2, booking_id=stay.id)
    assert status == 200
    assert page.index('data-fee="6000"') < page.index('data-testid="confirm-button"')
    assert "¥6,000" in page
    assert 'data-testid="fee-terms"' in page  # when it comes back, before confirming
    assert db.session.scalar(select(func.count()).select_from(ProgrammeSignup)) == 0

    response = confirm(browser, session.id, page)
    assert response.status_code == 303
    assert response.location.endswith("/my/programmes")
    (signup,) = signups(db)
    assert (signup.status, signup.participants, signup.fee, signup.booking_id) == (
        SignupStatus.JOINED,
        2,
        6000,
        stay.id,
    )
    assert programme_money.paid(signup.id) == 6000
    mine = browser.get("/my/programmes").get_data(as_text=True)
    assert f'data-signup-id="{signup.id}"' in mine and 'data-status="joined"' in mine

    # Leave before the deadline: the page says what comes back, then it does.
    leave = browser.get(f"/programmes/signups/{signup.id}/leave").get_data(as_text=True)
    assert 'data-refund="6000"' in leave
    response = browser.post(
        f"/programmes/signups/{signup.id}/leave", data={"expected_refund": "6000"}
    )
    assert response.status_code == 303
    assert signups(db)[0].status == SignupStatus.LEFT
    assert programme_money.paid(signup.id) == 0


def test_leaving_after_the_deadline_says_nothing_comes_back(
    db, app, organiser, make_employee, make_company
):
    employee = make_employee(company=make_company(programmes_on_credit=True), locale="en")
    session = make_programme(
        db,
        organiser,
        price_kind="credit",
        price=3000,
        stay_required=False,
        starts_at=NOW + timedelta(hours=20),
    ).sessions[0]
    browser = signed_in(app, employee)
    _status, page = join_form(browser, session.id, participants=1)
    assert confirm(browser, session.id, page).status_code == 303
    (signup,) = signups(db)
    leave = browser.get(f"/programmes/signups/{signup.id}/leave").get_data(as_text=True)
    assert 'data-refund="0"' in leave
    assert "nothing of the ¥3,000 paid comes back" in leave
    browser.post(f"/programmes/signups/{signup.id}/leave", data={"expected_refund": "0"})
    assert signups(db)[0].status == SignupStatus.LEFT
    assert programme_money.paid(signup.id) == 3000


def test_a_full_session_refuses_then_waitlists(db, browser, app, organiser, make_employee):
    session = make_programme(db, organiser, capacity=1, stay_required=False).sessions[0]
    first = signed_in(app, make_employee())
    _status, page = join_form(first, session.id, participants=1)
    # Someone else takes the last seat before this browser confirms.
    _status, mine = join_form(browser, session.id, participants=1)
    assert confirm(first, session.id, page).status_code == 303
    response = confirm(browser, session.id, mine)
    assert response.status_code == 409
    assert 'data-code="full"' in response.get_data(as_text=True)
    # Asked again, the page offers the waitlist.
    _status, again = join_form(browser, session.id, participants=1)
    assert 'data-testid="waitlist-note"' in again
    assert confirm(browser, session.id, again).status_code == 303
    statuses = [s.status for s in signups(db)]
    assert statuses == [SignupStatus.JOINED, SignupStatus.WAITLISTED]
    page = browser.get("/my/programmes").get_data(as_text=True)
    assert re.search(r'data-testid="position">[^<]*(?<!\d)1(?!\d)', page)  # first in line


def test_a_stay_is_needed_where_the_programme_says_so(db, browser, employee, organiser, make_unit):
    session = make_programme(db, organiser).sessions[0]
    detail = browser.get(f"/programmes/{session.programme_id}").get_data(as_text=True)
    assert 'data-testid="needs-stay"' in detail
    response = browser.post(f"/programmes/sessions/{session.id}/join", data={"participants": "1"})
    assert response.status_code == 422
    assert 'data-code="stay_required"' in response.get_data(as_text=True)
    assert signups(db) == []
    # A stay on other dates does not count; one covering the day does.
    other = book(db, employee, make_unit(), date(2026, 12, 20), date(2026, 12, 22))
    response = browser.post(
        f"/programmes/sessions/{session.id}/join",
        data={"participants": "1", "booking_id": str(other.id)},
    )
    assert response.status_code == 422
    assert 'data-code="stay_dates"' in response.get_data(as_text=True)
    stay = book(db, employee, make_unit())
    response = browser.post(f"/programmes/sessions/{session.id}/join", data={"participants": "1"})
    assert response.status_code == 303
    assert signups(db)[0].booking_id == stay.id


def test_a_company_that_does_not_pay_programmes_is_told_before_anything_is_charged(
    db, browser, organiser
):
    session = make_programme(
        db, organiser, price_kind="credit", price=1000, stay_required=False
    ).sessions[0]
    _status, page = join_form(browser, session.id, participants=1)
    response = confirm(browser, session.id, page)
    assert response.status_code == 422
    assert 'data-code="policy"' in response.get_data(as_text=True)
    assert signups(db) == []
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(CreditEntry)
            .where(CreditEntry.kind == EntryKind.PROGRAMME)
        )
        == 0
    )


@pytest.mark.parametrize(
    "data",
    [
        {"participants": "0"},
        {"participants": "21"},
        {"participants": "many"},
        {},
        {"participants": "1", "booking_id": "-4"},
        {"participants": "1", "expected_fee": "-1"},
    ],
)
def test_bad_join_input_is_refused(db, browser, organiser, data):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    response = browser.post(f"/programmes/sessions/{session.id}/join", data=data)
    assert response.status_code == 400
    assert signups(db) == []
    assert join_form(browser, session.id, participants="0")[0] == 400
    assert join_form(browser, session.id, participants="x")[0] == 400


def test_more_participants_than_seats_and_a_moved_fee_are_refused(db, browser, organiser):
    session = make_programme(
        db, organiser, capacity=3, stay_required=False, price_kind="local", price=500
    ).sessions[0]
    response = browser.post(f"/programmes/sessions/{session.id}/join", data={"participants": "4"})
    assert response.status_code == 422
    assert 'data-code="capacity"' in response.get_data(as_text=True)
    response = browser.post(
        f"/programmes/sessions/{session.id}/join",
        data={"participants": "2", "expected_fee": "500"},
    )
    assert response.status_code == 409
    assert 'data-code="fee_changed"' in response.get_data(as_text=True)
    assert signups(db) == []


# -- who may -------------------------------------------------------------------------------


def test_foreign_and_unknown_ids_are_not_found(
    db, app, browser, organiser, make_employee, make_unit
):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    hidden_programme = make_programme(db, organiser, published=False)
    other = make_employee()  # another company's employee
    other_browser = signed_in(app, other)
    _status, page = join_form(other_browser, session.id, participants=1)
    confirm(other_browser, session.id, page)
    (theirs,) = signups(db)
    assert browser.get(f"/programmes/signups/{theirs.id}/leave").status_code == 404
    assert browser.post(f"/programmes/signups/{theirs.id}/leave", data={}).status_code == 404
    assert signups(db)[0].status == SignupStatus.JOINED
    assert browser.get(f"/programmes/{hidden_programme.id}").status_code == 404
    assert browser.get("/programmes/999999").status_code == 404
    assert browser.get("/programmes/99999999999").status_code == 404
    hidden_session = hidden_programme.sessions[0].id
    assert join_form(browser, hidden_session, participants=1)[0] == 404
    assert browser.get("/programmes/signups/99999999999/leave").status_code == 404
    # Somebody else's stay cannot carry a place.
    their_stay = book(db, other, make_unit())
    response = browser.post(
        f"/programmes/sessions/{session.id}/join",
        data={"participants": "1", "booking_id": str(their_stay.id)},
    )
    assert response.status_code == 404
    assert len(signups(db)) == 1


def test_only_employees_join(app, db, organiser, make_user):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    operator = signed_in(app, make_user(Role.OPERATOR))
    assert operator.get(f"/programmes/{session.programme_id}").status_code == 200
    assert join_form(operator, session.id, participants=1)[0] == 403
    assert (
        operator.post(f"/programmes/sessions/{session.id}/join", data={"participants": "1"})
    ).status_code == 403
    assert operator.get("/my/programmes").status_code == 403
    assert signups(db) == []


def test_pages_ask_to_sign_in_first(client, db, organiser):
    make_programme(db, organiser)
    response = client.get("/programmes")
    assert response.status_code == 302 and "/login" in response.location


def test_every_form_needs_its_csrf_token(app, db, browser, organiser):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    app.config["WTF_CSRF_ENABLED"] = True
    _status, page = join_form(browser, session.id, participants=1)
    assert hidden(page, "csrf_token")
    refused = browser.post(
        f"/programmes/sessions/{session.id}/join", data={"participants": "1", "expected_fee": "0"}
    )
    assert refused.status_code == 400
    assert signups(db) == []
    assert confirm(browser, session.id, page).status_code == 303
    (signup,) = signups(db)
    assert browser.post(f"/programmes/signups/{signup.id}/leave", data={}).status_code == 400
    assert signups(db)[0].status == SignupStatus.JOINED
    leave = browser.get(f"/programmes/signups/{signup.id}/leave").get_data(as_text=True)
    response = browser.post(
        f"/programmes/signups/{signup.id}/leave",
        data={"csrf_token": hidden(leave, "csrf_token"), "expected_refund": "0"},
    )
    assert response.status_code == 303
    assert signups(db)[0].status == SignupStatus.LEFT


def test_my_programmes_says_when_the_organiser_cancelled(db, browser, employee, organiser):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    _status, page = join_form(browser, session.id, participants=1)
    confirm(browser, session.id, page)
    (signup,) = signups(db)
    signup.status = SignupStatus.CANCELLED
    signup.session.status = SessionStatus.CANCELLED
    signup.session.cancel_reason = "大雪のため中止します。"
    db.session.commit()
    page = browser.get("/my/programmes").get_data(as_text=True)
    assert 'data-status="cancelled"' in page and "大雪のため中止します。" in page
    assert 'data-testid="leave-link"' not in page


# -- the regional page, the stay page and its calendar -------------------------------------


def test_the_regional_page_of_a_municipality(db, browser, organiser, make_facility, make_operator):
    inside = make_facility(postal_code="3800836", name_ja="長野の宿")
    make_facility(postal_code="3890111", name_ja="軽井沢の宿")  # 軽井沢町
    make_programme(db, organiser, title_ja="善光寺の朝")
    make_programme(db, make_operator(), municipality_code="202029", title_ja="松本の催し")
    response = browser.get("/regions/202011")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "長野市" in page
    assert f'data-facility-id="{inside.id}"' in page and "軽井沢の宿" not in page
    assert "善光寺の朝" in page and "松本の催し" not in page
    empty = browser.get("/regions/202029").get_data(as_text=True)
    assert 'data-testid="no-facilities"' in empty and "松本の催し" in empty
    for bad in ("202012", "20201", "abcdef", "999999", "2020111"):
        assert browser.get(f"/regions/{bad}").status_code == 404, bad


def test_the_stay_page_and_its_calendar_carry_the_programmes(
    db, browser, employee, organiser, make_unit
):
    stay = book(db, employee, make_unit())
    first, second = make_programme(db, organiser, sessions=2, title_en="Snow").sessions
    make_programme(db, organiser, title_ja="近くの朝市", starts_at=first.starts_at)
    page = browser.get(f"/stays/{stay.id}").get_data(as_text=True)
    assert 'data-testid="stay-programmes-near"' in page and "近くの朝市" in page
    assert 'data-testid="stay-signups"' not in page
    _status, form = join_form(browser, first.id, participants=1, booking_id=stay.id)
    assert confirm(browser, first.id, form).status_code == 303
    (signup,) = signups(db)
    page = browser.get(f"/stays/{stay.id}").get_data(as_text=True)
    assert f'data-signup-id="{signup.id}"' in page

    calendar = Calendar.from_ical(browser.get(f"/stays/{stay.id}.ics").get_data())
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {
        f"booking-{stay.id}@{browser.application.config['CALENDAR_UID_DOMAIN']}",
        f"programme-signup-{signup.id}@{browser.application.config['CALENDAR_UID_DOMAIN']}",
    }
    event = events[
        f"programme-signup-{signup.id}@{browser.application.config['CALENDAR_UID_DOMAIN']}"
    ]
    assert event.decoded("dtstart") == first.starts_at
    assert event.decoded("dtend") == first.ends_at
    assert "ATTENDEE" not in event and "ORGANIZER" not in event
    # Once left, the session leaves the calendar.
    browser.post(f"/programmes/signups/{signup.id}/leave", data={})
    calendar = Calendar.from_ical(browser.get(f"/stays/{stay.id}.ics").get_data())
    assert len(list(calendar.walk("VEVENT"))) == 1


def test_search_filters_and_badges_facilities_with_programmes_nearby(
    db, browser, organiser, make_unit, make_facility
):
    near = make_unit()  # the default facility, about 1 km from the meeting point
    far = make_unit(facility=make_facility(latitude=35.0, longitude=135.5))
    make_programme(db, organiser)  # 2026-12-11

    def search(**extra) -> str:
        params = {"check_in": "2026-12-10", "check_out": "2026-12-13", "guests": "1", **extra}
        response = browser.get("/", query_string=params)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    page = search()
    assert f'data-facility-id="{near.facility_id}"' in page
    assert f'data-facility-id="{far.facility_id}"' in page
    assert page.count('data-testid="programmes-badge"') == 1
    badge = page.index('data-testid="programmes-badge"')
    assert page.rindex('data-facility-id="', 0, badge) == page.index(
        f'data-facility-id="{near.facility_id}"'
    )
    filtered = search(programmes="y")
    assert f'data-facility-id="{near.facility_id}"' in filtered
    assert f'data-facility-id="{far.facility_id}"' not in filtered
    assert re.search(r'name="programmes" value="y" checked', filtered)
    # Dates without a session nearby: no badge, and the filter leaves nothing.
    later = {"check_in": "2026-12-20", "check_out": "2026-12-22"}
    assert 'data-testid="programmes-badge"' not in search(**later)
    assert f'data-facility-id="{near.facility_id}"' not in search(programmes="y", **later)
