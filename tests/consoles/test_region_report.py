"""The region report (consoles/operator/region_report.py) against a hand-computed
fixture, on both engines.

長野市 (202011) has two facilities: Zenkoji Inn (380-0918, off-season months Jan, Feb,
Nov) and Station Lodge (380-0801, no pricing policy: no off-season). Elsewhere: Karuizawa
(389-0102, 軽井沢町 203211, same prefecture) and Tokyo (100-0005). Today is 1 Dec 2026,
so the default period is the fiscal year 1 Apr 2026 – 31 Mar 2027.

Companies: Acme (industry G), Umbrella (G), Globex (E), Initech (not stated). The stays
(guests; guest-nights in the fiscal year; why they do or do not return):

    P1  hanako Acme    Zenkoji 5–8 Oct 2025        1  before the period
    P2  jiro   Acme    Station 20–22 Jan 2026      1  before the period
    S1  hanako Acme    Zenkoji 10–13 Nov 2026      2  6 off-season; P1 13 months before
    S2  jiro   Acme    Zenkoji 1–4 Aug 2026        1  3; P2 within 12 months: returns
    S3  shiro  Globex  Zenkoji 1–3 May 2026        1  2
    S4  shiro  Globex  Station 3–5 May 2026        1  2; straight after S3: one visit
    S5  saburo Globex  Zenkoji 10–12 Jan 2027      1  2 off-season; after S6: returns
    S6  saburo Globex  Station 1–2 Jun 2026        1  1
    S7  goro   Initech Zenkoji 30 Mar–2 Apr 2027   3  6 (2 nights); only Karuizawa before
    S8  rokuro Acme    Zenkoji 10–14 Sep 2026      1  2 (checked out early on the 12th)
    S9  shichi Globex  Station 30 Mar–2 Apr 2026   1  1 (1 Apr)
    S10 hachi  Umbrella Zenkoji 5–6 Oct 2026       1  1
    Not counted: a cancelled, a no-show and a waiting stay at Zenkoji; goro's Karuizawa
    stays; jiro's Tokyo stay.

Figures: visitors 8, stays 10, guest-nights 26, off-season 8 (0.3077), repeat visitors 2
(jiro, saburo). By season: spring 11 (Apr 1, May 4, Mar 6), summer 4, autumn 9, winter 2.
Industries: G 2 companies / 4 visitors, E 1 / 3, not stated 1 / 1.

Programmes in 202011: Snow clearing (sessions X 2 Aug 2026 10:00, Y 11 Nov 2026
cancelled) and Soba (V 1 Apr 2026 00:30 JST, i.e. 31 Mar UTC; W 31 Mar 2026 23:30 JST,
before the period); Karuizawa's programme (Z) does not count. X: jiro 2 attended, hanako
1 did not come, shiro 3 unmarked, saburo left. V: rokuro 1 attended. → sessions 2,
programmes 2, sign-ups 4, participants 7, people 4, marked 4, attended 3 (0.75).

Coupons of 202011: S1's 6 × ¥1,000 issued 1 Nov 2026, 2 redeemed at a café and 1 at an
onsen; S2's 3 × ¥500 issued 15 Jul 2026, 1 at a restaurant; S7's 3 × ¥800 issued 25 Mar
2027, one redeemed at 23:59 on 31 Mar (shop), one at 00:10 on 1 Apr (after the period);
P1's coupon issued and redeemed in 2025; a Karuizawa coupon. → issued 12, ¥9,900;
redeemed 5, ¥4,300: café 2 / ¥2,000, restaurant 1 / ¥500, shop 1 / ¥800, onsen 1 /
¥1,000.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale

from accounts.models import OperatorKind, Role
from booking.models import Booking, BookingStatus
from consoles.operator import region_report as regional
from core.db import TOKYO
from core.extensions import db as _db
from pricing.models import PricingPolicy
from regions.models import (
    Coupon,
    CouponFund,
    CouponRedemption,
    CouponStatus,
    LocalShop,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
    SessionStatus,
    SignupStatus,
)

NAGANO = "202011"
KARUIZAWA = "203211"
FY = regional.Period(date(2026, 4, 1), date(2027, 4, 1))
_nonce = itertools.count(1)


def jst(*args) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def add_stay(user, unit, check_in, check_out, *, guests=1, status=BookingStatus.CHECKED_OUT,
             released_on=None) -> Booking:  # fmt: skip
    booking = Booking(
        user_id=user.id,
        company_id=user.company_id,
        unit_id=unit.id,
        check_in=check_in,
        check_out=check_out,
        guests=guests,
        status=status,
        total_price=10_000 * (check_out - check_in).days,
        released_on=released_on,
    )
    _db.session.add(booking)
    _db.session.commit()
    return booking


def add_programme(operator, code, prefecture=20) -> Programme:
    programme = Programme(
        operator_id=operator.id,
        kind="local_work",
        title_ja="雪かき",
        title_en="Snow clearing",
        municipality_code=code,
        prefecture=prefecture,
        latitude=36.65,
        longitude=138.18,
        capacity=10,
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    _db.session.add(programme)
    _db.session.commit()
    return programme


def add_session(programme, starts_at, *, status=SessionStatus.SCHEDULED) -> ProgrammeSession:
    session = ProgrammeSession(
        programme_id=programme.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        capacity=programme.capacity,
        status=status,
    )
    _db.session.add(session)
    _db.session.commit()
    return session


def sign_up(session, user, participants, *, status=SignupStatus.JOINED, attended=None):
    signup = ProgrammeSignup(
        session_id=session.id,
        user_id=user.id,
        company_id=user.company_id,
        participants=participants,
        status=status,
        attended=attended,
    )
    _db.session.add(signup)
    _db.session.commit()
    return signup


def add_coupons(fund, booking, count, amount, issued_at) -> list[Coupon]:
    coupons = [
        Coupon(
            fund_id=fund.id,
            booking_id=booking.id,
            user_id=booking.user_id,
            seq=seq,
            amount=amount,
            municipality_code=fund.municipality_code,
            valid_from=booking.check_in,
            valid_until=booking.check_out,
            nonce=f"n{next(_nonce):031d}",
            issued_at=issued_at,
        )
        for seq in range(1, count + 1)
    ]
    _db.session.add_all(coupons)
    _db.session.commit()
    return coupons


def redeem(coupon, shop, staff, at) -> None:
    coupon.status = CouponStatus.REDEEMED
    coupon.closed_at = at
    _db.session.add(
        CouponRedemption(
            coupon_id=coupon.id,
            shop_id=shop.id,
            fund_id=coupon.fund_id,
            amount=coupon.amount,
            redeemed_by_id=staff.id,
            redeemed_at=at,
        )
    )
    _db.session.commit()


def add_shop(name, category, code) -> LocalShop:
    shop = LocalShop(
        name=name, category=category, postal_code="3800918", address="長野市1-1",
        municipality_code=code,
    )  # fmt: skip
    _db.session.add(shop)
    _db.session.commit()
    return shop


def build_region(make_company, make_user, make_operator, make_facility, make_unit) -> dict:
    """The municipality of Nagano and the world above; returns its people and places."""
    city = make_operator(name="長野市", kind=OperatorKind.MUNICIPALITY, municipality_code=NAGANO)
    town = make_operator(
        name="軽井沢町", kind=OperatorKind.MUNICIPALITY, municipality_code=KARUIZAWA
    )
    inns = make_operator(name="善光寺観光")
    zenkoji = make_unit(facility=make_facility(operator=inns, postal_code="3800918"))
    station = make_unit(facility=make_facility(operator=inns, postal_code="3800801"))
    karuizawa = make_unit(facility=make_facility(postal_code="3890102"))
    tokyo = make_unit(facility=make_facility(postal_code="1000005", prefecture=13))
    _db.session.add(PricingPolicy(facility_id=zenkoji.facility_id, off_season_months="1,2,11"))
    _db.session.commit()

    acme = make_company(name="Acme", industry="G", subscribed=False)
    umbrella = make_company(name="Umbrella", industry="G", subscribed=False)
    globex = make_company(name="Globex", industry="E", subscribed=False)
    initech = make_company(name="Initech", subscribed=False)

    def person(name, company):
        return make_user(Role.EMPLOYEE, company=company, name=name, email=f"{name}@example.com")

    people = {
        name: person(name, company)
        for name, company in [
            ("hanako", acme), ("jiro", acme), ("rokuro", acme), ("hachi", umbrella),
            ("shiro", globex), ("saburo", globex), ("shichi", globex), ("goro", initech),
        ]
    }  # fmt: skip
    p = people
    stays = {
        "P1": add_stay(p["hanako"], zenkoji, date(2025, 10, 5), date(2025, 10, 8)),
        "P2": add_stay(p["jiro"], station, date(2026, 1, 20), date(2026, 1, 22)),
        "S1": add_stay(p["hanako"], zenkoji, date(2026, 11, 10), date(2026, 11, 13), guests=2),
        "S2": add_stay(p["jiro"], zenkoji, date(2026, 8, 1), date(2026, 8, 4)),
        "S3": add_stay(p["shiro"], zenkoji, date(2026, 5, 1), date(2026, 5, 3)),
        "S4": add_stay(p["shiro"], station, date(2026, 5, 3), date(2026, 5, 5)),
        "S5": add_stay(p["saburo"], zenkoji, date(2027, 1, 10), date(2027, 1, 12),
                       status=BookingStatus.CONFIRMED),
        "S6": add_stay(p["saburo"], station, date(2026, 6, 1), date(2026, 6, 2)),
        "S7": add_stay(p["goro"], zenkoji, date(2027, 3, 30), date(2027, 4, 2), guests=3,
                       status=BookingStatus.CONFIRMED),
        "S8": add_stay(p["rokuro"], zenkoji, date(2026, 9, 10), date(2026, 9, 14),
                       released_on=date(2026, 9, 12)),
        "S9": add_stay(p["shichi"], station, date(2026, 3, 30), date(2026, 4, 2)),
        "S10": add_stay(p["hachi"], zenkoji, date(2026, 10, 5), date(2026, 10, 6)),
    }  # fmt: skip
    # Not counted.
    add_stay(p["hanako"], zenkoji, date(2026, 12, 20), date(2026, 12, 22),
             status=BookingStatus.CANCELLED)  # fmt: skip
    add_stay(p["jiro"], zenkoji, date(2026, 11, 5), date(2026, 11, 7), status=BookingStatus.NO_SHOW)
    add_stay(p["saburo"], zenkoji, date(2027, 2, 1), date(2027, 2, 3),
             status=BookingStatus.PENDING_APPROVAL)  # fmt: skip
    goro_away = add_stay(p["goro"], karuizawa, date(2026, 7, 1), date(2026, 7, 3))
    add_stay(p["goro"], karuizawa, date(2026, 12, 10), date(2026, 12, 12),
             status=BookingStatus.CONFIRMED)  # fmt: skip
    add_stay(p["jiro"], tokyo, date(2026, 10, 1), date(2026, 10, 3))

    # Programmes.
    snow, soba = add_programme(city, NAGANO), add_programme(inns, NAGANO)
    away = add_programme(town, KARUIZAWA)
    x = add_session(snow, jst(2026, 8, 2, 10))
    y = add_session(snow, jst(2026, 11, 11, 9), status=SessionStatus.CANCELLED)
    v = add_session(soba, jst(2026, 4, 1, 0, 30))
    w = add_session(soba, jst(2026, 3, 31, 23, 30))
    z = add_session(away, jst(2026, 7, 2, 10))
    sign_up(x, p["jiro"], 2, attended=True)
    sign_up(x, p["hanako"], 1, attended=False)
    sign_up(x, p["shiro"], 3)
    sign_up(x, p["saburo"], 1, status=SignupStatus.LEFT)
    sign_up(y, p["hanako"], 2, status=SignupStatus.CANCELLED)
    sign_up(v, p["rokuro"], 1, attended=True)
    sign_up(w, p["shichi"], 4, attended=True)
    sign_up(z, p["goro"], 2, attended=True)

    # Coupons.
    fund = CouponFund(
        operator_id=city.id, name="長野市ワーケーション応援", municipality_code=NAGANO,
        yen_per_guest_night=1000, starts_on=date(2025, 4, 1), ends_on=date(2027, 3, 31),
        budget=1_000_000,
    )  # fmt: skip
    town_fund = CouponFund(
        operator_id=town.id, name="軽井沢町", municipality_code=KARUIZAWA,
        yen_per_guest_night=500, starts_on=date(2025, 4, 1), ends_on=date(2027, 3, 31),
        budget=100_000,
    )  # fmt: skip
    _db.session.add_all([fund, town_fund])
    _db.session.commit()
    staff = make_user(Role.SHOP, email="shop@example.com")
    cafe = add_shop("門前カフェ", "cafe", NAGANO)
    onsen = add_shop("湯田中の湯", "onsen", NAGANO)
    soba_shop = add_shop("戸隠そば", "restaurant", NAGANO)
    gifts = add_shop("善光寺みやげ", "shop", NAGANO)
    karuizawa_cafe = add_shop("軽井沢カフェ", "cafe", KARUIZAWA)
    s1 = add_coupons(fund, stays["S1"], 6, 1000, jst(2026, 11, 1, 12))
    redeem(s1[0], cafe, staff, jst(2026, 11, 11, 10))
    redeem(s1[1], cafe, staff, jst(2026, 11, 11, 15))
    redeem(s1[2], onsen, staff, jst(2026, 11, 12, 18))
    s2 = add_coupons(fund, stays["S2"], 3, 500, jst(2026, 7, 15, 9))
    redeem(s2[0], soba_shop, staff, jst(2026, 8, 2, 12))
    s7 = add_coupons(fund, stays["S7"], 3, 800, jst(2027, 3, 25, 9))
    redeem(s7[0], gifts, staff, jst(2027, 3, 31, 23, 59))
    redeem(s7[1], gifts, staff, jst(2027, 4, 1, 0, 10))
    (p1,) = add_coupons(fund, stays["P1"], 1, 1000, jst(2025, 9, 20, 9))
    redeem(p1, cafe, staff, jst(2025, 10, 6, 9))
    (away_coupon,) = add_coupons(town_fund, goro_away, 1, 500, jst(2026, 6, 20, 9))
    redeem(away_coupon, karuizawa_cafe, staff, jst(2026, 7, 2, 9))
    return {"city": city, "town": town, "inns": inns, "people": people, "stays": stays}


@pytest.fixture
def region(db, make_company, make_user, make_operator, make_facility, make_unit):
    return build_region(make_company, make_user, make_operator, make_facility, make_unit)


# --- the fiscal year ---------------------------------------------------------------------


def test_the_fiscal_year_figures(region):
    report = regional.region_report(NAGANO, FY)

    assert report.municipality.full_name == "長野県長野市"
    assert report.facilities == 2
    assert (report.visitors, report.stays, report.nights) == (8, 10, 26)
    assert report.off_season_nights == 8
    assert report.off_season_share == 0.3077
    assert report.repeat_visitors == 2
    assert report.repeat_share == 0.25


def test_nights_and_visitors_by_month_and_season(region):
    report = regional.region_report(NAGANO, FY)

    months = {row.key: (row.visitors, row.nights, row.off_season_nights) for row in report.by_month}
    assert list(months) == [f"2026-{m:02d}" for m in range(4, 13)] + [
        f"2027-{m:02d}" for m in range(1, 4)
    ]
    assert months["2026-04"] == (1, 1, 0)  # S9's last night only
    assert months["2026-05"] == (1, 4, 0)  # shiro's one visit over two facilities
    assert months["2026-09"] == (1, 2, 0)  # S8 gave back its last two nights
    assert months["2026-10"] == (1, 1, 0)  # hachi; jiro's Tokyo stay is elsewhere
    assert months["2026-11"] == (1, 6, 6)  # two guests; the no-show is not counted
    assert months["2026-12"] == (0, 0, 0)  # cancelled
    assert months["2027-01"] == (1, 2, 2)
    assert months["2027-02"] == (0, 0, 0)  # waiting for approval
    assert months["2027-03"] == (1, 6, 0)  # three guests, two nights inside the period
    assert sum(row.nights for row in report.by_month) == report.nights
    assert [(row.season, row.nights) for row in report.by_season] == [
        ("spring", 11),
        ("summer", 4),
        ("autumn", 9),
        ("winter", 2),
    ]


def test_companies_are_grouped_by_industry_without_names(region, monkeypatch):
    monkeypatch.setattr(regional, "MIN_COMPANIES", 1)
    report = regional.region_report(NAGANO, FY)

    assert [(r.code, r.companies, r.visitors) for r in report.by_industry] == [
        ("G", 2, 4),
        ("E", 1, 3),
        (None, 1, 1),
    ]
    assert report.companies == 4
    assert not any(hasattr(row, "name") for row in report.by_industry)


def test_an_industry_of_too_few_companies_is_counted_with_the_others(region, monkeypatch):
    """A row of one company would all but name it: industries with fewer than
    MIN_COMPANIES companies (and "not stated") are shown together."""
    monkeypatch.setattr(regional, "MIN_COMPANIES", 2)
    report = regional.region_report(NAGANO, FY)

    assert [(r.code, r.companies, r.visitors) for r in report.by_industry] == [
        ("G", 2, 4),
        ("other", 2, 4),  # Globex (E, 3 visitors) and Initech (not stated, 1)
    ]
    assert report.companies == 4
    with force_locale("en"):
        assert report.by_industry[-1].label == "Other industries"

    monkeypatch.setattr(regional, "MIN_COMPANIES", 3)  # the shipped threshold
    shipped = regional.region_report(NAGANO, FY).by_industry
    assert [(r.code, r.companies, r.visitors) for r in shipped] == [("other", 4, 8)]


def test_programme_participation_and_attendance(region):
    p = regional.region_report(NAGANO, FY).programmes

    assert (p.sessions, p.programmes, p.signups, p.participants, p.people) == (2, 2, 4, 7, 4)
    assert (p.marked, p.attended, p.attendance_rate) == (4, 3, 0.75)
    months = {
        row.key: row.programme_participants for row in regional.region_report(NAGANO, FY).by_month
    }
    assert months["2026-04"] == 1 and months["2026-08"] == 6 and months["2026-11"] == 0


def test_coupons_issued_and_redeemed_by_shop_category(region):
    c = regional.region_report(NAGANO, FY).coupons

    assert (c.issued_count, c.issued_yen) == (12, 9_900)
    assert (c.redeemed_count, c.redeemed_yen) == (5, 4_300)
    assert [(r.category, r.count, r.yen) for r in c.by_category] == [
        ("cafe", 2, 2_000),
        ("restaurant", 1, 500),
        ("shop", 1, 800),
        ("onsen", 1, 1_000),
    ]
    assert all(isinstance(v, int) for v in (c.issued_yen, c.redeemed_yen))


def test_the_api_figures(region):
    assert regional.region_report(NAGANO, FY).as_json() == {
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


# --- other periods and places ----------------------------------------------------------------


def test_repeat_visitors_count_returns_within_12_months_only(region):
    # From August 2026: jiro (P2 in January) returns; hanako's P1 was 13 months before
    # S1; shiro's S4 runs straight on from S3; saburo's S6 falls before the period but
    # within 12 months of S5.
    report = regional.region_report(NAGANO, regional.Period(date(2026, 8, 1), date(2027, 2, 1)))
    assert report.visitors == 5  # jiro, rokuro, hachi, hanako, saburo
    assert report.repeat_visitors == 2  # jiro, saburo

    only_may = regional.region_report(NAGANO, regional.Period(date(2026, 5, 1), date(2026, 6, 1)))
    assert (only_may.visitors, only_may.repeat_visitors) == (1, 0)


def test_a_visit_exactly_twelve_months_later_still_counts(
    db, make_company, make_user, make_operator, make_facility, make_unit
):
    make_operator(municipality_code=NAGANO)
    unit = make_unit(facility=make_facility(postal_code="3800918"))
    company = make_company(subscribed=False)
    kept, lost = (make_user(Role.EMPLOYEE, company=company) for _ in range(2))
    add_stay(kept, unit, date(2025, 6, 9), date(2025, 6, 11))  # last night 10 June 2025
    add_stay(kept, unit, date(2026, 6, 10), date(2026, 6, 12))
    add_stay(lost, unit, date(2025, 6, 8), date(2025, 6, 10))  # last night 9 June 2025
    add_stay(lost, unit, date(2026, 6, 10), date(2026, 6, 12))

    report = regional.region_report(NAGANO, regional.Period(date(2026, 6, 1), date(2026, 7, 1)))
    assert (report.visitors, report.repeat_visitors) == (2, 1)


def test_an_earlier_year_and_an_empty_municipality(region):
    autumn_2025 = regional.region_report(
        NAGANO, regional.Period(date(2025, 10, 1), date(2025, 11, 1))
    )
    assert (autumn_2025.visitors, autumn_2025.nights, autumn_2025.repeat_visitors) == (1, 3, 0)
    assert autumn_2025.coupons.redeemed_yen == 1_000
    assert autumn_2025.off_season_share == 0.0

    karuizawa = regional.region_report(KARUIZAWA, FY)
    assert (karuizawa.visitors, karuizawa.nights) == (1, 4)  # goro's two stays
    assert karuizawa.programmes.participants == 2
    assert karuizawa.coupons.redeemed_yen == 500

    nowhere = regional.region_report("131016", FY)  # 千代田区: one facility, jiro's stay
    assert nowhere.by_industry == [regional.IndustryRow("other", 1, 1)]
    empty = regional.region_report("011002", FY)  # 札幌市: nothing at all
    assert (empty.visitors, empty.nights, empty.off_season_share, empty.facilities) == (
        0,
        0,
        0.0,
        0,
    )
    assert empty.programmes.attendance_rate is None
    assert empty.by_industry == [] and empty.coupons.by_category == []


def test_the_municipality_s_facilities_are_found_by_postal_code(region, make_facility):
    # No postal code: found by its prefecture and municipality name (the fixture's is
    # 軽井沢町's); neither: in no municipality.
    make_facility(postal_code="")
    make_facility(postal_code="", municipality="どこでもない村")
    make_facility(postal_code="3810000")  # 長野市 too
    assert len(regional.municipality_facility_ids(NAGANO)) == 3
    assert len(regional.municipality_facility_ids(KARUIZAWA)) == 2


def test_periods():
    today = date(2026, 12, 1)
    assert regional.fiscal_year_period(today) == FY
    assert regional.fiscal_year_period(date(2027, 3, 31)) == FY
    assert regional.fiscal_year_period(date(2027, 4, 1)).first == date(2027, 4, 1)
    assert regional.period_problem(date(2026, 4, 1), date(2026, 4, 1), today) == "dates_order"
    assert regional.period_problem(date(2025, 4, 1), date(2027, 4, 1), today) is None
    assert regional.period_problem(date(2025, 4, 1), date(2027, 4, 2), today) == "out_of_range"
    assert regional.period_problem(date(2040, 1, 1), date(2040, 2, 1), today) == "out_of_range"
    assert regional.years_later(date(2024, 2, 29), -1) == date(2023, 2, 28)
