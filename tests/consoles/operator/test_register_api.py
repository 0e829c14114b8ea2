"""The operator API's guest register: ``GET /api/v1/operator/facilities/<id>/register``
answers the entries of stays arriving in [from, to) in the documented shape, records the
read, refuses bad dates with 422 and a code, and answers 404 for another organisation's
facility or a satellite office. SQLite and PostgreSQL (the ``app`` fixture)."""

from __future__ import annotations

import pytest
import yaml

from accounts.models import Role
from booking import front_desk
from consoles.operator import api
from tests.booking.test_openapi import SPEC, _param
from tests.conftest import NOW, bearer, days
from tests.consoles.operator.register_world import build_world, reads

API = "/api/v1/operator"


@pytest.fixture
def world(db, make_user, make_company, make_facility, make_unit):
    w = build_world(db, make_user, make_company, make_facility, make_unit)
    front_desk.check_in(w.operator, w.full.id, NOW)
    db.session.commit()
    w.headers = bearer(db, w.operator)
    w.url = f"{API}/facilities/{w.facility.id}/register"
    return w


def period(first: int, end: int) -> dict[str, str]:
    return {"from": days(first).isoformat(), "to": days(end).isoformat()}


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_the_register_answers_the_entries_of_the_arrivals(db, client, world):
    response = client.get(world.url, query_string=period(0, 31), headers=world.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"entries"}
    entries = body["entries"]
    assert [e["booking_id"] for e in entries] == [
        world.full.id,
        world.absent.id,
        world.partial.id,
        world.blank.id,
    ]
    full = entries[0]
    assert set(full) == {"booking_id", "check_in", "check_out", "guests"}
    assert (full["check_in"], full["check_out"]) == ("2026-12-01", "2026-12-03")
    assert full["guests"] == [
        {
            "name": "山田 花子",
            "address": "長野県松本市中央1-2-3",
            "phone": "+81263123456",
            "nationality": "",
            "passport_number": "",
        },
        {
            "name": "Emma Schmidt",
            "address": "Hauptstraße 5, 10115 Berlin",
            "phone": "+4930123456",
            "nationality": "DE",
            "passport_number": "C01X00T47",
        },
    ]
    assert entries[3]["guests"] == []  # nobody registered yet
    assert all(type(e["booking_id"]) is int for e in entries)


def test_the_period_is_half_open_and_by_arrival(client, world):
    def ids(first: int, end: int) -> list[int]:
        answer = client.get(world.url, query_string=period(first, end), headers=world.headers)
        return [e["booking_id"] for e in answer.get_json()["entries"]]

    assert ids(0, 1) == [world.full.id, world.absent.id]
    assert ids(1, 3) == []  # the stays of the 1st are not arrivals of the 2nd
    assert ids(1, 4) == [world.partial.id]
    assert ids(40, 41) == [world.later.id]
    assert world.gone.id not in ids(0, 40)  # cancelled


def test_every_read_is_recorded_as_the_apis(db, client, world):
    before = reads(db)

    client.get(world.url, query_string=period(0, 1), headers=world.headers)
    client.get(world.url, query_string=period(20, 25), headers=world.headers)  # none

    assert reads(db)[len(before) :] == [
        (world.full.id, "api", world.operator.id),
        (world.absent.id, "api", world.operator.id),
    ]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "missing_field"),
        ({"from": "2026-12-01"}, "missing_field"),
        ({"to": "2026-12-31"}, "missing_field"),
        ({"from": "2026-12-01", "to": ""}, "missing_field"),
        ({"from": "2026-13-01", "to": "2026-12-31"}, "invalid_date"),
        ({"from": "2026-W49-1", "to": "2026-12-31"}, "invalid_date"),
        ({"from": "2026-12-01", "to": "31.12.2026"}, "invalid_date"),
        ({"from": "2026-12-05", "to": "2026-12-05"}, "dates_order"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "dates_order"),
        ({"from": "2026-12-01", "to": "2027-12-03"}, "out_of_range"),
        ({"from": "0001-01-01", "to": "9999-12-31"}, "out_of_range"),
    ],
)
def test_bad_dates_answer_422_with_a_code_and_read_nothing(db, client, world, query, code):
    before = reads(db)

    response = client.get(world.url, query_string=query, headers=world.headers)

    assert error_of(response) == (422, code)
    assert response.get_json()["error"]["message"]
    assert reads(db) == before


def test_a_year_of_arrivals_is_allowed(client, world):
    response = client.get(world.url, query_string=period(0, 366), headers=world.headers)
    assert response.status_code == 200


def test_too_many_stays_ask_for_fewer_days(client, world, monkeypatch):
    monkeypatch.setattr(api, "MAX_REGISTER_ENTRIES", 1)

    response = client.get(world.url, query_string=period(0, 31), headers=world.headers)

    assert error_of(response) == (422, "too_many")


def test_another_organisations_facility_or_a_satellite_office_answers_404(db, client, world):
    before = reads(db)
    for facility_id in (world.their_facility.id, world.office.id, 999_999):
        for query in (period(0, 31), {"from": "x"}):  # 404 whatever the dates
            response = client.get(
                f"{API}/facilities/{facility_id}/register",
                query_string=query,
                headers=world.headers,
            )
            assert error_of(response) == (404, "not_found"), facility_id
    assert reads(db) == before


def test_the_other_organisation_reads_its_own(db, client, world):
    headers = bearer(db, world.their_operator)

    own = client.get(
        f"{API}/facilities/{world.their_facility.id}/register",
        query_string=period(0, 31),
        headers=headers,
    )
    ours = client.get(world.url, query_string=period(0, 31), headers=headers)

    assert [e["booking_id"] for e in own.get_json()["entries"]] == [world.theirs.id]
    assert error_of(ours) == (404, "not_found")


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_only_an_operators_token_reads_it(db, client, make_user, world, role):
    response = client.get(
        world.url, query_string=period(0, 31), headers=bearer(db, make_user(role))
    )
    assert error_of(response) == (403, "forbidden")
    assert error_of(client.get(world.url, query_string=period(0, 31))) == (401, "unauthorized")


# --- documented ----------------------------------------------------------------------------


def test_the_spec_documents_the_register_and_its_bounds():
    spec = yaml.safe_load(SPEC.read_text())
    path = API + "/facilities/{id}/register"
    operation = spec["paths"][path]["get"]
    assert f"at most {api.MAX_PERIOD_NIGHTS} days" in _param(spec, path, "get", "to")["description"]
    assert f"At most {api.MAX_REGISTER_ENTRIES} stays" in operation["description"]
    entry = spec["components"]["schemas"]["OperatorRegisterEntry"]
    assert set(entry["required"]) == {"booking_id", "check_in", "check_out", "guests"}
    guest = spec["components"]["schemas"]["RegisterGuest"]
    assert set(guest["required"]) == {
        "name",
        "address",
        "phone",
        "nationality",
        "passport_number",
    }
    assert set(operation["responses"]["422"]["x-error-codes"]) == {
        "missing_field",
        "invalid_date",
        "dates_order",
        "out_of_range",
        "too_many",
    }
