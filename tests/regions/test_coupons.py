"""Local coupons (regions.coupons): issued per guest-night within the fund's budget under
its lock, once per stay; a company's fund only for its own employees; redeemed once, at a
shop of the coupon's municipality within its dates, every refusal with its code; a
double redemption raced by real threads has one winner on both engines; and any sequence
of issuing, redeeming, expiring and withdrawing keeps every fund reconciled (issued =
redeemed + expired + open) and its statements summing to what was redeemed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.events import COUPONS_ISSUED, Event
from accounts.models import OperatorOrg, Role, User
from booking import coupon_jobs
from booking.models import Booking, BookingStatus
from core.db import tokyo_today
from regions import coupon_figures, coupon_redeem, coupon_tokens, coupons, shops
from regions.coupons import CouponRefused, FundError
from regions.models import Coupon, CouponFund, CouponRedemption, CouponStatus, LocalShop
from tests.booking.test_race import race
from tests.conftest import FAST_HASH, NOW, PASSWORD, TODAY, days

KARUIZAWA = "203211"  # 長野県北佐久郡軽井沢町: where the test facilities are
NAGANO = "202011"  # 長野市
POSTAL = {KARUIZAWA: "3890102", NAGANO: "3800801"}
_shop_seq = iter(range(1, 10**6))


# --- helpers (the page tests use them too) ----------------------------------------------


def municipality(make_operator, code: str = KARUIZAWA):
    return make_operator(kind="municipality", municipality_code=code)


def add_stay(db, employee, unit, start: int = 0, nights: int = 1, guests: int = 1, status=None):
    """A stay row of ``employee`` (coupons know stays by id and facts only)."""
    booking = Booking(
        user_id=employee.id,
        company_id=employee.company_id,
        unit_id=unit.id,
        check_in=days(start),
        check_out=days(start + nights),
        guests=guests,
        status=status or BookingStatus.CONFIRMED,
        total_price=11000 * nights,
        created_at=NOW,
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def draft(
    code: str = KARUIZAWA,
    yen: int = 1000,
    budget: int = 100_000,
    first=0,
    last=60,
    name="冬の応援クーポン",
):
    return coupons.check_fund(
        name=name,
        municipality_code=code,
        yen_per_guest_night=yen,
        starts_on=days(first),
        ends_on=days(last),
        budget=budget,
        today=TODAY,
    )


def municipal_fund(db, make_user, org, **kw) -> CouponFund:
    actor = make_user(Role.OPERATOR, operator=org)
    fund = coupons.create_municipal_fund(org.id, draft(org.municipality_code, **kw), actor, NOW)
    db.session.commit()
    return fund


def company_fund(db, admin, code: str = KARUIZAWA, **kw) -> CouponFund:
    fund = coupons.create_company_fund(admin.company_id, draft(code, **kw), admin, NOW)
    db.session.commit()
    return fund


def add_shop(db, code: str = KARUIZAWA, name: str | None = None, approved: bool = True):
    """A registered shop of the municipality and its person: (shop, user); approved by
    the platform itself unless ``approved`` is False (then it waits for approval)."""
    n = next(_shop_seq)
    member = shops.register_shop(
        shops.ShopApplication(
            name=name or f"喫茶 {n}",
            category="cafe",
            postal_code=POSTAL[code],
            address_line=f"{n}-1",
            person_name=f"店主 {n}",
            email=f"shop{n}@example.com",
            password=PASSWORD,
        ),
        NOW,
        hash_method=FAST_HASH,
    )
    if approved:
        shops.approve_shop(code, member.shop.id, None, NOW)
    db.session.commit()
    return member.shop, member.user


def issue(db, booking, now=NOW) -> list[Coupon]:
    made = coupon_jobs.issue_for_booking(booking, now)
    db.session.commit()
    return made


def token(coupon: Coupon) -> str:
    return coupon_tokens.token_of(coupon)


def reconciles(fund_id: int) -> dict:
    figures = coupon_figures.totals(fund_id)
    parts = figures["redeemed"] + figures["expired"] + figures["open"]
    assert figures["issued"] == parts, figures
    return figures


# --- funds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"municipality_code": "203210"}, "municipality_code"),  # wrong check digit
        ({"municipality_code": "999990"}, "municipality_code"),
        ({"yen_per_guest_night": 0}, "yen_per_guest_night"),
        ({"yen_per_guest_night": -500}, "yen_per_guest_night"),
        ({"yen_per_guest_night": 1000.5}, "yen_per_guest_night"),
        ({"yen_per_guest_night": "1000"}, "yen_per_guest_night"),
        ({"yen_per_guest_night": True}, "yen_per_guest_night"),
        ({"yen_per_guest_night": 100_001}, "yen_per_guest_night"),
        ({"budget": 0}, "budget"),
        ({"budget": 999}, "budget"),  # less than one coupon
        ({"budget": 3_000_000_000}, "budget"),
        ({"starts_on": days(10), "ends_on": days(9)}, "ends_on"),
        ({"starts_on": days(-30), "ends_on": days(-1)}, "ends_on"),
        ({"starts_on": days(800), "ends_on": days(801)}, "starts_on"),
        ({"starts_on": days(0), "ends_on": days(3 * 366 + 1)}, "ends_on"),
        ({"starts_on": None}, "starts_on"),
    ],
)
def test_a_fund_with_bad_facts_is_refused_by_field(changes, field):
    facts = {
        "name": "冬",
        "municipality_code": KARUIZAWA,
        "yen_per_guest_night": 1000,
        "starts_on": days(0),
        "ends_on": days(30),
        "budget": 50_000,
        "today": TODAY,
    }
    with pytest.raises(FundError) as refused:
        coupons.check_fund(**{**facts, **changes})
    assert refused.value.code == field


def test_only_a_municipality_funds_and_only_itself(db, make_operator, make_user):
    plain = make_operator()
    actor = make_user(Role.OPERATOR, operator=plain)
    with pytest.raises(FundError):
        coupons.create_municipal_fund(plain.id, draft(), actor, NOW)
    town = municipality(make_operator)
    with pytest.raises(FundError):  # another municipality's stays
        coupons.create_municipal_fund(town.id, draft(NAGANO), actor, NOW)
    fund = coupons.create_municipal_fund(town.id, draft(), actor, NOW)
    assert (fund.operator_id, fund.company_id, fund.issued) == (town.id, None, 0)
    with pytest.raises(FundError):  # the confirm button pressed twice
        coupons.create_municipal_fund(town.id, draft(), actor, NOW)


# --- issue ------------------------------------------------------------------------------


def test_one_coupon_per_guest_night_valid_through_the_grace_day(
    db, make_operator, make_user, make_employee, unit
):
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1500)
    guest = make_employee()
    stay = add_stay(db, guest, unit, start=3, nights=3, guests=2)

    made = issue(db, stay)

    assert [c.seq for c in made] == [1, 2, 3, 4, 5, 6]
    assert {(c.amount, c.valid_from, c.valid_until, c.user_id) for c in made} == {
        (1500, days(3), days(7), guest.id)
    }
    assert {c.municipality_code for c in made} == {KARUIZAWA}
    assert len({c.nonce for c in made}) == 6
    db.session.refresh(fund)
    assert fund.issued == 9000
    event = db.session.scalar(select(Event).where(Event.type == COUPONS_ISSUED))
    assert event.user_id == guest.id and event.company_id == guest.company_id
    assert event.facts == {
        "booking_id": stay.id,
        "count": 6,
        "amount": 1500,
        "total": 9000,
        "municipality_code": KARUIZAWA,
        "valid_from": days(3).isoformat(),
        "valid_until": days(7).isoformat(),
    }


def test_issuing_again_issues_nothing_more(db, make_operator, make_user, make_employee, unit):
    fund = municipal_fund(db, make_user, municipality(make_operator))
    stay = add_stay(db, make_employee(), unit, nights=2)
    assert len(issue(db, stay)) == 2
    assert issue(db, stay) == []
    assert "0 coupons issued" in coupon_jobs.issue_coupons(NOW)
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 2
    db.session.refresh(fund)
    assert fund.issued == 2000
    assert db.session.scalar(select(func.count()).select_from(Event)) == 1


def test_the_budget_caps_whole_coupons(db, make_operator, make_user, make_employee, unit):
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1000, budget=4500)
    first = add_stay(db, make_employee(), unit, nights=3, guests=2)
    second = add_stay(db, make_employee(), unit, start=5)

    assert len(issue(db, first)) == 4  # six wanted, four fit
    assert issue(db, second) == []  # ¥500 left: no whole coupon
    db.session.refresh(fund)
    assert (fund.issued, fund.budget) == (4000, 4500)
    assert reconciles(fund.id)["issued"] == coupon_figures.Figure(4, 4000)


def test_stays_outside_the_fund_get_nothing(
    db, make_operator, make_user, make_employee, make_unit, make_facility
):
    municipal_fund(db, make_user, municipality(make_operator), first=0, last=10)
    guest = make_employee()
    here = make_unit()
    nagano = make_unit(facility=make_facility(municipality="長野市"))
    assert issue(db, add_stay(db, guest, nagano)) == []  # another municipality
    assert issue(db, add_stay(db, guest, here, start=11)) == []  # checks in after the fund
    waiting = add_stay(db, guest, here, status=BookingStatus.PENDING_APPROVAL)
    assert issue(db, waiting) == []  # not confirmed
    ended = coupons.issue_for_stay(
        booking_id=add_stay(db, guest, here).id,
        user_id=guest.id,
        company_id=guest.company_id,
        municipality_code=KARUIZAWA,
        check_in=days(-5),
        check_out=days(-2),
        guests=1,
        now=NOW,
    )
    assert ended == []  # its last coupon day has passed


def test_a_company_fund_pays_only_its_own_employees(
    db, make_operator, make_user, make_employee, unit
):
    admin = make_user(Role.COMPANY_ADMIN)
    fund = company_fund(db, admin, yen=2000)
    town = municipal_fund(db, make_user, municipality(make_operator), yen=500)
    own = make_employee(company=admin.company)
    other = make_employee()

    mine = issue(db, add_stay(db, own, unit))
    theirs = issue(db, add_stay(db, other, unit, start=2))

    assert sorted((c.fund_id, c.amount) for c in mine) == [(fund.id, 2000), (town.id, 500)]
    assert [(c.fund_id, c.amount) for c in theirs] == [(town.id, 500)]


def test_racing_issuers_never_pass_the_budget(
    app, db, make_operator, make_user, make_employee, unit
):
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1000, budget=3000)
    stays = [add_stay(db, make_employee(), unit, start=i % 5) for i in range(8)]
    stay_ids, fund_id = [s.id for s in stays], fund.id
    db.session.remove()

    def work(i, barrier):
        with app.app_context():
            try:
                barrier.wait()
                made = coupon_jobs.issue_for_booking(db.session.get(Booking, stay_ids[i]), NOW)
                db.session.commit()
                return len(made)
            finally:
                db.session.remove()

    outcomes = race(len(stay_ids), work)

    assert Counter(outcomes) == {1: 3, 0: 5}, outcomes
    fund = db.session.get(CouponFund, fund_id)
    assert fund.issued == 3000
    assert reconciles(fund_id)["issued"] == coupon_figures.Figure(3, 3000)


# --- redeem -----------------------------------------------------------------------------


@pytest.fixture
def coupon_world(db, make_operator, make_user, make_employee, unit):
    """A fund of 軽井沢町, a guest's 2-night stay from tomorrow with its coupons, and a
    shop in the town."""
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1000)
    guest = make_employee()
    stay = add_stay(db, guest, unit, start=1, nights=2)
    made = issue(db, stay)
    shop, person = add_shop(db)
    return {
        "fund": fund,
        "guest": guest,
        "stay": stay,
        "coupons": made,
        "shop": shop,
        "person": person,
    }


def refused_code(world, coupon_token: str, when, shop=None) -> str:
    with pytest.raises(CouponRefused) as refused:
        coupon_redeem.redeem(coupon_token, shop or world["shop"], world["person"].id, when)
    return refused.value.code


def test_a_coupon_is_redeemed_once_within_its_dates(db, coupon_world):
    coupon = coupon_world["coupons"][0]
    when = NOW + timedelta(days=1)
    redemption = coupon_redeem.redeem(
        token(coupon), coupon_world["shop"], coupon_world["person"].id, when
    )
    db.session.commit()

    assert (redemption.amount, redemption.fund_id, redemption.shop_id) == (
        1000,
        coupon_world["fund"].id,
        coupon_world["shop"].id,
    )
    db.session.refresh(coupon)
    assert (coupon.status, coupon.closed_at) == (CouponStatus.REDEEMED, when)
    assert refused_code(coupon_world, token(coupon), when) == "used"
    # On the grace day, the day after check-out, the other coupon still works.
    coupon_redeem.redeem(
        token(coupon_world["coupons"][1]),
        coupon_world["shop"],
        coupon_world["person"].id,
        NOW + timedelta(days=3),
    )
    db.session.commit()
    assert reconciles(coupon_world["fund"].id)["redeemed"] == coupon_figures.Figure(2, 2000)


def test_every_refusal_has_its_code(db, coupon_world):
    coupon = coupon_world["coupons"][0]
    good = token(coupon)
    assert refused_code(coupon_world, good, NOW) == "not_yet"  # the check-in is tomorrow
    assert refused_code(coupon_world, good, NOW + timedelta(days=5)) == "expired"
    elsewhere, _person = add_shop(db, NAGANO)
    assert refused_code(coupon_world, good, NOW + timedelta(days=1), elsewhere) == "out_of_area"
    for bad in (
        "",
        "nonsense",
        # a character inside the signature (the last one partly holds unused bits of
        # unpadded base64: changing it may leave the same bytes)
        good[:-10] + ("A" if good[-10] != "A" else "B") + good[-9:],
        good + "x",
        "9" * 500,
    ):
        assert refused_code(coupon_world, bad, NOW + timedelta(days=1)) == "bad_token"
    coupon_world["shop"].active = False
    db.session.commit()
    assert refused_code(coupon_world, good, NOW + timedelta(days=1)) == "shop_suspended"
    coupon_world["shop"].active = True
    db.session.commit()
    assert coupons.withdraw_for_stay(coupon_world["stay"].id, NOW) == 2
    db.session.commit()
    assert refused_code(coupon_world, good, NOW + timedelta(days=1)) == "withdrawn"
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 0


def test_a_registered_shop_redeems_nothing_until_its_municipality_approves_it(
    db, coupon_world, make_user, make_operator
):
    fresh, person = add_shop(db, approved=False)
    good = token(coupon_world["coupons"][0])
    when = NOW + timedelta(days=1)
    assert fresh.active is False and shops.awaiting_approval(fresh)
    assert shops.awaiting_ids(KARUIZAWA) == {fresh.id}
    with pytest.raises(CouponRefused) as refused:
        coupon_redeem.redeem(good, fresh, person.id, when)
    assert refused.value.code == "shop_suspended"
    db.session.rollback()
    # Another municipality cannot approve it, nor can its suspend or reactivate touch it.
    nagano = make_user(Role.OPERATOR, operator=municipality(make_operator, NAGANO))
    assert shops.approve_shop(NAGANO, fresh.id, nagano, NOW) is None
    assert shops.set_shop_active(NAGANO, fresh.id, True, nagano, NOW) is None
    for bad_id in (0, -1, 10**20):
        assert shops.approve_shop(KARUIZAWA, bad_id, nagano, NOW) is None
    # Suspending a waiting shop changes nothing: it still waits.
    town_org = db.session.get(OperatorOrg, coupon_world["fund"].operator_id)
    town = make_user(Role.OPERATOR, operator=town_org)
    shops.set_shop_active(KARUIZAWA, fresh.id, False, town, NOW)
    db.session.commit()
    assert shops.awaiting_approval(fresh) and not approvals(db, fresh.id)

    assert shops.approve_shop(KARUIZAWA, fresh.id, town, NOW).active is True
    shops.approve_shop(KARUIZAWA, fresh.id, town, NOW)  # twice: one entry
    db.session.commit()
    assert approvals(db, fresh.id) == [("local_shop.approve", town.id, town.operator_id)]
    assert coupon_redeem.redeem(good, fresh, person.id, when).shop_id == fresh.id
    db.session.commit()
    # Suspended after approval: not waiting any more, and approving does not undo it.
    shops.set_shop_active(KARUIZAWA, fresh.id, False, town, NOW)
    shops.approve_shop(KARUIZAWA, fresh.id, town, NOW)
    db.session.commit()
    assert fresh.active is False and not shops.awaiting_approval(fresh)
    assert shops.awaiting_ids(KARUIZAWA) == set()


def test_reactivating_a_waiting_shop_is_recorded_as_its_approval(db, make_user, make_operator):
    fresh, _person = add_shop(db, approved=False)
    town = make_user(Role.OPERATOR, operator=municipality(make_operator))
    shops.set_shop_active(KARUIZAWA, fresh.id, True, town, NOW)
    db.session.commit()
    assert fresh.active and [a for a, *_ in approvals(db, fresh.id)] == ["local_shop.approve"]


def test_racing_approvals_approve_once(app, db, make_user, make_operator):
    fresh, _person = add_shop(db, approved=False)
    town = make_user(Role.OPERATOR, operator=municipality(make_operator))
    shop_id, town_id = fresh.id, town.id
    db.session.remove()

    def work(_i, barrier):
        with app.app_context():
            try:
                barrier.wait()
                actor = db.session.get(User, town_id)
                shop = shops.approve_shop(KARUIZAWA, shop_id, actor, NOW)
                db.session.commit()
                return shop.active
            finally:
                db.session.remove()

    outcomes = race(RACERS, work)
    assert outcomes == [True] * RACERS, outcomes
    assert len(approvals(db, shop_id)) == 1


def approvals(db, shop_id: int) -> list[tuple]:
    """The shop's status entries in the audit log: (action, actor id, operator id)."""
    return [
        tuple(row)
        for row in db.session.execute(
            select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.operator_id)
            .where(AuditEntry.object_type == "local_shop", AuditEntry.object_id == shop_id)
            .order_by(AuditEntry.id)
        )
    ]


def test_a_token_must_carry_the_coupons_own_facts(app, db, coupon_world):
    coupon = coupon_world["coupons"][0]
    facts = {
        "coupon_id": coupon.id,
        "nonce": coupon.nonce,
        "user_id": coupon.user_id,
        "municipality_code": coupon.municipality_code,
        "valid_from": coupon.valid_from,
        "valid_until": coupon.valid_until,
    }
    when = NOW + timedelta(days=1)
    for changed in (
        {"nonce": coupon_world["coupons"][1].nonce},
        {"user_id": coupon.user_id + 1},
        {"municipality_code": NAGANO},
        {"valid_until": coupon.valid_until + timedelta(days=30)},
        {"coupon_id": coupon_world["coupons"][1].id},
    ):
        forged = coupon_tokens.sign(**{**facts, **changed})  # signed, but not this coupon's
        assert refused_code(coupon_world, forged, when) == "bad_token"
    other_key = coupon_tokens.sign(**facts, secret_key="another-secret-key")
    assert refused_code(coupon_world, other_key, when) == "bad_token"
    coupon_redeem.redeem(
        coupon_tokens.sign(**facts), coupon_world["shop"], coupon_world["person"].id, when
    )


def test_check_token_says_what_redeem_would(db, coupon_world):
    coupon = coupon_world["coupons"][0]
    early = coupon_redeem.check_token(token(coupon), coupon_world["shop"], NOW)
    assert early.coupon.id == coupon.id and early.refusal.code == "not_yet" and not early.ok
    ready = coupon_redeem.check_token(token(coupon), coupon_world["shop"], NOW + timedelta(days=1))
    assert ready.ok
    bad = coupon_redeem.check_token("x.y", coupon_world["shop"], NOW)
    assert bad.coupon is None and bad.refusal.code == "bad_token"


def test_a_short_code_finds_the_coupon_in_the_shops_area_only(db, coupon_world):
    coupon = coupon_world["coupons"][0]
    code = coupon_tokens.short_code_of(coupon.nonce)
    typed = f" {code[:4].lower()}-{code[4:]} ".replace("O", "0").replace("I", "1")
    assert coupon_redeem.coupon_by_short_code(typed, KARUIZAWA).id == coupon.id
    assert coupon_redeem.coupon_by_short_code(code, NAGANO) is None
    assert coupon_redeem.coupon_by_short_code("ABC", KARUIZAWA) is None
    assert coupon_redeem.coupon_by_short_code("ABCD-EFG9", KARUIZAWA) is None


RACERS = 10


def test_racing_shops_redeem_one_coupon_once(app, db, coupon_world):
    """N threads (two shops of the town) redeem the same coupon at the same moment:
    exactly one redemption, every other racer told it was used."""
    coupon_id, fund_id = coupon_world["coupons"][0].id, coupon_world["fund"].id
    coupon_token = token(coupon_world["coupons"][0])
    second_shop, second_person = add_shop(db)
    racers = [
        (coupon_world["shop"].id, coupon_world["person"].id),
        (second_shop.id, second_person.id),
    ]
    db.session.remove()

    def work(i, barrier):
        shop_id, person_id = racers[i % 2]
        with app.app_context():
            try:
                barrier.wait()
                shop = db.session.get(LocalShop, shop_id)
                redemption = coupon_redeem.redeem(
                    coupon_token, shop, person_id, NOW + timedelta(days=1)
                )
                db.session.commit()
                return ("redeemed", redemption.shop_id)
            except CouponRefused as refused:
                db.session.rollback()
                return (refused.code, None)
            finally:
                db.session.remove()

    outcomes = race(RACERS, work)

    assert Counter(kind for kind, _shop in outcomes) == {"redeemed": 1, "used": RACERS - 1}, (
        outcomes
    )
    redemptions = db.session.scalars(
        select(CouponRedemption).where(CouponRedemption.coupon_id == coupon_id)
    ).all()
    assert len(redemptions) == 1
    assert db.session.get(Coupon, coupon_id).status == CouponStatus.REDEEMED
    assert reconciles(fund_id)["redeemed"] == coupon_figures.Figure(1, 1000)


def test_the_database_refuses_a_second_redemption_row(db, coupon_world):
    coupon = coupon_world["coupons"][0]
    coupon_redeem.redeem(
        token(coupon), coupon_world["shop"], coupon_world["person"].id, NOW + timedelta(days=1)
    )
    db.session.commit()
    # Whatever a writer believed, the coupon's second row is refused.
    coupon.status = CouponStatus.OPEN
    db.session.commit()
    assert refused_code(coupon_world, token(coupon), NOW + timedelta(days=1)) == "used"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 1


# --- close ------------------------------------------------------------------------------


def test_coupons_expire_after_their_last_day(db, coupon_world):
    first, second = coupon_world["coupons"]
    coupon_redeem.redeem(
        token(first), coupon_world["shop"], coupon_world["person"].id, NOW + timedelta(days=1)
    )
    db.session.commit()
    assert "0 coupons expired" in coupon_jobs.expire_coupons(NOW + timedelta(days=4))  # grace day
    assert "1 coupons expired" in coupon_jobs.expire_coupons(NOW + timedelta(days=5))
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.status, second.status, second.void_reason) == ("redeemed", "expired", "ended")
    figures = reconciles(coupon_world["fund"].id)
    assert (figures["redeemed"], figures["expired"], figures["open"]) == (
        coupon_figures.Figure(1, 1000),
        coupon_figures.Figure(1, 1000),
        coupon_figures.Figure(0, 0),
    )


def test_the_job_issues_and_withdraws(db, make_operator, make_user, make_employee, unit):
    fund = municipal_fund(db, make_user, municipality(make_operator))
    guest = make_employee()
    staying = add_stay(db, guest, unit, nights=2)
    cancelled_later = add_stay(db, guest, unit, start=5)
    gone = add_stay(db, guest, unit, start=-3, nights=1)  # checked out before today

    assert str(coupon_jobs.issue_coupons(NOW)).startswith("3 coupons issued for 2 stays")
    assert (
        db.session.scalar(
            select(func.count()).select_from(Coupon).where(Coupon.booking_id == gone.id)
        )
        == 0
    )
    cancelled_later.status = BookingStatus.CANCELLED
    db.session.commit()
    assert "1 coupons of ended stays withdrawn" in coupon_jobs.issue_coupons(NOW)
    withdrawn = db.session.scalar(select(Coupon).where(Coupon.booking_id == cancelled_later.id))
    assert (withdrawn.status, withdrawn.void_reason) == ("expired", "stay_cancelled")
    assert len(coupon_figures.coupons_of_user(guest.id)) == 3
    db.session.refresh(fund)
    assert fund.issued == 2000  # the withdrawn coupon's yen went back to the budget
    figures = reconciles(fund.id)
    assert figures["expired"] == coupon_figures.Figure(0, 0)
    assert figures["withdrawn"] == coupon_figures.Figure(1, 1000)
    assert staying.id in coupon_figures.stays_with_coupons([staying.id, gone.id])


# --- statements -------------------------------------------------------------------------


def test_the_statement_is_the_months_redemptions_by_shop(db, coupon_world):
    first, second = coupon_world["coupons"]
    other, other_person = add_shop(db, name="あかり食堂")
    coupon_redeem.redeem(
        token(first), coupon_world["shop"], coupon_world["person"].id, NOW + timedelta(days=1)
    )
    coupon_redeem.redeem(token(second), other, other_person.id, NOW + timedelta(days=2))
    db.session.commit()
    fund = coupon_world["fund"]

    rows = coupon_figures.monthly_statement(fund.id, date(2026, 12, 1))
    assert sorted((r.name, r.count, r.yen) for r in rows) == sorted(
        [(coupon_world["shop"].name, 1, 1000), ("あかり食堂", 1, 1000)]
    )
    assert coupon_figures.monthly_statement(fund.id, date(2026, 11, 1)) == []
    with force_locale("en"):
        text = coupon_figures.statement_csv(fund, date(2026, 12, 1), rows)
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][:3] == ["Fund", "Month", "Shop"]
    assert table[-1][2:] == ["Total", "", "", "2", "2000"]
    assert {row[3] for row in table[1:-1]} == {"Café"}


def test_a_redemption_at_midnight_belongs_to_the_japan_month(db, coupon_world):
    stay_coupon = coupon_world["coupons"][1]
    # 2026-12-31 23:30 in Tokyo is still December there, January nowhere else.
    stay_coupon.valid_until = date(2027, 1, 5)
    db.session.commit()
    when = datetime(2026, 12, 31, 14, 30, tzinfo=UTC)
    coupon_redeem.redeem(token(stay_coupon), coupon_world["shop"], coupon_world["person"].id, when)
    db.session.commit()
    assert [
        r.count
        for r in coupon_figures.monthly_statement(coupon_world["fund"].id, date(2026, 12, 1))
    ] == [1]
    assert coupon_figures.monthly_statement(coupon_world["fund"].id, date(2027, 1, 1)) == []


# --- any sequence reconciles ------------------------------------------------------------

offset = st.integers(-2, 6)
pick = st.integers(0, 50)


def machine(db, org_id, make_user, make_employee, make_unit, operator_actor):
    class CouponBooks(RuleBasedStateMachine):
        """Issue, redeem, expire and withdraw in any order while the clock runs."""

        def __init__(self):
            super().__init__()
            self.day = 0
            self.unit = make_unit()
            self.guests = [make_employee(), make_employee()]
            small = coupons.create_municipal_fund(
                org_id, draft(yen=700, budget=9_000, name=f"f{id(self)}a"), operator_actor, NOW
            )
            big = coupons.create_municipal_fund(
                org_id,
                draft(yen=1200, budget=50_000, first=-5, name=f"f{id(self)}b"),
                operator_actor,
                NOW,
            )
            db.session.commit()
            self.funds = [small.id, big.id]
            self.stays: list[int] = []
            self.shop, self.person = add_shop(db)

        @property
        def now(self):
            return NOW + timedelta(days=self.day)

        @rule(start=offset, nights=st.integers(1, 3), guests=st.integers(1, 3))
        def book_and_issue(self, start, nights, guests):
            guest = self.guests[start % 2]
            stay = add_stay(
                db, guest, self.unit, start=self.day + start, nights=nights, guests=guests
            )
            self.stays.append(stay.id)
            coupon_jobs.issue_for_booking(stay, self.now)
            db.session.commit()

        @rule(which=pick)
        def redeem(self, which):
            open_coupons = db.session.scalars(
                select(Coupon).where(Coupon.fund_id.in_(self.funds)).order_by(Coupon.id)
            ).all()
            if not open_coupons:
                return
            coupon = open_coupons[which % len(open_coupons)]
            try:
                coupon_redeem.redeem(token(coupon), self.shop, self.person.id, self.now)
                db.session.commit()
            except CouponRefused as refused:
                db.session.rollback()
                assert refused.code in {"used", "expired", "not_yet", "withdrawn"}

        @rule(which=pick)
        def cancel(self, which):
            if self.stays:
                booking_id = self.stays[which % len(self.stays)]
                db.session.get(Booking, booking_id).status = BookingStatus.CANCELLED
                coupons.withdraw_for_stay(booking_id, self.now)
                db.session.commit()

        @rule(step=st.integers(1, 3))
        def days_pass(self, step):
            self.day += step
            coupon_jobs.expire_coupons(self.now)

        @rule()
        def job_runs(self):
            coupon_jobs.issue_coupons(self.now)

        @invariant()
        def every_fund_reconciles(self):
            for fund_id in self.funds:
                fund = db.session.get(CouponFund, fund_id)
                db.session.refresh(fund)
                figures = reconciles(fund_id)
                assert fund.issued == figures["issued"].yen <= fund.budget
                redeemed = db.session.execute(
                    select(func.count(), func.coalesce(func.sum(CouponRedemption.amount), 0)).where(
                        CouponRedemption.fund_id == fund_id
                    )
                ).one()
                assert coupon_figures.Figure(redeemed[0], redeemed[1]) == figures["redeemed"]
                months, month = [], date(2026, 12, 1)
                while month <= tokyo_today(self.now):
                    months.append(month)
                    month = (month + timedelta(days=32)).replace(day=1)
                statements = [
                    r for m in months for r in coupon_figures.monthly_statement(fund_id, m)
                ]
                assert sum(r.yen for r in statements) == figures["redeemed"].yen
                assert sum(r.count for r in statements) == figures["redeemed"].count

    return CouponBooks


def test_any_sequence_keeps_every_fund_reconciled(
    db, make_operator, make_user, make_employee, make_unit
):
    org = municipality(make_operator)
    actor = make_user(Role.OPERATOR, operator=org)
    run_state_machine_as_test(
        machine(db, org.id, make_user, make_employee, make_unit, actor),
        settings=settings(
            max_examples=10,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    assert db.session.scalar(select(func.count()).select_from(Coupon)) > 0


# --- a stay that changes ----------------------------------------------------------------


def refresh(db, stay, now=NOW) -> int:
    issued = coupon_jobs.refresh_for_booking(stay, now)
    db.session.commit()
    return issued


def open_coupons(db, stay) -> list[Coupon]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Coupon)
            .where(Coupon.booking_id == stay.id, Coupon.status == CouponStatus.OPEN)
            .order_by(Coupon.seq)
        )
    )


def test_a_stay_unchanged_keeps_its_coupons_and_their_codes(
    db, make_operator, make_user, make_employee, unit
):
    municipal_fund(db, make_user, municipality(make_operator))
    stay = add_stay(db, make_employee(), unit, start=1, nights=3)
    made = issue(db, stay)
    nonces = [c.nonce for c in made]
    assert refresh(db, stay) == 0
    assert [c.nonce for c in open_coupons(db, stay)] == nonces


def test_a_shorter_stay_keeps_what_it_spent_and_gives_the_rest_back(
    db, make_operator, make_user, make_employee, unit
):
    fund = municipal_fund(db, make_user, municipality(make_operator), yen=1000)
    stay = add_stay(db, make_employee(), unit, start=0, nights=3)
    first, *_ = issue(db, stay)
    shop, person = add_shop(db)
    coupon_redeem.redeem(token(first), shop, person.id, NOW)
    db.session.commit()
    stay.check_out = stay.check_in + timedelta(days=2)  # three nights become two
    db.session.commit()
    assert refresh(db, stay) == 1  # two are owed, one was spent
    now_open = open_coupons(db, stay)
    assert len(now_open) == 1 and now_open[0].valid_until == stay.check_out + timedelta(days=1)
    assert now_open[0].seq == 4  # numbered on from the last
    db.session.refresh(fund)
    assert fund.issued == 2000  # the spent one and the new one; the rest went back
    figures = reconciles(fund.id)
    assert figures["withdrawn"] == coupon_figures.Figure(2, 2000)
    assert figures["redeemed"] == coupon_figures.Figure(1, 1000)


def test_a_stay_moved_out_of_the_funded_town_loses_its_open_coupons(
    db, make_operator, make_user, make_employee, unit, make_facility, make_unit
):
    fund = municipal_fund(db, make_user, municipality(make_operator))
    stay = add_stay(db, make_employee(), unit, start=1, nights=2)
    issue(db, stay)
    elsewhere = make_unit(facility=make_facility(postal_code=POSTAL[NAGANO], municipality="長野市"))
    stay.unit_id = elsewhere.id
    db.session.commit()
    db.session.refresh(stay)
    assert refresh(db, stay) == 0
    assert open_coupons(db, stay) == []
    db.session.refresh(fund)
    assert fund.issued == 0
