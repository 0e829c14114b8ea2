"""The JSON API v1 contract, through the test client with bearer tokens."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from accounts.services import create_api_token, revoke_api_token
from availability.models import Occupancy
from booking import services
from booking.models import Booking
from tests.conftest import NOW, bearer, days

FACILITY_KEYS = {"id", "name", "prefecture", "units"}
UNIT_OFFER_KEYS = {"id", "name", "capacity", "total_price"}
BOOKING_KEYS = {
    "id",
    "status",
    "unit_id",
    "check_in",
    "check_out",
    "total_price",
    "accommodation_tax",
    "nights",
    "register_complete",
}
NIGHT_STATUS_KEYS = {"date", "available", "price", "base_price", "reasons"}

# One prefecture per region (JIS codes).
REGION_SAMPLES = {
    "hokkaido": 1,
    "tohoku": 4,
    "kanto": 13,
    "chubu": 20,
    "kinki": 26,
    "chugoku": 34,
    "shikoku": 37,
    "kyushu-okinawa": 47,
}


# --- helpers ------------------------------------------------------------------------


def iso(day: date) -> str:
    return day.isoformat()


def count(db, model) -> int:
    db.session.rollback()  # read what is committed, not what the session holds
    return db.session.scalar(select(func.count()).select_from(model))


def search(client, headers, check_in=10, check_out=13, **params) -> list[dict]:
    params = {"check_in": iso(days(check_in)), "check_out": iso(days(check_out)), **params}
    response = client.get("/api/v1/facilities", query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["facilities"]


def availability(client, headers, facility_id: int, start: date, end: date):
    return client.get(
        f"/api/v1/facilities/{facility_id}/availability",
        query_string={"from": iso(start), "to": iso(end)},
        headers=headers,
    )


def post_booking(client, headers, unit_id: int, check_in=10, check_out=13, guests=1, **extra):
    body = {
        "unit_id": unit_id,
        "check_in": iso(days(check_in)),
        "check_out": iso(days(check_out)),
        "guests": guests,
    }
    return client.post("/api/v1/bookings", json=body, headers={**headers, **extra})


def own_booking_ids(client, headers) -> list[int]:
    return [b["id"] for b in client.get("/api/v1/bookings", headers=headers).get_json()["bookings"]]


def error_code(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["code"]


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def auth(db, employee):
    return bearer(db, employee)


@pytest.fixture
def occupy(db, make_employee):
    """Claim a unit's nights with somebody else's confirmed booking."""

    def claim(unit, check_in: int, check_out: int) -> Booking:
        booking = services.book_stay(
            make_employee(), services.StayRequest(unit.id, days(check_in), days(check_out), 1), NOW
        )
        db.session.commit()
        return booking

    return claim


# --- search -------------------------------------------------------------------------


def test_search_answers_the_contract_shape(client, auth, make_facility, make_unit):
    facility = make_facility(prefecture=13, name_ja="東京サテライト")
    unit = make_unit(facility=facility, name="201 洋室", capacity=3, base_price=12000)

    [found] = search(client, auth, check_in=10, check_out=13, prefecture=13)

    assert FACILITY_KEYS <= found.keys()
    assert found["id"] == facility.id
    assert found["name"] == "東京サテライト"
    assert found["prefecture"] == 13 and isinstance(found["prefecture"], int)
    assert found["units"] == [
        {
            "id": unit.id,
            "name": "201 洋室",
            "capacity": 3,
            "total_price": 36000,
            "base_total_price": 36000,
        }
    ]


def test_search_by_prefecture_leaves_out_other_prefectures(client, auth, make_facility, make_unit):
    tokyo, kanagawa, nagano = (make_facility(prefecture=code) for code in (13, 14, 20))
    for facility in (tokyo, kanagawa, nagano):
        make_unit(facility=facility)

    assert [f["id"] for f in search(client, auth, prefecture=13)] == [tokyo.id]
    assert [f["id"] for f in search(client, auth, prefecture=20)] == [nagano.id]
    assert search(client, auth, prefecture=47) == []


@pytest.mark.parametrize("region", list(REGION_SAMPLES))
def test_search_by_region_leaves_out_other_regions(client, auth, make_facility, make_unit, region):
    by_region = {}
    for slug, code in REGION_SAMPLES.items():
        by_region[slug] = make_facility(prefecture=code)
        make_unit(facility=by_region[slug])

    found = search(client, auth, region=region)

    assert [f["id"] for f in found] == [by_region[region].id]
    assert found[0]["prefecture"] == REGION_SAMPLES[region]


def test_region_holds_all_its_prefectures(client, auth, make_facility, make_unit):
    kanto = [make_facility(prefecture=code) for code in (8, 13, 14)]
    for facility in [*kanto, make_facility(prefecture=15)]:  # 15 Niigata is chubu
        make_unit(facility=facility)

    assert {f["id"] for f in search(client, auth, region="kanto")} == {f.id for f in kanto}


def test_guests_filter_against_unit_capacity(client, auth, make_facility, make_unit):
    roomy = make_facility()
    twin = make_unit(facility=roomy, capacity=2)
    family = make_unit(facility=roomy, capacity=4)
    make_unit(facility=make_facility(), capacity=2)  # only a twin: gone from 3 guests up

    def offered(guests: int) -> dict[int, list[int]]:
        return {f["id"]: [u["id"] for u in f["units"]] for f in search(client, auth, guests=guests)}

    assert set(offered(2)[roomy.id]) == {twin.id, family.id}
    assert offered(3) == {roomy.id: [family.id]}
    assert offered(4) == {roomy.id: [family.id]}
    assert offered(5) == {}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("stay", {"stay", "both"}),
        ("office", {"office", "both"}),
        (None, {"stay", "office", "both"}),
    ],
    ids=["stay", "office", "any"],
)
def test_kind_filter(client, auth, make_facility, make_unit, kind, expected):
    kinds = {}
    for facility_kind in ("stay", "office", "both"):
        facility = make_facility(kind=facility_kind)
        make_unit(facility=facility)
        kinds[facility.id] = facility_kind

    params = {"kind": kind} if kind else {}
    assert {kinds[f["id"]] for f in search(client, auth, **params)} == expected


def test_unit_booked_over_the_stay_is_left_out_but_its_free_sibling_is_listed(
    client, auth, make_facility, make_unit, occupy
):
    facility = make_facility()
    booked = make_unit(facility=facility)
    sibling = make_unit(facility=facility)
    occupy(booked, 12, 13)  # one night in the middle of [10, 13)
    occupy(sibling, 13, 15)  # back to back after the stay: no overlap

    [found] = search(client, auth, check_in=10, check_out=13)

    assert [u["id"] for u in found["units"]] == [sibling.id]


def test_facility_with_every_unit_taken_is_omitted(client, auth, make_facility, make_unit, occupy):
    full = make_facility()
    for unit in (make_unit(facility=full), make_unit(facility=full)):
        occupy(unit, 9, 11)
    free = make_facility()
    make_unit(facility=free)

    assert [f["id"] for f in search(client, auth, check_in=10, check_out=13)] == [free.id]


def test_total_price_is_base_price_times_nights(client, auth, make_unit):
    unit = make_unit(base_price=12300)

    [found] = search(client, auth, check_in=10, check_out=14)

    assert found["units"][0]["id"] == unit.id
    assert found["units"][0]["total_price"] == 12300 * 4
    assert isinstance(found["units"][0]["total_price"], int)


def test_results_are_sorted_by_price(client, auth, make_facility, make_unit):
    mid, cheap, dear = make_facility(), make_facility(), make_facility()
    make_unit(facility=mid, base_price=12000)
    cheap_suite = make_unit(facility=cheap, base_price=15000)
    cheap_room = make_unit(facility=cheap, base_price=9000)
    make_unit(facility=dear, base_price=20000)

    ascending = search(client, auth)
    descending = search(client, auth, sort="price_desc")

    assert [f["id"] for f in ascending] == [cheap.id, mid.id, dear.id]
    assert [f["id"] for f in descending] == [dear.id, mid.id, cheap.id]
    assert [u["id"] for u in ascending[0]["units"]] == [cheap_room.id, cheap_suite.id]


# --- availability -------------------------------------------------------------------


def test_availability_has_one_entry_per_night_and_marks_booked_nights(
    client, auth, make_facility, make_unit, occupy
):
    facility = make_facility()
    unit = make_unit(facility=facility, base_price=8800)
    occupy(unit, 11, 13)

    response = availability(client, auth, facility.id, days(10), days(15))

    assert response.status_code == 200
    [entry] = response.get_json()["units"]
    assert entry["id"] == unit.id
    assert all(set(n) == NIGHT_STATUS_KEYS for n in entry["nights"])
    assert [n["date"] for n in entry["nights"]] == [iso(days(n)) for n in range(10, 15)]
    assert [n["available"] for n in entry["nights"]] == [True, False, False, True, True]
    assert {n["price"] for n in entry["nights"]} == {8800}


@pytest.mark.parametrize(("nights", "status"), [(366, 200), (367, 400)])
def test_availability_takes_at_most_366_nights(
    client, auth, make_facility, make_unit, nights, status
):
    facility = make_facility()
    make_unit(facility=facility)

    response = availability(client, auth, facility.id, days(0), days(nights))

    assert response.status_code == status
    if status == 200:
        assert len(response.get_json()["units"][0]["nights"]) == nights
    else:
        assert error_code(response) == "out_of_range"


# --- bookings -----------------------------------------------------------------------


def test_create_booking_answers_201_with_the_booking(db, client, auth, make_unit):
    unit = make_unit(base_price=11000)

    response = post_booking(client, auth, unit.id, check_in=10, check_out=13, guests=2)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert BOOKING_KEYS <= body.keys()
    assert isinstance(body["id"], int)
    assert {k: body[k] for k in BOOKING_KEYS - {"id"}} == {
        "status": "confirmed",
        "unit_id": unit.id,
        "check_in": iso(days(10)),
        "check_out": iso(days(13)),
        "total_price": 33000,
        "accommodation_tax": 0,  # the test facility's town levies none
        "nights": [
            {"date": iso(days(n)), "price": 11000, "accommodation_tax": 0} for n in (10, 11, 12)
        ],
        "register_complete": False,  # nobody has filled in the guest register yet
    }
    assert count(db, Booking) == 1
    assert count(db, Occupancy) == 3


@pytest.mark.parametrize(
    ("check_in", "check_out"),
    [(10, 13), (12, 14), (8, 11)],
    ids=["same-nights", "overlap-end", "overlap-start"],
)
def test_booking_taken_nights_is_409_taken(
    db, client, auth, make_employee, make_unit, check_in, check_out
):
    unit = make_unit()
    assert post_booking(client, auth, unit.id, 10, 13).status_code == 201
    other = bearer(db, make_employee())

    response = post_booking(client, other, unit.id, check_in, check_out)

    assert response.status_code == 409
    assert error_code(response) == "taken"
    assert (count(db, Booking), count(db, Occupancy)) == (1, 3)


def test_list_shows_only_the_callers_own_bookings(db, client, auth, make_employee, make_unit):
    unit = make_unit()
    mine = post_booking(client, auth, unit.id, 10, 12).get_json()
    also_mine = post_booking(client, auth, unit.id, 20, 21).get_json()
    other = bearer(db, make_employee())
    theirs = post_booking(client, other, unit.id, 12, 14).get_json()

    response = client.get("/api/v1/bookings", headers=auth)

    assert response.status_code == 200
    listed = response.get_json()["bookings"]
    assert [b["id"] for b in listed] == [mine["id"], also_mine["id"]]
    assert theirs["id"] not in {b["id"] for b in listed}
    assert listed == [mine, also_mine]  # the same fields as the 201 answer


def test_delete_cancels_and_frees_the_nights(db, client, auth, make_facility, make_unit):
    facility = make_facility()
    unit = make_unit(facility=facility)
    booking = post_booking(client, auth, unit.id, 10, 13).get_json()

    response = client.delete(f"/api/v1/bookings/{booking['id']}", headers=auth)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert count(db, Occupancy) == 0
    nights = availability(client, auth, facility.id, days(10), days(13)).get_json()
    assert [n["available"] for n in nights["units"][0]["nights"]] == [True, True, True]
    [listed] = client.get("/api/v1/bookings", headers=auth).get_json()["bookings"]
    assert listed["status"] == "cancelled"


def test_cancelled_nights_can_be_booked_again(db, client, auth, make_employee, make_unit):
    unit = make_unit()
    booking = post_booking(client, auth, unit.id, 10, 13).get_json()
    client.delete(f"/api/v1/bookings/{booking['id']}", headers=auth)

    response = post_booking(client, bearer(db, make_employee()), unit.id, 10, 13)

    assert response.status_code == 201


def test_idempotency_key_makes_a_retry_return_the_same_booking(db, client, auth, make_unit):
    unit = make_unit()
    key = {"Idempotency-Key": "retry-7f3a"}

    first = post_booking(client, auth, unit.id, 10, 13, **key)
    retry = post_booking(client, auth, unit.id, 10, 13, **key)

    assert first.status_code == 201
    assert retry.status_code in (200, 201)
    assert retry.get_json() == first.get_json()
    assert (count(db, Booking), count(db, Occupancy)) == (1, 3)


def test_idempotency_key_reused_for_another_stay_is_refused(db, client, auth, make_unit):
    unit = make_unit()
    key = {"Idempotency-Key": "one-stay-only"}
    first = post_booking(client, auth, unit.id, 10, 13, **key).get_json()

    other_stay = post_booking(client, auth, unit.id, 20, 22, **key)

    assert other_stay.status_code == 422
    assert error_code(other_stay) == "idempotency_mismatch"
    assert own_booking_ids(client, auth) == [first["id"]]
    assert count(db, Occupancy) == 3


def test_idempotency_key_is_per_user(db, client, auth, make_employee, make_unit):
    unit = make_unit()
    key = {"Idempotency-Key": "same-key"}
    mine = post_booking(client, auth, unit.id, 10, 13, **key).get_json()

    other = post_booking(client, bearer(db, make_employee()), unit.id, 10, 13, **key)

    # Somebody else's key never hands out this user's booking.
    assert other.status_code == 409
    assert error_code(other) == "taken"  # an error body only, no booking in it
    assert own_booking_ids(client, auth) == [mine["id"]]
    assert count(db, Booking) == 1


# --- authentication and roles -------------------------------------------------------

ENDPOINTS = [
    ("GET", f"/api/v1/facilities?check_in={iso(days(10))}&check_out={iso(days(13))}"),
    ("GET", "/api/v1/bookings"),
    ("POST", "/api/v1/bookings"),
    ("DELETE", "/api/v1/bookings/1"),
    ("PATCH", "/api/v1/bookings/1"),
]
ENDPOINT_IDS = ["search", "list", "create", "delete", "change"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer eng_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "eng_bare-secret"],
    ids=["missing", "wrong-token", "empty-bearer", "basic-auth", "no-scheme"],
)
@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_401_without_a_valid_token(db, client, make_unit, authorization, method, url):
    unit = make_unit()
    headers = {"Authorization": authorization} if authorization else {}
    body = {"unit_id": unit.id, "check_in": iso(days(10)), "check_out": iso(days(13))}

    response = client.open(url, method=method, json=body, headers=headers)

    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert count(db, Booking) == 0


@pytest.mark.parametrize(("method", "url"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_401_with_a_revoked_token(db, client, employee, make_unit, method, url):
    unit = make_unit()
    token, secret = create_api_token(employee, "t", NOW)
    db.session.commit()
    assert revoke_api_token(employee, token.id, NOW)
    db.session.commit()
    body = {"unit_id": unit.id, "check_in": iso(days(10)), "check_out": iso(days(13))}

    response = client.open(
        url, method=method, json=body, headers={"Authorization": f"Bearer {secret}"}
    )

    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert count(db, Booking) == 0


def test_a_token_works_until_it_is_revoked(db, client, employee):
    token, secret = create_api_token(employee, "t", NOW)
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/bookings", headers=headers).status_code == 200

    revoke_api_token(employee, token.id, NOW)
    db.session.commit()

    assert client.get("/api/v1/bookings", headers=headers).status_code == 401


def test_operator_cannot_book(db, client, make_user, make_unit):
    operator = make_user(Role.OPERATOR)
    unit = make_unit()

    response = post_booking(client, bearer(db, operator), unit.id)

    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    assert (count(db, Booking), count(db, Occupancy)) == (0, 0)
