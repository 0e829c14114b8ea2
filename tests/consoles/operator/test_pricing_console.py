"""The operator's pricing pages: settings, floors and ceilings, fixed prices (overrides),
a room's price calendar and the history, through the console's pages.

The operator reads English (``locale="en"``) so the texts are stable whether or not
the Japanese catalogue has been compiled. Today is 2026-12-01 (Tokyo); June 2027 is
far enough ahead that its ordinary nights have no demand or last-minute factor, so
their computed price is the base price until an off-season discount applies.
"""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import Role
from availability import closing
from booking import services as booking
from booking.models import BookingNight
from facilities.models import Unit
from pricing import engine
from pricing.models import NightlyPrice, PriceChange, PriceOverride, PricingPolicy
from pricing.rules import decode_reasons
from tests.conftest import NOW, days, post_sign_in, signed_in

# Fixed prices reach from today to 1,098 days ahead (or the pricing horizon, if longer).
HORIZON = "Choose a date from Tue 1 Dec 2026 to Mon 3 Dec 2029."
JUNE_TUESDAY = date(2027, 6, 15)  # an ordinary night: no peak, holiday eve or weekend

SETTINGS = {
    "enabled": "y",
    "off_season_discount": "20",
    "target_occupancy": "60",
    "max_discount": "40",
    "last_minute_max": "30",
    "gap_discount": "20",
}


# --- helpers ----------------------------------------------------------------------------


def flashes(page: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', page, re.S)
    ]


def follow(browser, response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return browser.get(response.headers["Location"]).get_data(as_text=True)


def input_tag(page: str, name: str, value: str | None = None) -> str:
    """The ``<input>`` of that name (and value), whatever the order of its attributes."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and (value is None or f'value="{value}"' in tag):
            return tag
    raise AssertionError(f"no input {name}={value}")


def price_row(db, unit: Unit, night: date) -> NightlyPrice | None:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(NightlyPrice, (unit.id, night))


def state(db, facility_id: int) -> tuple:
    """Everything about a facility's pricing that a page could change."""
    db.session.rollback()
    db.session.expire_all()
    units = db.session.execute(
        select(Unit.id, Unit.base_price, Unit.price_floor, Unit.price_ceiling)
        .where(Unit.facility_id == facility_id)
        .order_by(Unit.id)
    ).all()
    unit_ids = [u.id for u in units]
    policy = db.session.execute(
        select(
            PricingPolicy.enabled,
            PricingPolicy.off_season_months,
            PricingPolicy.off_season_discount,
            PricingPolicy.target_occupancy,
            PricingPolicy.max_discount,
            PricingPolicy.last_minute_max,
            PricingPolicy.gap_discount,
        ).where(PricingPolicy.facility_id == facility_id)
    ).all()
    overrides = db.session.execute(
        select(
            PriceOverride.id,
            PriceOverride.unit_id,
            PriceOverride.start_date,
            PriceOverride.end_date,
            PriceOverride.price,
        )
        .where(PriceOverride.facility_id == facility_id)
        .order_by(PriceOverride.id)
    ).all()
    prices = db.session.execute(
        select(NightlyPrice.unit_id, func.count(), func.sum(NightlyPrice.price))
        .where(NightlyPrice.unit_id.in_(unit_ids))
        .group_by(NightlyPrice.unit_id)
        .order_by(NightlyPrice.unit_id)
    ).all()
    changes = db.session.scalar(
        select(func.count()).select_from(PriceChange).where(PriceChange.unit_id.in_(unit_ids))
    )
    return (
        [tuple(u) for u in units],
        [tuple(p) for p in policy],
        [tuple(o) for o in overrides],
        [tuple(p) for p in prices],
        changes,
    )


def override_form(unit, first: date, last: date, price, note: str = "") -> dict:
    return {
        "unit": "all" if unit is None else str(unit if isinstance(unit, int) else unit.id),
        "first_night": first.isoformat(),
        "last_night": last.isoformat(),
        "price": str(price),
        "note": note,
    }


@pytest.fixture
def shop(app, db, make_user, make_facility, make_unit):
    """An operator (reading English) signed in, with one facility of two rooms."""
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator, name_ja="白樺の宿", name_en="Birch Inn")
    room_a = make_unit(facility=facility, name="101 和室", base_price=11000)
    room_b = make_unit(facility=facility, name="102 洋室", base_price=9000)
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        a=room_a,
        b=room_b,
        browser=signed_in(app, operator),
        url=f"/operator/facilities/{facility.id}/pricing",
    )


# --- the settings page --------------------------------------------------------------------


def test_an_operator_sees_the_pricing_page(db, shop):
    overview = shop.browser.get(f"/operator/facilities/{shop.facility.id}").get_data(as_text=True)
    assert f'href="{shop.url}"' in overview  # the facility's pages link to it

    response = shop.browser.get(shop.url)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Pricing" in page and "Birch Inn" in page
    settings = page[page.index('data-testid="pricing-settings"') :]
    assert "checked" in input_tag(settings, "enabled")
    for month in range(1, 13):
        assert "checked" not in input_tag(settings, "off_season_months", str(month))
    assert 'value="20"' in input_tag(settings, "off_season_discount")
    assert 'value="60"' in input_tag(settings, "target_occupancy")
    units = page[page.index('data-testid="price-units"') :]
    assert "101 和室" in units and "102 洋室" in units
    assert "¥11,000 (tax incl.)" in units
    assert f"/operator/units/{shop.a.id}/price-bounds" in units
    assert f"/operator/units/{shop.a.id}/prices" in units
    assert 'placeholder="¥22,000"' in units  # the default ceiling: twice the base
    assert f"/operator/facilities/{shop.facility.id}/pricing/overrides" in page
    assert f"/operator/facilities/{shop.facility.id}/pricing/history" in page
    assert "No fixed prices now or ahead." in page
    assert "No price changes yet." in page


def test_saving_settings_reprices_the_off_season_month(db, shop):
    engine.recompute(NOW)
    row = price_row(db, shop.a, JUNE_TUESDAY)
    before = row.price
    assert (row.price, row.reasons) == (11000, "")

    response = shop.browser.post(shop.url, data={**SETTINGS, "off_season_months": ["6"]})
    page = follow(shop.browser, response)

    # Every night of June 2027, both rooms, is 20% cheaper now.
    assert flashes(page) == [
        "The pricing settings have been saved.",
        "60 nights have a new price.",
    ]
    after = price_row(db, shop.a, JUNE_TUESDAY)
    assert "off_season" in dict(decode_reasons(after.reasons))
    assert after.price == 8800 < before
    assert after.off_season == -20
    assert price_row(db, shop.b, JUNE_TUESDAY).price == 7200
    policy = db.session.get(PricingPolicy, shop.facility.id)
    assert policy.months == {6}
    assert policy.updated_by_id == shop.operator.id
    assert "checked" in input_tag(page, "off_season_months", "6")
    assert "checked" not in input_tag(page, "off_season_months", "7")


def test_dynamic_pricing_off_means_base_prices(db, shop):
    shop.browser.post(shop.url, data={**SETTINGS, "off_season_months": ["6"]})
    assert price_row(db, shop.a, JUNE_TUESDAY).price == 8800

    settings = {k: v for k, v in SETTINGS.items() if k != "enabled"}
    response = shop.browser.post(shop.url, data={**settings, "off_season_months": ["6"]})
    follow(shop.browser, response)

    assert db.session.get(PricingPolicy, shop.facility.id).enabled is False
    row = price_row(db, shop.a, JUNE_TUESDAY)
    assert (row.price, row.reasons) == (11000, "")


BAD_SETTINGS = [
    ({"off_season_discount": "150"}, "off_season_discount"),
    ({"max_discount": "-5"}, "max_discount"),
    ({"target_occupancy": "0"}, "target_occupancy"),
    ({"gap_discount": ""}, "gap_discount"),
    ({"last_minute_max": "twenty"}, "last_minute_max"),
    ({"off_season_months": ["13"]}, "off_season_months"),
    ({"off_season_months": ["june"]}, "off_season_months"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS, ids=[f for _c, f in BAD_SETTINGS])
def test_bad_settings_are_refused_and_change_nothing(db, shop, change, field):
    engine.recompute(NOW)
    before = state(db, shop.facility.id)

    response = shop.browser.post(shop.url, data={**SETTINGS, "off_season_months": ["6"], **change})
    page = response.get_data(as_text=True)

    assert response.status_code == 400
    assert "Please check the highlighted fields." in page
    assert '<p class="field-error">' in page
    assert state(db, shop.facility.id) == before


# --- floor and ceiling ----------------------------------------------------------------------


def bounds_url(unit) -> str:
    return f"/operator/units/{unit.id}/price-bounds"


def test_floor_and_ceiling_are_saved_and_bound_the_prices(db, shop):
    shop.browser.post(shop.url, data={**SETTINGS, "off_season_months": ["6"]})

    response = shop.browser.post(bounds_url(shop.a), data={"floor": "10000", "ceiling": ""})
    page = follow(shop.browser, response)

    assert "Room 101 和室: floor and ceiling saved." in flashes(page)
    db.session.refresh(shop.a)
    assert (shop.a.price_floor, shop.a.price_ceiling) == (10000, None)
    row = price_row(db, shop.a, JUNE_TUESDAY)
    assert row.price == 10000
    assert "floor" in dict(decode_reasons(row.reasons))
    assert 'value="10000"' in page

    # Emptying the floor again takes it away (None), and the price follows.
    shop.browser.post(bounds_url(shop.a), data={"floor": "", "ceiling": ""})
    db.session.refresh(shop.a)
    assert shop.a.price_floor is None
    assert price_row(db, shop.a, JUNE_TUESDAY).price == 8800


BAD_BOUNDS = [
    ({"floor": "12000", "ceiling": "10000"}, 400, "The floor cannot be above the ceiling."),
    ({"floor": "150", "ceiling": ""}, 422, "The floor must be a multiple of ¥100."),
    ({"floor": "", "ceiling": "12345"}, 422, "The ceiling must be a multiple of ¥100."),
    ({"floor": "-100", "ceiling": ""}, 400, "Number must be between 0 and 10000000."),
    ({"floor": "abc", "ceiling": ""}, 400, "Not a valid integer value."),
]


@pytest.mark.parametrize(("form", "status", "message"), BAD_BOUNDS)
def test_bad_bounds_are_refused_and_change_nothing(db, shop, form, status, message):
    engine.recompute(NOW)
    before = state(db, shop.facility.id)

    response = shop.browser.post(bounds_url(shop.a), data=form)
    page = response.get_data(as_text=True)

    assert response.status_code == status
    assert message in page
    assert f'id="unit-{shop.a.id}" data-unit-id="{shop.a.id}" class="failed"' in page
    assert state(db, shop.facility.id) == before


# --- fixed prices (overrides) ---------------------------------------------------------------


def test_an_override_wins_and_removing_it_restores_the_computed_price(db, shop):
    engine.recompute(NOW)
    night = days(40)
    computed_a = price_row(db, shop.a, night).price
    computed_b = price_row(db, shop.b, night).price
    after_last = price_row(db, shop.a, days(42)).price
    add_url = f"{shop.url}/overrides"

    response = shop.browser.post(
        add_url, data=override_form(shop.a, night, days(41), 5000, "社員旅行")
    )
    page = follow(shop.browser, response)

    assert any(m.startswith("Fixed price of ¥5,000 a night for 101 和室,") for m in flashes(page))
    assert "2 nights have a new price." in flashes(page)
    row = price_row(db, shop.a, night)
    assert row.price == 5000
    assert dict(decode_reasons(row.reasons)) == {"override": -55}
    assert price_row(db, shop.a, days(41)).price == 5000
    assert price_row(db, shop.a, days(42)).price == after_last  # the last night is included
    assert price_row(db, shop.b, night).price == computed_b  # another room is not touched
    override = db.session.scalar(select(PriceOverride))
    assert (override.unit_id, override.start_date, override.end_date) == (
        shop.a.id,
        days(40),
        days(42),
    )
    listed = page[page.index('data-testid="overrides"') :]
    assert f'data-override-id="{override.id}"' in listed and "社員旅行" in listed
    history = db.session.scalars(select(PriceChange.cause)).all()
    assert history == ["manual", "manual"]

    response = shop.browser.post(f"/operator/price-overrides/{override.id}/delete")
    page = follow(shop.browser, response)

    assert "The fixed price has been removed: these nights get computed prices again." in flashes(
        page
    )
    assert price_row(db, shop.a, night).price == computed_a
    assert price_row(db, shop.a, days(41)).reasons != "override:-55"
    assert db.session.scalar(select(func.count()).select_from(PriceOverride)) == 0
    assert "No fixed prices now or ahead." in page


def test_an_override_for_all_rooms_prices_every_room(db, shop):
    response = shop.browser.post(
        f"{shop.url}/overrides", data=override_form(None, JUNE_TUESDAY, JUNE_TUESDAY, 7000)
    )
    page = follow(shop.browser, response)

    assert any(m.startswith("Fixed price of ¥7,000 a night for all rooms,") for m in flashes(page))
    assert price_row(db, shop.a, JUNE_TUESDAY).price == 7000
    assert price_row(db, shop.b, JUNE_TUESDAY).price == 7000
    assert db.session.scalar(select(PriceOverride.unit_id)) is None


def test_bad_overrides_are_refused_and_change_nothing(db, shop, make_facility, make_unit):
    engine.recompute(NOW)
    elsewhere = make_unit(facility=make_facility(operator=shop.facility.operator))
    foreign = make_unit()
    add_url = f"{shop.url}/overrides"
    cases = [
        (override_form(shop.a, days(20), days(18), 5000), 400, "must not be before the first"),
        (override_form(elsewhere, days(20), days(21), 5000), 400, "Not a valid choice"),
        (override_form(foreign, days(20), days(21), 5000), 400, "Not a valid choice"),
        (
            override_form(shop.a, days(20), days(21), -100),
            400,
            "Number must be between 0 and 10000000.",
        ),
        (override_form(shop.a, days(20), days(21), 5050), 422, "multiple of ¥100"),
        (override_form(shop.a, days(-5), days(-2), 5000), 400, HORIZON),
        (override_form(shop.a, days(-1), days(2), 5000), 400, HORIZON),
        (override_form(shop.a, days(1098), days(1099), 5000), 400, HORIZON),
        (override_form(shop.a, date(9999, 12, 31), date(9999, 12, 31), 5000), 400, HORIZON),
        (override_form(shop.a, date(1, 1, 1), date(1, 1, 1), 5000), 400, HORIZON),
        (override_form(shop.a, date(1, 1, 1), date(9999, 12, 31), 5000), 400, HORIZON),
        ({**override_form(shop.a, days(1), days(2), 5000), "last_night": "10000-01-01"}, 400, ""),
        (override_form(shop.a, days(20), days(400), 5000), 422, "at most 366 nights"),
        (override_form(shop.a, days(20), days(21), ""), 400, "This field is required."),
        ({**override_form(shop.a, days(20), days(21), 5000), "first_night": "x"}, 400, ""),
        (override_form(shop.a, days(20), days(21), 5000, "x" * 201), 400, "200 characters"),
    ]
    before = state(db, shop.facility.id)

    for form, status, message in cases:
        response = shop.browser.post(add_url, data=form)
        page = response.get_data(as_text=True)
        assert response.status_code == status, (form, page[:3000])
        assert 'data-testid="form-error"' in page
        assert message in page, form

    assert state(db, shop.facility.id) == before
    assert db.session.scalar(select(func.count()).select_from(PriceOverride)) == 0


@pytest.mark.parametrize(
    ("first", "last"), [(0, 0), (1098, 1098)], ids=["today", "last-day-of-the-horizon"]
)
def test_an_override_just_inside_the_horizon_is_saved(db, shop, first, last):
    response = shop.browser.post(
        f"{shop.url}/overrides", data=override_form(shop.a, days(first), days(last), 7000)
    )

    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    db.session.rollback()
    saved = db.session.execute(select(PriceOverride.start_date, PriceOverride.end_date)).one()
    assert tuple(saved) == (days(first), days(last + 1))


def test_the_override_horizon_follows_a_longer_pricing_horizon(app, db, shop):
    app.config["PRICING_HORIZON_DAYS"] = 1500
    response = shop.browser.post(
        f"{shop.url}/overrides", data=override_form(shop.a, days(1500), days(1500), 7000)
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]

    response = shop.browser.post(
        f"{shop.url}/overrides", data=override_form(shop.a, days(1501), days(1501), 7000)
    )
    assert response.status_code == 400
    assert "Choose a date from Tue 1 Dec 2026 to " in response.get_data(as_text=True)


# --- a room's price calendar ------------------------------------------------------------------


def cell(page: str, night: date) -> str:
    found = re.search(rf'<td[^>]*data-night="{night.isoformat()}".*?</td>', page, re.S)
    assert found, night
    return found.group(0)


def test_the_price_calendar_shows_prices_reasons_and_booked_nights(db, shop, make_employee):
    engine.recompute(NOW)
    stay = booking.book_stay(
        make_employee(), booking.StayRequest(shop.a.id, days(10), days(12), 1), NOW
    )
    db.session.commit()
    frozen = {n.night: n.price for n in db.session.scalars(select(BookingNight))}
    closing.close_facility_dates(
        shop.operator, shop.facility, shop.a.id, days(20), days(20), "maintenance", "", NOW
    )
    db.session.commit()
    # A new base price moves every unsold night; the booking keeps what it paid.
    shop.a.base_price = 20000
    db.session.commit()
    engine.reprice_now([shop.facility.id], NOW, cause="settings")

    response = shop.browser.get(f"/operator/units/{shop.a.id}/prices?month=2026-12")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert stay.id and len(frozen) == 2
    booked = cell(page, days(10))
    assert 'data-state="booked"' in booked and "Booked" in booked
    assert f"¥{frozen[days(10)]:,}" in booked
    assert 'data-state="closed"' in cell(page, days(20))
    # December 4th 2026 is a Friday: a weekend night, and close, so selling slowly.
    friday = cell(page, date(2026, 12, 4))
    assert 'data-state="open"' in friday
    assert 'data-code="weekend"' in friday and "Weekend +10%" in friday
    current = price_row(db, shop.a, date(2026, 12, 4))
    assert f"¥{current.price:,}" in friday
    assert "<s" in friday and "¥20,000" in friday  # the base price, as it differs
    assert 'data-testid="month">December 2026<' in page
    # Sunday first: the first row starts on Sunday 29 November (not in this month).
    assert page.index(">Sun<") < page.index(">Mon<")
    assert page.count('<td class="day') == 35


def test_the_price_calendar_navigates_months_and_shows_past_nights(db, shop):
    url = f"/operator/units/{shop.a.id}/prices"

    november = shop.browser.get(f"{url}?month=2026-11").get_data(as_text=True)
    assert 'data-testid="month">November 2026<' in november
    assert 'data-state="past"' in cell(november, days(-1))
    assert f'href="{url}?month=2026-10"' in november
    assert f'href="{url}?month=2026-12"' in november

    for bad in ("2026-13", "junk", "1999-01", "2026-1", ""):
        page = shop.browser.get(f"{url}?month={bad}").get_data(as_text=True)
        assert 'data-testid="month">December 2026<' in page, bad

    june = shop.browser.get(f"{url}?month=2027-06").get_data(as_text=True)
    assert "¥11,000" in cell(june, JUNE_TUESDAY)  # no price stored yet: the base price


# --- history --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "shown"),
    [
        ("2031-12", "December 2031"),  # 60 months ahead: just inside
        ("2032-01", "December 2026"),  # just outside: this month
        ("9999-12", "December 2026"),
        ("0001-01", "December 2026"),
    ],
)
def test_the_price_calendar_months_stay_within_the_horizon(db, shop, month, shown):
    response = shop.browser.get(f"/operator/units/{shop.a.id}/prices?month={month}")

    assert response.status_code == 200
    assert f'data-testid="month">{shown}<' in response.get_data(as_text=True)


def test_the_history_lists_changes_after_a_settings_change(db, shop):
    history_url = f"{shop.url}/history"
    assert "No price changes yet." in shop.browser.get(history_url).get_data(as_text=True)
    engine.recompute(NOW)  # first prices: not changes

    follow(shop.browser, shop.browser.post(shop.url, data={**SETTINGS, "off_season_months": ["6"]}))

    changes = db.session.scalars(select(PriceChange)).all()
    assert len(changes) == 60 and {c.cause for c in changes} == {"settings"}
    page = shop.browser.get(history_url).get_data(as_text=True)
    table = page[page.index('data-testid="price-history"') :]
    assert table.count("<tr data-change-id=") == 50
    assert "Settings changed" in table
    assert "101 和室" in table and "102 洋室" in table
    assert re.search(r"¥11,000</span> → <strong[^>]*>¥8,800<", table)
    assert "2026/12/01 12:00" in table  # when, in Tokyo time
    assert "Page 1 of 2" in page
    second = shop.browser.get(f"{history_url}?page=2").get_data(as_text=True)
    assert second.count("<tr data-change-id=") == 10 and "Page 2 of 2" in second
    for odd in ("0", "-1", "abc", "99999999999999999999"):
        assert "Page 1 of 2" in shop.browser.get(f"{history_url}?page={odd}").get_data(as_text=True)
    assert "Page 2 of 2" in shop.browser.get(f"{history_url}?page=99").get_data(as_text=True)
    # The settings page shows the latest ten.
    settings_page = shop.browser.get(shop.url).get_data(as_text=True)
    recent = settings_page[settings_page.index('data-testid="recent-changes"') :]
    assert recent.count("<tr data-change-id=") == 10


# --- tenants, roles and CSRF -----------------------------------------------------------------


@pytest.fixture
def world(db, shop):
    """The shop with a stay of prices and one override to knock at."""
    engine.recompute(NOW)
    follow(
        shop.browser,
        shop.browser.post(
            f"{shop.url}/overrides", data=override_form(shop.a, days(30), days(31), 6000)
        ),
    )
    shop.override = db.session.scalar(select(PriceOverride))
    return shop


DOORS = [
    ("GET", "/operator/facilities/{facility}/pricing", None),
    ("POST", "/operator/facilities/{facility}/pricing", {**SETTINGS, "off_season_months": "1"}),
    ("POST", "/operator/units/{unit}/price-bounds", {"floor": "100", "ceiling": "200"}),
    ("POST", "/operator/facilities/{facility}/pricing/overrides", "override"),
    ("POST", "/operator/price-overrides/{override}/delete", {}),
    ("GET", "/operator/units/{unit}/prices?month=2026-12", None),
    ("GET", "/operator/facilities/{facility}/pricing/history", None),
]
DOOR_IDS = [f"{m}-{p.split('/operator/')[1].split('?')[0]}" for m, p, _f in DOORS]


def knock(browser: FlaskClient, method: str, path: str, form, ids):
    url = path.format(facility=ids.facility.id, unit=ids.a.id, override=ids.override.id)
    if form == "override":
        form = override_form(None, days(50), days(52), 100)
    with browser.open(url, method=method, data=form) as response:
        response.get_data()
        return response


@pytest.mark.parametrize(("method", "path", "form"), DOORS, ids=DOOR_IDS)
def test_another_operator_gets_404_and_changes_nothing(
    app, db, make_user, make_facility, make_unit, world, method, path, form
):
    stranger = make_user(Role.OPERATOR)
    make_unit(facility=make_facility(operator=stranger.operator))  # a facility of their own
    before = state(db, world.facility.id)

    response = knock(signed_in(app, stranger), method, path, form, world)

    assert response.status_code == 404
    assert state(db, world.facility.id) == before


@pytest.mark.parametrize(("method", "path", "form"), DOORS, ids=DOOR_IDS)
def test_the_owner_gets_through_every_door(app, db, world, method, path, form):
    """The walls above are walls, not broken pages."""
    response = knock(signed_in(app, world.operator), method, path, form, world)
    assert response.status_code in (200, 303), response.get_data(as_text=True)[:2000]


@pytest.mark.parametrize("impossible", [0, 999_999, 2**31, 2**63, 10**30])
def test_impossible_ids_are_simply_not_found(db, world, impossible):
    ids = SimpleNamespace(
        facility=SimpleNamespace(id=impossible),
        a=SimpleNamespace(id=impossible),
        override=SimpleNamespace(id=impossible),
    )
    for method, path, form in DOORS:
        assert knock(world.browser, method, path, form, ids).status_code == 404, path


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_other_roles_are_refused_everywhere(app, db, make_user, world, role):
    browser = signed_in(app, make_user(role))
    before = state(db, world.facility.id)

    answers = {
        f"{method} {path}": knock(browser, method, path, form, world).status_code
        for method, path, form in DOORS
    }

    assert answers == dict.fromkeys(answers, 403)
    assert state(db, world.facility.id) == before


def test_strangers_are_sent_to_sign_in(app, db, world):
    for method, path, form in DOORS:
        response = knock(app.test_client(), method, path, form, world)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def csrf_token(browser, path: str) -> str:
    page = browser.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_every_pricing_form_requires_a_csrf_token(app, db, world):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    token = csrf_token(browser, "/login")
    signed = post_sign_in(browser, world.operator.email, data={"csrf_token": token})
    assert signed.status_code == 302  # the owner, signed in: the refusals below are CSRF's
    before = state(db, world.facility.id)

    answers = {
        f"{method} {path}": knock(browser, method, path, form, world).status_code
        for method, path, form in DOORS
        if method == "POST"
    }

    assert answers == dict.fromkeys(answers, 400)
    assert state(db, world.facility.id) == before

    # With the token, the same forms work.
    token = csrf_token(browser, world.url)
    response = browser.post(
        world.url, data={**SETTINGS, "off_season_months": ["6"], "csrf_token": token}
    )
    assert response.status_code == 303
    response = browser.post(
        f"/operator/price-overrides/{world.override.id}/delete", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(PriceOverride)) == 0
