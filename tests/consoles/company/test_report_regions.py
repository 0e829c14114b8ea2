"""The outcome report's regional figures (issue 20): its people's programme participation
and the local spend of its stays' coupons, for the report's period and scope, on the
page, in the CSV file, the printable summary and the API.

The world of tests/consoles/company/test_report.py (Acme; mori manages hanako and jiro;
Globex's stranger), and in 長野市:

    Programme session A, 2 Aug 2026: hanako 2 attended, jiro 1 did not come, saburo 3
    unmarked, mori left, Globex's stranger 4 attended. Session B, 20 Mar 2026 (before the
    fiscal year): hanako 1. Session C, 11 Nov 2026, cancelled: jiro's sign-up cancelled.
    Coupons of hanako's stay #1: 2 × ¥1,000 at a café and 1 at an onsen (Nov 2026).
    Saburo's #3: ¥500 at a restaurant at 23:00 on 31 Mar 2027, another at 00:30 on 1 Apr
    2027 (the next fiscal year). The stranger's: ¥1,000 at the café.

Acme's fiscal year: sign-ups 3, participants 6, people 3, attended 2 of 3 marked;
local spend ¥3,500 (café 2 / ¥2,000, restaurant 1 / ¥500, onsen 1 / ¥1,000).
Mori's: sign-ups 2, participants 3, attended 2 of 3; local spend ¥3,000.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from accounts.models import OperatorKind, Role
from booking.models import Booking
from consoles.company import report as outcome
from core.extensions import db as _db
from regions.models import CouponFund, SessionStatus, SignupStatus
from tests.conftest import bearer
from tests.consoles.company.test_report import FY, build_world, english, read_csv
from tests.consoles.test_region_report import (
    NAGANO,
    add_coupons,
    add_programme,
    add_session,
    add_shop,
    jst,
    redeem,
    sign_up,
)


def stay_of(user, check_in: date) -> Booking:
    return _db.session.scalar(
        select(Booking).where(Booking.user_id == user.id, Booking.check_in == check_in)
    )


@pytest.fixture
def world(db, make_company, make_user, make_facility, make_unit, make_operator):
    world = build_world(make_company, make_user, make_facility, make_unit)
    city = make_operator(kind=OperatorKind.MUNICIPALITY, municipality_code=NAGANO)
    programme = add_programme(city, NAGANO)
    a = add_session(programme, jst(2026, 8, 2, 10))
    b = add_session(programme, jst(2026, 3, 20, 10))
    c = add_session(programme, jst(2026, 11, 11, 10), status=SessionStatus.CANCELLED)
    sign_up(a, world["hanako"], 2, attended=True)
    sign_up(a, world["jiro"], 1, attended=False)
    sign_up(a, world["saburo"], 3)
    sign_up(a, world["mori"], 1, status=SignupStatus.LEFT)
    sign_up(a, world["stranger"], 4, attended=True)
    sign_up(b, world["hanako"], 1, attended=True)
    sign_up(c, world["jiro"], 2, status=SignupStatus.CANCELLED)

    fund = CouponFund(
        operator_id=city.id, name="長野市", municipality_code=NAGANO, yen_per_guest_night=1000,
        starts_on=date(2026, 1, 1), ends_on=date(2027, 12, 31), budget=1_000_000,
    )  # fmt: skip
    _db.session.add(fund)
    _db.session.commit()
    staff = make_user(Role.SHOP)
    cafe = add_shop("門前カフェ", "cafe", NAGANO)
    onsen = add_shop("湯の宿", "onsen", NAGANO)
    soba = add_shop("そば処", "restaurant", NAGANO)
    hanako_s = add_coupons(fund, stay_of(world["hanako"], date(2026, 11, 10)), 3, 1000,
                           jst(2026, 11, 1, 9))  # fmt: skip
    redeem(hanako_s[0], cafe, staff, jst(2026, 11, 11, 10))
    redeem(hanako_s[1], cafe, staff, jst(2026, 11, 11, 16))
    redeem(hanako_s[2], onsen, staff, jst(2026, 11, 12, 18))
    saburo_s = add_coupons(fund, stay_of(world["saburo"], date(2027, 3, 30)), 2, 500,
                           jst(2027, 3, 1, 9))  # fmt: skip
    redeem(saburo_s[0], soba, staff, jst(2027, 3, 31, 23))
    redeem(saburo_s[1], soba, staff, jst(2027, 4, 1, 0, 30))
    (strangers,) = add_coupons(fund, stay_of(world["stranger"], date(2026, 9, 1)), 1, 1000,
                               jst(2026, 8, 20, 9))  # fmt: skip
    redeem(strangers, cafe, staff, jst(2026, 9, 2, 12))
    return world


def test_the_company_s_programmes_and_local_spend(world):
    report = outcome.outcome_report(outcome.Scope(world["acme"].id), FY)

    p = report.programmes
    assert (p.signups, p.participants, p.people, p.marked, p.attended) == (3, 6, 3, 3, 2)
    assert p.attendance_rate == 0.6667
    assert [(r.category, r.count, r.yen) for r in report.local_spend.by_category] == [
        ("cafe", 2, 2_000),
        ("restaurant", 1, 500),
        ("onsen", 1, 1_000),
    ]
    assert (report.local_spend.count, report.local_spend.yen) == (4, 3_500)
    json = report.as_json()
    assert (json["programme_participants"], json["local_spend"]) == (6, 3_500)
    # The stays' own figures did not move.
    assert (json["stays"], json["nights"], json["company_cost"]) == (5, 12, 134_500)


def test_a_manager_s_report_and_other_periods(world):
    mine = outcome.outcome_report(outcome.scope_of(world["mori"]), FY)
    p = mine.programmes
    assert (p.signups, p.participants, p.people, p.marked, p.attended) == (2, 3, 2, 3, 2)
    assert mine.local_spend.yen == 3_000  # hanako's; not saburo's
    assert [r.category for r in mine.local_spend.by_category] == ["cafe", "onsen"]

    acme = outcome.Scope(world["acme"].id)
    next_year = outcome.outcome_report(acme, outcome.Period(date(2027, 4, 1), date(2028, 4, 1)))
    assert (next_year.local_spend.yen, next_year.programmes.participants) == (500, 0)
    spring = outcome.outcome_report(acme, outcome.Period(date(2026, 3, 1), date(2026, 4, 1)))
    assert (spring.programmes.participants, spring.programmes.attendance_rate) == (1, 1.0)
    assert spring.local_spend.by_category == []

    rival = outcome.outcome_report(outcome.Scope(world["globex"].id), FY)
    assert (rival.programmes.participants, rival.local_spend.yen) == (4, 1_000)


def test_the_page_the_csv_and_the_summary(app, world):
    browser = english(app, world["admin"])
    html = browser.get("/company/report").get_data(as_text=True)
    assert re.search(r'data-figure="programme_participants">6 ', html)
    assert re.search(r'data-figure="local_spend">¥3,500 ', html)
    assert re.search(r'<tr data-key="cafe"><th scope="row">Cafés</th><td class="num">2</td>'
                     r'<td class="num">¥2,000</td>', html)  # fmt: skip
    assert "門前カフェ" not in html  # shops by category, not by name
    assert "style=" not in html

    rows = read_csv(browser.get("/company/report.csv"))
    figures = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert figures[("programmes", "", "participants")] == "6"
    assert figures[("programmes", "", "attendance_rate")] == "0.6667"
    assert figures[("local_spend", "", "yen")] == "3500"
    assert figures[("local_spend", "onsen", "yen")] == "1000"

    printed = browser.get("/company/report/print").get_data(as_text=True)
    assert re.search(r'data-figure="local_spend">.*?¥3,500', printed, re.S)
    assert re.search(r'data-figure="programme_participants">.*?>6<', printed, re.S)
    assert printed.count('<svg class="report-chart') == 2


def test_the_api(client, db, world):
    body = client.get("/api/v1/company/report", headers=bearer(db, world["admin"])).get_json()
    assert (body["programme_participants"], body["local_spend"]) == (6, 3_500)
    rival = client.get("/api/v1/company/report", headers=bearer(db, world["rival"])).get_json()
    assert (rival["programme_participants"], rival["local_spend"]) == (4, 1_000)
