"""The monthly stays export (for attendance and leave entry): one line per charged stay
with nights or working days in the month, its nights and working days split by month.

The stays: 花子 (E0002) on leisure from 28 Nov to 3 Dec 2026 (five nights: three in
November, two in December); 次郎 (E0001) on a business workation from 28 Nov to 2 Dec
(three nights in November, one in December) working on Mon 30 Nov, Tue 1 Dec and on
the check-out day, Wed 2 Dec.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from accounts.models import Role
from booking.models import Booking, BookingStatus, StayWorkDay
from hr.models import Purpose
from tests.conftest import signed_in

HEADER = [
    "employee_number",
    "name",
    "email",
    "department",
    "group",
    "check_in",
    "check_out",
    "nights_in_month",
    "purpose",
    "purpose_label",
    "working_days_in_month",
    "working_days",
    "facility",
    "prefecture",
    "status",
]


@pytest.fixture
def world(db, make_company, make_user, make_facility, make_unit):
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    unit = make_unit(
        facility=make_facility(name_ja="軽井沢の森", name_en="Karuizawa Woods", prefecture=20)
    )
    hanako = make_user(
        Role.EMPLOYEE, company=acme, name="山田 花子", email="hanako@acme.example",
        employee_number="E0002", department="=SUM(A1)", employee_group="正社員",
    )  # fmt: skip
    jiro = make_user(
        Role.EMPLOYEE, company=acme, name="鈴木 次郎", email="jiro@acme.example",
        employee_number="E0001", department="開発部", employee_group="契約社員",
    )  # fmt: skip
    stranger = make_user(Role.EMPLOYEE, company=globex)
    return {
        "acme": acme,
        "admin": make_user(Role.COMPANY_ADMIN, company=acme),
        "rival": make_user(Role.COMPANY_ADMIN, company=globex),
        "unit": unit,
        "hanako": hanako,
        "jiro": jiro,
        "stranger": stranger,
    }


def stay(db, user, unit, check_in, check_out, *, purpose=Purpose.LEISURE, work_days=(),
         status=BookingStatus.CONFIRMED) -> Booking:  # fmt: skip
    booking = Booking(
        user_id=user.id,
        company_id=user.company_id,
        unit_id=unit.id,
        check_in=check_in,
        check_out=check_out,
        guests=1,
        status=status,
        total_price=11_000 * (check_out - check_in).days,
        purpose=purpose,
        work_days=[StayWorkDay(day=day) for day in work_days],
    )
    db.session.add(booking)
    db.session.commit()
    return booking


@pytest.fixture
def stays(db, world):
    unit, hanako, jiro = world["unit"], world["hanako"], world["jiro"]
    stay(db, hanako, unit, date(2026, 11, 28), date(2026, 12, 3))
    stay(
        db, jiro, unit, date(2026, 11, 28), date(2026, 12, 2), purpose=Purpose.BUSINESS,
        work_days=[date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)],
    )  # fmt: skip
    # Not in the export: cancelled; another company's; another month's.
    stay(db, jiro, unit, date(2026, 12, 10), date(2026, 12, 12), status=BookingStatus.CANCELLED)
    stay(db, world["stranger"], unit, date(2026, 12, 5), date(2026, 12, 7))
    stay(db, hanako, unit, date(2027, 1, 5), date(2027, 1, 7))


def english(app, user):
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def read_csv(response) -> list[list[str]]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_page_offers_this_month(app, world):
    page = english(app, world["admin"]).get("/company/stays/export")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # FIXED_NOW is 2026-12-01 03:00 UTC: 1 December in Tokyo.
    assert 'type="month"' in html and 'value="2026-12"' in html
    assert 'action="/company/stays.csv"' in html
    for column in HEADER:
        assert f'<code translate="no">{column}</code>' in html


def test_a_month_split_across_its_boundary(app, stays, world):
    browser = english(app, world["admin"])
    november = browser.get("/company/stays.csv?month=2026-11")
    assert november.status_code == 200
    assert november.mimetype == "text/csv"
    assert november.headers["Content-Disposition"] == (
        'attachment; filename="engawa-stays-2026-11.csv"'
    )
    rows = read_csv(november)
    assert rows[0] == HEADER
    # Same check-in: by employee number, E0001 first.
    assert rows[1:] == [
        [
            "E0001", "鈴木 次郎", "jiro@acme.example", "開発部", "契約社員",
            "2026-11-28", "2026-12-02", "3", "business", "Business workation",
            "1", "2026-11-30", "Karuizawa Woods", "Nagano", "confirmed",
        ],
        [
            # A department that a spreadsheet would run as a formula is quoted.
            "E0002", "山田 花子", "hanako@acme.example", "'=SUM(A1)", "正社員",
            "2026-11-28", "2026-12-03", "3", "leisure", "Leisure stay",
            "0", "", "Karuizawa Woods", "Nagano", "confirmed",
        ],
    ]  # fmt: skip

    december = read_csv(browser.get("/company/stays.csv?month=2026-12"))
    assert [
        (r[0], r[7], r[8], r[10], r[11]) for r in december[1:]
    ] == [
        ("E0001", "1", "business", "2", "2026-12-01 2026-12-02"),
        ("E0002", "2", "leisure", "0", ""),
    ]  # fmt: skip
    january = read_csv(browser.get("/company/stays.csv?month=2027-01"))
    assert [(r[0], r[5], r[7]) for r in january[1:]] == [("E0002", "2027-01-05", "2")]


def test_without_a_month_this_month(app, stays, world):
    response = english(app, world["admin"]).get("/company/stays.csv")
    assert response.headers["Content-Disposition"].endswith('"engawa-stays-2026-12.csv"')
    assert len(read_csv(response)) == 3


def test_the_readers_language_names_purpose_facility_and_prefecture(app, stays, world):
    browser = signed_in(app, world["admin"])
    browser.get("/lang/ja")
    rows = read_csv(browser.get("/company/stays.csv?month=2026-12"))
    assert rows[0] == HEADER  # the column names are codes, in every language
    assert (rows[1][8], rows[1][12], rows[1][13]) == ("business", "軽井沢の森", "長野県")
    assert rows[1][9] != "" and rows[2][8] == "leisure"


def test_no_shows_are_listed_and_a_working_check_out_day_is_not_lost(app, db, world):
    unit, hanako, jiro = world["unit"], world["hanako"], world["jiro"]
    stay(db, hanako, unit, date(2026, 12, 14), date(2026, 12, 16), status=BookingStatus.NO_SHOW)
    stay(
        db, jiro, unit, date(2026, 11, 25), date(2026, 12, 1), purpose=Purpose.BUSINESS,
        work_days=[date(2026, 11, 26), date(2026, 12, 1)],
    )  # fmt: skip
    stay(db, hanako, unit, date(2026, 11, 20), date(2026, 12, 1))  # leisure, ends on the 1st
    rows = read_csv(english(app, world["admin"]).get("/company/stays.csv?month=2026-12"))
    assert [(r[0], r[5], r[7], r[10], r[11], r[14]) for r in rows[1:]] == [
        ("E0001", "2026-11-25", "0", "1", "2026-12-01", "confirmed"),
        ("E0002", "2026-12-14", "2", "0", "", "no_show"),
    ]


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "0000-01", "abc", "2026-1", "9999-12"])
def test_a_bad_month_is_explained_on_the_page(app, world, month):
    browser = english(app, world["admin"])
    for url in ("/company/stays.csv", "/company/stays/export"):
        response = browser.get(url, query_string={"month": month})
        assert response.status_code == 400
        assert response.mimetype == "text/html"
        html = response.get_data(as_text=True)
        assert "Enter the month as a year and month (2026-04)." in html
        assert f'value="{month}"' in html


@pytest.mark.parametrize("month", ["1900-01", "0001-01", "2999-12"])
def test_a_far_month_is_simply_empty(app, stays, world, month):
    response = english(app, world["admin"]).get(f"/company/stays.csv?month={month}")
    assert response.status_code == 200
    assert read_csv(response) == [HEADER]
    assert response.headers["Content-Disposition"].endswith(f'"engawa-stays-{month}.csv"')


def test_another_companys_admin_sees_only_their_stays(app, stays, world):
    rows = read_csv(signed_in(app, world["rival"]).get("/company/stays.csv?month=2026-12"))
    assert len(rows) == 2 and rows[1][2] == world["stranger"].email
    assert signed_in(app, world["hanako"]).get("/company/stays.csv").status_code == 403
