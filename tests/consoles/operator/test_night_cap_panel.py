"""The operator's facility page for a private lodging house (住宅宿泊事業): each room's
lodged nights in this April–March year and what remains of 180, a warning when few
are left, next year's count once stays are booked in it; and every facility's licence."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from accounts.models import Role
from availability.models import Block, Occupancy
from tests.conftest import NOW, days, signed_in
from tests.facilities.test_services import stay


def lodge(db, unit, first: date, nights: int) -> None:
    block = Block(
        unit_id=unit.id,
        start_date=first,
        end_date=first + timedelta(days=nights),
        source="direct",
        reason="direct",
        lodging=True,
    )
    db.session.add(block)
    db.session.flush()
    db.session.add_all(
        Occupancy(unit_id=unit.id, night=first + timedelta(days=i), block_id=block.id)
        for i in range(nights)
    )
    db.session.commit()


@pytest.fixture
def house(make_facility, make_unit):
    facility = make_facility(
        name_en="Machiya House", licence_type="minpaku", licence_number="M260012345"
    )
    return (
        facility,
        make_unit(facility=facility, name="Main"),
        make_unit(facility=facility, name="Annex"),
    )


@pytest.fixture
def host(app, make_user, house):
    facility, _main, _annex = house
    user = make_user(Role.OPERATOR, operator=facility.operator, locale="en")
    return signed_in(app, user)


def _row(panel: str, unit_id: int, year: int) -> str:
    found = re.search(rf'<tr data-unit-id="{unit_id}" data-year="{year}">.*?</tr>', panel, re.S)
    assert found, f"no row for unit {unit_id} in {year}"
    return found.group(0)


def _cell(row: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', row).group(1).strip()


def _panel(page: str) -> str:
    found = re.search(r'<section class="card" id="night-cap".*?</section>', page, re.S)
    assert found, "no night-cap panel"
    return found.group(0)


def test_panel_counts_each_rooms_nights_and_warns_under_20(db, host, house, make_employee):
    facility, main, annex = house
    lodge(db, main, date(2026, 4, 1), 163)  # walk-ins and a channel's stays
    stay(db, make_employee(), main, days(10), days(12))  # two Engawa nights: 165
    lodge(db, annex, date(2026, 5, 1), 10)

    page = host.get(f"/operator/facilities/{facility.id}").get_data(as_text=True)
    panel = _panel(page)
    assert "Private lodging: nights this year" in panel
    assert "1 Apr 2026 – 31 Mar 2027" in panel
    main_row, annex_row = _row(panel, main.id, 2026), _row(panel, annex.id, 2026)
    assert (_cell(main_row, "cap-sold"), _cell(main_row, "cap-remaining")) == ("165", "15")
    assert _cell(main_row, "cap-warning") == "Only 15 nights left"
    assert (_cell(annex_row, "cap-sold"), _cell(annex_row, "cap-remaining")) == ("10", "170")
    assert "cap-warning" not in annex_row
    # Nothing booked next year yet: no second table.
    assert 'data-year="2027"' not in panel


def test_panel_shows_next_year_once_stays_are_booked_in_it(db, host, house, make_employee):
    facility, main, annex = house
    lodge(db, main, date(2026, 4, 1), 180)
    stay(db, make_employee(), annex, date(2027, 4, 10), date(2027, 4, 13))

    panel = _panel(host.get(f"/operator/facilities/{facility.id}").get_data(as_text=True))
    full = _row(panel, main.id, 2026)
    assert _cell(full, "cap-remaining") == "0" and "No nights left" in full
    assert "1 Apr 2027 – 31 Mar 2028" in panel
    next_annex = _row(panel, annex.id, 2027)
    assert (_cell(next_annex, "cap-sold"), _cell(next_annex, "cap-remaining")) == ("3", "177")
    assert _cell(_row(panel, main.id, 2027), "cap-sold") == "0"


def test_closed_nights_and_cancelled_stays_do_not_count(db, host, house, make_employee):
    from booking import cancellation

    facility, main, _annex = house
    block = Block(
        unit_id=main.id,
        start_date=days(20),
        end_date=days(25),
        source="manual",
        reason="maintenance",
    )
    db.session.add(block)
    db.session.flush()
    db.session.add_all(
        Occupancy(unit_id=main.id, night=days(20 + i), block_id=block.id) for i in range(5)
    )
    db.session.commit()
    employee = make_employee()
    booked = stay(db, employee, main, days(10), days(12))
    cancellation.cancel_booking(employee, booked.id, NOW)
    db.session.commit()

    panel = _panel(host.get(f"/operator/facilities/{facility.id}").get_data(as_text=True))
    assert _cell(_row(panel, main.id, 2026), "cap-sold") == "0"


def test_a_hotel_has_no_panel_but_shows_its_licence(app, db, make_facility, make_user):
    hotel = make_facility(name_en="Lake Hotel", licence_number="長野県指令第77号")
    browser = signed_in(app, make_user(Role.OPERATOR, operator=hotel.operator, locale="en"))
    page = browser.get(f"/operator/facilities/{hotel.id}").get_data(as_text=True)
    assert 'id="night-cap"' not in page
    licence = re.search(r'data-testid="facility-licence">(.*?)</dd>', page, re.S).group(1)
    assert "Hotel or ryokan business licence" in licence and "長野県指令第77号" in licence


def test_minpaku_licence_is_shown_with_its_number(host, house):
    facility, _main, _annex = house
    page = host.get(f"/operator/facilities/{facility.id}").get_data(as_text=True)
    licence = re.search(r'data-testid="facility-licence">(.*?)</dd>', page, re.S).group(1)
    assert "Private lodging business notification" in licence and "M260012345" in licence


def test_a_missing_licence_says_not_listed_and_links_to_edit(app, db, make_facility, make_user):
    facility = make_facility(name_en="New Inn", licence_type="", licence_number="")
    browser = signed_in(app, make_user(Role.OPERATOR, operator=facility.operator, locale="en"))
    page = browser.get(f"/operator/facilities/{facility.id}").get_data(as_text=True)
    licence = re.search(r'data-testid="facility-licence">(.*?)</dd>', page, re.S).group(1)
    assert "Licence missing: not listed" in licence
    assert f'href="/operator/facilities/{facility.id}/edit"' in licence


def test_another_operators_house_is_404(app, db, house, make_user):
    facility, _main, _annex = house
    stranger = signed_in(app, make_user(Role.OPERATOR, locale="en"))
    assert stranger.get(f"/operator/facilities/{facility.id}").status_code == 404
