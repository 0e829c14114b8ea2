"""The funders' coupon pages: a municipality's (/operator/coupons) and a company's
(/company/coupons). A fund is checked, confirmed on a page showing its budget and amount
per guest-night, then made; the lists reconcile (issued = redeemed + expired + open);
each month's statement comes as a page and as CSV; a municipality suspends and
reactivates its shops; only a municipality funds in the operator console; and every
foreign fund or shop id answers 404.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.models import Role
from regions import coupon_redeem, coupons
from regions.models import CouponFund, LocalShop
from tests.conftest import NOW, days, signed_in
from tests.regions.test_coupons import (
    KARUIZAWA,
    NAGANO,
    add_shop,
    add_stay,
    company_fund,
    issue,
    municipal_fund,
    municipality,
    token,
)

FUND = {
    "name": "冬の軽井沢応援クーポン",
    "yen_per_guest_night": "1000",
    "budget": "50500",
    "starts_on": days(0).isoformat(),
    "ends_on": days(90).isoformat(),
}


def fund_count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(CouponFund))


def figure(page: str, key: str) -> tuple[int, int]:
    found = re.search(rf'data-figure="{key}" data-count="(\d+)" data-yen="(\d+)"', page)
    return int(found[1]), int(found[2])


@pytest.fixture
def town(db, make_operator, make_user):
    org = municipality(make_operator)
    return org, make_user(Role.OPERATOR, operator=org)


# --- the municipality -------------------------------------------------------------------


def test_a_municipality_creates_a_fund_after_confirming_it(app, db, town):
    org, person = town
    browser = signed_in(app, person)
    assert 'data-testid="no-funds"' in browser.get("/operator/coupons").get_data(as_text=True)
    assert browser.get("/operator/coupons/new").status_code == 200

    confirm = browser.post("/operator/coupons/new", data={**FUND, "municipality_code": NAGANO})

    assert confirm.status_code == 200
    text = confirm.get_data(as_text=True)
    assert 'data-testid="confirm-amount">¥1,000<' in text
    assert 'data-testid="confirm-budget">¥50,500<' in text
    assert 'data-testid="confirm-guest-nights">50<' in text
    assert "北佐久郡軽井沢町" in text  # always its own municipality, whatever was posted
    assert fund_count(db) == 0

    back = browser.post("/operator/coupons/new", data={**FUND, "confirmed": "1", "edit": "1"})
    assert back.status_code == 200 and 'data-testid="fund-form"' in back.get_data(as_text=True)
    assert fund_count(db) == 0

    made = browser.post("/operator/coupons/new", data={**FUND, "confirmed": "1"})
    assert made.status_code == 303 and made.location == "/operator/coupons"
    fund = db.session.scalar(select(CouponFund))
    assert (fund.operator_id, fund.company_id, fund.municipality_code, fund.budget) == (
        org.id,
        None,
        KARUIZAWA,
        50_500,
    )
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "coupon_fund.create"))
    assert (entry.operator_id, entry.actor_id, entry.object_id) == (org.id, person.id, fund.id)
    # The same confirm pressed twice makes no second fund.
    assert browser.post("/operator/coupons/new", data={**FUND, "confirmed": "1"}).status_code == 400
    assert fund_count(db) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"yen_per_guest_night": "0"},
        {"yen_per_guest_night": "10.5"},
        {"yen_per_guest_night": "-1"},
        {"yen_per_guest_night": "abc"},
        {"budget": "500"},
        {"budget": ""},
        {"starts_on": days(10).isoformat(), "ends_on": days(5).isoformat()},
        {"ends_on": days(-1).isoformat(), "starts_on": days(-9).isoformat()},
        {"starts_on": "2026-13-01"},
        {"name": ""},
    ],
)
def test_bad_funds_are_refused_and_nothing_is_made(app, db, town, changes):
    browser = signed_in(app, town[1])
    for confirmed in ("", "1"):
        response = browser.post(
            "/operator/coupons/new", data={**FUND, **changes, "confirmed": confirmed}
        )
        assert response.status_code == 400, changes
        assert 'data-testid="form-error"' in response.get_data(as_text=True)
    assert fund_count(db) == 0


def test_an_operator_that_is_no_municipality_gets_the_explanation(app, db, make_user):
    browser = signed_in(app, make_user(Role.OPERATOR))
    index = browser.get("/operator/coupons")
    assert index.status_code == 200
    assert 'data-testid="not-municipality"' in index.get_data(as_text=True)
    assert browser.get("/operator/coupons/new").status_code == 403
    assert browser.post("/operator/coupons/new", data={**FUND, "confirmed": "1"}).status_code == 403
    assert browser.get("/operator/coupons/shops").status_code == 403
    assert fund_count(db) == 0


def test_the_funds_reconcile_and_the_statement_comes_as_csv(
    app, db, town, make_employee, make_user, unit
):
    org, person = town
    fund = municipal_fund(db, make_user, org, yen=1000, first=-5)
    made = issue(db, add_stay(db, make_employee(), unit, start=0, nights=2, guests=2))
    issue(db, add_stay(db, make_employee(), unit, start=-1, nights=1))  # ends tomorrow
    shop, shop_person = add_shop(db, name="縁側カフェ")
    for coupon in made[:3]:
        coupon_redeem.redeem(token(coupon), shop, shop_person.id, NOW)
    coupons.expire_due(NOW + timedelta(days=2))  # the short stay's coupon has ended
    db.session.commit()
    browser = signed_in(app, person)

    listed = browser.get("/operator/coupons").get_data(as_text=True)
    assert figure(listed, "issued") == (5, 5000)
    assert figure(listed, "redeemed") == (3, 3000)
    assert figure(listed, "expired") == (1, 1000)
    assert figure(listed, "open") == (1, 1000)

    page = browser.get(f"/operator/coupons/{fund.id}?month=2026-12").get_data(as_text=True)
    assert (
        f'data-shop-id="{shop.id}"' in page
        and 'data-testid="statement-total" data-yen="3000"' in page
    )
    empty = browser.get(f"/operator/coupons/{fund.id}?month=2027-01").get_data(as_text=True)
    assert 'data-testid="no-statement"' in empty
    response = browser.get(f"/operator/coupons/{fund.id}/statement.csv?month=2026-12")
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "private, no-store"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[1][2] == "縁側カフェ" and rows[1][-2:] == ["3", "3000"]
    assert rows[-1][-2:] == ["3", "3000"]


def test_a_municipality_suspends_and_reactivates_its_shops(app, db, town):
    browser = signed_in(app, town[1])
    shop, _person = add_shop(db)
    foreign, _other = add_shop(db, NAGANO)
    listed = browser.get("/operator/coupons/shops").get_data(as_text=True)
    assert f'data-shop-id="{shop.id}"' in listed and f'data-shop-id="{foreign.id}"' not in listed

    assert browser.post(f"/operator/coupons/shops/{shop.id}/suspend").status_code == 303
    db.session.rollback()
    assert db.session.get(LocalShop, shop.id).active is False
    assert browser.post(f"/operator/coupons/shops/{shop.id}/reactivate").status_code == 303
    db.session.rollback()
    assert db.session.get(LocalShop, shop.id).active is True
    actions = db.session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.object_type == "local_shop", AuditEntry.object_id == shop.id)
        .order_by(AuditEntry.id)
    ).all()
    assert actions == ["local_shop.approve", "local_shop.suspend", "local_shop.reactivate"]

    assert browser.post(f"/operator/coupons/shops/{foreign.id}/suspend").status_code == 404
    assert browser.post("/operator/coupons/shops/99999999999/suspend").status_code == 404
    db.session.rollback()
    assert db.session.get(LocalShop, foreign.id).active is True


def test_a_municipality_approves_the_shops_waiting_for_it(app, db, town, make_operator, make_user):
    org, person = town
    browser = signed_in(app, person)
    approved, _a = add_shop(db, name="Aoi Cafe")
    waiting, _w = add_shop(db, name="Zen Soba", approved=False)
    foreign, _f = add_shop(db, NAGANO, name="Nagano Soba", approved=False)

    listed = browser.get("/operator/coupons/shops").get_data(as_text=True)
    assert f'data-shop-id="{foreign.id}"' not in listed
    # Waiting first, though it sorts after the other by name; one Approve button, its own.
    assert listed.index(f'data-shop-id="{waiting.id}"') < listed.index(
        f'data-shop-id="{approved.id}"'
    )
    assert listed.count('data-testid="approve-shop"') == 1
    assert f"/operator/coupons/shops/{waiting.id}/approve" in listed

    # Another municipality's organisation does not find the shop.
    nagano = make_user(Role.OPERATOR, operator=municipality(make_operator, NAGANO))
    elsewhere = signed_in(app, nagano)
    assert elsewhere.post(f"/operator/coupons/shops/{waiting.id}/approve").status_code == 404
    assert browser.post(f"/operator/coupons/shops/{foreign.id}/approve").status_code == 404
    assert browser.post("/operator/coupons/shops/99999999999/approve").status_code == 404
    assert browser.get(f"/operator/coupons/shops/{waiting.id}/approve").status_code == 405
    plain = signed_in(app, make_user(Role.OPERATOR))
    assert plain.post(f"/operator/coupons/shops/{waiting.id}/approve").status_code == 403
    db.session.rollback()
    assert db.session.get(LocalShop, waiting.id).active is False

    assert browser.post(f"/operator/coupons/shops/{waiting.id}/approve").status_code == 303
    db.session.rollback()
    assert db.session.get(LocalShop, waiting.id).active is True
    entry = db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_type == "local_shop", AuditEntry.object_id == waiting.id
        )
    )
    assert (entry.action, entry.actor_id, entry.operator_id) == (
        "local_shop.approve",
        person.id,
        org.id,
    )
    assert entry.after_values == {"active": True}
    listed = browser.get("/operator/coupons/shops").get_data(as_text=True)
    assert 'data-testid="approve-shop"' not in listed
    assert db.session.get(LocalShop, foreign.id).active is False


def test_foreign_funds_answer_404_in_the_operator_console(app, db, town, make_operator, make_user):
    other_town = municipality(make_operator, NAGANO)
    theirs = municipal_fund(db, make_user, other_town)
    companys = company_fund(db, make_user(Role.COMPANY_ADMIN))
    mine = municipal_fund(db, make_user, town[0])
    browser = signed_in(app, town[1])
    assert browser.get(f"/operator/coupons/{mine.id}").status_code == 200
    for fund_id in (theirs.id, companys.id, 2**31):
        assert browser.get(f"/operator/coupons/{fund_id}").status_code == 404
        assert browser.get(f"/operator/coupons/{fund_id}/statement.csv").status_code == 404
    listed = browser.get("/operator/coupons").get_data(as_text=True)
    assert f'data-fund-id="{mine.id}"' in listed and f'data-fund-id="{theirs.id}"' not in listed


# --- the company ------------------------------------------------------------------------


def test_a_company_funds_its_employees_stays(app, db, make_user, make_facility, make_unit):
    make_unit(facility=make_facility())  # a listed facility in 軽井沢町
    admin = make_user(Role.COMPANY_ADMIN)
    browser = signed_in(app, admin)
    form = browser.get("/company/coupons/new").get_data(as_text=True)
    assert f'value="{KARUIZAWA}"' in form

    data = {**FUND, "municipality_code": KARUIZAWA}
    confirm = browser.post("/company/coupons/new", data=data)
    assert confirm.status_code == 200
    assert 'data-testid="confirm-guest-nights">50<' in confirm.get_data(as_text=True)
    assert (
        browser.post("/company/coupons/new", data={**data, "municipality_code": "123"}).status_code
        == 400
    )
    assert fund_count(db) == 0

    made = browser.post("/company/coupons/new", data={**data, "confirmed": "1"})
    assert made.status_code == 303 and made.location == "/company/coupons"
    fund = db.session.scalar(select(CouponFund))
    assert (fund.company_id, fund.operator_id, fund.municipality_code) == (
        admin.company_id,
        None,
        KARUIZAWA,
    )
    listed = browser.get("/company/coupons").get_data(as_text=True)
    assert f'data-fund-id="{fund.id}"' in listed and figure(listed, "issued") == (0, 0)
    page = browser.get(f"/company/coupons/{fund.id}")
    assert page.status_code == 200
    csv_body = browser.get(f"/company/coupons/{fund.id}/statement.csv").get_data(as_text=True)
    assert csv_body.startswith("\ufeff")


def test_company_funds_are_walled(app, db, make_user, make_employee, make_operator):
    admin = make_user(Role.COMPANY_ADMIN)
    other_admin = make_user(Role.COMPANY_ADMIN)
    mine = company_fund(db, admin)
    theirs = company_fund(db, other_admin)
    towns = municipal_fund(db, make_user, municipality(make_operator))
    browser = signed_in(app, admin)
    assert browser.get(f"/company/coupons/{mine.id}").status_code == 200
    for fund_id in (theirs.id, towns.id, 2**31):
        assert browser.get(f"/company/coupons/{fund_id}").status_code == 404
        assert browser.get(f"/company/coupons/{fund_id}/statement.csv").status_code == 404
    listed = browser.get("/company/coupons").get_data(as_text=True)
    assert f'data-fund-id="{theirs.id}"' not in listed
    employee = signed_in(app, make_employee(company=admin.company))
    assert employee.get("/company/coupons").status_code == 403
    assert employee.post("/company/coupons/new", data={**FUND, "confirmed": "1"}).status_code == 403
