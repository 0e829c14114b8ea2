"""Tenant walls: somebody else's booking answers 404 on every door and stays untouched."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from availability.models import Occupancy
from booking import services
from booking.models import Booking
from tests.conftest import NOW, bearer, days, signed_in

WEB_DOORS = [
    ("GET", "/stays/{id}"),
    ("GET", "/stays/{id}.ics"),
    ("POST", "/stays/{id}/cancel"),
]
WEB_DOOR_IDS = ["stay-page", "stay-ics", "cancel"]
API_DOORS = [("GET", "/api/v1/bookings/{id}"), ("DELETE", "/api/v1/bookings/{id}")]
API_DOOR_IDS = ["api-get", "api-delete"]


# --- helpers ------------------------------------------------------------------------


def book(db, user, unit, check_in: int = 10, check_out: int = 13) -> int:
    booking = services.book_stay(
        user, services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking.id


def assert_untouched(db, booking_id: int, nights: int = 3) -> None:
    """Still confirmed, and still holding every one of its nights."""
    db.session.rollback()
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    assert booking.status == "confirmed"
    assert booking.cancelled_at is None
    claimed = db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking_id)
    )
    assert claimed == nights


def redirects_to_login(response) -> bool:
    return response.status_code in (302, 303) and (
        urlsplit(response.headers["Location"]).path == "/login"
    )


@pytest.fixture(params=["other-company", "same-company"])
def owner_and_stranger(request, make_employee):
    """B owns the booking; A is a stranger: from another company, or a colleague."""
    owner = make_employee()
    if request.param == "same-company":
        return owner, make_employee(company=owner.company)
    return owner, make_employee()


# --- foreign ids --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), WEB_DOORS, ids=WEB_DOOR_IDS)
def test_stranger_gets_404_for_someone_elses_stay(
    app, db, make_unit, owner_and_stranger, method, path
):
    owner, stranger = owner_and_stranger
    booking_id = book(db, owner, make_unit())
    browser = signed_in(app, stranger)

    response = browser.open(path.format(id=booking_id), method=method)

    assert response.status_code == 404
    assert_untouched(db, booking_id)


@pytest.mark.parametrize(("method", "path"), API_DOORS, ids=API_DOOR_IDS)
def test_stranger_gets_404_for_someone_elses_booking_in_the_api(
    app, db, make_unit, owner_and_stranger, method, path
):
    owner, stranger = owner_and_stranger
    booking_id = book(db, owner, make_unit())

    response = app.test_client().open(
        path.format(id=booking_id), method=method, headers=bearer(db, stranger)
    )

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert_untouched(db, booking_id)


def test_a_foreign_id_answers_like_an_id_that_does_not_exist(app, db, make_unit, make_employee):
    """No difference between 'not yours' and 'no such booking' that would leak ids."""
    booking_id = book(db, make_employee(), make_unit())
    headers = bearer(db, make_employee())
    client = app.test_client()

    foreign = client.get(f"/api/v1/bookings/{booking_id}", headers=headers)
    missing = client.get(f"/api/v1/bookings/{booking_id + 1000}", headers=headers)

    assert (foreign.status_code, foreign.get_json()) == (missing.status_code, missing.get_json())


def test_owner_sees_their_own_stay_on_every_door(app, db, make_unit, make_employee):
    """The walls above are walls, not broken pages: the owner gets through."""
    owner = make_employee()
    booking_id = book(db, owner, make_unit())
    browser = signed_in(app, owner)

    assert browser.get(f"/stays/{booking_id}").status_code == 200
    ics = browser.get(f"/stays/{booking_id}.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    api = app.test_client().get(f"/api/v1/bookings/{booking_id}", headers=bearer(db, owner))
    assert api.status_code == 200 and api.get_json()["id"] == booking_id


def test_my_stays_lists_only_my_own(app, db, make_unit, owner_and_stranger):
    owner, stranger = owner_and_stranger
    unit = make_unit()
    theirs = book(db, owner, unit, 10, 13)
    mine = book(db, stranger, unit, 20, 22)

    page = signed_in(app, stranger).get("/stays").get_data(as_text=True)
    listed = app.test_client().get("/api/v1/bookings", headers=bearer(db, stranger))

    assert f'data-booking-id="{mine}"' in page
    assert f'data-booking-id="{theirs}"' not in page
    assert f"/stays/{theirs}" not in page
    assert [b["id"] for b in listed.get_json()["bookings"]] == [mine]


# --- sign-in ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/stays",
        "/facilities/{facility}",
        "/book?unit_id={unit}&check_in={check_in}&check_out={check_out}&guests=1",
        "/stays/{booking}",
        "/stays/{booking}.ics",
    ],
    ids=["search", "my-stays", "facility", "book", "stay", "stay-ics"],
)
def test_pages_need_sign_in(client, db, make_unit, make_employee, path):
    unit = make_unit()
    booking_id = book(db, make_employee(), unit)
    url = path.format(
        facility=unit.facility_id,
        unit=unit.id,
        booking=booking_id,
        check_in=days(20).isoformat(),
        check_out=days(22).isoformat(),
    )

    response = client.get(url)

    assert redirects_to_login(response), (response.status_code, response.headers.get("Location"))


@pytest.mark.parametrize(
    "path",
    ["/book", "/stays/{booking}/cancel"],
    ids=["book", "cancel"],
)
def test_posts_need_sign_in_and_change_nothing(client, db, make_unit, make_employee, path):
    unit = make_unit()
    booking_id = book(db, make_employee(), unit)
    form = {
        "unit_id": unit.id,
        "check_in": days(20).isoformat(),
        "check_out": days(22).isoformat(),
        "guests": 1,
    }

    response = client.post(path.format(booking=booking_id), data=form)

    assert redirects_to_login(response), (response.status_code, response.headers.get("Location"))
    assert_untouched(db, booking_id)
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


# --- inactive facilities ------------------------------------------------------------


@pytest.fixture
def closed_facility(make_facility, make_unit):
    facility = make_facility(active=False)
    make_unit(facility=facility)
    return facility


def test_inactive_facility_page_is_not_found(app, make_employee, closed_facility):
    browser = signed_in(app, make_employee())

    assert browser.get(f"/facilities/{closed_facility.id}").status_code == 404


def test_inactive_facility_availability_is_not_found(db, client, make_employee, closed_facility):
    response = client.get(
        f"/api/v1/facilities/{closed_facility.id}/availability",
        query_string={"from": days(10).isoformat(), "to": days(13).isoformat()},
        headers=bearer(db, make_employee()),
    )

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_inactive_facility_is_neither_found_nor_bookable(
    app, db, client, make_employee, closed_facility
):
    employee = make_employee()
    headers = bearer(db, employee)
    [unit] = closed_facility.units
    stay = {"check_in": days(10).isoformat(), "check_out": days(13).isoformat()}

    found = client.get("/api/v1/facilities", query_string=stay, headers=headers)
    booked = client.post("/api/v1/bookings", json={"unit_id": unit.id, **stay}, headers=headers)
    quote = signed_in(app, employee).get("/book", query_string={"unit_id": unit.id, **stay})

    assert found.get_json()["facilities"] == []
    assert booked.status_code == 404
    assert quote.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
