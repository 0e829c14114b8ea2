"""The recompute job, the refresh after bookings, and what employees and the API see.

Every test runs on SQLite and PostgreSQL (the ``app`` fixture), with ``now`` fixed
at 2026-12-01 12:00 in Tokyo.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select

from booking import cancellation
from booking import services as booking_services
from booking.models import BookingNight
from core.models import JobRun
from core.scheduler import registered_jobs, run_job
from pricing import engine, refresh
from pricing.models import NightlyPrice, PriceChange, PriceOverride, PricingPolicy, PricingState
from pricing.rules import decode_reasons
from tests.conftest import NOW, TODAY, bearer, days, signed_in

HORIZON = 365


def prices(db, unit_id: int) -> dict[date, tuple[int, int, str]]:
    """night → (price, base price, reasons) as stored for one unit."""
    rows = db.session.execute(
        select(
            NightlyPrice.night, NightlyPrice.price, NightlyPrice.base_price, NightlyPrice.reasons
        ).where(NightlyPrice.unit_id == unit_id)
    )
    return {night: (price, base, reasons) for night, price, base, reasons in rows}


def codes(reasons: str) -> list[str]:
    return [code for code, _ in decode_reasons(reasons)]


def set_policy(db, facility, **settings) -> None:
    policy = db.session.get(PricingPolicy, facility.id) or PricingPolicy(facility_id=facility.id)
    months = settings.pop("months", None)
    if months is not None:
        policy.months = months
    for name, value in settings.items():
        setattr(policy, name, value)
    db.session.add(policy)
    db.session.commit()


def test_every_unsold_night_of_the_horizon_gets_an_explained_price(db, make_unit):
    unit = make_unit(base_price=11000)

    counts = engine.recompute(NOW)

    stored = prices(db, unit.id)
    assert sorted(stored) == [days(i) for i in range(HORIZON)]
    assert counts.changed == counts.new == counts.priced == HORIZON
    # Tonight, nothing sold anywhere: demand −15%, last minute −30%, which together
    # would go below the facility's maximum discount (40%), so ¥6,600.
    price, base, reasons = stored[days(0)]
    assert (price, base) == (6600, 11000)
    assert codes(reasons) == ["occupancy", "last_minute", "max_discount"]
    # Far ahead nothing is judged yet: an ordinary Wednesday costs the base price.
    assert stored[date(2027, 9, 8)] == (11000, 11000, "")
    # A Friday night is dearer; New Year is a peak.
    assert stored[date(2027, 9, 10)] == (12100, 11000, "weekend:10")
    assert codes(stored[date(2026, 12, 31)][2])[0] == "peak"
    assert all(p % 100 == 0 for p, _, _ in stored.values())


def test_a_second_run_changes_nothing(db, make_unit, make_employee):
    unit = make_unit()
    booking_services.book_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(20), days(24), 1), NOW
    )
    db.session.commit()
    engine.recompute(NOW)
    before = prices(db, unit.id)

    again = engine.recompute(NOW)

    assert (again.changed, again.new, again.up, again.down) == (0, 0, 0, 0)
    assert again.unchanged == 1  # skipped: nothing it is priced from changed
    # Without the shortcut, every night is priced again, and again nothing changes.
    db.session.execute(delete(PricingState))
    db.session.commit()
    compared = engine.recompute(NOW)
    assert (compared.changed, compared.unchanged, compared.priced) == (0, 0, HORIZON - 4)
    assert prices(db, unit.id) == before


def test_booked_nights_keep_their_price_and_their_row(db, make_unit, make_employee):
    unit = make_unit(base_price=20000)
    engine.recompute(NOW)
    booking = booking_services.book_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(40), days(43), 1), NOW
    )
    db.session.commit()
    frozen = [(n.night, n.price) for n in booking.nights]
    before = prices(db, unit.id)
    assert [p for _, p in frozen] == [before[n][0] for n, _ in frozen]

    # The operator declares December and January off-season: prices drop…
    set_policy(db, unit.facility, months={12, 1})
    counts = engine.recompute(NOW)

    after = prices(db, unit.id)
    assert counts.down > 0
    assert after[days(44)][0] < before[days(44)][0]
    # …but not on the booked nights, neither in the booking nor in the table.
    for night, _price in frozen:
        assert after[night] == before[night]
    nights = db.session.execute(
        select(BookingNight.night, BookingNight.price).where(BookingNight.booking_id == booking.id)
    ).all()
    assert sorted(nights) == frozen


def test_a_run_interrupted_between_facilities_leaves_none_half_priced(
    db, make_unit, make_facility, monkeypatch
):
    units = [make_unit(facility=make_facility()) for _ in range(3)]
    for unit in units:
        make_unit(facility=unit.facility)  # two rooms each
    engine.recompute(NOW)
    old = {u.id: prices(db, u.id) for u in units}
    for unit in units:
        set_policy(db, unit.facility, months={12, 1, 2, 3})

    real_write = engine._write
    calls = []

    def write_then_crash(rows, new_rows):
        calls.append(len(rows))
        real_write(rows, new_rows)  # the rows are written…
        if len(calls) == 2:
            raise RuntimeError("power cut")  # …and the process dies before the commit

    monkeypatch.setattr(engine, "_write", write_then_crash)
    with pytest.raises(RuntimeError):
        engine.recompute(NOW)
    db.session.rollback()
    monkeypatch.setattr(engine, "_write", real_write)

    first, second, third = (prices(db, u.id) for u in units)
    assert first != old[units[0].id]
    assert any("off_season" in r for _, _, r in first.values())
    assert second == old[units[1].id]  # all old: the half-written prices rolled back
    assert third == old[units[2].id]

    # The next run finishes the job; the one after it has nothing left to do.
    assert engine.recompute(NOW).changed > 0
    assert engine.recompute(NOW).changed == 0


def test_a_first_run_interrupted_leaves_the_next_facility_unpriced(
    db, make_unit, make_facility, monkeypatch
):
    """The same with no prices yet (PostgreSQL writes first prices with COPY)."""
    first, second = make_unit(facility=make_facility()), make_unit(facility=make_facility())
    real_write = engine._write

    def crash_on_second(rows, new_rows):
        real_write(rows, new_rows)
        if rows[0][0] == second.id:
            raise RuntimeError("killed")

    monkeypatch.setattr(engine, "_write", crash_on_second)
    with pytest.raises(RuntimeError):
        engine.recompute(NOW)
    db.session.rollback()
    assert len(prices(db, first.id)) == HORIZON
    assert prices(db, second.id) == {}
    monkeypatch.setattr(engine, "_write", real_write)
    assert engine.recompute(NOW).new == HORIZON


def test_an_unchanged_facility_is_skipped_and_any_change_reprices_it(db, make_unit, make_employee):
    unit = make_unit()
    engine.recompute(NOW)
    assert engine.recompute(NOW).unchanged == 1

    # A booking whose refresh never ran (the scheduler was down): the next full
    # run sees the facility's inputs changed and prices it again.
    booking_services.book_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(30), days(32), 1), NOW
    )
    db.session.commit()
    again = engine.recompute(NOW)
    assert again.unchanged == 0 and again.changed > 0
    assert engine.recompute(NOW).unchanged == 1
    # A new day moves every lead time: nothing is skipped.
    assert engine.recompute(NOW + timedelta(days=1)).unchanged == 0


def test_dry_run_counts_but_writes_nothing(db, make_unit):
    unit = make_unit()
    dry = engine.recompute(NOW, dry_run=True)
    assert dry.changed == HORIZON
    assert prices(db, unit.id) == {}
    assert engine.recompute(NOW).changed == dry.changed


def test_a_booking_reprices_its_neighbourhood_after_commit(db, make_unit, make_employee):
    unit = make_unit()
    employee = make_employee()
    booking_services.book_stay(
        employee, booking_services.StayRequest(unit.id, days(30), days(33), 1), NOW
    )
    db.session.commit()
    engine.recompute(NOW)
    assert "gap" not in prices(db, unit.id)[days(33)][2]

    # A stay from days(34) leaves a one-night gap at days(33).
    booking_services.book_stay(
        employee, booking_services.StayRequest(unit.id, days(34), days(36), 1), NOW
    )
    db.session.commit()
    # Not inside the booking's transaction: queued, still the old price…
    assert refresh.refresh_pending()
    assert "gap" not in prices(db, unit.id)[days(33)][2]

    counts = refresh.refresh_queued(NOW)

    # …and re-priced by the refresh job right after.
    assert "gap" in codes(prices(db, unit.id)[days(33)][2])
    assert counts.changed > 0
    assert not refresh.refresh_pending()
    # The refresh did everything a full run would do for these nights.
    assert engine.recompute(NOW).changed == 0
    changes = db.session.scalars(select(PriceChange).where(PriceChange.night == days(33))).all()
    assert [c.cause for c in changes] == ["booking"]


def test_a_cancellation_reprices_the_freed_nights(db, make_unit, make_employee):
    unit = make_unit()
    employee = make_employee()
    booking = booking_services.book_stay(
        employee, booking_services.StayRequest(unit.id, days(50), days(57), 1), NOW
    )
    db.session.commit()
    engine.recompute(NOW)
    assert days(52) not in prices(db, unit.id)  # never priced: booked before the first run

    cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()
    refresh.refresh_queued(NOW)

    assert days(52) in prices(db, unit.id)
    assert engine.recompute(NOW).changed == 0


def test_overrides_win_and_disabled_pricing_is_the_base_price(db, make_unit):
    unit = make_unit(base_price=15000)
    other = make_unit(facility=unit.facility, base_price=9000)
    db.session.add_all(
        [
            # Facility-wide, then one room's own: the room's own wins for that room.
            PriceOverride(
                facility_id=unit.facility_id, start_date=days(5), end_date=days(8), price=7000
            ),
            PriceOverride(
                facility_id=unit.facility_id,
                unit_id=unit.id,
                start_date=days(6),
                end_date=days(7),
                price=30000,
            ),
        ]
    )
    db.session.commit()
    engine.recompute(NOW)
    mine, theirs = prices(db, unit.id), prices(db, other.id)
    assert [mine[days(i)][0] for i in (5, 6, 7)] == [7000, 30000, 7000]
    assert [theirs[days(i)][0] for i in (5, 6, 7)] == [7000, 7000, 7000]
    assert mine[days(6)][2] == "override:100"

    set_policy(db, unit.facility, enabled=False)
    engine.recompute(NOW)
    mine = prices(db, unit.id)
    assert mine[days(6)][0] == 30000  # the override still wins
    assert mine[days(100)] == (15000, 15000, "")


def test_floor_and_ceiling_bound_every_price(db, make_unit):
    unit = make_unit(base_price=10000, price_floor=9000, price_ceiling=11000)
    engine.recompute(NOW)
    stored = prices(db, unit.id)
    assert min(p for p, _, _ in stored.values()) == 9000
    assert max(p for p, _, _ in stored.values()) == 11000
    assert "floor" in codes(stored[days(0)][2])
    assert "ceiling" in codes(stored[date(2026, 12, 31)][2])


def test_availability_api_carries_price_base_price_and_reasons(
    db, client, make_unit, make_employee
):
    unit = make_unit(base_price=10000)
    set_policy(db, unit.facility, months={1})
    engine.recompute(NOW)
    auth = bearer(db, make_employee())

    response = client.get(
        f"/api/v1/facilities/{unit.facility_id}/availability?from=2026-12-30&to=2027-01-20",
        headers=auth,
    )

    assert response.status_code == 200
    nights = {n["date"]: n for n in response.get_json()["units"][0]["nights"]}
    new_year = nights["2026-12-31"]
    assert new_year["base_price"] == 10000
    assert {"code": "peak", "percent": 30} in new_year["reasons"]
    ordinary = nights["2027-01-13"]  # a Wednesday in the off-season
    assert {"code": "off_season", "percent": -20} in ordinary["reasons"]
    assert ordinary["price"] < ordinary["base_price"]
    assert ordinary["price"] == prices(db, unit.id)[date(2027, 1, 13)][0]


def test_search_shows_the_off_season_badge_and_sorts_by_saving(
    app, db, make_unit, make_facility, make_employee
):
    quiet = make_unit(facility=make_facility(name_ja="静かな宿"), base_price=12000)
    busy = make_unit(facility=make_facility(name_ja="賑やかな宿"), base_price=11000)
    set_policy(db, quiet.facility, months={1})
    engine.recompute(NOW)
    employee = make_employee()

    browser = signed_in(app, employee)
    page = browser.get("/?check_in=2027-01-12&check_out=2027-01-15&guests=1&sort=saving")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index("静かな宿") < html.index("賑やかな宿")
    assert "閑散期割引 20%" in html
    assert html.count('data-testid="offseason-badge"') == 1

    response = browser.get(
        "/api/v1/facilities?check_in=2027-01-12&check_out=2027-01-15&sort=saving",
        headers=bearer(db, employee),
    )
    found = response.get_json()["facilities"]
    assert [f["id"] for f in found] == [quiet.facility_id, busy.facility_id]
    assert found[0]["off_season_percent"] == 20
    assert found[0]["best_saving"] > 0
    assert found[0]["units"][0]["total_price"] == sum(
        prices(db, quiet.id)[days(d)][0] for d in (42, 43, 44)
    )


def test_the_booking_freezes_the_computed_price(db, make_unit, make_employee):
    unit = make_unit(base_price=10000)
    set_policy(db, unit.facility, months={1})
    engine.recompute(NOW)
    expected = [prices(db, unit.id)[days(d)][0] for d in (42, 43)]

    booking = booking_services.book_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(42), days(44), 1), NOW
    )
    db.session.commit()

    assert [n.price for n in booking.nights] == expected
    assert booking.total_price == sum(expected) < 20000


def test_cli_recompute_prints_a_summary_and_records_the_run(app, db, make_unit):
    unit = make_unit()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["pricing", "recompute", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "365 prices changed" in dry.output
    assert prices(db, unit.id) == {}

    done = runner.invoke(args=["pricing", "recompute", "--facility", str(unit.facility_id)])
    assert done.exit_code == 0, done.output
    assert "365 prices changed (0 up, 0 down, 365 new)" in done.output
    again = runner.invoke(args=["pricing", "recompute"])
    assert "0 prices changed" in again.output
    runs = db.session.scalars(select(JobRun).where(JobRun.job == "pricing_recompute")).all()
    assert [r.outcome for r in runs] == ["ok", "ok"]

    missing = runner.invoke(args=["pricing", "recompute", "--facility", "999999"])
    assert missing.exit_code != 0
    assert "No active facility" in missing.output


def test_scheduler_runs_the_recompute_at_three_and_refreshes_only_when_queued(
    app, db, make_unit, make_employee
):
    jobs = registered_jobs(app)
    assert jobs["pricing_recompute"].trigger == "cron"
    assert jobs["pricing_recompute"].trigger_args(app.config) == {"hour": 3, "minute": 0}
    assert jobs["pricing_refresh"].trigger_args(app.config) == {"seconds": 5}

    assert run_job(app, "pricing_refresh", NOW) is None  # nothing queued: not even recorded
    assert db.session.scalar(select(func.count()).select_from(JobRun)) == 0

    unit = make_unit()
    booking_services.book_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(3), days(5), 1), NOW
    )
    db.session.commit()
    run = run_job(app, "pricing_refresh", NOW)
    assert run.outcome == "ok"
    assert "prices changed" in run.summary
    # The nights around the stay (3 either side: days 0…7) but the 2 booked ones.
    assert sorted(prices(db, unit.id)) == [days(d) for d in (0, 1, 2, 5, 6, 7)]


def test_nights_beyond_the_horizon_and_before_the_first_run_cost_the_base_price(
    db, make_unit, make_employee
):
    unit = make_unit(base_price=13000)
    quote = booking_services.quote_stay(
        make_employee(), booking_services.StayRequest(unit.id, days(10), days(12), 1), NOW
    )
    assert [p for _, p in quote.nights] == [13000, 13000]
    assert TODAY + timedelta(days=HORIZON) not in prices(db, unit.id)


def test_units_with_large_ids_are_priced(db, make_unit):
    # Keys combine the unit id and the night; they must not overflow a 32-bit integer.
    unit = make_unit(id=3_000_000)
    engine.recompute(NOW)
    assert len(prices(db, unit.id)) == HORIZON


def test_closing_and_reopening_dates_reprices_them(db, make_unit, make_user):
    from accounts.models import Role
    from availability.blocks import close_dates, remove_block

    unit = make_unit()
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator)
    engine.recompute(NOW)
    blocks = close_dates(operator, [unit], days(20), days(25), "maintenance", "", NOW)
    db.session.commit()
    assert refresh.refresh_pending()
    refresh.refresh_queued(NOW)
    remove_block(blocks[0], TODAY)
    db.session.commit()
    refresh.refresh_queued(NOW)
    # Every reopened night has its price again, exactly what a full run gives.
    assert all(days(d) in prices(db, unit.id) for d in range(20, 25))
    assert engine.recompute(NOW, force=True).changed == 0


def test_a_new_base_price_reprices_the_room_at_once(app, db, make_unit, make_user):
    from accounts.models import Role

    unit = make_unit(name="101 和室", base_price=10000)
    engine.recompute(NOW)
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator)
    browser = signed_in(app, operator)

    response = browser.post(
        f"/operator/units/{unit.id}/edit",
        data={"name": "101 和室", "capacity": "2", "base_price": "20000"},
    )

    assert response.status_code == 303
    stored = prices(db, unit.id)
    assert {base for _, base, _ in stored.values()} == {20000}
    assert stored[date(2027, 9, 8)] == (20000, 20000, "")  # an ordinary far-off night


def test_closed_rooms_are_not_counted_as_sold(db, make_unit, make_user):
    from accounts.models import Role
    from availability.blocks import close_dates

    unit = make_unit()
    other = make_unit(facility=unit.facility)
    engine.recompute(NOW)
    before = prices(db, other.id)[days(6)]
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator)

    close_dates(operator, [unit], days(3), days(10), "maintenance", "", NOW)
    db.session.commit()
    refresh.refresh_queued(NOW)

    # The other room's demand is unchanged: nothing sold, the closed room just
    # is not for sale.
    assert prices(db, other.id)[days(6)] == before
    assert dict(decode_reasons(before[2]))["occupancy"] == -15


def test_no_off_season_badge_where_a_floor_takes_the_discount_back(
    db, client, make_unit, make_employee
):
    unit = make_unit(base_price=10000, price_floor=10000)
    set_policy(db, unit.facility, months={1})
    engine.recompute(NOW)
    stored = prices(db, unit.id)[date(2027, 1, 13)]
    assert stored[0] == 10000 and "off_season" in stored[2]  # recorded for the operator…

    response = client.get(
        "/api/v1/facilities?check_in=2027-01-12&check_out=2027-01-15",
        headers=bearer(db, make_employee()),
    )
    [found] = response.get_json()["facilities"]
    assert found["off_season_percent"] == 0  # …but no saving, so no badge
    assert found["best_saving"] == 0


def test_a_price_that_moved_since_the_quote_is_not_charged(db, client, make_unit, make_employee):
    unit = make_unit(base_price=10000)
    employee = make_employee()
    quote = booking_services.quote_stay(
        employee, booking_services.StayRequest(unit.id, days(60), days(62), 1), NOW
    )
    set_policy(db, unit.facility, months={1, 2})  # days(60) is in January 2027
    engine.recompute(NOW)

    with pytest.raises(booking_services.PriceChanged):
        booking_services.book_stay(
            employee,
            booking_services.StayRequest(unit.id, days(60), days(62), 1),
            NOW,
            expected_total=quote.total,
        )
    db.session.rollback()

    response = client.post(
        "/api/v1/bookings",
        json={
            "unit_id": unit.id,
            "check_in": days(60).isoformat(),
            "check_out": days(62).isoformat(),
            "expected_total": quote.total,
        },
        headers=bearer(db, employee),
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "price_changed"
    new_total = sum(prices(db, unit.id)[days(d)][0] for d in (60, 61))
    booking = booking_services.book_stay(
        employee,
        booking_services.StayRequest(unit.id, days(60), days(62), 1),
        NOW,
        expected_total=new_total,
    )
    assert booking.total_price == new_total < quote.total


def test_the_confirm_page_shows_the_new_price_instead_of_charging_it(
    app, db, make_unit, make_employee
):
    unit = make_unit(base_price=10000)
    browser = signed_in(app, make_employee())
    stay = {
        "unit_id": unit.id,
        "check_in": days(60).isoformat(),
        "check_out": days(62).isoformat(),
        "guests": 1,
    }
    shown = browser.get("/book", query_string=stay)
    assert 'name="expected_total" value="20000"' in shown.get_data(as_text=True)
    set_policy(db, unit.facility, months={1, 2})
    engine.recompute(NOW)

    response = browser.post("/book", data={**stay, "expected_total": "20000"})

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    new_total = sum(prices(db, unit.id)[days(d)][0] for d in (60, 61))
    assert f'name="expected_total" value="{new_total}"' in page
    assert "新しい料金をご確認" in page  # the price changed: confirm the new one
    assert db.session.scalar(select(func.count()).select_from(BookingNight)) == 0
