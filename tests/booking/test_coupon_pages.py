"""The employee's local coupons page (/coupons): a stay confirmed in a funded
municipality has its coupons from the moment it is booked; each open coupon shows a QR
code of the shop's absolute redeem address and its short code; the rules are stated;
stays in a municipality nobody funds get none; a cancelled stay's coupons are shown withdrawn; only
the employee's own coupons, and only for employees.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from accounts.models import Role
from accounts.two_factor import qr_svg
from booking import cancellation, coupon_jobs, services
from booking.models import BookingStatus
from core.urls import public_url
from regions import coupon_tokens
from regions.models import Coupon, CouponStatus
from tests.conftest import NOW, days, signed_in
from tests.regions.test_coupons import company_fund, municipal_fund, municipality


def book(db, employee, unit, first: int, last: int, guests: int = 1):
    booking = services.book_stay(
        employee, services.StayRequest(unit.id, days(first), days(last), guests), NOW
    )
    db.session.commit()
    return booking


def qr_path(url: str) -> str:
    """The QR code's modules as the page draws them (the SVG's path), for ``url``."""
    return re.search(r' d="([^"]+)"', str(qr_svg(url, "x")))[1]


def test_the_guest_sees_each_coupon_with_its_qr_code(
    app, db, make_operator, make_user, make_employee, unit
):
    municipal_fund(db, make_user, municipality(make_operator), yen=1000)
    guest = make_employee()
    stay = book(db, guest, unit, 2, 4, guests=2)
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 4  # at booking

    page = signed_in(app, guest).get("/coupons")

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "private, no-store"
    text = page.get_data(as_text=True)
    coupons = db.session.scalars(select(Coupon).order_by(Coupon.seq)).all()
    assert [c.seq for c in coupons] == [1, 2, 3, 4]  # 2 guests × 2 nights
    assert {c.booking_id for c in coupons} == {stay.id}
    assert 'data-testid="coupon-rules"' in text
    assert 'data-open="4000"' in text and 'data-redeemed="0"' in text
    assert text.count('data-testid="coupon-qr"') == 4
    for coupon in coupons:
        url = public_url("shop.redeem", token=coupon_tokens.token_of(coupon))
        assert url.startswith("http://127.0.0.1:5000/shop/redeem/")
        assert qr_path(url) in text  # the QR code is the shop's absolute redeem address
        code = coupon_tokens.grouped(coupon_tokens.short_code_of(coupon.nonce))
        assert f'translate="no" data-testid="short-code">{code}<' in text
    assert 'data-state="not_yet"' in text  # the check-in is in two days
    # The page only reads: opening it again changes nothing.
    signed_in(app, guest).get("/coupons")
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 4


def test_a_stay_booked_before_its_fund_gets_coupons_from_the_job(
    app, db, make_operator, make_user, make_employee, unit
):
    guest = make_employee()
    book(db, guest, unit, 2, 4)
    municipal_fund(db, make_user, municipality(make_operator), yen=1000)

    before = signed_in(app, guest).get("/coupons").get_data(as_text=True)
    coupon_jobs.issue_coupons(NOW)
    after = signed_in(app, guest).get("/coupons").get_data(as_text=True)

    assert 'data-testid="no-coupons"' in before
    assert after.count('data-testid="coupon-qr"') == 2


def test_no_coupons_where_nobody_funds_them(
    app, db, make_operator, make_user, make_employee, make_unit, make_facility
):
    municipal_fund(db, make_user, municipality(make_operator))  # 軽井沢町 only
    guest = make_employee()
    book(db, guest, make_unit(facility=make_facility(municipality="長野市")), 1, 3)

    text = signed_in(app, guest).get("/coupons").get_data(as_text=True)

    assert 'data-testid="no-coupons"' in text and 'data-testid="coupon-qr"' not in text
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 0


def test_a_company_fund_reaches_its_own_employees_only(app, db, make_user, make_employee, unit):
    admin = make_user(Role.COMPANY_ADMIN)
    company_fund(db, admin, yen=3000)
    own = make_employee(company=admin.company)
    other = make_employee()
    book(db, own, unit, 1, 2)
    book(db, other, unit, 3, 4)

    assert 'data-open="3000"' in signed_in(app, own).get("/coupons").get_data(as_text=True)
    theirs = signed_in(app, other).get("/coupons").get_data(as_text=True)
    assert 'data-testid="no-coupons"' in theirs
    assert {c.user_id for c in db.session.scalars(select(Coupon))} == {own.id}


def test_a_cancelled_stays_coupons_are_withdrawn(
    app, db, make_operator, make_user, make_employee, unit
):
    municipal_fund(db, make_user, municipality(make_operator))
    guest = make_employee()
    stay = book(db, guest, unit, 5, 6)
    signed_in(app, guest).get("/coupons")
    cancellation.cancel_booking(guest, stay.id, NOW)
    db.session.commit()
    assert db.session.get(type(stay), stay.id).status == BookingStatus.CANCELLED

    text = signed_in(app, guest).get("/coupons").get_data(as_text=True)

    assert 'data-state="withdrawn"' in text and 'data-testid="coupon-qr"' not in text
    coupon = db.session.scalar(select(Coupon))
    assert (coupon.status, coupon.void_reason) == (CouponStatus.EXPIRED, "stay_cancelled")


def test_the_page_is_for_employees_only(app, db, client, make_user):
    assert client.get("/coupons").status_code == 302
    for role in (Role.OPERATOR, Role.PLATFORM_ADMIN):
        assert signed_in(app, make_user(role)).get("/coupons").status_code == 404
    admin = make_user(Role.COMPANY_ADMIN)  # a company admin books stays too
    assert signed_in(app, admin).get("/coupons").status_code == 200
