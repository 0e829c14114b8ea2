"""What an employee meets before confirming: the money terms, each room's total for the
chosen dates, rule errors where they were made, their own allowance, and a way forward
when nothing is found."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing import ledger
from booking import cancellation, services
from booking.search import SearchQuery
from booking.stay_options import room_offers, suggestions
from booking.terms import stay_terms
from pricing.prices import unit_night_prices
from tests.conftest import NOW, TODAY, days


def _section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return page[start : start + 3000]


# --- the terms ----------------------------------------------------------------------------


def test_terms_state_the_free_date_then_half_then_nothing():
    terms = stay_terms(days(20), TODAY)
    assert terms.free_now and terms.free_until == days(17)
    assert [(p.first, p.last, p.refund_percent) for p in terms.periods()] == [
        (TODAY, days(17), 100),
        (days(18), days(19), 50),
        (days(20), None, 0),
    ]
    late = stay_terms(days(20), days(19))
    assert not late.free_now and late.percent_now == 50 and late.refund_now(10001) == 5000
    assert [p.refund_percent for p in late.periods()] == [50, 0]


@pytest.mark.parametrize(("today", "back"), [(7, 22_000), (8, 11_000), (9, 11_000)])
def test_the_refund_a_stay_page_states_is_what_cancelling_returns(
    app, db, client, login, make_employee, make_unit, today, back
):
    """Day by day around the free date: the figure shown before cancelling is the one
    the ledger then writes (check-in on day 10, two nights at ¥11,000)."""
    employee = make_employee()
    unit = make_unit(base_price=11_000)
    stay = services.StayRequest(unit.id, days(10), days(12), 1)
    booking = services.book_stay(employee, stay, NOW)
    db.session.commit()
    app.config["FIXED_NOW"] = NOW + timedelta(days=today)  # (sessions idle out: sign in then)
    login(employee)

    stay_page = client.get(f"/stays/{booking.id}").get_data(as_text=True)
    cancel_page = client.get(f"/stays/{booking.id}/cancel").get_data(as_text=True)
    shown = f"¥{back:,}（税込）"
    assert shown in _section(stay_page, "refund-now")
    assert shown in _section(cancel_page, "cancel-money")
    before = ledger.account_of(employee.company_id).credit_balance
    result = cancellation.cancel_booking(employee, booking.id, NOW + timedelta(days=today))
    db.session.commit()
    assert result.refunded == back
    assert ledger.account_of(employee.company_id).credit_balance - before == back


def test_results_facility_page_and_quote_state_the_cancellation_terms(
    client, login, make_employee, make_unit
):
    login(make_employee())
    unit = make_unit(base_price=10000)
    stay = {"check_in": days(10).isoformat(), "check_out": days(12).isoformat()}

    results = client.get("/", query_string=stay).get_data(as_text=True)
    free_until = f"{days(7).month}/{days(7).day}"
    assert free_until in _section(results, "terms-line")

    facility = client.get(
        f"/facilities/{unit.facility_id}", query_string={**stay, "unit_id": unit.id}
    ).get_data(as_text=True)
    assert free_until in _section(facility, "terms")

    quote = client.get("/book", query_string={**stay, "unit_id": unit.id, "guests": 1})
    terms = _section(quote.get_data(as_text=True), "terms")
    assert free_until in terms and "¥10,000（税込）" in terms  # half of ¥20,000 late


# --- rooms for the chosen dates -----------------------------------------------------------


def test_each_room_shows_its_total_for_the_chosen_nights_not_its_base_price(
    db, client, login, make_employee, make_facility, make_unit
):
    login(make_employee())
    facility = make_facility()
    small = make_unit(facility=facility, base_price=9000, capacity=1)
    big = make_unit(facility=facility, base_price=15000, capacity=4)
    with client.application.test_request_context():
        expected = {
            u.id: sum(p.price for p in unit_night_prices(u, [days(10), days(11), days(12)]))
            for u in (small, big)
        }
        offers = room_offers(facility, days(10), days(13), 2, {small.id, big.id})
    assert {o.unit.id: o.total for o in offers} == expected
    assert [o.offered for o in offers] == [False, True]  # the small room sleeps one

    page = client.get(
        f"/facilities/{facility.id}",
        query_string={"check_in": days(10), "check_out": days(13), "guests": 2},
    ).get_data(as_text=True)
    totals = re.findall(r'data-testid="room-total">\s*<strong>([^<]+)</strong>', page)
    assert totals == [f"¥{expected[small.id]:,}（税込）", f"¥{expected[big.id]:,}（税込）"]
    assert "3泊" in page


def test_a_refused_quote_comes_back_to_the_facility_page_with_the_stay_kept(
    client, login, make_employee, make_facility, make_unit
):
    login(make_employee())
    facility = make_facility(max_nights=3)
    unit = make_unit(facility=facility, capacity=2)
    response = client.get(
        "/book",
        query_string={
            "unit_id": unit.id,
            "check_in": days(10).isoformat(),
            "check_out": days(15).isoformat(),
            "guests": 2,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert facility.name_ja in page and 'data-testid="booking-error"' in page
    assert "3" in _section(page, "booking-error")  # the facility's limit is named
    # The room, dates and guests are still chosen, ready to correct.
    assert re.search(rf'name="unit_id" value="{unit.id}"[^>]*checked', page)
    assert f'name="check_in" required value="{days(10).isoformat()}"' in page
    assert f'name="check_out" required value="{days(15).isoformat()}"' in page
    assert 'name="guests" min="1" max="20" value="2"' in page


def test_a_quote_for_a_room_that_is_gone_is_not_found(client, login, make_employee, make_unit):
    login(make_employee())
    unit = make_unit(active=False)
    response = client.get(
        "/book",
        query_string={"unit_id": unit.id, "check_in": days(10), "check_out": days(12)},
    )
    assert response.status_code == 404


# --- the employee's own allowance ---------------------------------------------------------


def test_search_shows_the_employees_allowance_not_the_company_balance(
    db, client, login, make_employee, make_unit
):
    employee = make_employee()
    account = ledger.account_of(employee.company_id)
    account.employee_monthly_cap = 50_000
    db.session.commit()
    unit = make_unit(base_price=10000)
    services.book_stay(employee, services.StayRequest(unit.id, days(10), days(12), 1), NOW)
    db.session.commit()
    login(employee)

    page = client.get("/").get_data(as_text=True)
    allowance = _section(page, "allowance")
    assert "¥30,000" in allowance and "¥50,000" in allowance
    balance = ledger.account_of(employee.company_id).credit_balance
    assert f"¥{balance:,}" not in page

    quote = client.get(
        "/book",
        query_string={"unit_id": unit.id, "check_in": days(20), "check_out": days(21)},
    ).get_data(as_text=True)
    assert "¥20,000" in _section(quote, "allowance-after")  # 50,000 − 20,000 − 10,000


# --- nothing found ------------------------------------------------------------------------


def test_no_results_offer_nearby_dates_places_and_filters(
    db, client, login, make_employee, make_facility, make_unit
):
    employee = make_employee()
    # Nagano (20) is full on the asked dates; Niigata (15, same region) is free but
    # has no onsen; Nagano is free a week later.
    nagano = make_facility(prefecture=20, onsen=True)
    nagano_room = make_unit(facility=nagano)
    niigata = make_facility(prefecture=15, onsen=False)
    make_unit(facility=niigata)
    services.book_stay(
        make_employee(), services.StayRequest(nagano_room.id, days(10), days(13), 1), NOW
    )
    db.session.commit()
    query = SearchQuery(days(10), days(13), prefecture=20, amenities=frozenset({"onsen"}))
    with client.application.test_request_context():
        found = suggestions(query, TODAY, days(180))
    # The closest shifts that miss the booked nights [10, 13), same length, in date order.
    assert [(s.check_in, s.check_out) for s in found.dates] == [
        (days(3), days(6)),
        (days(7), days(10)),
        (days(13), days(16)),
    ]
    assert all(s.facilities == 1 for s in found.dates)
    assert [s.place for s in found.places] == []  # Niigata has no onsen
    assert [(s.field, s.facilities) for s in found.filters] == []  # Nagano is still full

    login(employee)
    page = client.get(
        "/",
        query_string={"check_in": days(10), "check_out": days(13), "place": "p:20"},
    ).get_data(as_text=True)
    assert 'data-testid="no-results"' in page
    places = _section(page, "suggest-places")
    assert "新潟県" in places and "place=p%3A15" in places
    dates = _section(page, "suggest-dates")
    assert f"check_in={days(13).isoformat()}" in dates  # the first week after the stay

    filtered = client.get(
        "/",
        query_string={"check_in": days(20), "check_out": days(22), "amenities": ["onsen"]},
    ).get_data(as_text=True)
    assert 'data-testid="suggest-filters"' not in filtered  # Nagano has an onsen: found
    db.session.get(type(nagano), nagano.id).onsen = False
    db.session.commit()
    nothing = client.get(
        "/",
        query_string={"check_in": days(20), "check_out": days(22), "amenities": ["onsen"]},
    ).get_data(as_text=True)
    filters = _section(nothing, "suggest-filters")
    assert "amenities=onsen" not in filters and "2" in filters  # both facilities without it


def test_the_search_folds_into_a_summary_once_there_are_results(
    client, login, make_employee, make_unit
):
    login(make_employee())
    make_unit()
    first = client.get("/").get_data(as_text=True)
    assert re.search(r'<details class="search-panel card" open', first)
    searched = client.get(
        "/", query_string={"check_in": days(10), "check_out": days(13), "guests": 2}
    ).get_data(as_text=True)
    assert not re.search(r'<details class="search-panel card" open', searched)
    summary = _section(searched, "search-summary")
    assert "3泊" in summary and "2名" in summary
    bad = client.get("/", query_string={"check_in": days(10), "check_out": days(9)})
    assert bad.status_code == 400
    assert re.search(r'<details class="search-panel card" open', bad.get_data(as_text=True))


def test_suggestions_move_dates_only_within_today_and_the_horizon(
    db, client, make_employee, make_facility, make_unit
):
    office = make_unit(facility=make_facility(kind="office"))
    # The office is taken on days 2–4 only: the stay asked for finds nothing.
    services.book_stay(make_employee(), services.StayRequest(office.id, days(2), days(5), 1), NOW)
    db.session.commit()
    with client.application.test_request_context():
        query = SearchQuery(days(2), days(4), kind="office")
        found = suggestions(query, TODAY, days(6))
        # Earlier than today (days −5 … 1) and later than day 6 are never offered.
        # Of the shifts −1, +1, −3, +3, −7, +7…: ±1 overlap the booked nights, −3
        # and −7 would start before today, +7 and later after day 6.
        assert [(s.check_in, s.check_out) for s in found.dates] == [(days(5), days(7))]
        assert found.filters == []  # the kind is not what finds nothing


def test_the_search_page_opens_on_the_employees_next_stay(
    db, client, login, make_employee, make_unit
):
    employee = make_employee()
    unit = make_unit()
    later = services.book_stay(employee, services.StayRequest(unit.id, days(30), days(32), 1), NOW)
    sooner = services.book_stay(employee, services.StayRequest(unit.id, days(5), days(7), 1), NOW)
    db.session.commit()
    login(employee)
    page = client.get("/").get_data(as_text=True)
    card = _section(page, "next-stay")
    assert f"/stays/{sooner.id}" in card and f"/stays/{later.id}" not in card
    assert page.index('data-testid="next-stay"') < page.index("search-panel")
