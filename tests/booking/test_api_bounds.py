"""The served API keeps exactly the bounds docs/openapi.yaml states: the documented
edge is accepted, one past it is refused with 400 ``out_of_range`` and books nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from booking.models import Booking
from tests.booking.test_api import error_code, iso
from tests.booking.test_openapi import _body_schema, _param, _spec
from tests.conftest import bearer, days

SPEC = _spec()


def _search_schema(name: str) -> dict:
    return _param(SPEC, "/api/v1/facilities", "get", name)["schema"]


@pytest.fixture
def auth(db, make_employee):
    return bearer(db, make_employee())


def _search(client, auth, **params):
    stay = {"check_in": iso(days(10)), "check_out": iso(days(12))}
    return client.get("/api/v1/facilities", query_string={**stay, **params}, headers=auth)


@pytest.mark.parametrize("name", ["guests", "prefecture", "min_wifi_mbps"])
def test_search_takes_the_documented_range_and_refuses_one_past_it(client, auth, name):
    schema = _search_schema(name)

    for inside in (schema["minimum"], schema["maximum"]):
        assert _search(client, auth, **{name: inside}).status_code == 200, (name, inside)
    for outside in (schema["minimum"] - 1, schema["maximum"] + 1):
        response = _search(client, auth, **{name: outside})
        assert response.status_code == 400, (name, outside)
        assert error_code(response) == "out_of_range"


def _book(client, auth, room, **fields):
    body = {"unit_id": room, "check_in": iso(days(10)), "check_out": iso(days(12)), **fields}
    return client.post("/api/v1/bookings", json=body, headers=auth)


@pytest.mark.parametrize(
    ("name", "edge"),
    [
        ("guests", "maximum"),
        ("guests", "minimum"),
        ("expected_total", "maximum"),
        ("expected_total", "minimum"),
        ("unit_id", "maximum"),
        ("unit_id", "minimum"),
    ],
)
def test_booking_refuses_one_past_each_documented_bound(db, client, auth, make_unit, name, edge):
    unit_id = make_unit(capacity=50).id
    schema = _body_schema(SPEC)[name]
    past = schema[edge] + (1 if edge == "maximum" else -1)

    response = _book(client, auth, unit_id, **{name: past})

    assert response.status_code == 400, response.get_json()
    assert error_code(response) == "out_of_range"
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_booking_accepts_the_documented_maximum_guests(db, client, auth, make_unit):
    unit_id = make_unit(capacity=50).id
    most = _body_schema(SPEC)["guests"]["maximum"]

    response = _book(client, auth, unit_id, guests=most)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["guests"] == most


def test_idempotency_key_of_the_documented_length_is_taken_and_one_longer_refused(
    db, client, auth, make_unit
):
    unit_id = make_unit().id
    longest = _param(SPEC, "/api/v1/bookings", "post", "Idempotency-Key")["schema"]["maxLength"]

    refused = client.post(
        "/api/v1/bookings",
        json={"unit_id": unit_id, "check_in": iso(days(10)), "check_out": iso(days(12))},
        headers={**auth, "Idempotency-Key": "k" * (longest + 1)},
    )
    taken = client.post(
        "/api/v1/bookings",
        json={"unit_id": unit_id, "check_in": iso(days(10)), "check_out": iso(days(12))},
        headers={**auth, "Idempotency-Key": "k" * longest},
    )

    assert (refused.status_code, error_code(refused)) == (400, "invalid_idempotency_key")
    assert taken.status_code == 201, taken.get_json()
