"""The API's money terms: every booking carries its cancellation policy and what
cancelling it now would return; PATCH changes a stay and says what it cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from availability.models import Occupancy
from billing import ledger
from booking import cancellation, services
from booking.models import Booking
from tests.booking.test_api import error_code, iso, post_booking
from tests.conftest import NOW, TODAY, bearer, days

PRICE = 10_000
CHANGE_KEYS = {"old_total", "new_total", "difference", "charged", "refunded", "kept"}


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def auth(db, employee):
    return bearer(db, employee)


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE, capacity=2)


def patch(client, headers, booking_id: int, **body):
    return client.patch(f"/api/v1/bookings/{booking_id}", json=body, headers=headers)


def stored(db, booking_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    b = db.session.get(Booking, booking_id)
    claimed = db.session.scalar(
        select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == booking_id)
    )
    return (b.unit_id, b.check_in, b.check_out, b.guests, b.total_price, b.status, claimed)


# --- the terms on every booking ---------------------------------------------------------


def test_a_booking_carries_its_cancellation_policy_and_the_refund_now(client, auth, room):
    body = post_booking(client, auth, room.id, 10, 13).get_json()

    assert body["cancellation_policy"] == {
        "free_until": iso(days(7)),
        "bands": [
            {"from": iso(TODAY), "refund_percent": 100},
            {"from": iso(days(8)), "refund_percent": 50},
            {"from": iso(days(10)), "refund_percent": 0},
        ],
    }
    assert body["refund_if_cancelled_now"] == 30_000
    listed = client.get("/api/v1/bookings", headers=auth).get_json()["bookings"]
    assert [(b["id"], b["refund_if_cancelled_now"]) for b in listed] == [(body["id"], 30_000)]
    one = client.get(f"/api/v1/bookings/{body['id']}", headers=auth).get_json()
    assert one["cancellation_policy"] == body["cancellation_policy"]


def test_the_refund_now_follows_the_policy_and_is_zero_once_cancelled_or_begun(
    app, db, client, auth, employee, room
):
    def book(check_in: int, check_out: int) -> int:
        stay = services.StayRequest(room.id, days(check_in), days(check_out), 1)
        return services.book_stay(employee, stay, NOW).id

    ids = {book(2, 5): "late", book(10, 12): "later", book(20, 21): "cancelled"}
    db.session.commit()
    cancelled = next(i for i, name in ids.items() if name == "cancelled")
    cancellation.cancel_booking(employee, cancelled, NOW)
    db.session.commit()

    listed = client.get("/api/v1/bookings", headers=auth).get_json()["bookings"]
    refunds = {ids[b["id"]]: b["refund_if_cancelled_now"] for b in listed}
    assert refunds == {"late": 15_000, "cancelled": 0, "later": 20_000}

    app.config["FIXED_NOW"] = NOW + timedelta(days=3)  # the late stay has begun
    listed = client.get("/api/v1/bookings", headers=auth).get_json()["bookings"]
    refunds = {ids[b["id"]]: b["refund_if_cancelled_now"] for b in listed}
    assert refunds == {"late": 0, "cancelled": 0, "later": 20_000}


# --- PATCH --------------------------------------------------------------------------------


def test_patch_lengthens_a_stay_and_says_what_was_charged(db, client, auth, employee, room):
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    room.base_price = 12_000
    db.session.commit()

    response = patch(client, auth, booking_id, check_out=iso(days(15)), expected_difference=24_000)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["change"] == {
        "old_total": 30_000,
        "new_total": 54_000,
        "difference": 24_000,
        "charged": 24_000,
        "refunded": 0,
        "kept": 0,
    }
    assert (body["check_in"], body["check_out"], body["total_price"]) == (
        iso(days(10)),
        iso(days(15)),
        54_000,
    )
    assert [n["price"] for n in body["nights"]] == [10_000] * 3 + [12_000] * 2
    assert body["refund_if_cancelled_now"] == 54_000
    assert stored(db, booking_id)[:5] == (room.id, days(10), days(15), 1, 54_000)
    # Reading it again gives the same booking.
    again = client.get(f"/api/v1/bookings/{booking_id}", headers=auth).get_json()
    assert {k: v for k, v in body.items() if k != "change"} == again


def test_patch_shortening_late_refunds_half_of_the_dropped_nights(
    app, db, client, auth, employee, room
):
    booking_id = post_booking(client, auth, room.id, 10, 14).get_json()["id"]
    app.config["FIXED_NOW"] = NOW + timedelta(days=8)
    before = ledger.account_of(employee.company_id).credit_balance

    response = patch(client, auth, booking_id, check_out=iso(days(12)))

    assert response.status_code == 200, response.get_json()
    change = response.get_json()["change"]
    assert (change["difference"], change["refunded"], change["kept"]) == (-20_000, 10_000, 10_000)
    db.session.rollback()
    assert ledger.account_of(employee.company_id).credit_balance == before + 10_000
    assert response.get_json()["refund_if_cancelled_now"] == 10_000


def test_patch_moves_to_another_room_of_the_same_facility(db, client, auth, make_unit, room):
    bigger = make_unit(facility=room.facility, base_price=15_000, capacity=4)
    booking_id = post_booking(client, auth, room.id, 10, 12).get_json()["id"]

    response = patch(client, auth, booking_id, unit_id=bigger.id, guests=4)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["unit_id"], body["guests"], body["total_price"]) == (bigger.id, 4, 30_000)
    assert body["change"]["charged"] == 10_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"check_out": iso(days(10))}, 400, "dates_order"),
        ({"check_in": iso(days(-1))}, 400, "dates_past"),
        ({"check_in": iso(days(300)), "check_out": iso(days(301))}, 400, "dates_horizon"),
        ({"check_in": "next friday"}, 400, "invalid_date"),
        ({"guests": "two"}, 400, "invalid_number"),
        ({"guests": 0}, 400, "out_of_range"),
        ({"unit_id": 0}, 400, "out_of_range"),
        ({"check_out": iso(days(120))}, 400, "out_of_range"),
        ({"expected_difference": 10**11}, 400, "out_of_range"),
        ({"guests": 3}, 422, "capacity"),
        ({"unit_id": 999_999}, 404, "not_found"),
        ({"check_out": iso(days(14)), "expected_difference": 1}, 409, "price_changed"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_patch_refuses_bad_changes_and_changes_nothing(db, client, auth, room, body, status, code):
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    before = stored(db, booking_id)

    response = patch(client, auth, booking_id, **body)

    assert response.status_code == status, response.get_json()
    assert error_code(response) == code
    assert stored(db, booking_id) == before


@pytest.mark.parametrize("body", [{}, {"check_in": iso(days(10)), "guests": 1}])
def test_a_patch_to_the_stay_it_already_is_answers_the_booking_and_moves_nothing(
    db, client, auth, room, body
):
    """A retried PATCH whose first answer was lost must not look like a failure."""
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    before = stored(db, booking_id)

    response = patch(client, auth, booking_id, **body)

    assert response.status_code == 200
    answer = response.get_json()
    assert answer["id"] == booking_id and answer["check_in"] == iso(days(10))
    assert answer["change"]["charged"] == answer["change"]["refunded"] == 0
    assert stored(db, booking_id) == before


def test_patch_to_another_facilitys_room_is_refused(db, client, auth, make_unit, room):
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    response = patch(client, auth, booking_id, unit_id=make_unit().id)
    assert (response.status_code, error_code(response)) == (422, "other_facility")


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '"a string"', "null", "{" * 5000], ids=lambda r: r[:10]
)
def test_patch_with_a_body_that_is_not_a_json_object_is_400(db, client, auth, room, raw):
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    before = stored(db, booking_id)
    response = client.patch(
        f"/api/v1/bookings/{booking_id}",
        data=raw,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert (response.status_code, error_code(response)) == (400, "malformed_json")
    assert stored(db, booking_id) == before


@pytest.mark.parametrize("raw", ['{"check_out": "2027-01-01"}', "not json"])
def test_patch_of_somebody_elses_booking_is_404_whatever_the_body(
    db, client, auth, make_employee, room, raw
):
    owner = bearer(db, make_employee())
    booking_id = post_booking(client, owner, room.id, 10, 13).get_json()["id"]
    before = stored(db, booking_id)

    response = client.patch(
        f"/api/v1/bookings/{booking_id}",
        data=raw,
        headers={**auth, "Content-Type": "application/json"},
    )

    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert stored(db, booking_id) == before
    for unknown in (999_999, 2**31):
        response = patch(client, auth, unknown, check_out=iso(days(14)))
        assert (response.status_code, error_code(response)) == (404, "not_found")


def test_patch_onto_taken_nights_is_409_and_changes_nothing(db, client, auth, make_employee, room):
    booking_id = post_booking(client, auth, room.id, 10, 13).get_json()["id"]
    assert post_booking(client, bearer(db, make_employee()), room.id, 13, 15).status_code == 201
    before = stored(db, booking_id)

    response = patch(client, auth, booking_id, check_out=iso(days(14)))

    assert (response.status_code, error_code(response)) == (409, "taken")
    assert stored(db, booking_id) == before


def test_patch_of_a_cancelled_or_begun_stay_is_409_not_changeable(app, db, client, auth, room):
    cancelled = post_booking(client, auth, room.id, 20, 22).get_json()["id"]
    assert client.delete(f"/api/v1/bookings/{cancelled}", headers=auth).status_code == 204
    soon = post_booking(client, auth, room.id, 2, 4).get_json()["id"]
    app.config["FIXED_NOW"] = NOW + timedelta(days=2)

    for booking_id in (cancelled, soon):
        response = patch(client, auth, booking_id, check_out=iso(days(25)))
        assert (response.status_code, error_code(response)) == (409, "not_changeable")
