"""The region report's pages (/operator/region, its printable summary and its CSV file)
for a municipality's operators, in Japanese and English; an operator organisation
without a municipality code gets the explanation. The fixture and its figures:
tests/consoles/test_region_report.py."""

from __future__ import annotations

import csv
import io
import re

import pytest

from accounts.models import Role
from tests.conftest import signed_in
from tests.consoles.test_region_report import build_region


@pytest.fixture
def world(db, make_company, make_user, make_operator, make_facility, make_unit):
    return build_region(make_company, make_user, make_operator, make_facility, make_unit)


@pytest.fixture
def city(app, world, make_user):
    return signed_in(app, make_user(Role.OPERATOR, operator=world["city"]))


def text(response) -> str:
    return response.get_data(as_text=True)


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">.*?<span class="figure">([^<]+)</span>', html, re.S)
    assert found, name
    return found[1]


def test_the_report_page_in_japanese(city):
    response = city.get("/operator/region")
    html = text(response)

    assert response.status_code == 200
    assert '<html lang="ja">' in html
    assert "長野県長野市" in html and "202011" in html
    assert "2026年4月1日" in html and "2027年3月31日" in html  # this fiscal year
    assert figure(html, "visitors") == "8"
    assert figure(html, "nights") == "26"
    assert figure(html, "off_season_share") == "30.8%"
    assert figure(html, "repeat_visitors") == "2"
    assert figure(html, "companies") == "4"
    assert figure(html, "programme_participants") == "7"
    assert figure(html, "coupon_redeemed") == "¥4,300"
    assert 'data-testid="month-chart"' in html and 'data-testid="category-chart"' in html
    assert '<tr data-month="2026-11">' in html
    # Four companies of three industries, none with 3 companies: one row, no industry.
    assert re.search(r'<tr data-key="other"><th scope="row">その他の業種</th><td class="num">4</td>'
                     r'<td class="num">8</td>', html)  # fmt: skip
    assert 'data-key="G"' not in html
    # Never a company's or a visitor's name.
    for name in ("Acme", "Umbrella", "Globex", "Initech", "hanako", "jiro"):
        assert name not in html
    assert "<script>" not in html and 'style="' not in html


def test_the_report_page_in_english_and_another_period(city):
    city.get("/lang/en")
    html = text(
        city.get("/operator/region", query_string={"from": "2026-11-01", "to": "2026-11-30"})
    )

    assert '<html lang="en">' in html
    assert "Region report" in html and "Guest-nights" in html
    assert "1 Nov 2026" in html and "30 Nov 2026" in html
    assert figure(html, "visitors") == "1"
    assert figure(html, "nights") == "6"
    assert figure(html, "off_season_share") == "100.0%"
    assert "Each night stayed counts its guests." in html  # guest-nights, said on the page


@pytest.mark.parametrize(
    "args",
    [
        {"from": "2026-04-01"},
        {"from": "nope", "to": "2026-05-01"},
        {"from": "2026-05-02", "to": "2026-05-01"},
        {"from": "2024-01-01", "to": "2026-12-31"},
        {"from": "9999-01-01", "to": "9999-12-31"},  # the calendar's end: no arithmetic
        {"from": "0001-01-01", "to": "0001-01-02"},
    ],
)
def test_a_bad_period_answers_400_with_the_reason(city, args):
    response = city.get("/operator/region", query_string=args)
    assert response.status_code == 400
    assert 'data-testid="period-error"' in text(response)
    assert city.get("/operator/region/summary", query_string=args).status_code == 400
    assert city.get("/operator/region.csv", query_string=args).status_code == 400


def test_the_printable_summary_in_either_language(city):
    japanese = text(city.get("/operator/region/summary", query_string={"lang": "ja"}))
    assert '<html lang="ja">' in japanese
    assert 'data-testid="region-summary"' in japanese
    assert "2026年4月1日" in japanese and "長野県長野市" in japanese
    assert figure(japanese, "visitors") == "8"
    assert figure(japanese, "coupon_issued") == "¥9,900"

    english = text(city.get("/operator/region/summary", query_string={"lang": "en"}))
    assert '<html lang="en">' in english
    assert "1 Apr 2026" in english and "Visitors" in english and "Guest-nights" in english
    assert "Spring (March–May)" in english
    assert figure(english, "repeat_visitors") == "2"
    # The reader's own language stays as it was: the switch is for this page only.
    assert '<html lang="ja">' in text(city.get("/operator/region"))

    # Without ?lang=, the reader's language.
    city.get("/lang/en")
    assert '<html lang="en">' in text(city.get("/operator/region/summary"))
    assert '<html lang="ja">' in text(city.get("/operator/region/summary?lang=ja"))
    assert '<html lang="en">' in text(city.get("/operator/region/summary?lang=xx"))


def test_the_monthly_figures_as_csv(city):
    response = city.get("/operator/region.csv")
    assert response.status_code == 200
    assert (
        "engawa-region-202011-2026-04-01-2027-03-31.csv" in response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(text(response).lstrip("\ufeff"))))
    assert rows[0] == [
        "month",
        "visitors",
        "guest_nights",
        "off_season_guest_nights",
        "programme_participants",
    ]
    by_month = {row[0]: row[1:] for row in rows[1:]}
    assert len(by_month) == 12
    assert by_month["2026-08"] == ["1", "3", "0", "6"]
    assert by_month["2026-11"] == ["1", "6", "6", "0"]
    assert sum(int(row[1]) for row in by_month.values()) == 26


def test_an_organisation_without_a_municipality_code_gets_the_explanation(app, world, make_user):
    inns = signed_in(app, make_user(Role.OPERATOR, operator=world["inns"]))
    response = inns.get("/operator/region")
    assert response.status_code == 200
    html = text(response)
    assert 'data-testid="not-a-region"' in html
    assert "municipality code" in html or "全国地方公共団体コード" in html
    assert 'data-figure="visitors"' not in html
    assert inns.get("/operator/region/summary").status_code == 404
    assert inns.get("/operator/region.csv").status_code == 404


def test_only_operators_read_it(app, world, make_user):
    employee = signed_in(app, world["people"]["hanako"])
    assert employee.get("/operator/region").status_code == 403
    admin = signed_in(app, make_user(Role.COMPANY_ADMIN))
    assert admin.get("/operator/region/summary").status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/operator/region").status_code in (302, 401)
