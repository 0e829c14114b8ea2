"""JSON API v1 for workspace (issue 19): the contract of a facility's day view and of the
caller's workspace bookings: shapes, times with +09:00, integer yen, refusals with their
codes, tenants walled, cancelling by the workspace policy.

The clock is fixed (tests.conftest.NOW: Tuesday 1 December 2026, 12:00 in Tokyo); every
test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from availability.workspace import SlotHold
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from tests.booking.workspace_helpers import (
    SATURDAY,
    TUESDAY,
    WEDNESDAY,
    api_time,
    make_space,
    workspace_entries,
)
from tests.conftest import TODAY, bearer

BOOKINGS = "/api/v1/workspace-bookings"


@pytest.fixture
def office(make_facility):
    return make_facility(kind="office")


@pytest.fixture
def desk(db, office):
    return make_space(db, office)


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def auth(db, employee):
    return bearer(db, employee)


def day_view(client, auth, facility_id: int, day) -> dict:
    response = client.get(
        f"/api/v1/facilities/{facility_id}/workspace", query_string={"date": str(day)}, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def book(client, auth, unit_id: int, start: str, end: str, **extra):
    return client.post(
        BOOKINGS, json={"unit_id": unit_id, "start": start, "end": end, **extra}, headers=auth
    )


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


# -- the day view -------------------------------------------------------------------------


def test_day_view_lists_each_unit_slot_by_slot_in_japan_time(client, db, auth, office, desk):
    booth = make_space(db, office, name="Booth 1", kind="phone_booth", slot_minutes=15,
                       min_minutes=15, hourly_price=1200)  # fmt: skip

    body = day_view(client, auth, office.id, TUESDAY)

    assert body["facility_id"] == office.id
    assert body["date"] == "2026-12-08"
    units = {unit["id"]: unit for unit in body["units"]}
    assert set(units) == {desk.id, booth.id}
    first = units[desk.id]
    assert {k: first[k] for k in ("id", "name", "kind", "capacity")} == {
        "id": desk.id,
        "name": "Desk A",
        "kind": "hot_desk",
        "capacity": 1,
    }
    slots = first["slots"]
    assert len(slots) == 22  # 09:00–20:00 in 30 minutes
    assert slots[0] == {
        "start": "2026-12-08T09:00:00+09:00",
        "end": "2026-12-08T09:30:00+09:00",
        "available": True,
        "price": 500,
    }
    assert slots[-1]["end"] == "2026-12-08T20:00:00+09:00"
    assert all(type(slot["price"]) is int for slot in slots)
    quarter = units[booth.id]["slots"]
    assert len(quarter) == 44
    assert quarter[1]["start"] == "2026-12-08T09:15:00+09:00"
    assert quarter[1]["price"] == 300  # 1,200 yen an hour, a quarter of it


def test_taken_and_past_slots_are_not_available(client, db, auth, office, desk):
    assert (
        book(client, auth, desk.id, api_time(TUESDAY, 14), api_time(TUESDAY, 15)).status_code == 201
    )

    slots = day_view(client, auth, office.id, TUESDAY)["units"][0]["slots"]
    taken = [slot["start"][11:16] for slot in slots if not slot["available"]]
    assert taken == ["14:00", "14:30"]

    # Today (12:00 in Tokyo): the slots that are over count as taken.
    today = day_view(client, auth, office.id, TODAY)["units"][0]["slots"]
    assert [slot["start"][11:16] for slot in today if not slot["available"]] == [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
    ]  # fmt: skip


def test_a_closed_day_has_units_without_slots(client, auth, office, desk):
    body = day_view(client, auth, office.id, SATURDAY)
    assert [(unit["id"], unit["slots"]) for unit in body["units"]] == [(desk.id, [])]


def test_unknown_or_unlisted_facility_is_not_found(client, db, auth, make_facility, desk):
    hidden = make_facility(kind="office", active=False)
    make_space(db, hidden)
    for facility_id in (hidden.id, 999_999, 2**40):
        response = client.get(
            f"/api/v1/facilities/{facility_id}/workspace",
            query_string={"date": "2026-12-08"},
            headers=auth,
        )
        assert error_of(response) == (404, "not_found"), facility_id


@pytest.mark.parametrize(
    ("date", "code"),
    [
        (None, "missing_field"),
        ("", "missing_field"),
        ("2026-12-32", "invalid_date"),
        ("08/12/2026", "invalid_date"),
        ("9999-12-31", "out_of_range"),
        ("0001-01-01", "out_of_range"),
    ],
)
def test_day_view_refuses_a_bad_date_as_the_stays_api_does(client, auth, office, date, code):
    query = {} if date is None else {"date": date}
    response = client.get(
        f"/api/v1/facilities/{office.id}/workspace", query_string=query, headers=auth
    )
    assert error_of(response) == (400, code)


def test_the_api_needs_a_bearer_token(client, office, desk):
    assert error_of(client.get(f"/api/v1/facilities/{office.id}/workspace?date=2026-12-08")) == (
        401,
        "unauthorized",
    )
    response = client.post(
        BOOKINGS,
        json={"unit_id": desk.id, "start": api_time(TUESDAY, 14), "end": api_time(TUESDAY, 15)},
    )
    assert error_of(response) == (401, "unauthorized")


# -- booking --------------------------------------------------------------------------------


def test_booking_answers_201_with_the_booking_and_charges_the_credit(client, db, auth, desk):
    response = book(client, auth, desk.id, "2026-12-08T14:00:00+09:00", "2026-12-08T05:30:00Z")

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("status", "unit_id", "start", "end", "total_price")} == {
        "status": "confirmed",
        "unit_id": desk.id,
        "start": "2026-12-08T14:00:00+09:00",
        "end": "2026-12-08T14:30:00+09:00",
        "total_price": 500,
    }
    assert type(body["id"]) is int
    assert body["minutes"] == 30
    assert body["refund_if_cancelled_now"] == 500
    assert body["cancellation_policy"] == {
        "free_until": "2026-12-07T14:00:00+09:00",
        "late_refund_percent": 50,
    }
    assert workspace_entries(db, body["id"]) == [("spend", -500)]


def test_a_taken_time_answers_409_taken(client, db, auth, make_employee, desk):
    assert (
        book(client, auth, desk.id, api_time(TUESDAY, 14), api_time(TUESDAY, 15)).status_code == 201
    )
    other = bearer(db, make_employee())

    for start, end in [((14, 0), (15, 0)), ((14, 30), (15, 30)), ((13, 0), (14, 30))]:
        response = book(client, other, desk.id, api_time(TUESDAY, *start), api_time(TUESDAY, *end))
        assert error_of(response) == (409, "taken"), (start, end)
    # Back to back is fine: [14:00, 15:00) and [15:00, 16:00).
    assert (
        book(client, other, desk.id, api_time(TUESDAY, 15), api_time(TUESDAY, 16)).status_code
        == 201
    )
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 2


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (api_time(TUESDAY, 14, 10), api_time(TUESDAY, 15), "not_on_slot"),
        (api_time(TUESDAY, 7), api_time(TUESDAY, 8), "outside_hours"),
        (api_time(TUESDAY, 20), api_time(TUESDAY, 20, 30), "outside_hours"),
        (api_time(SATURDAY, 10), api_time(SATURDAY, 11), "outside_hours"),
        (api_time(TUESDAY, 19, 30), api_time(TUESDAY, 20, 30), "spans_closing"),
        (api_time(TUESDAY, 9), api_time(TUESDAY, 12), "too_long"),
        (api_time(TUESDAY, 15), api_time(TUESDAY, 14), "order"),
        ("2026-12-08T14:00:00", api_time(TUESDAY, 15), "invalid_time"),
        (api_time(TUESDAY, 14), "2026-12-08 15:00", "invalid_time"),
        ("2026-02-30T14:00:00+09:00", api_time(TUESDAY, 15), "invalid_time"),
        (1733634000, api_time(TUESDAY, 15), "invalid_time"),
        (api_time(TODAY, 9), api_time(TODAY, 10), "in_past"),
    ],
)
def test_rule_breaks_answer_422_with_the_rule(client, db, auth, office, start, end, code):
    short = make_space(db, office, max_minutes=120)

    response = book(client, auth, short.id, start, end)

    assert error_of(response) == (422, code), response.get_json()
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 0
    assert db.session.scalar(select(func.count()).select_from(SlotHold)) == 0


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"unit_id": None}, 400, "missing_field"),
        ({"unit_id": "x"}, 400, "invalid_number"),
        ({"unit_id": 0}, 400, "out_of_range"),
        ({"start": None}, 400, "missing_field"),
        ({"end": ""}, 400, "missing_field"),
        ({"start": "9999-12-31T23:00:00-09:00"}, 400, "out_of_range"),
        ({"end": "1999-12-31T23:00:00+09:00"}, 400, "out_of_range"),
        ({"unit_id": 999_999}, 404, "not_found"),
        ({"request_key": "k" * 65}, 400, "invalid_idempotency_key"),
        ({"request_key": 7}, 400, "invalid_idempotency_key"),
        ({"expected_total": -1}, 400, "out_of_range"),
        ({"expected_total": 400}, 409, "price_changed"),
    ],
)
def test_bad_bodies_change_nothing(client, db, auth, desk, change, status, code):
    body = {"unit_id": desk.id, "start": api_time(TUESDAY, 14), "end": api_time(TUESDAY, 15)}
    body = {k: v for k, v in (body | change).items() if v is not None}

    response = client.post(BOOKINGS, json=body, headers=auth)

    assert error_of(response) == (status, code), response.get_json()
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 0


def test_a_body_that_is_not_an_object_is_refused(client, auth):
    response = client.post(
        BOOKINGS, data="[1]", headers=auth | {"Content-Type": "application/json"}
    )
    assert error_of(response) == (400, "malformed_json")


def test_the_price_shown_is_booked(client, auth, desk):
    response = book(
        client, auth, desk.id, api_time(TUESDAY, 14), api_time(TUESDAY, 15), expected_total=1000
    )
    assert response.status_code == 201
    assert response.get_json()["total_price"] == 1000


def test_a_repeated_request_key_books_once(client, db, auth, desk):
    times = (api_time(TUESDAY, 14), api_time(TUESDAY, 15))
    first = book(client, auth, desk.id, *times, request_key="tap-1")
    again = book(client, auth, desk.id, *times, request_key="tap-1")
    by_header = client.post(
        BOOKINGS,
        json={"unit_id": desk.id, "start": times[0], "end": times[1]},
        headers=auth | {"Idempotency-Key": "tap-1"},
    )

    assert [r.status_code for r in (first, again, by_header)] == [201, 201, 201]
    assert first.get_json() == again.get_json() == by_header.get_json()
    booking_id = first.get_json()["id"]
    assert db.session.scalar(select(func.count()).select_from(WorkspaceBooking)) == 1
    assert workspace_entries(db, booking_id) == [("spend", -1000)]
    # The same key for another time is a mistake, not a replay.
    other = book(client, auth, desk.id, api_time(TUESDAY, 16), api_time(TUESDAY, 17),
                 request_key="tap-1")  # fmt: skip
    assert error_of(other) == (422, "idempotency_mismatch")


def test_an_operator_token_cannot_book(client, db, make_user, desk):
    operator = make_user("operator", operator=desk.facility.operator)
    response = book(client, bearer(db, operator), desk.id, api_time(TUESDAY, 14),
                    api_time(TUESDAY, 15))  # fmt: skip
    assert error_of(response) == (403, "forbidden")


# -- reading and cancelling -------------------------------------------------------------------


def test_list_and_one_are_the_callers_own(client, db, auth, make_employee, desk):
    mine = book(client, auth, desk.id, api_time(WEDNESDAY, 10), api_time(WEDNESDAY, 11)).get_json()
    earlier = book(client, auth, desk.id, api_time(TUESDAY, 9), api_time(TUESDAY, 10)).get_json()
    stranger = bearer(db, make_employee())
    theirs = book(client, stranger, desk.id, api_time(TUESDAY, 14),
                  api_time(TUESDAY, 15)).get_json()  # fmt: skip

    listed = client.get(BOOKINGS, headers=auth).get_json()["bookings"]
    assert [b["id"] for b in listed] == [earlier["id"], mine["id"]]  # soonest first
    one = client.get(f"{BOOKINGS}/{mine['id']}", headers=auth)
    assert one.status_code == 200
    assert one.get_json() == mine

    for booking_id in (theirs["id"], 999_999, 2**40):
        assert error_of(client.get(f"{BOOKINGS}/{booking_id}", headers=auth)) == (404, "not_found")
        assert error_of(client.delete(f"{BOOKINGS}/{booking_id}", headers=auth)) == (
            404,
            "not_found",
        )
    # Somebody else's DELETE changed nothing.
    assert db.session.get(WorkspaceBooking, theirs["id"]).status == WorkspaceStatus.CONFIRMED


def test_cancelling_more_than_24_hours_ahead_refunds_all_and_frees_the_time(
    client, db, auth, make_employee, desk
):
    booked = book(client, auth, desk.id, api_time(TUESDAY, 14), api_time(TUESDAY, 16)).get_json()

    response = client.delete(f"{BOOKINGS}/{booked['id']}", headers=auth)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["refund"], body["refunded"]) == ("cancelled", 2000, 2000)
    assert body["refund_if_cancelled_now"] == 0
    assert workspace_entries(db, booked["id"]) == [("spend", -2000), ("refund", 2000)]
    # Its time is free again: somebody else books it at once.
    other = bearer(db, make_employee())
    again = book(client, other, desk.id, api_time(TUESDAY, 14), api_time(TUESDAY, 16))
    assert again.status_code == 201, again.get_json()
    # And it cannot be cancelled twice.
    assert error_of(client.delete(f"{BOOKINGS}/{booked['id']}", headers=auth)) == (
        409,
        "not_cancellable",
    )


def test_cancelling_within_24_hours_refunds_half(client, db, auth, desk):
    tomorrow = WEDNESDAY.replace(day=2)  # Wednesday 2 December, 22 hours after NOW
    booked = book(client, auth, desk.id, api_time(tomorrow, 10), api_time(tomorrow, 11, 30))
    booked = booked.get_json()
    assert booked["total_price"] == 1500
    assert booked["refund_if_cancelled_now"] == 750

    body = client.delete(f"{BOOKINGS}/{booked['id']}", headers=auth).get_json()

    assert (body["status"], body["refund"]) == ("cancelled", 750)
    assert workspace_entries(db, booked["id"]) == [("spend", -1500), ("refund", 750)]
    slots = day_view(client, auth, desk.facility_id, tomorrow)["units"][0]["slots"]
    assert all(slot["available"] for slot in slots)
