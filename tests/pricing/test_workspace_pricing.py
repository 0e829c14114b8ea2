"""pricing.workspace: a workspace booking's price, moved by demand as nights are.

Every test runs on SQLite and PostgreSQL. Dates are fixed (nothing depends on today);
expected yen are worked out by hand from the module docstring: each slot's hourly share
× (100 − discount) / 100, summed, rounded down; the day price caps the sum, lowered by
the off-season discount only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from flask_babel import force_locale
from sqlalchemy import event, select

from availability.slots import SlotError, day_slots
from availability.workspace import opening_hours
from core.db import TOKYO
from facilities.workspace import WorkspaceUnit
from pricing.models import PricingPolicy
from pricing.rules import Policy
from pricing.workspace import (
    WORKSPACE_REASON_LABELS,
    WorkspaceQuote,
    decode_workspace_reasons,
    facility_policies,
    quote_workspace,
    slot_prices,
    slot_quotes,
    workspace_reason_label,
)

WEDNESDAY = date(2027, 6, 9)  # June: no public holiday
SATURDAY = date(2027, 6, 12)
MARINE_DAY = date(2027, 7, 19)  # 海の日, a Monday
FEBRUARY_WEDNESDAY = date(2027, 2, 3)  # no holiday that day
# Open 07:00–22:00 every day, national holidays with Sunday's hours.
EVERY_DAY = {"week": [[420, 1320]] * 7, "holiday": 6}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A Tokyo wall-clock time as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=TOKYO).astimezone(UTC)


@pytest.fixture
def make_space(db, make_facility):
    def make(**kw) -> WorkspaceUnit:
        unit = WorkspaceUnit(
            facility=kw.pop("facility", None) or make_facility(kind="both"),
            name=kw.pop("name", "Desk A"),
            kind=kw.pop("kind", "hot_desk"),
            hours=kw.pop("hours", EVERY_DAY),
            slot_minutes=kw.pop("slot_minutes", 30),
            min_minutes=kw.pop("min_minutes", kw.get("slot_minutes", 30)),
            hourly_price=kw.pop("hourly_price", 1000),
            day_price=kw.pop("day_price", None),
            **kw,
        )
        db.session.add(unit)
        db.session.commit()
        return unit

    return make


def set_policy(db, facility, **settings) -> None:
    policy = db.session.get(PricingPolicy, facility.id) or PricingPolicy(facility_id=facility.id)
    months = settings.pop("months", None)
    if months is not None:
        policy.months = months
    for name, value in settings.items():
        setattr(policy, name, value)
    db.session.add(policy)
    db.session.commit()


def quote(unit, day, start: tuple[int, int], end: tuple[int, int]) -> WorkspaceQuote:
    return quote_workspace(unit, at(day, *start), at(day, *end))


# -- the base price --------------------------------------------------------------------


def test_busy_hours_of_an_ordinary_day_cost_the_hourly_price_pro_rata_rounded_down(make_space):
    unit = make_space(hourly_price=1001)

    price = quote(unit, WEDNESDAY, (10, 0), (11, 30))

    # 1001 × 90 / 60 = 1501.5 → 1501, in the customer's favour; nothing discounted.
    assert price == WorkspaceQuote(base=1501, total=1501, reasons=(), day_capped=False)
    assert price.labels == () and price.saving == 0


def test_the_day_price_caps_the_hourly_prices(make_space):
    unit = make_space(hourly_price=1000, day_price=5000)

    busy_day = quote(unit, WEDNESDAY, (10, 0), (17, 0))  # 7 hours: ¥7,000 by the hour

    assert (busy_day.base, busy_day.total, busy_day.reasons) == (5000, 5000, ())
    assert busy_day.day_capped


def test_the_day_price_caps_the_sum_after_demand_and_not_before(make_space):
    unit = make_space(hourly_price=1000, day_price=5000)

    # 17:00–22:00, all off-peak: 5 × 1000 = 5000 by the hour (= the day price: the base),
    # then 20% off each slot: 4000, below the day price, which no longer binds.
    evening = quote(unit, WEDNESDAY, (17, 0), (22, 0))

    assert (evening.base, evening.total) == (5000, 4000)
    assert evening.reasons == ("off_peak_hours",) and not evening.day_capped

    # 08:00–20:00: 2h early 1600 + 7h busy 7000 + 3h late 2400 = 11000 > 5000: capped.
    long_day = quote(unit, WEDNESDAY, (8, 0), (20, 0))
    assert (long_day.base, long_day.total, long_day.reasons) == (5000, 5000, ())
    assert long_day.day_capped


def test_the_day_price_takes_the_off_season_discount_but_not_the_off_peak_one(db, make_space):
    unit = make_space(hourly_price=1000, day_price=5000)
    set_policy(db, unit.facility, months={2})

    long_day = quote(unit, FEBRUARY_WEDNESDAY, (8, 0), (20, 0))

    # Slots: (1600 + 7000 + 2400) × 0.8 = 8800 > the day price × 0.8 = 4000.
    assert (long_day.base, long_day.total) == (5000, 4000)
    assert long_day.reasons == ("off_season",) and long_day.day_capped


# -- off-peak hours and days off ------------------------------------------------------


def test_off_peak_hours_are_cheaper_and_say_why(make_space):
    unit = make_space(hourly_price=1000)

    early = quote(unit, WEDNESDAY, (9, 0), (10, 0))
    straddling = quote(unit, WEDNESDAY, (16, 30), (17, 30))  # 500 busy + 500 × 0.8
    busy = quote(unit, WEDNESDAY, (10, 0), (11, 0))

    assert (early.base, early.total, early.reasons) == (1000, 800, ("off_peak_hours",))
    assert (straddling.total, straddling.reasons) == (900, ("off_peak_hours",))
    assert (busy.total, busy.reasons) == (1000, ())
    with force_locale("en"):
        assert [str(label) for label in early.labels] == ["Off-peak hours discount"]
        assert workspace_reason_label("off_peak_hours") == "Off-peak hours discount"


@pytest.mark.parametrize("day", [SATURDAY, MARINE_DAY], ids=["saturday", "holiday"])
def test_a_weekend_or_holiday_is_off_peak_all_day_once(make_space, day):
    unit = make_space(hourly_price=1000)

    busy_hours = quote(unit, day, (10, 0), (12, 0))
    early = quote(unit, day, (8, 0), (9, 0))  # a day off and early: still only 20% off

    assert (busy_hours.base, busy_hours.total) == (2000, 1600)
    assert busy_hours.reasons == early.reasons == ("off_peak_day",)
    assert early.total == 800
    with force_locale("en"):
        assert [str(label) for label in busy_hours.labels] == ["Weekend or holiday discount"]


# -- the off-season --------------------------------------------------------------------


def test_an_off_season_month_is_cheaper_by_the_facilitys_own_discount(db, make_space):
    unit = make_space(hourly_price=1000)
    set_policy(db, unit.facility, months={1, 2, 11}, off_season_discount=25)

    busy = quote(unit, FEBRUARY_WEDNESDAY, (10, 0), (12, 0))
    early = quote(unit, FEBRUARY_WEDNESDAY, (9, 0), (10, 0))
    june = quote(unit, WEDNESDAY, (10, 0), (12, 0))

    assert (busy.base, busy.total, busy.reasons) == (2000, 1500, ("off_season",))
    # Both factors, as nights multiply theirs: 1000 × 0.75 × 0.8 = 600.
    assert (early.total, early.reasons) == (600, ("off_season", "off_peak_hours"))
    assert (june.total, june.reasons) == (2000, ())  # June is not one of its months
    with force_locale("en"):
        assert [str(label) for label in early.labels] == [
            "Off-season discount",
            "Off-peak hours discount",
        ]


def test_discounts_together_stop_at_the_facilitys_maximum_discount(db, make_space):
    unit = make_space(hourly_price=1000)
    set_policy(db, unit.facility, months={2}, off_season_discount=40, max_discount=40)

    early = quote(unit, FEBRUARY_WEDNESDAY, (9, 0), (10, 0))

    # 0.6 × 0.8 = 0.48 would be 52% off; the facility allows 40% at most: 600.
    assert early.total == 600
    assert early.reasons == ("off_season", "off_peak_hours", "max_discount")


def test_a_facility_without_settings_has_no_off_season(db, make_space):
    unit = make_space(hourly_price=1000)

    assert facility_policies([unit.facility_id]) == {unit.facility_id: Policy()}
    assert quote(unit, FEBRUARY_WEDNESDAY, (10, 0), (11, 0)).total == 1000


# -- demand pricing off -----------------------------------------------------------------


def test_a_unit_without_demand_pricing_costs_the_base_price(db, make_space):
    unit = make_space(hourly_price=1000, day_price=5000, demand_pricing=False)
    set_policy(db, unit.facility, months={2})

    for day, start, end in [
        (FEBRUARY_WEDNESDAY, (9, 0), (10, 0)),
        (SATURDAY, (8, 0), (9, 30)),
        (FEBRUARY_WEDNESDAY, (8, 0), (20, 0)),
    ]:
        price = quote(unit, day, start, end)
        assert price.total == price.base and price.reasons == ()
    assert quote(unit, FEBRUARY_WEDNESDAY, (8, 0), (20, 0)).total == 5000


def test_a_facility_with_pricing_off_costs_the_base_price(db, make_space):
    unit = make_space(hourly_price=1000)
    set_policy(db, unit.facility, enabled=False, months={2})

    price = quote(unit, FEBRUARY_WEDNESDAY, (9, 0), (10, 0))

    assert (price.base, price.total, price.reasons) == (1000, 1000, ())


# -- 15-minute slots, whole yen ---------------------------------------------------------


def test_a_fifteen_minute_unit_prices_each_quarter_hour(db, make_space):
    unit = make_space(slot_minutes=15, hourly_price=1001)

    across_ten = quote(unit, WEDNESDAY, (9, 45), (10, 15))
    quarter = quote(unit, WEDNESDAY, (9, 45), (10, 0))

    # 1001/4 × 0.8 + 1001/4 = 200.2 + 250.25 = 450.45 → 450; the base 500.5 → 500.
    assert (across_ten.base, across_ten.total) == (500, 450)
    assert (quarter.base, quarter.total) == (250, 200)
    assert across_ten.reasons == quarter.reasons == ("off_peak_hours",)


def test_prices_are_whole_yen_and_never_above_the_base(db, make_space):
    unit = make_space(slot_minutes=15, hourly_price=997, day_price=6999)
    set_policy(db, unit.facility, months={2}, off_season_discount=13)

    for day in (WEDNESDAY, SATURDAY, FEBRUARY_WEDNESDAY):
        for start in range(7 * 60, 22 * 60, 45):
            for end in range(start + 15, 22 * 60 + 1, 105):
                price = quote_workspace(
                    unit, at(day, *divmod(start, 60)), at(day, *divmod(end, 60))
                )
                assert type(price.total) is int and type(price.base) is int
                assert 0 <= price.total <= price.base
                assert bool(price.reasons) == (price.total < price.base)
                assert decode_workspace_reasons(",".join(price.reasons)) == price.reasons


# -- a day view --------------------------------------------------------------------------


def test_slot_prices_of_a_day_view(db, make_space):
    unit = make_space(hourly_price=1000, day_price=400)
    spans = day_slots(opening_hours(unit), WEDNESDAY, unit.slot_minutes)

    prices = slot_prices(unit, spans)

    # 07:00–22:00 in 30 minutes: 30 slots; each ¥500 by the hour, so all capped at
    # the day price ¥400 (the off-peak ones cost 500 × 0.8 = 400 anyway).
    assert len(prices) == 30 and set(prices) == {400}
    quotes = slot_quotes(unit, spans)
    assert quotes[0].reasons == () and quotes[0].day_capped  # 07:00: 400 either way
    assert [q.total for q in quotes] == prices

    cheaper = make_space(hourly_price=1000)
    by_slot = slot_prices(cheaper, spans)
    assert by_slot[:6] == [400] * 6  # 07:00–10:00
    assert by_slot[6:20] == [500] * 14  # 10:00–17:00
    assert by_slot[20:] == [400] * 10  # 17:00–22:00


def test_a_day_view_reads_the_settings_once(app, db, make_space, make_facility):
    facility = make_facility(kind="both")
    set_policy(db, facility, months={2})
    for n in range(20):
        make_space(facility=facility, name=f"Desk {n}")
    # As a day view loads them: one query for the units.
    units = db.session.scalars(
        select(WorkspaceUnit).where(WorkspaceUnit.facility_id == facility.id)
    ).all()
    spans = day_slots(opening_hours(units[0]), FEBRUARY_WEDNESDAY, 30)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        policies = facility_policies({u.facility_id for u in units})
        views = [slot_prices(u, spans, policy=policies[u.facility_id]) for u in units]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert len(statements) == 1
    # 10:00 in February: 500 × 0.8; 09:00: 500 × 0.8 × 0.8.
    assert all(view[6] == 400 and view[4] == 320 for view in views)


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        (datetime(2027, 6, 9, 10, 0), datetime(2027, 6, 9, 11, 0), "invalid_time"),  # naive
        (at(WEDNESDAY, 10, 10), at(WEDNESDAY, 11, 0), "not_on_slot"),
        (at(WEDNESDAY, 11, 0), at(WEDNESDAY, 10, 0), "order"),
        (at(WEDNESDAY, 10, 0), at(WEDNESDAY, 10, 0), "order"),
    ],
)
def test_times_that_are_no_booking_are_refused(make_space, start, end, code):
    unit = make_space()

    with pytest.raises(SlotError) as refused:
        quote_workspace(unit, start, end)

    assert refused.value.code == code


def test_every_reason_has_an_english_label(app):
    with force_locale("en"):
        labels = {code: str(label) for code, label in WORKSPACE_REASON_LABELS.items()}
    assert labels == {
        "off_season": "Off-season discount",
        "off_peak_day": "Weekend or holiday discount",
        "off_peak_hours": "Off-peak hours discount",
        "max_discount": "Discounts capped",
    }
    assert workspace_reason_label("unknown") == "unknown"
