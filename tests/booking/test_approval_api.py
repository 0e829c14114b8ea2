"""The JSON API of stays that wait (issue 18): ``POST /api/v1/bookings`` answers 202
for a stay that waits for approval or payment (201 when confirmed), with its parts,
hold and companions; ``GET /api/v1/approvals``; ``POST /api/v1/approvals/<id>/approve``
and ``/reject``; ``DELETE /api/v1/bookings/<id>`` withdraws a waiting stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billing.models import Subscription
from booking.approvals import MAX_COMMENT
from booking.models import ApprovalDecision, Booking, BookingStatus, StayApproval
from hr.models import SubsidyKind
from tests.booking.test_approvals import (
    HOLD,
    assert_books_straight,
    entries_of,
    fresh,
    held_nights,
    make_world,
)
from tests.conftest import NOW, bearer, days


@pytest.fixture
def world(db, make_company, make_user, make_unit):
    return make_world(db, make_company, make_user, make_unit)


def post_stay(client, headers, unit_id: int, start=10, end=13, **extra):
    body = {
        "unit_id": unit_id,
        "check_in": days(start).isoformat(),
        "check_out": days(end).isoformat(),
        **extra,
    }
    return client.post("/api/v1/bookings", json=body, headers=headers)


def booked(client, db, world, **extra) -> dict:
    response = post_stay(client, bearer(db, world.employee), world.unit.id, **extra)
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def count_bookings(db) -> int:
    db.session.rollback()
    return len(db.session.scalars(select(Booking.id)).all())


# --- booking ----------------------------------------------------------------------------------


def test_a_stay_that_waits_for_approval_is_accepted_not_confirmed(client, db, world):
    body = booked(client, db, world)
    assert body["status"] == "pending_approval"
    assert body["hold_expires_at"] == (NOW + HOLD).isoformat()
    assert (body["company_part"], body["employee_part"]) == (30_000, 0)
    assert body["company_part"] + body["employee_part"] == body["total_price"]
    assert body["companions"] == {"adults": 0, "children": 0, "infants": 0}
    assert held_nights(db, body["id"]) == 3
    assert entries_of(db, body["id"]) == []
    got = client.get(f"/api/v1/bookings/{body['id']}", headers=bearer(db, world.employee))
    assert got.get_json()["status"] == "pending_approval"
    assert_books_straight(db)


def test_a_stay_needing_nobody_is_created_and_confirmed(client, db, world):
    response = post_stay(client, bearer(db, world.outsider), world.unit.id)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "confirmed"
    assert body["hold_expires_at"] is None
    assert (body["company_part"], body["employee_part"]) == (body["total_price"], 0)


def test_a_stay_waiting_for_the_employees_card_is_accepted(client, db, world):
    world.policy.approval_all = False
    world.policy.subsidy_kind = SubsidyKind.FIXED
    world.policy.subsidy_amount = 6_000  # per person-night: 4,000 a night is the employee's
    db.session.commit()
    body = booked(client, db, world)
    assert body["status"] == "awaiting_payment"
    assert (body["company_part"], body["employee_part"]) == (18_000, 12_000)
    assert body["hold_expires_at"] is not None


def test_companions_are_counted_among_the_guests(client, db, world):
    body = booked(client, db, world, companions={"adults": 1, "children": 1})
    assert body["companions"] == {"adults": 1, "children": 1, "infants": 0}
    assert body["guests"] == 3  # left out: the employee and the companions
    stay = fresh(db, body["id"])
    assert (stay.companion_adults, stay.companion_children, stay.guests) == (1, 1, 3)


@pytest.mark.parametrize(
    ("companions", "field"),
    [
        (3, "companions"),
        ([1], "companions"),
        ({"adults": -1}, "companions.adults"),
        ({"children": "2"}, "companions.children"),
        ({"infants": True}, "companions.infants"),
        ({"adults": 1.5}, "companions.adults"),
        ({"adults": 20}, "companions.adults"),
    ],
)
def test_companions_that_are_not_counts_are_refused(client, db, world, companions, field):
    response = post_stay(client, bearer(db, world.employee), world.unit.id, companions=companions)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert count_bookings(db) == 0


def test_guests_fewer_than_the_employee_and_companions_are_refused(client, db, world):
    response = post_stay(
        client, bearer(db, world.employee), world.unit.id, guests=1, companions={"adults": 1}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "companions"
    assert count_bookings(db) == 0


# --- the queue --------------------------------------------------------------------------------


def test_the_approvers_queue(client, db, world):
    body = booked(client, db, world)
    queue = client.get("/api/v1/approvals", headers=bearer(db, world.manager))
    assert queue.status_code == 200
    data = queue.get_json()
    (waiting,) = data["waiting"]
    assert waiting["booking_id"] == body["id"]
    assert waiting["employee"] == {"id": world.employee.id, "name": "Emi Employee"}
    assert waiting["reasons"] == ["all"]
    assert waiting["decision"] == "pending"
    assert waiting["expires_at"] == (NOW + HOLD).isoformat()
    assert waiting["booking"]["status"] == "pending_approval"
    assert data["decided"] == []
    for nobody in (world.employee, world.deputy, world.outsider, world.other_admin):
        empty = client.get("/api/v1/approvals", headers=bearer(db, nobody)).get_json()
        assert empty == {"waiting": [], "decided": []}
    assert client.get("/api/v1/approvals").status_code == 401


# --- deciding ---------------------------------------------------------------------------------


def test_approve_through_the_api(client, db, world):
    body = booked(client, db, world)
    headers = bearer(db, world.manager)
    response = client.post(
        f"/api/v1/approvals/{body['id']}/approve", json={"comment": "Enjoy."}, headers=headers
    )
    assert response.status_code == 200
    approved = response.get_json()
    assert approved["status"] == "confirmed"
    assert approved["hold_expires_at"] is None
    assert entries_of(db, body["id"]) == [("spend", -30_000)]
    assert db.session.get(StayApproval, body["id"]).comment == "Enjoy."

    again = client.post(f"/api/v1/approvals/{body['id']}/approve", headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "not_pending"
    decided = client.get("/api/v1/approvals", headers=headers).get_json()["decided"]
    assert [(d["booking_id"], d["decision"]) for d in decided] == [(body["id"], "approved")]
    assert entries_of(db, body["id"]) == [("spend", -30_000)]
    assert_books_straight(db)


def test_reject_through_the_api_without_a_body(client, db, world):
    body = booked(client, db, world)
    response = client.post(
        f"/api/v1/approvals/{body['id']}/reject", headers=bearer(db, world.admin)
    )
    assert response.status_code == 200
    assert response.get_json()["status"] == "rejected"
    assert held_nights(db, body["id"]) == 0
    assert entries_of(db, body["id"]) == []
    # The nights are free again.
    other = post_stay(client, bearer(db, world.outsider), world.unit.id)
    assert other.status_code == 201
    assert_books_straight(db)


@pytest.mark.parametrize(
    "payload",
    [{"comment": "x" * (MAX_COMMENT + 1)}, {"comment": 42}, {"comment": ["no"]}],
)
def test_a_comment_not_text_or_too_long_is_refused(client, db, world, payload):
    body = booked(client, db, world)
    for action in ("approve", "reject"):
        response = client.post(
            f"/api/v1/approvals/{body['id']}/{action}",
            json=payload,
            headers=bearer(db, world.manager),
        )
        assert response.status_code == 422
        error = response.get_json()["error"]
        assert (error["code"], list(error["fields"])) == ("invalid", ["comment"])
    assert fresh(db, body["id"]).status == BookingStatus.PENDING_APPROVAL


def test_a_body_that_is_not_an_object_is_refused(client, db, world):
    body = booked(client, db, world)
    response = client.post(
        f"/api/v1/approvals/{body['id']}/reject",
        data="[1]",
        content_type="application/json",
        headers=bearer(db, world.manager),
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_those_who_may_not_decide_find_no_such_stay(client, db, world):
    body = booked(client, db, world)
    for stranger in (world.other_admin, world.deputy, world.employee, world.colleague):
        for action in ("approve", "reject"):
            response = client.post(
                f"/api/v1/approvals/{body['id']}/{action}",
                json={"comment": "mine now"},
                headers=bearer(db, stranger),
            )
            assert response.status_code == 404, stranger.email
            assert response.get_json()["error"]["code"] == "not_found"
    for missing in (999_999, 0):
        response = client.post(
            f"/api/v1/approvals/{missing}/approve", headers=bearer(db, world.manager)
        )
        assert response.status_code == 404
    assert fresh(db, body["id"]).status == BookingStatus.PENDING_APPROVAL


def test_a_decision_after_the_hold_ran_out_is_a_conflict(app, client, db, world):
    body = booked(client, db, world)
    headers = bearer(db, world.manager)
    app.config["FIXED_NOW"] = NOW + HOLD
    response = client.post(f"/api/v1/approvals/{body['id']}/approve", headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "expired"
    assert entries_of(db, body["id"]) == []


def test_an_approval_the_credit_does_not_cover_is_refused(client, db, world):
    body = booked(client, db, world)
    db.session.rollback()
    subscription = db.session.scalar(
        select(Subscription).where(Subscription.company_id == world.company.id)
    )
    subscription.status = "canceled"
    db.session.commit()
    response = client.post(
        f"/api/v1/approvals/{body['id']}/approve", headers=bearer(db, world.manager)
    )
    assert response.status_code == 402
    assert response.get_json()["error"]["code"] == "subscription"
    assert fresh(db, body["id"]).status == BookingStatus.PENDING_APPROVAL


# --- withdrawing ------------------------------------------------------------------------------


def test_deleting_a_waiting_stay_withdraws_it_and_charges_nothing(client, db, world):
    body = booked(client, db, world)
    headers = bearer(db, world.employee)
    response = client.delete(f"/api/v1/bookings/{body['id']}", headers=headers)
    assert response.status_code == 204
    stay = fresh(db, body["id"])
    assert stay.status == BookingStatus.CANCELLED
    assert db.session.get(StayApproval, body["id"]).decision == ApprovalDecision.WITHDRAWN
    assert held_nights(db, body["id"]) == 0
    assert entries_of(db, body["id"]) == []
    assert_books_straight(db)
    approve = client.post(
        f"/api/v1/approvals/{body['id']}/approve", headers=bearer(db, world.manager)
    )
    assert approve.status_code == 409


def test_someone_elses_waiting_stay_cannot_be_deleted(client, db, world):
    body = booked(client, db, world)
    response = client.delete(f"/api/v1/bookings/{body['id']}", headers=bearer(db, world.manager))
    assert response.status_code == 404
    assert fresh(db, body["id"]).status == BookingStatus.PENDING_APPROVAL
