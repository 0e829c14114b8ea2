"""A stay's purpose and working days in the JSON API: ``purpose`` and ``working_days``
asked for in ``POST /api/v1/bookings``, answered in every booking, refused with the
policy's codes (422), kept by a change of dates within them.

TODAY is Tuesday 2026-12-01: days(4) is Saturday 5 December, days(6) Monday 7.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from booking.models import Booking
from hr.models import DEFAULT_GROUP, GroupPolicy
from tests.conftest import bearer, days


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def auth(db, employee):
    return bearer(db, employee)


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=2)


def iso(*numbers: int) -> list[str]:
    return [days(n).isoformat() for n in numbers]


def post(client, auth, room, check_in=4, check_out=9, key=None, **fields):
    body = {
        "unit_id": room.id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        **fields,
    }
    headers = {**auth, **({"Idempotency-Key": key} if key else {})}
    return client.post("/api/v1/bookings", json=body, headers=headers)


def refused(response, status=422) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def booking_count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Booking))


def test_a_booking_is_leisure_by_default_and_says_so(client, auth, room):
    response = post(client, auth, room)

    assert response.status_code == 201
    body = response.get_json()
    assert (body["purpose"], body["working_days"]) == ("leisure", [])


def test_a_business_workation_keeps_the_days_asked_for(client, auth, room):
    response = post(client, auth, room, purpose="business", working_days=iso(8, 5, 8))

    assert response.status_code == 201
    body = response.get_json()
    assert (body["purpose"], body["working_days"]) == ("business", iso(5, 8))
    again = client.get(f"/api/v1/bookings/{body['id']}", headers=auth).get_json()
    assert again["working_days"] == iso(5, 8)


def test_a_business_workation_without_days_takes_its_weekdays(client, auth, room):
    body = post(client, auth, room, purpose="business").get_json()

    assert body["working_days"] == iso(6, 7, 8, 9)


def test_every_booking_answer_carries_the_purpose_and_the_days(client, auth, room):
    post(client, auth, room, purpose="business", working_days=iso(6))
    post(client, auth, room, 20, 22)

    listed = client.get("/api/v1/bookings", headers=auth).get_json()["bookings"]

    assert [(b["purpose"], b["working_days"]) for b in listed] == [
        ("business", iso(6)),
        ("leisure", []),
    ]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"purpose": "holiday"}, "purpose_unknown"),
        ({"purpose": "leisure", "working_days": iso(6)}, "work_days_for_leisure"),
        ({"working_days": iso(6)}, "work_days_for_leisure"),  # leisure, the default
        ({"purpose": "business", "working_days": []}, "work_days"),
        ({"purpose": "business", "working_days": iso(3)}, "work_days"),  # before check-in
        ({"purpose": "business", "working_days": iso(10)}, "work_days"),  # after check-out
    ],
)
def test_a_purpose_or_days_the_policy_refuses_answer_422_with_its_code(
    db, client, auth, room, fields, code
):
    error = refused(post(client, auth, room, **fields))

    assert error["code"] == code and error["message"]
    assert booking_count(db) == 0


def test_leisure_with_an_empty_list_of_days_is_fine(client, auth, room):
    response = post(client, auth, room, purpose="leisure", working_days=[])

    assert response.status_code == 201
    assert response.get_json()["working_days"] == []


def test_a_purpose_the_companys_policy_does_not_allow_is_refused(db, client, employee, auth, room):
    db.session.add(
        GroupPolicy(
            company_id=employee.company_id,
            employee_group=DEFAULT_GROUP,
            leisure_allowed=False,
            business_allowed=True,
        )
    )
    db.session.commit()

    error = refused(post(client, auth, room, purpose="leisure"))
    assert error["code"] == "purpose_not_allowed"
    # Left out, the purpose is the policy's default: business, with its default days.
    body = post(client, auth, room).get_json()
    assert (body["purpose"], body["working_days"]) == ("business", iso(6, 7, 8, 9))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"purpose": 1}, {"purpose"}),
        ({"purpose": ["business"]}, {"purpose"}),
        ({"working_days": "2026-12-07"}, {"working_days"}),
        ({"working_days": {"day": "2026-12-07"}}, {"working_days"}),
        (
            {"working_days": ["2026-12-07", 7, "7 Dec", "2026-02-30"]},
            {
                "working_days[1]",
                "working_days[2]",
                "working_days[3]",
            },
        ),
        ({"working_days": iso(6) * 92}, {"working_days"}),
        ({"purpose": True, "working_days": [None]}, {"purpose", "working_days[0]"}),
    ],
)
def test_a_purpose_or_days_of_the_wrong_type_name_the_field(db, client, auth, room, fields, named):
    error = refused(post(client, auth, room, **fields))

    assert error["code"] == "invalid"
    assert set(error["fields"]) == named
    assert booking_count(db) == 0


def test_null_is_left_out(client, auth, room):
    response = post(client, auth, room, purpose=None, working_days=None)

    assert response.status_code == 201
    assert response.get_json()["purpose"] == "leisure"


def test_a_retry_with_the_same_key_and_purpose_answers_the_same_booking(db, client, auth, room):
    first = post(client, auth, room, key="k-1", purpose="business", working_days=iso(6, 8))
    retry = post(client, auth, room, key="k-1", purpose="business", working_days=iso(8, 6))

    assert first.status_code == 201 and retry.status_code in (200, 201)
    assert retry.get_json() == first.get_json()
    assert booking_count(db) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"purpose": "leisure"},
        {"purpose": "business", "working_days": iso(6)},
        {"purpose": "business"},  # the default days are four, not these two
    ],
)
def test_the_same_key_for_another_purpose_or_other_days_is_refused(db, client, auth, room, fields):
    post(client, auth, room, key="k-2", purpose="business", working_days=iso(6, 8))

    error = refused(post(client, auth, room, key="k-2", **fields))

    assert error["code"] == "idempotency_mismatch"
    assert booking_count(db) == 1


def test_a_change_of_dates_keeps_the_working_days_within_them(client, auth, room):
    booked = post(
        client, auth, room, 6, 10, purpose="business", working_days=iso(6, 7, 9)
    ).get_json()

    response = client.patch(
        f"/api/v1/bookings/{booked['id']}",
        json={"check_in": days(7).isoformat(), "check_out": days(12).isoformat()},
        headers=auth,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["purpose"], body["working_days"]) == ("business", iso(7, 9))


def test_a_change_to_days_off_only_is_refused_with_work_days(client, auth, room):
    booked = post(client, auth, room, 6, 8, purpose="business").get_json()

    # New Year's Day 2027 and the weekend after it.
    response = client.patch(
        f"/api/v1/bookings/{booked['id']}",
        json={"check_in": days(31).isoformat(), "check_out": days(33).isoformat()},
        headers=auth,
    )

    assert refused(response)["code"] == "work_days"
    after = client.get(f"/api/v1/bookings/{booked['id']}", headers=auth).get_json()
    assert (after["check_in"], after["working_days"]) == (
        days(6).isoformat(),
        iso(6, 7, 8),
    )


def test_a_change_cannot_send_a_purpose_or_working_days(client, auth, room):
    """They are chosen at booking: a PATCH naming them is refused, never ignored."""
    booked = post(client, auth, room, 6, 8, purpose="business").get_json()
    for body in ({"purpose": "leisure"}, {"working_days": iso(6)}):
        response = client.patch(f"/api/v1/bookings/{booked['id']}", json=body, headers=auth)
        assert response.status_code == 422
        assert set(response.get_json()["error"]["fields"]) == set(body)
    after = client.get(f"/api/v1/bookings/{booked['id']}", headers=auth).get_json()
    assert (after["purpose"], after["working_days"]) == ("business", iso(6, 7, 8))


def test_somebody_elses_booking_is_not_found(db, client, make_employee, auth, room):
    theirs = post(client, bearer(db, make_employee()), room, purpose="business").get_json()

    assert client.get(f"/api/v1/bookings/{theirs['id']}", headers=auth).status_code == 404
