"""A local shop's pages (/shop): registering (all or nothing, duplicates refused, rate
limited), signing in to its home, the phone page a coupon's QR code opens (amount,
dates, area check, one button; light and narrow), the typed short code, its own
redemptions only (another shop's are not found), tampered tokens refused, and a shop's
person kept out of the other consoles.
"""

from __future__ import annotations

import csv
import http.client
import io
import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import OperatorOrg, Role, User
from booking.models import Booking
from regions import coupon_tokens
from regions.models import CouponRedemption, LocalShop, ShopMember
from tests.booking.test_race import JOIN_TIMEOUT, live_server, race
from tests.conftest import NOW, PASSWORD, post_sign_in, signed_in
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

FORM = {
    "name": "カフェ縁側",
    "category": "cafe",
    "postal_code": "389-0102",
    "address_line": "1-2 縁側ビル",
    "person_name": "山田 花子",
    "email": "hanako@cafe.example",
    "password": PASSWORD,
}


def counts(db) -> tuple[int, int, int]:
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(LocalShop)),
        db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.SHOP)),
        db.session.scalar(select(func.count()).select_from(ShopMember)),
    )


# --- registering ------------------------------------------------------------------------


def test_a_shop_registers_and_signs_in_to_its_home(app, db, client):
    assert client.get("/shop/register").status_code == 200

    response = client.post("/shop/register", data=FORM)

    assert response.status_code == 303 and response.location == "/login"
    shop = db.session.scalar(select(LocalShop))
    assert (shop.name, shop.category, shop.postal_code, shop.municipality_code) == (
        "カフェ縁側",
        "cafe",
        "3890102",
        KARUIZAWA,
    )
    assert shop.address == "長野県北佐久郡軽井沢町軽井沢1-2 縁側ビル"
    assert shop.active is False  # until the town approves it
    person = db.session.scalar(select(User).where(User.email == "hanako@cafe.example"))
    assert (person.role, person.company_id, person.operator_id) == (Role.SHOP, None, None)
    assert PASSWORD not in person.password_hash
    assert db.session.get(ShopMember, person.id).shop_id == shop.id

    signed = post_sign_in(client, "hanako@cafe.example")
    assert signed.status_code == 302 and signed.location == "/shop/"
    home = client.get("/shop/")
    text = home.get_data(as_text=True)
    assert home.status_code == 200 and "カフェ縁側" in text
    assert 'data-testid="shop-waiting"' in text and 'data-testid="shop-suspended"' not in text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"postal_code": "000-0000"}, "postal_code"),  # Japan Post lists no such code
        ({"postal_code": "abc"}, "postal_code"),
        ({"category": "casino"}, "category"),
        ({"name": "   "}, "name"),
        ({"address_line": ""}, "address_line"),
        ({"email": "not-an-address"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),  # common
    ],
)
def test_bad_registrations_change_nothing(app, db, client, changes, field):
    response = client.post("/shop/register", data={**FORM, **changes})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(rf'<(input|select)[^>]*aria-invalid="true"[^>]*id="{field}"', page), field
    assert counts(db) == (0, 0, 0)


def test_duplicates_are_refused_politely(app, db, client, make_employee):
    assert client.post("/shop/register", data=FORM).status_code == 303
    again = client.post("/shop/register", data={**FORM, "email": "other@cafe.example"})
    assert again.status_code == 400
    assert re.search(r'aria-invalid="true"[^>]*id="name"', again.get_data(as_text=True))
    employee = make_employee()
    taken = client.post(
        "/shop/register", data={**FORM, "name": "別の店", "email": employee.email.upper()}
    )
    assert taken.status_code == 400
    assert re.search(r'aria-invalid="true"[^>]*id="email"', taken.get_data(as_text=True))
    assert counts(db) == (1, 1, 1)


def test_registering_is_rate_limited_per_address(app, db, client):
    for _ in range(3):
        client.post("/shop/register", data={**FORM, "postal_code": "000-0000"})
    refused = client.post("/shop/register", data=FORM)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert counts(db) == (0, 0, 0)


# --- redeeming --------------------------------------------------------------------------


@pytest.fixture
def world(db, make_operator, make_user, make_employee, unit):
    """A town fund, a guest's 2-night stay from today with its two coupons, a shop of the
    town and its person signed in."""
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1000)
    stay = add_stay(db, make_employee(), unit, start=0, nights=2)
    made = issue(db, stay)
    shop, person = add_shop(db, name="縁側カフェ")
    return {"fund": fund, "coupons": made, "shop": shop, "person": person}


def test_the_redeem_page_shows_the_coupon_and_one_button(app, db, world):
    browser = signed_in(app, world["person"])
    coupon = world["coupons"][0]

    page = browser.get(f"/shop/redeem/{token(coupon)}")

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "private, no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    text = page.get_data(as_text=True)
    assert 'data-testid="amount">¥1,000<' in text
    assert 'data-testid="area-ok"' in text and "北佐久郡軽井沢町" in text
    assert 'data-testid="redeem-button"' in text and "¥1,000" in text
    assert 'name="viewport" content="width=device-width' in text
    # Light for a slow connection on a 390 px phone: no script of its own, no wide table.
    assert re.findall(r"<script[^>]*src=\"([^\"]+)\"", text) == ["/static/js/app.js"]
    assert "<table" not in text and len(text.encode()) < 20_000

    done = browser.post(f"/shop/redeem/{token(coupon)}", data={})
    assert done.status_code == 303
    receipt = browser.get(done.location)
    assert receipt.status_code == 200
    assert 'data-testid="receipt-amount">¥1,000<' in receipt.get_data(as_text=True)

    again = browser.post(f"/shop/redeem/{token(coupon)}", data={})
    assert again.status_code == 409
    assert 'data-code="used"' in again.get_data(as_text=True)
    shown = browser.get(f"/shop/redeem/{token(coupon)}").get_data(as_text=True)
    assert 'data-code="used"' in shown and 'data-testid="redeem-button"' not in shown
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 1


RACERS = 8


def test_racing_redeem_buttons_over_http_redeem_once(app, db, world):
    """Phones of two shops press the button for the same coupon at the same moment,
    through a real threaded server: one redemption, every other answer 409 "used"."""
    second_shop, second_person = add_shop(db)
    cookies = [
        signed_in(app, world["person"] if i % 2 else second_person).get_cookie("session").value
        for i in range(RACERS)
    ]
    path = f"/shop/redeem/{token(world['coupons'][0])}"
    db.session.remove()

    def press(i, barrier):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=JOIN_TIMEOUT)
        try:
            conn.connect()
            barrier.wait()
            conn.request(
                "POST",
                path,
                body="",
                headers={
                    "Cookie": f"session={cookies[i]}",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, re.search(r'data-code="(\w+)"', body)
        finally:
            conn.close()

    with live_server(app) as port:
        outcomes = race(RACERS, press)

    assert Counter(status for status, _code in outcomes) == {303: 1, 409: RACERS - 1}, outcomes
    assert {code[1] for status, code in outcomes if status == 409} == {"used"}
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 1


def test_a_tampered_token_is_refused(app, db, world):
    browser = signed_in(app, world["person"])
    good = token(world["coupons"][0])
    claim = coupon_tokens.verify(good)
    forged_payload = good.replace(f".{claim.user_id}.", f".{claim.user_id + 1}.", 1)
    for bad in (good[:-2] + "zz", forged_payload, "1.AAAA", "x" * 300):
        page = browser.get(f"/shop/redeem/{bad}")
        assert page.status_code == 404
        assert 'data-code="bad_token"' in page.get_data(as_text=True)
        assert browser.post(f"/shop/redeem/{bad}", data={}).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 0


def test_a_shop_of_another_town_sees_the_area_refused(app, db, world):
    elsewhere, person = add_shop(db, NAGANO)
    browser = signed_in(app, person)
    page = browser.get(f"/shop/redeem/{token(world['coupons'][0])}").get_data(as_text=True)
    assert 'data-testid="area-bad"' in page and 'data-code="out_of_area"' in page
    assert 'data-testid="redeem-button"' not in page
    refused = browser.post(f"/shop/redeem/{token(world['coupons'][0])}", data={})
    assert refused.status_code == 409


def test_a_typed_short_code_opens_the_coupon(app, db, world):
    browser = signed_in(app, world["person"])
    coupon = world["coupons"][1]
    assert browser.get("/shop/redeem").status_code == 200
    code = coupon_tokens.grouped(coupon_tokens.short_code_of(coupon.nonce)).lower()
    found = browser.post("/shop/redeem", data={"code": code})
    assert found.status_code == 303
    assert found.location.endswith(f"/shop/redeem/{token(coupon)}")
    missing = browser.post("/shop/redeem", data={"code": "ZZZZ-ZZZZ"})
    assert missing.status_code == 400 and 'data-testid="code-error"' in missing.get_data(
        as_text=True
    )
    assert browser.post("/shop/redeem", data={"code": ""}).status_code == 400


def test_a_shop_sees_only_its_own_redemptions(app, db, world):
    other, other_person = add_shop(db, name="あかり食堂")
    mine = signed_in(app, world["person"])
    theirs = signed_in(app, other_person)
    first, second = world["coupons"]
    assert mine.post(f"/shop/redeem/{token(first)}", data={}).status_code == 303
    assert theirs.post(f"/shop/redeem/{token(second)}", data={}).status_code == 303
    mine_id, theirs_id = (
        db.session.scalar(select(CouponRedemption.id).where(CouponRedemption.shop_id == shop_id))
        for shop_id in (world["shop"].id, other.id)
    )

    assert mine.get(f"/shop/redemptions/{mine_id}").status_code == 200
    assert mine.get(f"/shop/redemptions/{theirs_id}").status_code == 404
    assert mine.get("/shop/redemptions/99999999999").status_code == 404
    listed = mine.get("/shop/redemptions?month=2026-12").get_data(as_text=True)
    assert f'data-redemption-id="{mine_id}"' in listed
    assert f'data-redemption-id="{theirs_id}"' not in listed
    home = mine.get("/shop/").get_data(as_text=True)
    assert 'data-testid="today-total">¥1,000<' in home
    csv_response = mine.get("/shop/redemptions.csv?month=2026-12")
    assert csv_response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == 3 and rows[1][-1] == "1000" and rows[-1][-1] == "1000"
    empty = mine.get("/shop/redemptions?month=2026-10").get_data(as_text=True)
    assert 'data-testid="no-redemptions"' in empty


def test_a_suspended_shop_redeems_nothing(app, db, world):
    world["shop"].active = False
    db.session.commit()
    browser = signed_in(app, world["person"])
    assert 'data-testid="shop-suspended"' in browser.get("/shop/").get_data(as_text=True)
    refused = browser.post(f"/shop/redeem/{token(world['coupons'][0])}", data={})
    assert refused.status_code == 409
    assert 'data-code="shop_suspended"' in refused.get_data(as_text=True)


def test_a_shop_just_registered_redeems_nothing_until_approved(app, db, client, world, make_user):
    """Anyone may register a shop: it takes no coupon until its municipality approves it
    (in the console), and every shop page says why."""
    assert client.post("/shop/register", data=FORM).status_code == 303
    post_sign_in(client, FORM["email"])
    good = token(world["coupons"][0])
    for path in ("/shop/", f"/shop/redeem/{good}", "/shop/redeem", "/shop/redemptions"):
        text = client.get(path).get_data(as_text=True)
        assert 'data-testid="shop-waiting"' in text, path
        assert 'data-testid="shop-suspended"' not in text, path
    page = client.get(f"/shop/redeem/{good}").get_data(as_text=True)
    assert 'data-code="shop_suspended"' in page and 'data-testid="redeem-button"' not in page
    refused = client.post(f"/shop/redeem/{good}", data={})
    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert 'data-code="shop_suspended"' in text and 'data-testid="shop-waiting"' in text
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 0

    fresh = db.session.scalar(select(LocalShop).where(LocalShop.name == FORM["name"]))
    town = make_user(Role.OPERATOR, operator=db.session.get(OperatorOrg, world["fund"].operator_id))
    approved = signed_in(app, town).post(f"/operator/coupons/shops/{fresh.id}/approve")
    assert approved.status_code == 303

    home = client.get("/shop/").get_data(as_text=True)
    assert 'data-testid="shop-waiting"' not in home and 'data-testid="shop-suspended"' not in home
    assert client.post(f"/shop/redeem/{good}", data={}).status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(CouponRedemption.shop_id)) == fresh.id


# --- who may come in --------------------------------------------------------------------


def test_the_shop_pages_are_for_shops_only(app, db, client, world, make_employee, make_user):
    good = token(world["coupons"][0])
    for path in ("/shop/", f"/shop/redeem/{good}", "/shop/redeem", "/shop/redemptions"):
        response = client.get(path)
        assert response.status_code == 302 and response.location.startswith("/login"), path
    for role in (Role.EMPLOYEE, Role.OPERATOR, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN):
        browser = signed_in(app, make_user(role))
        assert browser.get("/shop/").status_code == 403, role
        assert browser.get(f"/shop/redeem/{good}").status_code == 403, role
        assert browser.post(f"/shop/redeem/{good}", data={}).status_code == 403, role
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 0


def test_other_consoles_refuse_a_shops_person(app, db, world, unit):
    browser = signed_in(app, world["person"])
    for path in (
        "/operator/",
        "/operator/coupons",
        "/company/billing",
        "/company/coupons",
        "/admin/",
    ):
        assert browser.get(path).status_code == 403, path
    assert browser.get("/coupons").status_code == 404  # an employee's coupons
    assert browser.get("/approvals").status_code == 404
    stay = {
        "unit_id": unit.id,
        "check_in": (NOW + timedelta(days=10)).date().isoformat(),
        "check_out": (NOW + timedelta(days=11)).date().isoformat(),
        "guests": 1,
    }
    assert browser.get("/book", query_string=stay).status_code >= 400
    assert browser.post("/book", data=stay).status_code >= 400
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 1  # the world's only


def test_a_company_funded_coupon_does_not_tell_the_shop_the_company(
    app, db, make_user, make_employee, make_company, unit
):
    """The shop learns a municipality's fund by name, but a company's welfare budget only
    by its number: the company's name would tell the shop where the guest works."""
    company = make_company(name="株式会社ひみつ商事")
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    fund = company_fund(db, admin, name="ひみつ商事 福利厚生")
    stay = add_stay(db, make_employee(company=company), unit, start=0, nights=1)
    (coupon,) = issue(db, stay)
    shop, person = add_shop(db, name="縁側カフェ")
    browser = signed_in(app, person)
    page = browser.get(f"/shop/redeem/{token(coupon)}").get_data(as_text=True)
    assert "ひみつ" not in page and f"{fund.id}" in page
    assert browser.post(f"/shop/redeem/{token(coupon)}", data={}).status_code == 303
    for address in ("/shop/redemptions", "/shop/redemptions.csv"):
        assert "ひみつ" not in browser.get(address).get_data(as_text=True)
