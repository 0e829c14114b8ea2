"""Regional programmes over the JSON API (booking/programme_api.py): the sessions on
offer, join (201), full (409 ``full``) or the waitlist (202), leave with the refund,
bad input 400, and nobody leaves somebody else's place."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from booking import services
from regions import programme_money
from regions.models import ProgrammeSignup, SignupStatus
from tests.conftest import NOW, bearer
from tests.regions.programme_fixtures import make_programme


@pytest.fixture
def organiser(make_operator):
    return make_operator(name="長野市", kind="municipality")


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def headers(db, employee):
    return bearer(db, employee)


def signup_rows(db) -> list[ProgrammeSignup]:
    db.session.expire_all()
    return db.session.scalars(select(ProgrammeSignup).order_by(ProgrammeSignup.id)).all()


def join(client, headers, session_id, body):
    return client.post(f"/api/v1/programmes/{session_id}/signups", json=body, headers=headers)


def test_the_list_is_one_entry_per_session(db, client, headers, organiser, make_operator):
    programme = make_programme(db, organiser, sessions=2, price_kind="credit", price=2000)
    make_programme(db, make_operator(), municipality_code="202029", kind="tour")
    make_programme(db, organiser, published=False)
    response = client.get("/api/v1/programmes", headers=headers)
    assert response.status_code == 200
    entries = response.get_json()["programmes"]
    assert len(entries) == 3
    first = entries[0]
    assert {
        "id",
        "title",
        "kind",
        "municipality",
        "starts_at",
        "ends_at",
        "capacity",
        "seats_left",
        "price",
    } <= set(first)
    assert first["id"] == programme.sessions[0].id
    assert first["programme_id"] == programme.id
    assert first["title"] == "雪かきボランティア"
    assert first["starts_at"] == "2026-12-11T10:00:00+09:00"
    assert (first["capacity"], first["seats_left"], first["price"]) == (5, 5, 2000)
    assert first["municipality"] == "202011"

    def ids(**params):
        answer = client.get("/api/v1/programmes", query_string=params, headers=headers)
        assert answer.status_code == 200, answer.get_json()
        return [e["id"] for e in answer.get_json()["programmes"]]

    assert ids(municipality="202011") == [s.id for s in programme.sessions]
    assert len(ids(prefecture="20")) == 3
    assert ids(prefecture="13") == []
    assert ids(**{"from": "2026-12-12", "to": "2026-12-12"}) == [programme.sessions[1].id]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"prefecture": "48"}, "out_of_range"),
        ({"prefecture": "0"}, "out_of_range"),
        ({"prefecture": "tokyo"}, "invalid_number"),
        ({"municipality": "202012"}, "invalid_municipality"),
        ({"municipality": "20201"}, "invalid_municipality"),
        ({"from": "2026-13-01"}, "invalid_date"),
        ({"from": "2026-12-20", "to": "2026-12-10"}, "dates_order"),
        ({"from": "2026-12-01", "to": "2028-12-10"}, "out_of_range"),
        ({"from": "9999-12-31"}, "out_of_range"),  # no overflow adding the default days
        ({"to": "9999-12-31"}, "out_of_range"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "out_of_range"),
    ],
)
def test_bad_list_parameters_are_400(db, client, headers, params, code):
    response = client.get("/api/v1/programmes", query_string=params, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_a_token_is_required(client, db):
    assert client.get("/api/v1/programmes").status_code == 401


def test_join_full_waitlist_and_leave(db, client, headers, organiser, make_employee):
    session = make_programme(db, organiser, capacity=2, stay_required=False).sessions[0]
    response = join(client, headers, session.id, {"participants": 2})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()["signup"]
    assert (body["status"], body["participants"], body["fee"], body["session_id"]) == (
        "joined",
        2,
        0,
        session.id,
    )
    assert join(client, headers, session.id, {"participants": 1}).get_json()["error"]["code"] == (
        "already_joined"
    )

    other = bearer(db, make_employee())
    full = join(client, other, session.id, {"participants": 1})
    assert full.status_code == 409
    assert full.get_json()["error"]["code"] == "full"
    waiting = join(client, other, session.id, {"participants": 1, "waitlist": True})
    assert waiting.status_code == 202
    assert waiting.get_json()["signup"]["status"] == "waitlisted"
    assert waiting.get_json()["signup"]["waitlist_position"] == 1

    left = client.delete(f"/api/v1/programmes/{session.id}/signups", headers=headers)
    assert left.status_code == 200
    assert left.get_json()["refund"] == 0
    assert left.get_json()["signup"]["status"] == "left"
    assert [s.status for s in signup_rows(db)] == [SignupStatus.LEFT, SignupStatus.JOINED]
    again = client.delete(f"/api/v1/programmes/{session.id}/signups", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "not_joined"


def test_leaving_returns_a_credit_fee_before_the_deadline(
    db, client, organiser, make_employee, make_company
):
    employee = make_employee(company=make_company(programmes_on_credit=True))
    headers = bearer(db, employee)
    session = make_programme(
        db, organiser, stay_required=False, price_kind="credit", price=1200
    ).sessions[0]
    response = join(client, headers, session.id, {"participants": 3})
    assert response.status_code == 201
    signup_id = response.get_json()["signup"]["id"]
    assert response.get_json()["signup"]["fee"] == 3600
    assert programme_money.paid(signup_id) == 3600
    left = client.delete(f"/api/v1/programmes/{session.id}/signups", headers=headers)
    assert left.get_json()["refund"] == 3600
    assert programme_money.paid(signup_id) == 0


def test_refusals_of_the_rules(db, client, headers, employee, organiser, make_unit):
    needs_stay = make_programme(db, organiser, capacity=3).sessions[0]
    paid = make_programme(
        db, organiser, stay_required=False, price_kind="credit", price=500
    ).sessions[0]
    refused = join(client, headers, needs_stay.id, {"participants": 1})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "stay_required")
    too_many = join(client, headers, needs_stay.id, {"participants": 4})
    assert (too_many.status_code, too_many.get_json()["error"]["code"]) == (422, "capacity")
    policy = join(client, headers, paid.id, {"participants": 1})
    assert (policy.status_code, policy.get_json()["error"]["code"]) == (402, "programme_policy")
    assert signup_rows(db) == []
    # A stay on other dates does not cover the day; one that does is used.
    unit = make_unit()
    other = services.book_stay(
        employee, services.StayRequest(unit.id, date(2026, 12, 20), date(2026, 12, 22), 1), NOW
    )
    db.session.commit()
    wrong = join(client, headers, needs_stay.id, {"participants": 1, "booking_id": other.id})
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (422, "stay_dates")
    stay = services.book_stay(
        employee, services.StayRequest(unit.id, date(2026, 12, 10), date(2026, 12, 12), 1), NOW
    )
    db.session.commit()
    ok = join(client, headers, needs_stay.id, {"participants": 1})
    assert ok.status_code == 201
    assert ok.get_json()["signup"]["booking_id"] == stay.id


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing_field"),
        ({"participants": 0}, "out_of_range"),
        ({"participants": 21}, "out_of_range"),
        ({"participants": "two"}, "invalid_number"),
        ({"participants": True}, "invalid_number"),
        ({"participants": 1, "waitlist": "yes"}, "invalid_boolean"),
        ({"participants": 1, "booking_id": 0}, "out_of_range"),
        ([1], "malformed_json"),
    ],
)
def test_bad_bodies_are_400(db, client, headers, organiser, body, code):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    response = join(client, headers, session.id, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert signup_rows(db) == []


def test_unknown_and_hidden_sessions_are_404(db, client, headers, organiser):
    hidden = make_programme(db, organiser, published=False, stay_required=False).sessions[0]
    begun = make_programme(
        db, organiser, stay_required=False, starts_at=NOW - timedelta(minutes=5)
    ).sessions[0]
    for session_id in (hidden.id, 999999, 2**40):
        response = join(client, headers, session_id, {"participants": 1})
        assert response.status_code == 404, session_id
        assert response.get_json()["error"]["code"] == "not_found"
    response = join(client, headers, begun.id, {"participants": 1})
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "not_open")


def test_another_companys_token_cannot_leave_someone_elses_place(
    db, client, headers, organiser, make_employee, make_user
):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    assert join(client, headers, session.id, {"participants": 1}).status_code == 201
    for stranger in (make_employee(), make_user("company_admin"), make_user("operator")):
        response = client.delete(
            f"/api/v1/programmes/{session.id}/signups", headers=bearer(db, stranger)
        )
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert [s.status for s in signup_rows(db)] == [SignupStatus.JOINED]


def test_only_people_of_a_company_join(db, client, organiser, make_user):
    session = make_programme(db, organiser, stay_required=False).sessions[0]
    response = join(client, bearer(db, make_user("operator")), session.id, {"participants": 1})
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "forbidden")
