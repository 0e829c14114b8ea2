"""``GET /api/v1/regions/<municipality_code>/report``: the region report as JSON for the
region's own organisation only; a malformed code or a wrong check digit and bad dates
answer 400 with the API's error shape. The fixture and its figures:
tests/consoles/test_region_report.py."""

from __future__ import annotations

import pytest

from accounts.models import Role
from tests.conftest import bearer
from tests.consoles.test_region_report import NAGANO, build_region

FISCAL_YEAR = {
    "municipality_code": NAGANO,
    "from": "2026-04-01",
    "to": "2027-04-01",
    "visitors": 8,
    "nights": 26,
    "off_season_share": 0.3077,
    "repeat_visitors": 2,
    "programme_participants": 7,
    "coupon_issued": 9_900,
    "coupon_redeemed": 4_300,
}


def url(code: str = NAGANO) -> str:
    return f"/api/v1/regions/{code}/report"


@pytest.fixture
def world(db, make_company, make_user, make_operator, make_facility, make_unit):
    return build_region(make_company, make_user, make_operator, make_facility, make_unit)


@pytest.fixture
def city_token(db, world, make_user):
    return bearer(db, make_user(Role.OPERATOR, operator=world["city"]))


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def test_the_fiscal_year_by_default(client, city_token):
    response = client.get(url(), headers=city_token)
    assert response.status_code == 200
    assert response.get_json() == FISCAL_YEAR


def test_a_period_with_to_the_day_after_the_last(client, city_token):
    same = client.get(url(), query_string={"from": "2026-04-01", "to": "2027-04-01"},
                      headers=city_token)  # fmt: skip
    assert same.get_json() == FISCAL_YEAR
    november = client.get(
        url(), query_string={"from": "2026-11-01", "to": "2026-12-01"}, headers=city_token
    ).get_json()
    assert november == {
        "municipality_code": NAGANO,
        "from": "2026-11-01",
        "to": "2026-12-01",
        "visitors": 1,
        "nights": 6,
        "off_season_share": 1.0,
        "repeat_visitors": 0,
        "programme_participants": 0,
        "coupon_issued": 6_000,
        "coupon_redeemed": 3_000,
    }
    # Two years exactly is the longest period.
    longest = {"from": "2025-04-01", "to": "2027-04-01"}
    assert client.get(url(), query_string=longest, headers=city_token).status_code == 200


def test_another_region_answers_404(client, city_token, world):
    response = client.get(url("203211"), headers=city_token)  # 軽井沢町: real, not theirs
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_the_region_of_the_token_s_own_organisation_only(client, db, world, make_user):
    town_token = bearer(db, make_user(Role.OPERATOR, operator=world["town"]))
    assert client.get(url("203211"), headers=town_token).status_code == 200
    assert client.get(url(), headers=town_token).status_code == 404
    # An operator organisation that is no municipality: nothing to read.
    inns_token = bearer(db, make_user(Role.OPERATOR, operator=world["inns"]))
    response = client.get(url(), headers=inns_token)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


@pytest.mark.parametrize("code", ["202012", "20201", "2020111", "abcdef", "202O11", "000000x"])
def test_a_malformed_code_or_a_wrong_check_digit_answers_400(client, city_token, code):
    response = client.get(url(code), headers=city_token)
    assert response.status_code == 400
    assert error_code(response) == "invalid_municipality"
    assert set(response.get_json()["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"from": "2026-04-01"}, "missing_field"),
        ({"to": "2026-05-01"}, "missing_field"),
        ({"from": "2026-13-01", "to": "2027-01-01"}, "invalid_date"),
        ({"from": "2026/04/01", "to": "2027-01-01"}, "invalid_date"),
        ({"from": "2026-04-01", "to": "tomorrow"}, "invalid_date"),
        ({"from": "2026-05-01", "to": "2026-05-01"}, "dates_order"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, "dates_order"),
        ({"from": "2025-04-01", "to": "2027-04-02"}, "out_of_range"),
        ({"from": "2040-01-01", "to": "2040-02-01"}, "out_of_range"),
    ],
)
def test_bad_dates_answer_400(client, city_token, args, code):
    response = client.get(url(), query_string=args, headers=city_token)
    assert response.status_code == 400
    assert error_code(response) == code


def test_who_may_call(client, db, world, make_user):
    assert client.get(url()).status_code == 401
    assert client.get(url(), headers={"Authorization": "Bearer nope"}).status_code == 401
    employee = bearer(db, world["people"]["hanako"])
    response = client.get(url(), headers=employee)
    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    admin = bearer(db, make_user(Role.COMPANY_ADMIN))
    assert client.get(url(), headers=admin).status_code == 403
