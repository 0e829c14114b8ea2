"""The outcome report (/company/report, its CSV and its printable summary) against a
hand-computed fixture.

Acme (10 seats, fiscal year from April; today is 1 Dec 2026, so the default period is
the nights 1 Apr 2026 – 31 Mar 2027). Its people, active unless said:

    admin   company admin   no department  no group   (default policy: no cap)
    hanako  開発部          正社員 (cap ¥100,000)      reports to mori
    jiro    開発部          契約社員 (cap ¥50,000)     reports to mori
    saburo  営業部          正社員
    mori    営業部          正社員   the manager of hanako and jiro
    shiro   営業部          正社員   no stays
    goro    開発部          inactive, no stays (not a member)

Facilities: Karuizawa (Nagano: 中部, off-season months Jan, Feb, Nov) and Niseko
(Hokkaido, no pricing policy: no off-season). The stays (nights in the period):

    #1 hanako Karuizawa leisure  10–13 Nov 2026   checked out  3 (off-season)
       ¥30,000: company ¥24,000, hanako paid ¥6,000; rated 5 "最高の環境でした"
    #2 jiro   Karuizawa business 1–5 Aug 2026     checked out  4
       company ¥48,000 (spend ¥42,000 and a change ¥6,000); rated 3, no comment
    #3 saburo Niseko    business 30 Mar–2 Apr 2027 confirmed   2 of 3
       company ¥36,000: ¥24,000 in the period (2 of 3 nights)
    #4 hanako Niseko    leisure  29 Mar–2 Apr 2026 checked out 1 of 4 (1 Apr)
       company ¥30,000 → ¥7,500 in the period; hanako paid ¥10,000 → ¥2,500;
       rated 4 "Quiet, and the Wi-Fi was fast" (the latest rating)
    #5 saburo Karuizawa leisure  10–12 Jan 2027   no-show      2 (off-season)
       company ¥20,000
    #6 jiro   Karuizawa leisure  20–22 Dec 2026   cancelled: ¥22,000 spent,
       ¥11,000 refunded: a kept fee of ¥11,000, company cost only
    #7 mori   pending approval; #8 hanako rejected: nothing
    Globex's stay and rating at Karuizawa in September must not count.

Figures: stays 5, nights 12 (leisure 3 stays / 6 nights, business 2 / 6), participants
3 of 10 seats (0.3), off-season 5 of 12 nights (0.4167), average length 16 / 5 = 3.2,
company cost 24,000 + 48,000 + 24,000 + 7,500 + 20,000 + 11,000 = 134,500 (fees
11,000), employees' cost 6,000 + 2,500 = 8,500, per participant 44,833 and 2,833, per
night 11,208 and 708; subsidy budget 4 × 100,000 + 50,000 = 450,000 (admin uncapped),
used 24,000 (hanako #1) + 59,000 (jiro #2, #6) + 56,000 (saburo #3, #5) = 139,000;
ratings 5, 3, 4: 4.0.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from accounts.models import Role
from billing import ledger
from billing.models import EntryKind, PaymentStatus, StayPayment
from booking.models import Booking, BookingStatus, StayRating
from consoles.company import report as outcome
from core.extensions import db as _db
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose
from pricing.models import PricingPolicy
from tests.conftest import NOW, signed_in

FY = outcome.Period(date(2026, 4, 1), date(2027, 4, 1))


def add_stay(
    user, unit, check_in, check_out, *, purpose=Purpose.LEISURE,
    status=BookingStatus.CHECKED_OUT, total=0, company=None, employee=0,
    change=0, refund=0, rating=None, comment="", rated_at=NOW,
) -> Booking:  # fmt: skip
    """A stay with its ledger entries (the company's part spent, a change, a refund), the
    employee's card payment and a rating, as the booking services leave them."""
    company = total - employee if company is None else company
    booking = Booking(
        user_id=user.id,
        company_id=user.company_id,
        unit_id=unit.id,
        check_in=check_in,
        check_out=check_out,
        guests=1,
        status=status,
        total_price=total,
        employee_part=employee,
        purpose=purpose,
    )
    _db.session.add(booking)
    _db.session.flush()
    account = ledger.account_of(user.company_id, lock=True)
    refs = {"booking_id": booking.id, "user_id": user.id}
    if company - change:
        ledger.append(account, EntryKind.SPEND, -(company - change), NOW, **refs)
    if change:
        ledger.append(account, EntryKind.CHANGE, -change, NOW, **refs)
    if refund:
        ledger.append(account, EntryKind.REFUND, refund, NOW, **refs)
    if employee:
        _db.session.add(
            StayPayment(
                booking_id=booking.id,
                company_id=user.company_id,
                user_id=user.id,
                amount=employee,
                status=PaymentStatus.PAID,
                paid_at=NOW,
            )
        )
    if rating is not None:
        _db.session.add(
            StayRating(
                booking_id=booking.id,
                facility_id=unit.facility_id,
                rating=rating,
                comment=comment,
                created_at=rated_at,
                updated_at=rated_at,
            )
        )
    _db.session.commit()
    return booking


def build_world(make_company, make_user, make_facility, make_unit) -> dict:
    """Acme and Globex, their people, two facilities and the stays above."""
    acme, globex = make_company(name="Acme", seats=10), make_company(name="Globex", seats=5)
    _db.session.add_all(
        [
            GroupPolicy(company_id=acme.id, employee_group=DEFAULT_GROUP),
            GroupPolicy(company_id=acme.id, employee_group="正社員", annual_cap=100_000),
            GroupPolicy(company_id=acme.id, employee_group="契約社員", annual_cap=50_000),
        ]
    )
    _db.session.commit()

    def person(name, department=None, group=None, **kw):
        return make_user(
            Role.EMPLOYEE, company=acme, name=name, email=f"{name}@acme.example",
            department=department, employee_group=group, **kw,
        )  # fmt: skip

    mori = person("mori", "営業部", "正社員")
    people = {
        "admin": make_user(Role.COMPANY_ADMIN, company=acme, email="admin@acme.example"),
        "mori": mori,
        "hanako": person("hanako", "開発部", "正社員", manager_id=mori.id),
        "jiro": person("jiro", "開発部", "契約社員", manager_id=mori.id),
        "saburo": person("saburo", "営業部", "正社員"),
        "shiro": person("shiro", "営業部", "正社員"),
        "goro": person("goro", "開発部", "正社員", active=False),
    }
    karuizawa = make_unit(
        facility=make_facility(name_ja="軽井沢の森", name_en="Karuizawa Woods", prefecture=20)
    )
    niseko = make_unit(
        facility=make_facility(name_ja="ニセコの宿", name_en="Niseko Lodge", prefecture=1)
    )
    _db.session.add(PricingPolicy(facility_id=karuizawa.facility_id, off_season_months="1,2,11"))
    _db.session.commit()

    hanako, jiro, saburo = people["hanako"], people["jiro"], people["saburo"]
    business, leisure = Purpose.BUSINESS, Purpose.LEISURE
    add_stay(
        hanako,
        karuizawa,
        date(2026, 11, 10),
        date(2026, 11, 13),
        total=30_000,
        employee=6_000,
        rating=5,
        comment="最高の環境でした",
        rated_at=NOW - timedelta(days=5),
    )
    add_stay(
        jiro,
        karuizawa,
        date(2026, 8, 1),
        date(2026, 8, 5),
        purpose=business,
        total=48_000,
        change=6_000,
        rating=3,
        rated_at=NOW - timedelta(days=90),
    )
    add_stay(
        saburo,
        niseko,
        date(2027, 3, 30),
        date(2027, 4, 2),
        purpose=business,
        status=BookingStatus.CONFIRMED,
        total=36_000,
    )
    add_stay(
        hanako,
        niseko,
        date(2026, 3, 29),
        date(2026, 4, 2),
        total=40_000,
        employee=10_000,
        rating=4,
        comment="Quiet, and the Wi-Fi was fast",
        rated_at=NOW - timedelta(days=1),
    )
    add_stay(
        saburo,
        karuizawa,
        date(2027, 1, 10),
        date(2027, 1, 12),
        purpose=leisure,
        status=BookingStatus.NO_SHOW,
        total=20_000,
    )
    add_stay(
        jiro,
        karuizawa,
        date(2026, 12, 20),
        date(2026, 12, 22),
        status=BookingStatus.CANCELLED,
        total=22_000,
        refund=11_000,
    )
    add_stay(
        mori,
        karuizawa,
        date(2026, 6, 1),
        date(2026, 6, 3),
        purpose=business,
        status=BookingStatus.PENDING_APPROVAL,
        total=20_000,
        company=0,
    )
    add_stay(
        hanako,
        karuizawa,
        date(2026, 7, 1),
        date(2026, 7, 3),
        status=BookingStatus.REJECTED,
        total=20_000,
        company=0,
    )
    stranger = make_user(Role.EMPLOYEE, company=globex, department="開発部")
    add_stay(stranger, karuizawa, date(2026, 9, 1), date(2026, 9, 5), total=40_000,
             employee=5_000, rating=1, comment="Globex's own comment")  # fmt: skip
    return {
        "acme": acme,
        "globex": globex,
        "rival": make_user(Role.COMPANY_ADMIN, company=globex),
        "stranger": stranger,
        "karuizawa": karuizawa,
        "niseko": niseko,
        **people,
    }


@pytest.fixture
def world(db, make_company, make_user, make_facility, make_unit):
    return build_world(make_company, make_user, make_facility, make_unit)


def english(app, user):
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def read_csv(response) -> list[list[str]]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


# --- the figures ----------------------------------------------------------------------


def test_the_company_report_adds_up_by_hand(world):
    report = outcome.outcome_report(outcome.Scope(world["acme"].id), FY)
    assert report.as_json() == {
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
    assert (report.leisure_stays, report.business_stays) == (3, 2)
    assert report.off_season_nights == 5
    assert report.average_stay_nights == 3.2
    assert report.cancellation_fees == 11_000
    assert (report.company_cost_per_night, report.employee_cost_per_night) == (11_208, 708)
    assert report.employee_cost_per_participant == 2_833
    assert report.people == 6  # admin, mori, hanako, jiro, saburo, shiro; not goro


def test_participation_by_department_and_group(world):
    report = outcome.outcome_report(outcome.Scope(world["acme"].id), FY)
    assert [(r.key, r.members, r.participants, r.rate) for r in report.by_department] == [
        ("営業部", 3, 1, 0.3333),
        ("開発部", 2, 2, 1.0),
        ("", 1, 0, 0.0),
    ]
    assert [(r.key, r.members, r.participants, r.rate) for r in report.by_group] == [
        ("正社員", 4, 2, 0.5),
        ("契約社員", 1, 1, 1.0),
        ("", 1, 0, 0.0),
    ]


def test_regions_months_facilities_ratings_and_subsidy(world):
    report = outcome.outcome_report(outcome.Scope(world["acme"].id), FY)
    assert [(r.slug, r.stays, r.nights) for r in report.by_region] == [
        ("hokkaido", 2, 3),
        ("chubu", 3, 9),
    ]
    months = {r.key: (r.leisure_nights, r.business_nights, r.stays) for r in report.by_month}
    assert list(months) == [f"2026-{m:02d}" for m in range(4, 13)] + [
        f"2027-{m:02d}" for m in range(1, 4)
    ]
    assert {key: figures for key, figures in months.items() if figures != (0, 0, 0)} == {
        "2026-04": (1, 0, 1),
        "2026-08": (0, 4, 1),
        "2026-11": (3, 0, 1),
        "2027-01": (2, 0, 1),
        "2027-03": (0, 2, 1),
    }
    assert [(f.name_en, f.stays, f.nights) for f in report.top_facilities] == [
        ("Karuizawa Woods", 3, 9),
        ("Niseko Lodge", 2, 3),
    ]
    assert (report.ratings, report.average_rating) == (3, 4.0)
    assert [(c.rating, c.comment, c.facility_en, c.month) for c in report.comments] == [
        (4, "Quiet, and the Wi-Fi was fast", "Niseko Lodge", date(2026, 3, 1)),
        (5, "最高の環境でした", "Karuizawa Woods", date(2026, 11, 1)),
    ]
    subsidy = report.subsidy
    assert (subsidy.budget, subsidy.used, subsidy.share) == (450_000, 139_000, 0.3089)
    assert (subsidy.capped_people, subsidy.uncapped_people, subsidy.fiscal_years) == (5, 1, 1)


def test_a_stay_over_the_edge_splits_its_cost_so_periods_add_up(world):
    acme = outcome.Scope(world["acme"].id)
    # 宿 #3 (30 Mar – 2 Apr 2027, ¥36,000): 2 nights this year, 1 the next.
    next_year = outcome.outcome_report(acme, outcome.Period(date(2027, 4, 1), date(2028, 4, 1)))
    assert (next_year.stays, next_year.nights, next_year.company_cost) == (1, 1, 12_000)
    assert next_year.subsidy.used == 0  # the cap counts a stay in its check-in's year
    march = outcome.outcome_report(acme, outcome.Period(date(2027, 3, 1), date(2027, 5, 1)))
    assert (march.stays, march.nights, march.company_cost) == (1, 3, 36_000)
    # Two fiscal years touched: the yearly caps count twice.
    assert march.subsidy.budget == 900_000
    # Uneven thirds still add up: 10,000 over 3 nights splits 3,333 + 3,333 + 3,334.
    parts = [outcome._share(10_000, n, n + 1, 3) for n in range(3)]
    assert parts == [3_333, 3_333, 3_334] and sum(parts) == 10_000


def test_nobody_and_nothing(db, make_company, make_user):
    lonely = make_company(subscribed=False)
    make_user(Role.COMPANY_ADMIN, company=lonely)
    report = outcome.outcome_report(outcome.Scope(lonely.id), FY)
    assert report.as_json() | {"from": None, "to": None} == {
        "from": None,
        "to": None,
        "seats": 0,
        "participants": 0,
        "participation_rate": 0.0,
        "stays": 0,
        "nights": 0,
        "leisure_nights": 0,
        "business_nights": 0,
        "off_season_share": 0.0,
        "company_cost": 0,
        "employee_cost": 0,
        "cost_per_participant": 0,
        "average_rating": None,
        "programme_participants": 0,
        "local_spend": 0,
    }
    assert report.subsidy.budget is None and report.subsidy.share is None
    assert report.average_stay_nights == 0.0


def test_a_managers_report_covers_their_reports_only(world):
    scope = outcome.scope_of(world["mori"])
    assert scope == outcome.Scope(world["acme"].id, world["mori"].id)
    report = outcome.outcome_report(scope, FY)
    # hanako #1 and #4, jiro #2; jiro's cancelled #6 as a fee. Not saburo's, not mori's own.
    assert (report.seats, report.people, report.participants) == (None, 2, 2)
    assert report.as_json()["seats"] == 2 and report.participation_rate == 1.0
    assert (report.stays, report.nights, report.leisure_nights, report.business_nights) == (
        3,
        8,
        4,
        4,
    )
    assert report.company_cost == 24_000 + 48_000 + 7_500 + 11_000
    assert report.employee_cost == 8_500
    assert [r.key for r in report.by_department] == ["開発部"]
    assert report.subsidy.budget == 150_000 and report.subsidy.used == 24_000 + 59_000


def test_who_may_read_a_report(world):
    assert outcome.scope_of(world["admin"]) == outcome.Scope(world["acme"].id)
    for name in ("hanako", "shiro", "stranger"):
        assert outcome.scope_of(world[name]) is None


# --- the pages ---------------------------------------------------------------------------


def test_the_page_shows_this_fiscal_year_with_charts_and_tables(app, world):
    page = english(app, world["admin"]).get("/company/report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="2026-04-01"' in html and 'value="2027-03-31"' in html
    assert "Acme" in html and "Globex" not in html
    assert "Globex&#39;s own comment" not in html and "Globex's own comment" not in html
    # Key figures
    assert re.search(r'data-figure="participation_rate">.*?30\.0%.*?3 of 10 seats', html, re.S)
    assert re.search(r'data-figure="off_season_share">.*?41\.7%', html, re.S)
    assert re.search(r'data-figure="company_cost">.*?¥134,500', html, re.S)
    assert re.search(r'data-figure="average_rating">.*?4\.00', html, re.S)
    # The charts: inline SVG with a title and a description, the figures in tables too.
    assert '<svg class="report-chart month-chart"' in html
    assert '<title id="month-chart-title">Nights by month and stay type</title>' in html
    assert (
        '<desc id="region-chart-desc">12 nights in 2 regions; the most in Chubu (9 nights).' in html
    )
    assert '<rect class="bar-business"' in html and 'fill="#5f8f6b"' in html
    assert (
        '<tr data-month="2026-08"><th scope="row">August 2026</th>'
        '<td class="num">0</td><td class="num">4</td>' in html
    )
    assert (
        '<tr data-key="chubu"><th scope="row">Chubu</th>'
        '<td class="num">3</td><td class="num">9</td>' in html
    )
    # Comments without who wrote them
    assert "Quiet, and the Wi-Fi was fast" in html and "hanako" not in html
    assert "¥450,000" in html and "¥139,000" in html
    # CSP: no inline style or script
    assert "style=" not in html and "<script>" not in html
    assert 'href="/company/report/print?from=2026-04-01&amp;to=2027-03-31"' in html


def test_the_page_in_japanese(app, world):
    browser = signed_in(app, world["admin"])
    browser.get("/lang/ja")
    html = browser.get("/company/report").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "中部" in html and "軽井沢の森" in html and "4月" in html


def test_a_chosen_period(app, world):
    html = (
        english(app, world["admin"])
        .get("/company/report", query_string={"from": "2027-03-01", "to": "2027-04-30"})
        .get_data(as_text=True)
    )
    assert re.search(r'data-figure="stays">.*?>1<', html, re.S)
    assert re.search(r'data-figure="nights">.*?>3<', html, re.S)
    assert re.search(r'data-figure="company_cost">.*?¥36,000', html, re.S)


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "message"),
    [
        ("2026-13-01", "2027-03-31", "Enter the first and the last night as dates."),
        ("2026-04-01", "", "Enter the first and the last night as dates."),
        ("2027-04-01", "2027-03-31", "The last night cannot be before the first night."),
        ("2020-01-01", "2026-12-31", "A period can be at most 1099 nights."),
        ("9999-01-01", "9999-12-31", "Choose nights within 10 years of today."),
    ],
)
def test_a_bad_period_is_explained(app, world, raw_from, raw_to, message):
    browser = english(app, world["admin"])
    for url in ("/company/report", "/company/report.csv", "/company/report/print"):
        response = browser.get(url, query_string={"from": raw_from, "to": raw_to})
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        html = response.get_data(as_text=True)
        assert message in html
        assert f'value="{raw_from}"' in html and 'aria-invalid="true"' in html


def test_the_csv_file(app, world):
    response = english(app, world["admin"]).get("/company/report.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="engawa-report-2026-04-01-2027-03-31.csv"'
    )
    rows = read_csv(response)
    assert rows[0] == ["section", "key", "label", "measure", "value"]
    figures = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert figures[("period", "", "from")] == "2026-04-01"
    assert figures[("period", "", "to")] == "2027-03-31"
    expected = {
        "seats": "10", "participants": "3", "participation_rate": "0.3", "stays": "5",
        "nights": "12", "leisure_nights": "6", "business_nights": "6",
        "off_season_share": "0.4167", "average_stay_nights": "3.2",
        "company_cost": "134500", "cancellation_fees": "11000", "employee_cost": "8500",
        "company_cost_per_participant": "44833", "company_cost_per_night": "11208",
        "employee_cost_per_participant": "2833", "employee_cost_per_night": "708",
        "ratings": "3", "average_rating": "4.0",
    }  # fmt: skip
    for measure, value in expected.items():
        assert figures[("summary", "", measure)] == value, measure
    assert figures[("subsidy", "", "budget")] == "450000"
    assert figures[("subsidy", "", "used")] == "139000"
    assert figures[("department", "営業部", "participation_rate")] == "0.3333"
    assert ["department", "", "No department", "members", "1"] in rows
    assert ["group", "契約社員", "契約社員", "participants", "1"] in rows
    assert ["region", "chubu", "Chubu", "nights", "9"] in rows
    assert ["month", "2026-08", "August 2026", "business_nights", "4"] in rows
    facility_id = str(world["karuizawa"].facility_id)
    assert ["facility", facility_id, "Karuizawa Woods", "nights", "9"] in rows
    assert ["comment", "1", "Niseko Lodge · March 2026", "comment",
            "Quiet, and the Wi-Fi was fast"] in rows  # fmt: skip
    assert ["comment", "1", "Niseko Lodge · March 2026", "rating", "4"] in rows
    assert not any("Globex" in cell for row in rows for cell in row)


def test_the_printable_summary(app, world):
    response = english(app, world["admin"]).get(
        "/company/report/print", query_string={"from": "2026-04-01", "to": "2027-03-31"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="report-print"' in html
    assert "Workation outcome report" in html and "Acme" in html
    assert html.count('<svg class="report-chart') == 2
    assert '<title id="print-month-chart-title">' in html
    assert '<desc id="print-region-chart-desc">' in html
    assert "css/report.css" in html and "style=" not in html
    assert "¥134,500" in html and "¥450,000" in html
    assert "Quiet, and the Wi-Fi was fast" in html


def test_a_manager_reads_their_reports_stays_at_the_same_address(app, world):
    browser = english(app, world["mori"])
    html = browser.get("/company/report").get_data(as_text=True)
    assert "The stays of the people who report to you" in html
    assert 'class="company-nav"' not in html  # the admin's pages are not theirs
    assert re.search(r'data-figure="participation_rate">.*?100\.0%.*?2 of 2 people', html, re.S)
    assert re.search(r'data-figure="company_cost">.*?¥90,500', html, re.S)
    assert "Niseko Lodge" in html  # hanako's stay #4
    rows = read_csv(browser.get("/company/report.csv"))
    figures = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert figures[("summary", "", "stays")] == "3"
    assert ("department", "営業部", "members") not in figures
    printed = browser.get("/company/report/print").get_data(as_text=True)
    assert "The stays of the people who report to mori" in printed


@pytest.mark.parametrize("name", ["hanako", "shiro", "stranger"])
def test_people_who_manage_nobody_are_refused(app, world, name):
    browser = signed_in(app, world[name])
    for url in ("/company/report", "/company/report.csv", "/company/report/print"):
        assert browser.get(url).status_code == 403


def test_an_operator_is_refused_and_a_visitor_sent_to_sign_in(app, world, make_user):
    operator = make_user(Role.OPERATOR, operator=world["karuizawa"].facility.operator)
    assert signed_in(app, operator).get("/company/report").status_code == 403
    response = app.test_client().get("/company/report")
    assert response.status_code == 302 and "/login" in response.location


def test_another_companys_admin_sees_only_their_own(app, world):
    browser = english(app, world["rival"])
    html = browser.get("/company/report").get_data(as_text=True)
    assert "Globex" in html and "Acme" not in html
    assert re.search(r'data-figure="stays">.*?>1<', html, re.S)
    assert re.search(r'data-figure="company_cost">.*?¥35,000', html, re.S)
    assert "Quiet, and the Wi-Fi was fast" not in html
    rows = read_csv(browser.get("/company/report.csv"))
    figures = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert (figures[("summary", "", "participants")], figures[("summary", "", "seats")]) == (
        "1",
        "5",
    )


def test_a_person_of_another_company_never_counts_for_a_manager(db, world):
    # Even if a row said so, Globex's person is not mori's report in Acme's report.
    world["stranger"].manager_id = world["mori"].id
    db.session.commit()
    report = outcome.outcome_report(outcome.scope_of(world["mori"]), FY)
    assert (report.people, report.participants, report.stays) == (2, 2, 3)
    assert report.company_cost == 90_500 and report.average_rating == 4.0


def test_control_characters_in_the_period_are_refused(app, world):
    browser = english(app, world["admin"])
    response = browser.get("/company/report", query_string={"from": "2026-04-01\x00"})
    assert response.status_code == 400
