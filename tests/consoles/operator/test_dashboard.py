"""The operator's landing page and its CSV: today, the figures against last year, the
nights ahead; what a bad period does; who sees what; and a page whose number of SQL
statements does not grow with the organisation (SQLite and PostgreSQL).

The operator reads English (``locale="en"``) so the words are stable; NOW is
1 December 2026, noon in Tokyo.
"""

from __future__ import annotations

import csv
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import event

from accounts.models import Role
from availability.models import BlockSource
from booking.models import BookingStatus
from facilities.models import Facility, Unit
from tests.conftest import NOW, days, signed_in
from tests.consoles.operator.test_kpis import blocked, booked

A_YEAR = timedelta(days=365)


@contextmanager
def counted_queries(db):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def cell(html: str, testid: str, period: str, figure: str) -> str:
    """The words of one figure of one period in the figures table ``testid``."""
    table = html[html.index(f'data-testid="{testid}"') :]
    table = table[: table.index("</table>")]
    found = re.search(
        rf'<td[^>]*data-period="{period}" data-figure="{figure}"[^>]*>(.*?)</td>', table, re.S
    )
    assert found, f"{period}/{figure} not in {testid}"
    return text_of(found.group(1))


def section(html: str, testid: str, end: str) -> str:
    part = html[html.index(f'data-testid="{testid}"') :]
    return part[: part.index(end)]


def card(html: str, facility: Facility) -> str:
    part = html[html.index(f'data-facility-id="{facility.id}"') :]
    return part[: part.index("</li>")]


@dataclass
class Org:
    facility: Facility
    room: Unit
    other_room: Unit
    operator: object


@pytest.fixture
def org(db, make_facility, make_unit, make_user, make_employee) -> Org:
    """Two rooms. This December: a stay of 2–4 Dec at ¥10,000 a night, booked yesterday;
    last December: 2 nights at ¥9,000, booked long before."""
    facility = make_facility(name_en="Birch Inn")
    room, other_room = make_unit(facility=facility), make_unit(facility=facility)
    guest = make_employee()
    booked(db, guest, room, days(1), [10000] * 3, made=NOW - timedelta(days=1))
    booked(db, guest, room, days(9) - A_YEAR, [9000] * 2, made=NOW - A_YEAR - timedelta(days=40))
    operator = make_user(Role.OPERATOR, operator=facility.operator, locale="en")
    return Org(facility, room, other_room, operator)


def test_the_dashboard_shows_this_month_against_last_year(app, org):
    html = signed_in(app, org.operator).get("/operator/").get_data(as_text=True)

    # December: 2 rooms × 31 nights = 62 available, 3 sold at ¥10,000, all booked this week.
    # Last December: 2 sold at ¥9,000.
    assert cell(html, "organisation-figures", "this", "occupancy") == ("4.8% Last year 3.2% (+1.6)")
    assert cell(html, "organisation-figures", "this", "adr") == (
        "¥10,000 (tax incl.) Last year ¥9,000 (+¥1,000)"
    )
    assert cell(html, "organisation-figures", "this", "revpar").startswith(
        "¥484 (tax incl.) Last year ¥290 (+¥194)"
    )
    assert cell(html, "organisation-figures", "this", "room_revenue") == (
        "¥30,000 (tax incl.) Last year ¥18,000 (+¥12,000)"
    )
    assert cell(html, "organisation-figures", "this", "pickup") == "3 Last year 0 (+3)"
    assert cell(html, "organisation-figures", "this", "nights") == "3 / 62 Last year 2 / 62 (+1)"
    # January: nothing yet, and nothing last January to compare with.
    assert cell(html, "organisation-figures", "next", "occupancy") == "0.0% Last year: no data"
    assert "December 2026" in html and "January 2027" in html
    # The facility's card says the same for its own figures.
    own = text_of(card(html, org.facility))
    assert "4.8%" in own and "(+1.6)" in own
    # The chosen period defaults to last month.
    assert 'name="from" value="2026-11-01"' in html and 'name="to" value="2026-11-30"' in html


def test_a_chosen_period(app, org):
    browser = signed_in(app, org.operator)

    html = browser.get("/operator/?from=2026-12-02&to=2026-12-03").get_data(as_text=True)

    # 2 nights × 2 rooms = 4 available, 2 sold.
    assert cell(html, "organisation-figures", "chosen", "occupancy").startswith("50.0%")
    assert cell(html, "organisation-figures", "chosen", "room_revenue").startswith(
        "¥20,000 (tax incl.)"
    )
    assert 'name="from" value="2026-12-02"' in html
    assert "/operator/figures.csv?from=2026-12-02&amp;to=2026-12-03" in html


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-12-05",  # no last night
        "from=2026-12-05&to=2026-12-01",  # backwards
        "from=2026-01-01&to=2027-01-02",  # 367 nights
        "from=2026-13-01&to=2026-12-31",  # no such month
        "from=0001-01-01&to=0001-01-02",  # centuries away
        "from=yesterday&to=today",
        "from=2026-12-01T00:00&to=2026-12-31",
    ],
)
def test_bad_period_input_shows_a_message_not_a_crash(app, org, query):
    response = signed_in(app, org.operator).get(f"/operator/?{query}")

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = section(html, "period-error", "</p>")
    assert "Showing last month instead." in error
    assert 'aria-invalid="true"' in html
    # The rest of the page stands: this month's figures and the chosen period's default.
    assert cell(html, "organisation-figures", "this", "occupancy").startswith("4.8%")
    assert 'data-period="chosen"' in html


def test_the_nights_ahead_as_a_chart_and_a_table(app, org):
    html = signed_in(app, org.operator).get("/operator/").get_data(as_text=True)

    chart = section(html, "forward-chart", "</figure>")
    assert 'role="img"' in chart and 'aria-labelledby="forward-title forward-desc"' in chart
    assert "Occupancy of the next 90 nights · All facilities" in chart
    assert "<desc" in chart and "50.0% on" in chart  # the highest night
    assert chart.count('<g class="night') == 90
    assert 'data-night="2026-12-01" data-sold="0" data-available="2"' in chart
    assert 'data-night="2026-12-02" data-sold="1" data-available="2"' in chart
    assert "style=" not in chart
    table = section(html, "forward-table", "</details>")
    assert table.count("<tr data-night=") == 90
    row = table[table.index('<tr data-night="2026-12-02"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'class="num">([^<]*)<', row) == ["1", "2", "50.0%"]


def test_the_chart_for_one_facility_and_never_another_organisations(
    app, db, org, make_facility, make_unit
):
    second = make_facility(operator=org.facility.operator, name_en="Second House")
    make_unit(facility=second)
    blocked(db, org.other_room, days(1), 1)  # 2 Dec: one room closed, one sold
    foreign = make_facility(name_en="Someone Else's House")
    browser = signed_in(app, org.operator)

    html = browser.get(f"/operator/?facility={org.facility.id}").get_data(as_text=True)
    chart = section(html, "forward-chart", "</figure>")
    assert "Occupancy of the next 90 nights · Birch Inn" in chart
    assert 'data-night="2026-12-02" data-sold="1" data-available="1"' in chart
    organisation = browser.get("/operator/").get_data(as_text=True)
    assert 'data-night="2026-12-02" data-sold="1" data-available="2"' in organisation

    assert browser.get(f"/operator/?facility={foreign.id}").status_code == 404
    assert browser.get("/operator/?facility=abc").status_code == 404


def test_today_and_rooms_to_clean_per_facility_and_in_total(
    app, db, org, make_facility, make_unit, make_employee
):
    second = make_facility(operator=org.facility.operator, name_en="Second House")
    room = make_unit(facility=second, housekeeping="dirty")
    guest = make_employee()
    booked(db, guest, room, days(-2), [5000, 5000])  # leaves today
    booked(db, guest, org.other_room, days(0), [7000])  # arrives today
    booked(db, guest, make_unit(facility=second), days(-1), [1, 1])  # stays on

    html = signed_in(app, org.operator).get("/operator/").get_data(as_text=True)

    total = section(html, "organisation-today", "</dl>")
    assert re.search(r'data-testid="arrivals">1<', total)
    assert re.search(r'data-testid="departures">1<', total)
    assert re.search(r'data-testid="in-house">2<', total)
    assert re.search(r'data-testid="to-clean">1<', total)  # stored dirty; left at 10:00: same room
    theirs = card(html, second)
    assert re.search(r'data-testid="departures">1<', theirs)
    assert re.search(r'data-testid="to-clean">1<', theirs)


def test_the_figures_as_csv(app, db, org, make_facility, make_unit, make_employee):
    second = make_facility(operator=org.facility.operator, name_en="Second House")
    room = make_unit(facility=second)
    blocked(db, room, days(1), 1, BlockSource.IMPORT)
    booked(db, make_employee(), room, days(2), [0, 8000], status=BookingStatus.CHECKED_IN)

    response = signed_in(app, org.operator).get(
        "/operator/figures.csv?from=2026-12-02&to=2026-12-04"
    )

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "engawa-figures-2026-12-02-2026-12-04.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == [
        "Facility",
        "First night",
        "Last night",
        "Nights available",
        "Nights sold",
        "Occupancy (%)",
        "Room revenue (yen, tax included)",
        "ADR (yen)",
        "RevPAR (yen)",
        "Pickup (nights booked in the last 7 days)",
    ]
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["Birch Inn"] == [
        "2026-12-02", "2026-12-04", "6", "3", "50.0", "30000", "10000", "5000", "3"
    ]  # fmt: skip
    # One room, 3 nights, one closed by an imported event: 2 available, both sold (¥0 + ¥8,000).
    assert by_name["Second House"] == [
        "2026-12-02", "2026-12-04", "2", "2", "100.0", "8000", "4000", "4000", "0"
    ]  # fmt: skip
    assert by_name["All facilities"] == [
        "2026-12-02", "2026-12-04", "8", "5", "62.5", "38000", "7600", "4750", "3"
    ]  # fmt: skip
    assert len(rows) == 4


def test_the_csv_refuses_a_bad_period(app, org):
    browser = signed_in(app, org.operator)
    response = browser.get("/operator/figures.csv?from=2026-12-05&to=2026-12-01")
    assert response.status_code == 400
    assert "The last night cannot be before the first night." in response.get_data(as_text=True)
    # Without a period: last month.
    default = browser.get("/operator/figures.csv")
    assert default.status_code == 200
    assert "engawa-figures-2026-11-01-2026-11-30.csv" in default.headers["Content-Disposition"]


def test_an_operator_sees_only_their_own_organisations_figures(
    app, db, org, make_facility, make_unit, make_user, make_employee
):
    foreign = make_facility(name_en="Someone Else's House")
    foreign_room = make_unit(facility=foreign)
    booked(db, make_employee(), foreign_room, days(1), [99000] * 3, made=NOW)
    stranger = make_user(Role.OPERATOR, operator=foreign.operator, locale="en")

    own = signed_in(app, org.operator)
    html = own.get("/operator/").get_data(as_text=True)
    assert "Someone Else" not in html and f'data-facility-id="{foreign.id}"' not in html
    assert cell(html, "organisation-figures", "this", "room_revenue").startswith("¥30,000")
    csv_text = own.get("/operator/figures.csv?from=2026-12-01&to=2026-12-31").get_data(as_text=True)
    assert "Someone Else" not in csv_text and "99000" not in csv_text

    theirs = signed_in(app, stranger).get("/operator/").get_data(as_text=True)
    assert "Birch Inn" not in theirs
    assert cell(theirs, "organisation-figures", "this", "room_revenue").startswith("¥297,000")


def test_employees_and_company_admins_get_403(app, make_employee, make_user):
    for person in (make_employee(), make_user(Role.COMPANY_ADMIN)):
        browser = signed_in(app, person)
        assert browser.get("/operator/").status_code == 403
        assert browser.get("/operator/figures.csv").status_code == 403


def test_an_organisation_without_facilities(app, make_user):
    operator = make_user(Role.OPERATOR, locale="en")
    html = signed_in(app, operator).get("/operator/").get_data(as_text=True)
    assert "You have no facilities yet." in html
    assert 'data-testid="organisation-figures"' not in html


def test_the_number_of_queries_does_not_grow_with_the_facilities(
    app, db, org, make_facility, make_unit, make_employee
):
    browser = signed_in(app, org.operator)
    browser.get("/operator/")  # warm: anything done once per session

    with counted_queries(db) as one_facility:
        assert browser.get("/operator/?from=2026-11-01&to=2026-12-31").status_code == 200

    guest = make_employee()
    for n in range(24):  # more than a page of cards
        facility = make_facility(operator=org.facility.operator, name_en=f"House {n:02d}")
        room = make_unit(facility=facility, housekeeping="dirty" if n % 2 else "clean")
        make_unit(facility=facility)
        booked(db, guest, room, days(n % 5 - 2), [10000, 12000], made=NOW - timedelta(days=n))
        blocked(db, room, days(20), 2, BlockSource.MANUAL)

    with counted_queries(db) as many:
        response = browser.get("/operator/?from=2026-11-01&to=2026-12-31")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert len(many) == len(one_facility), "\n".join(many)
    assert html.count("data-facility-id=") == 20 and 'data-testid="pager"' in html
    page_two = browser.get("/operator/?page=2").get_data(as_text=True)
    assert page_two.count("data-facility-id=") == 5
    assert cell(html, "organisation-figures", "chosen", "nights").startswith("51 / ")
