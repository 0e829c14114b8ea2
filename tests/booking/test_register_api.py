"""The employee API and the guest register: PUT /api/v1/bookings/<id>/guests (every guest
of one's own stay, 422 field by field, 404 for anybody else's stay), and the booking's
JSON carrying its accommodation tax and whether its register is complete.

SQLite and PostgreSQL (the ``app`` fixture). NOW is 2026-12-01 12:00 in Tokyo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from accounts.models import Role
from availability.night_cap import NightCapReached
from booking import api, cancellation, front_desk, services
from booking.models import Booking, BookingNight, BookingStatus
from core.errors import ApiError
from lodging import register
from lodging.models import RegisterRead
from tests.conftest import NOW, bearer, days
from tests.register_helpers import image_bytes

LOCAL = {
    "name": "山田 太郎",
    "address": "〒100-0001 東京都千代田区千代田1-1",
    "phone": "03-1234-5678",
}
FOREIGN = {
    "name": "Jane O'Neil",
    "address": "221B Baker Street, London NW1 6XE",
    "phone": "+44 20 7946 0958",
    "nationality": "GB",
    "passport_number": "123 456 789",
    "lives_abroad": True,
}


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def stay(db, employee, make_unit) -> Booking:
    booking = services.book_stay(
        employee, services.StayRequest(make_unit(capacity=2).id, days(3), days(5), 2), NOW
    )
    db.session.commit()
    return booking


@pytest.fixture
def headers(db, employee):
    return bearer(db, employee)


def put(client, headers, booking_id: int, body):
    return client.put(f"/api/v1/bookings/{booking_id}/guests", json=body, headers=headers)


def reads(db) -> list[tuple]:
    db.session.rollback()
    rows = db.session.execute(
        select(RegisterRead.booking_id, RegisterRead.user_id, RegisterRead.action)
    )
    return [tuple(r) for r in rows]


# --- PUT the guests ------------------------------------------------------------------------


def test_put_stores_every_guest_and_answers_the_register(db, client, headers, employee, stay):
    response = put(client, headers, stay.id, {"guests": [LOCAL, FOREIGN]})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["booking_id"] == stay.id
    assert body["guests"] == [
        {
            "position": 1,
            "name": "山田 太郎",
            "address": "〒100-0001 東京都千代田区千代田1-1",
            "phone": "+81312345678",
            "nationality": "",
            "passport_number": "",
            "lives_abroad": False,
            "passport_image": False,
        },
        {
            "position": 2,
            "name": "Jane O'Neil",
            "address": "221B Baker Street, London NW1 6XE",
            "phone": "+442079460958",
            "nationality": "GB",
            "passport_number": "123456789",
            "lives_abroad": True,
            "passport_image": False,
        },
    ]
    # The passport image comes through the web page; until then the register lacks it.
    assert body["register_complete"] is False
    assert body["missing"] == ["passport image of guest 2"]
    assert [g.details.name for g in register.guests_of(stay.id)] == ["山田 太郎", "Jane O'Neil"]
    assert reads(db) == [(stay.id, employee.id, "edit")]


def test_the_booking_says_when_its_register_is_complete(db, client, headers, stay):
    assert (
        client.get(f"/api/v1/bookings/{stay.id}", headers=headers).json["register_complete"]
        is False
    )

    put(client, headers, stay.id, {"guests": [LOCAL, FOREIGN]})
    guest_id = register.guests_of(stay.id)[1].id
    register.save_passport_image(guest_id, image_bytes(), NOW)
    db.session.commit()

    assert client.get(f"/api/v1/bookings/{stay.id}", headers=headers).json["register_complete"]
    (listed,) = client.get("/api/v1/bookings", headers=headers).json["bookings"]
    assert listed["register_complete"] is True
    # A second PUT for the same passport keeps its image.
    again = put(client, headers, stay.id, {"guests": [LOCAL, {**FOREIGN, "name": "Jane Smith"}]})
    assert again.json["register_complete"] is True
    assert again.json["guests"][1]["passport_image"] is True


@pytest.mark.parametrize(
    ("guests", "fields"),
    [
        ([LOCAL], {"guests"}),  # two guests stay: both are needed
        ([LOCAL, LOCAL, LOCAL], {"guests"}),
        (
            [{**LOCAL, "phone": "12345"}, {**FOREIGN, "passport_number": "", "name": "R2-D2"}],
            {"guests[0].phone", "guests[1].passport_number", "guests[1].name"},
        ),
        ([LOCAL, {**FOREIGN, "nationality": ""}], {"guests[1].nationality"}),
        ([LOCAL, {"address": None}], {"guests[1].name", "guests[1].address", "guests[1].phone"}),
        ([LOCAL, "山田"], {"guests[1]"}),
        ([LOCAL, {**LOCAL, "lives_abroad": "yes"}], {"guests[1].lives_abroad"}),
        ([LOCAL, {**LOCAL, "name": 42}], {"guests[1].name"}),
    ],
)
def test_an_incomplete_or_invalid_register_is_refused_field_by_field(
    db, client, headers, stay, guests, fields
):
    response = put(client, headers, stay.id, {"guests": guests})

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert set(error["fields"]) == fields
    assert all(isinstance(m, str) and m for m in error["fields"].values())
    assert register.guests_of(stay.id) == []
    assert reads(db) == []


@pytest.mark.parametrize("body", [{}, {"guests": "山田"}, {"guests": {"name": "x"}}])
def test_a_body_without_a_list_of_guests_is_refused(client, headers, stay, body):
    response = put(client, headers, stay.id, body)
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"guests"}


def test_a_body_that_is_not_a_json_object_is_malformed(client, headers, stay):
    response = client.put(
        f"/api/v1/bookings/{stay.id}/guests",
        data="[1",
        headers=headers,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_somebody_elses_stay_is_not_found(db, client, make_employee, make_user, stay):
    colleague = make_employee(company=stay.user.company)
    admin = make_user(Role.COMPANY_ADMIN, company=stay.user.company)
    for outsider in (colleague, admin):
        response = put(client, bearer(db, outsider), stay.id, {"guests": [LOCAL, LOCAL]})
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    own = bearer(db, colleague)
    for missing_id in (999_999, 2_147_483_647):
        assert put(client, own, missing_id, {"guests": [LOCAL]}).status_code == 404
    assert put(client, own, 2_147_483_648, {"guests": [LOCAL]}).status_code == 404
    assert register.guests_of(stay.id) == []
    assert reads(db) == []


# The issue's body shape: no lives_abroad.
ISSUE_FOREIGN = {k: v for k, v in FOREIGN.items() if k != "lives_abroad"}


def test_a_foreign_guest_with_a_passport_number_and_no_lives_abroad_lives_abroad(
    db, client, headers, stay
):
    response = put(client, headers, stay.id, {"guests": [LOCAL, ISSUE_FOREIGN]})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    foreign = body["guests"][1]
    assert (foreign["nationality"], foreign["passport_number"]) == ("GB", "123456789")
    assert foreign["lives_abroad"] is True
    # The number is kept, so the passport image is needed before the register is complete.
    assert body["register_complete"] is False
    assert body["missing"] == ["passport image of guest 2"]
    stored = register.guests_of(stay.id)[1].details
    assert (stored.passport_number, stored.lives_abroad) == ("123456789", True)
    assert client.get(f"/api/v1/bookings/{stay.id}", headers=headers).json["register_complete"] is (
        False
    )

    register.save_passport_image(register.guests_of(stay.id)[1].id, image_bytes(), NOW)
    db.session.commit()
    assert client.get(f"/api/v1/bookings/{stay.id}", headers=headers).json["register_complete"]


@pytest.mark.parametrize(
    ("guest", "lives_abroad", "passport"),
    [
        ({**ISSUE_FOREIGN, "nationality": "jp"}, False, ""),  # Japanese: no passport kept
        ({**ISSUE_FOREIGN, "passport_number": ""}, False, ""),  # a foreigner living in Japan
        ({**ISSUE_FOREIGN, "passport_number": "  "}, False, ""),
        ({k: v for k, v in ISSUE_FOREIGN.items() if k != "passport_number"}, False, ""),
        ({**ISSUE_FOREIGN, "lives_abroad": None}, True, "123456789"),  # null: left out
        ({**ISSUE_FOREIGN, "lives_abroad": False}, False, ""),  # said: it decides
    ],
)
def test_without_lives_abroad_only_a_foreign_passport_means_living_abroad(
    db, client, headers, stay, guest, lives_abroad, passport
):
    response = put(client, headers, stay.id, {"guests": [LOCAL, guest]})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    line = body["guests"][1]
    assert (line["lives_abroad"], line["passport_number"]) == (lives_abroad, passport)
    assert body["register_complete"] is not lives_abroad


@pytest.mark.parametrize(
    ("guest", "field"),
    [
        ({**ISSUE_FOREIGN, "passport_number": "12"}, "guests[1].passport_number"),
        ({**ISSUE_FOREIGN, "nationality": "XX"}, "guests[1].nationality"),
        ({**ISSUE_FOREIGN, "passport_number": 123456789}, "guests[1].passport_number"),
        ({**ISSUE_FOREIGN, "nationality": 44}, "guests[1].nationality"),
    ],
)
def test_an_inferred_foreign_guests_bad_passport_or_nationality_is_refused(
    db, client, headers, stay, guest, field
):
    response = put(client, headers, stay.id, {"guests": [LOCAL, guest]})

    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert register.guests_of(stay.id) == []


def test_a_cancelled_or_office_stay_takes_no_register(
    db, client, headers, employee, stay, make_facility, make_unit
):
    cancellation.cancel_booking(employee, stay.id, NOW)
    db.session.commit()
    response = put(client, headers, stay.id, {"guests": [LOCAL, LOCAL]})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_editable"
    assert "cancelled" in response.get_json()["error"]["message"]

    office = make_unit(facility=make_facility(kind="office"))
    desk = services.book_stay(employee, services.StayRequest(office.id, days(3), days(4), 1), NOW)
    db.session.commit()
    response = put(client, headers, desk.id, {"guests": [LOCAL]})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_needed"
    assert client.get(f"/api/v1/bookings/{desk.id}", headers=headers).json["register_complete"]
    assert register.guests_of(stay.id) == register.guests_of(desk.id) == []


def test_a_token_is_needed(client, stay):
    assert put(client, {}, stay.id, {"guests": [LOCAL, LOCAL]}).status_code == 401


# --- the booking's JSON ------------------------------------------------------------------------


def test_the_booking_carries_its_accommodation_tax(db, client, headers, stay):
    db.session.execute(
        update(BookingNight).where(BookingNight.booking_id == stay.id).values(accommodation_tax=200)
    )
    db.session.execute(update(Booking).where(Booking.id == stay.id).values(accommodation_tax=400))
    db.session.commit()

    body = client.get(f"/api/v1/bookings/{stay.id}", headers=headers).get_json()

    assert body["accommodation_tax"] == 400
    assert [(n["date"], n["accommodation_tax"]) for n in body["nights"]] == [
        (days(3).isoformat(), 200),
        (days(4).isoformat(), 200),
    ]
    assert {"id", "status", "total_price", "cancellation_policy", "guests"} <= set(body)
    (listed,) = client.get("/api/v1/bookings", headers=headers).json["bookings"]
    assert listed["accommodation_tax"] == 400


@pytest.fixture
def kyoto_stay(db, employee, tax_rules, make_facility, make_unit) -> Booking:
    """Three nights from today in Kyoto for one guest: ¥400 of tax a night (¥11,000)."""
    room = make_unit(facility=make_facility(prefecture=26, municipality="京都市東山区"))
    booking = services.book_stay(employee, services.StayRequest(room.id, days(0), days(3), 1), NOW)
    db.session.commit()
    return booking


def _tax_of(client, headers, booking_id: int) -> tuple[int, list[int]]:
    """The booking's accommodation_tax and its nights', from GET and from the list."""
    body = client.get(f"/api/v1/bookings/{booking_id}", headers=headers).get_json()
    (listed,) = client.get("/api/v1/bookings", headers=headers).json["bookings"]
    assert listed["accommodation_tax"] == body["accommodation_tax"]
    return body["accommodation_tax"], [n["accommodation_tax"] for n in body["nights"]]


def test_the_booking_carries_the_tax_it_keeps(db, client, headers, employee, kyoto_stay, make_user):
    desk = make_user(Role.OPERATOR, operator=kyoto_stay.unit.facility.operator)
    assert _tax_of(client, headers, kyoto_stay.id) == (1_200, [400, 400, 400])

    # In the house, then out after one night: the stay keeps that night's tax only.
    kyoto_stay.status, kyoto_stay.checked_in_at = BookingStatus.CHECKED_IN, NOW
    db.session.commit()
    front_desk.check_out(desk, kyoto_stay.id, NOW + timedelta(days=1))
    db.session.commit()
    assert _tax_of(client, headers, kyoto_stay.id) == (400, [400, 400, 400])


def test_a_cancelled_or_no_show_booking_keeps_no_tax(
    db, client, headers, employee, kyoto_stay, make_user
):
    desk = make_user(Role.OPERATOR, operator=kyoto_stay.unit.facility.operator)
    front_desk.mark_no_show(desk, kyoto_stay.id, NOW)
    db.session.commit()
    # No guest lodged: the tax came back in full; each night still shows its frozen tax.
    assert _tax_of(client, headers, kyoto_stay.id) == (0, [400, 400, 400])

    later = services.book_stay(
        employee, services.StayRequest(kyoto_stay.unit_id, days(5), days(7), 1), NOW
    )
    db.session.commit()
    deleted = client.delete(f"/api/v1/bookings/{later.id}", headers=headers)
    assert deleted.status_code == 204
    body = client.get(f"/api/v1/bookings/{later.id}", headers=headers).get_json()
    assert (body["status"], body["accommodation_tax"]) == ("cancelled", 0)
    assert [n["accommodation_tax"] for n in body["nights"]] == [400, 400]
    listed = client.get("/api/v1/bookings", headers=headers).json["bookings"]
    assert [b["accommodation_tax"] for b in listed] == [0, 0]


@pytest.mark.parametrize(
    "refusal",
    [services.BookingError("past the cap", "night_cap"), NightCapReached("past the cap")],
)
def test_the_night_cap_is_refused_like_the_other_stay_rules(app, refusal):
    with pytest.raises(ApiError) as answered:
        api._raise_booking_error(refusal)
    assert (answered.value.status, answered.value.code) == (422, "night_cap")
    capacity = services.BookingError("too many", "capacity")
    with pytest.raises(ApiError) as answered:
        api._raise_booking_error(capacity)
    assert answered.value.status == 422
