"""``GET /api/v1/company/report``: the outcome report as JSON, for a corporate admin's
token only, with the API's error shape for a bad period. The fixture and its figures:
tests/consoles/company/test_report.py."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.conftest import bearer
from tests.consoles.company.test_report import build_world

URL = "/api/v1/company/report"

FISCAL_YEAR = {
    "from": "2026-04-01",
    "to": "2027-04-01",
    "seats": 10,
    "participants": 3,
    "participation_rate": 0.3,
    "stays": 5,
    "nights": 12,
    "leisure_nights": 6,
    "business_nights": 6,
    "off_season_share": 0.4167,
    "company_cost": 134_500,
    "employee_cost": 8_500,
    "cost_per_participant": 44_833,
    "average_rating": 4.0,
    "programme_participants": 0,
    "local_spend": 0,
}


@pytest.fixture
def world(db, make_company, make_user, make_facility, make_unit):
    return build_world(make_company, make_user, make_facility, make_unit)


def test_the_fiscal_year_by_default(client, db, world):
    response = client.get(URL, headers=bearer(db, world["admin"]))
    assert response.status_code == 200
    assert response.get_json() == FISCAL_YEAR


def test_a_period_with_to_the_night_after_the_last(client, db, world):
    headers = bearer(db, world["admin"])
    same = client.get(URL, query_string={"from": "2026-04-01", "to": "2027-04-01"}, headers=headers)
    assert same.get_json() == FISCAL_YEAR
    march = client.get(
        URL, query_string={"from": "2027-03-01", "to": "2027-05-01"}, headers=headers
    ).get_json()
    assert march == {
        "from": "2027-03-01",
        "to": "2027-05-01",
        "seats": 10,
        "participants": 1,
        "participation_rate": 0.1,
        "stays": 1,
        "nights": 3,
        "leisure_nights": 0,
        "business_nights": 3,
        "off_season_share": 0.0,
        "company_cost": 36_000,
        "employee_cost": 0,
        "cost_per_participant": 36_000,
        "average_rating": None,
        "programme_participants": 0,
        "local_spend": 0,
    }


def test_another_company_answers_its_own(client, db, world):
    body = client.get(URL, headers=bearer(db, world["rival"])).get_json()
    assert (body["seats"], body["stays"], body["nights"], body["company_cost"]) == (
        5,
        1,
        4,
        35_000,
    )
    assert (body["employee_cost"], body["average_rating"]) == (5_000, 1.0)


@pytest.mark.parametrize("name", ["mori", "hanako", "stranger"])
def test_only_a_corporate_admins_token(client, db, world, name):
    response = client.get(URL, headers=bearer(db, world[name]))
    assert response.status_code == 403
    assert response.get_json() == {
        "error": {
            "code": "forbidden",
            "message": "Only a corporate admin's token can read the report.",
        }
    }


def test_an_operators_token_is_refused(client, db, world, make_user):
    operator = make_user(Role.OPERATOR, operator=world["karuizawa"].facility.operator)
    response = client.get(URL, headers=bearer(db, operator))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_without_a_token(client, world):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    wrong = client.get(URL, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"from": "2026-04-01"}, "missing_field"),
        ({"to": "2027-04-01"}, "missing_field"),
        ({"from": "2026-04-31", "to": "2027-04-01"}, "invalid_date"),
        ({"from": "2026-04-01", "to": "next year"}, "invalid_date"),
        ({"from": "2026-W14-1", "to": "2027-04-01"}, "invalid_date"),
        ({"from": "2026-04-01", "to": "2026-04-01"}, "dates_order"),
        ({"from": "2026-04-02", "to": "2026-04-01"}, "dates_order"),
        ({"from": "2020-01-01", "to": "2026-12-31"}, "out_of_range"),
        ({"from": "9999-12-01", "to": "9999-12-31"}, "out_of_range"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "out_of_range"),
    ],
)
def test_a_bad_period(client, db, world, query, code):
    response = client.get(URL, query_string=query, headers=bearer(db, world["admin"]))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message"} and error["message"]


def test_at_most_three_years(client, db, world):
    headers = bearer(db, world["admin"])
    longest = client.get(  # 1,099 nights
        URL, query_string={"from": "2024-04-01", "to": "2027-04-05"}, headers=headers
    )
    assert longest.status_code == 200
    assert longest.get_json()["nights"] == 3 + 4 + 3 + 4 + 2  # every stay whole
    too_long = client.get(
        URL, query_string={"from": "2024-04-01", "to": "2027-04-06"}, headers=headers
    )
    assert too_long.status_code == 400


def test_control_characters_are_refused(client, db, world):
    response = client.get(
        URL,
        query_string={"from": "2026\x00", "to": "2027-04-01"},
        headers=bearer(db, world["admin"]),
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_characters"
