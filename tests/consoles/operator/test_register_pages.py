"""The operator's guest register pages: the facilities to choose from, the register of
a period (by arrival date, filtered, with each stay's guests, identity check and what
is missing), the print view, the CSV and the access log; every read recorded; bad
periods refused clearly; another organisation's facility (and a satellite office)
answers 404 on every route. SQLite and PostgreSQL (the ``app`` fixture).

The operator reads English. NOW is 2026-12-01 12:00 in Tokyo.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from accounts.models import Role
from booking import front_desk
from consoles.operator import register_views
from lodging.guests import GuestDetails
from lodging.models import RegisterRead
from tests.conftest import NOW, days
from tests.consoles.operator.register_world import (
    build_world,
    fill,
    reads,
    text,
)


@pytest.fixture
def world(db, client, login, make_user, make_company, make_facility, make_unit):
    w = build_world(db, make_user, make_company, make_facility, make_unit)
    front_desk.check_in(w.operator, w.full.id, NOW)  # identity checked at the front desk
    db.session.commit()
    login(w.operator)
    w.url = f"/operator/facilities/{w.facility.id}/register"
    return w


def listed(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article[^>]*data-booking-id="(\d+)"', page)]


def count_reads(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(RegisterRead))


# --- choosing a facility --------------------------------------------------------------


def test_the_index_lists_only_our_facilities_that_lodge_guests(client, world):
    page = text(client.get("/operator/register"))

    assert "Birch Inn" in page
    assert f'href="/operator/facilities/{world.facility.id}/register"' in page
    assert "Desk Hub" not in page  # a satellite office keeps no register
    assert "Other Inn" not in page
    assert 'aria-current="page">Guest register</a>' in page  # the console's link


# --- the register of a period ------------------------------------------------------------


def test_the_register_lists_this_months_arrivals_with_their_guests(db, client, world):
    response = client.get(world.url)
    page = text(response)

    assert response.status_code == 200
    # By arrival date, then room: cancelled stays and next month's arrivals are left out.
    assert listed(page) == [world.full.id, world.absent.id, world.partial.id, world.blank.id]
    full = page.split(f'data-booking-id="{world.full.id}"')[1].split("</article>")[0]
    for shown in (
        "山田 花子",
        "長野県松本市中央1-2-3",
        "0263-12-3456",  # the stored +81263123456, as people write it
        "Emma Schmidt",
        "Hauptstraße 5, 10115 Berlin",
        "C01X00T47",
        "On file",  # the companion's passport image
        "By Kenji Front on 2026/12/01 12:00",  # who checked identity, and when
        "Complete",
    ):
        assert shown in full, shown
    assert "Germany" in full  # the nationality by name
    partial = page.split(f'data-booking-id="{world.partial.id}"')[1].split("</article>")[0]
    assert "Incomplete" in partial and "1 of 2 guests registered" in partial
    assert "Not yet" in partial  # nobody checked identity yet
    assert f'href="/operator/bookings/{world.partial.id}/guests"' in partial  # fill it in
    absent = page.split(f'data-booking-id="{world.absent.id}"')[1].split("</article>")[0]
    assert "No-show" in absent
    blank = page.split(f'data-booking-id="{world.blank.id}"')[1].split("</article>")[0]
    assert "No guest is registered for this stay yet." in blank
    assert "佐藤 次郎" not in page  # another organisation's guest
    assert f'href="/operator/facilities/{world.facility.id}/register/print?from=2026-12-01' in page
    assert "to=2026-12-31" in page


def test_the_period_filters_by_arrival_date(client, world):
    january = text(client.get(world.url, query_string={"from": "2027-01-01", "to": "2027-01-31"}))
    first_days = text(client.get(world.url, query_string={"from": days(1), "to": days(5)}))
    one_day = text(client.get(world.url, query_string={"from": days(0), "to": days(0)}))
    from_only = text(client.get(world.url, query_string={"from": days(9)}))

    assert listed(january) == [world.later.id]
    # The stay that arrived on the 1st and is still here is not an arrival of the 2nd–6th.
    assert listed(first_days) == [world.partial.id]
    assert listed(one_day) == [world.full.id, world.absent.id]
    assert listed(from_only) == [world.blank.id]  # to the end of that month
    assert 'data-testid="no-entries"' not in january
    nothing = text(client.get(world.url, query_string={"from": days(20), "to": days(25)}))
    assert 'data-testid="no-entries"' in nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"from": "2026-13-01"}, "The start date is not a date. Enter it as YYYY-MM-DD."),
        ({"from": "tomorrow", "to": "2026-12-31"}, "The start date is not a date."),
        ({"from": "2026-12-01", "to": "31/12/2026"}, "The end date is not a date."),
        ({"from": "2026-12-10", "to": "2026-12-09"}, "The end date cannot be before the start"),
        ({"from": "2026-01-01", "to": "2027-01-02"}, "Choose a period of at most 366 days."),
        ({"from": "1900-01-01", "to": "1900-01-02"}, "Choose dates from 2016-12-01 to 2036-12-28."),
        ({"from": "9999-12-01"}, "Choose dates from"),
    ],
)
def test_a_bad_period_is_refused_clearly_and_reads_nothing(db, client, world, args, message):
    before = count_reads(db)
    for suffix in ("", "/print", ".csv"):
        url = world.url + suffix
        response = client.get(url, query_string=args)
        page = text(response)
        assert response.status_code == 400, url
        assert message in page, url
        assert 'data-testid="form-error"' in page
        assert not listed(page) and "山田 花子" not in page
    assert count_reads(db) == before


def test_a_period_of_a_leap_year_is_allowed(client, world):
    response = client.get(world.url, query_string={"from": "2028-01-01", "to": "2028-12-31"})
    assert response.status_code == 200


def test_only_so_many_stays_are_read_at_once(client, world, monkeypatch):
    monkeypatch.setattr(register_views, "MAX_ENTRIES", 2)

    page = text(client.get(world.url))
    printed = client.get(world.url + "/print")
    csv_ = client.get(world.url + ".csv")

    assert listed(page) == [world.full.id, world.absent.id]
    assert 'data-testid="capped"' in page
    # Never a silently partial register on paper or in a file.
    assert printed.status_code == csv_.status_code == 400
    assert "More than 2 stays arrive in this period." in text(printed)


# --- every read is recorded -------------------------------------------------------------


def test_every_read_is_recorded_per_stay_and_the_log_shows_it(db, client, world):
    before = reads(db)

    client.get(world.url, query_string={"from": days(0), "to": days(0)})
    client.get(world.url + "/print", query_string={"from": days(3), "to": days(3)})
    client.get(world.url + ".csv", query_string={"from": days(10), "to": days(10)})
    client.get(world.url, query_string={"from": days(20), "to": days(21)})  # nothing read

    me = world.operator.id
    assert reads(db)[len(before) :] == [
        (world.full.id, "view", me),
        (world.absent.id, "view", me),
        (world.partial.id, "print", me),
        (world.blank.id, "csv", me),
    ]
    log = client.get(world.url + "/log")
    page = text(log)
    assert log.status_code == 200
    rows = re.findall(r'<tr data-action="(\w+)" data-booking-id="(\d+)"', page)
    assert rows[:3] == [  # newest first (the same instant: the last written first)
        ("csv", str(world.blank.id)),
        ("print", str(world.partial.id)),
        ("view", str(world.absent.id)),
    ]
    assert "Kenji Front" in page and "Downloaded the register as CSV" in page
    assert "Opened the print view" in page and "Viewed the register" in page
    assert "Checked identity at check-in" in page  # the front desk's check
    assert "Hanako Yamada" in page  # the booker filled it in (edit)
    assert "山田 花子" not in page  # the log names people who read, never guests
    # Reading the log reads no register entry.
    assert len(reads(db)) == len(before) + 4


def test_the_log_is_paged_newest_first(db, client, world):
    for n in range(60):
        db.session.add(
            RegisterRead(
                booking_id=world.full.id,
                facility_id=world.facility.id,
                user_id=world.operator.id,
                action="view",
                created_at=NOW.replace(minute=n),
            )
        )
    db.session.commit()
    total = db.session.scalar(
        select(func.count())
        .select_from(RegisterRead)
        .where(RegisterRead.facility_id == world.facility.id)
    )

    first = text(client.get(world.url + "/log"))
    last = text(client.get(world.url + "/log", query_string={"page": 99}))

    assert len(re.findall(r"<tr data-action=", first)) == 50
    assert "2026/12/01 12:59" in first.split("<tr data-action=")[1]
    assert f"({total})" in first and "page=2" in first
    assert len(re.findall(r"<tr data-action=", last)) == total - 50 * ((total - 1) // 50)


# --- the print view ---------------------------------------------------------------------


def test_the_print_view_is_the_usual_register_layout(client, world):
    response = client.get(world.url + "/print", query_string={"from": days(0), "to": days(5)})
    page = text(response)

    assert response.status_code == 200
    assert "<h1>Guest register</h1>" in page
    assert "Birch Inn" in page
    assert "Hotel or ryokan business licence 長野県指令第42号" in page
    assert 'data-testid="print-period"' in page
    for heading in (
        "Arrival",
        "Departure",
        "Name",
        "Address",
        "Contact",
        "Nationality",
        "Passport number",
        "Identity checked by",
    ):
        assert f">{heading}</th>" in page or f">{heading}<br>" in page, heading
    table = page.split('data-testid="register-print"')[1]
    assert table.index("山田 花子") < table.index("Emma Schmidt") < table.index("C01X00T47")
    assert 'rowspan="2"' in table  # the stay's columns span its two guests
    assert "Kenji Front" in table
    assert "Register incomplete" in table  # the partial stay says so on paper too
    assert "Printed on" in page
    # Print: a button the script shows, and the browser's own command without it.
    assert re.search(r"<button[^>]*data-print[^>]*hidden", page)
    assert "/static/js/register_print.js" in page and "/static/css/register_print.css" in page
    assert "Print this page with your browser's Print command" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script
    assert "style=" not in page


# --- the CSV ----------------------------------------------------------------------------


def test_the_csv_has_one_row_per_guest_and_never_a_formula(db, client, world):
    fill(
        db,
        world.blank,
        [GuestDetails(name="=HYPERLINK(1)", address="+1 Evil Street", phone="@SUM(A1)")],
        by=world.employee,
    )

    response = client.get(world.url + ".csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert (
        f'filename="engawa-register-{world.facility.id}-2026-12-01-2026-12-31.csv"'
        in response.headers["Content-Disposition"]
    )
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:7] == [
        "Booking number",
        "Arrival",
        "Departure",
        "Room",
        "Status",
        "Guest",
        "Name",
    ]
    by_booking = [(int(r[0]), r[6]) for r in rows[1:]]
    assert by_booking == [
        (world.full.id, "山田 花子"),
        (world.full.id, "Emma Schmidt"),
        (world.absent.id, "山田 花子"),
        (world.partial.id, "山田 花子"),
        (world.blank.id, "'=HYPERLINK(1)"),
    ]
    emma = rows[2]
    assert emma[9:12] == ["Germany", "C01X00T47", "Yes"]
    assert emma[12] == "Kenji Front" and emma[13] == "2026/12/01 12:00" and emma[14] == "Yes"
    evil = rows[5]
    assert evil[7] == "'+1 Evil Street" and evil[8] == "'@SUM(A1)"


def test_a_stay_with_nobody_registered_still_has_its_row(db, client, world):
    rows = list(csv.reader(io.StringIO(client.get(world.url + ".csv").get_data(as_text=True))))
    (blank,) = [r for r in rows[1:] if r[0] == str(world.blank.id)]
    assert blank[6] == "" and blank[14] == "No"


# --- tenant walls ---------------------------------------------------------------------------


def test_another_organisations_facility_a_satellite_office_or_none_answers_404(db, client, world):
    before = reads(db)
    for facility_id in (world.their_facility.id, world.office.id, 999_999, 2**31):
        for suffix in ("", "/print", ".csv", "/log"):
            url = f"/operator/facilities/{facility_id}/register{suffix}"
            assert client.get(url).status_code == 404, url
    assert reads(db) == before


def test_the_other_organisation_reads_only_its_own_register(db, app, world):
    from tests.conftest import signed_in

    theirs = signed_in(app, world.their_operator)
    own = text(theirs.get(f"/operator/facilities/{world.their_facility.id}/register"))
    ours = theirs.get(world.url)

    assert listed(own) == [world.theirs.id] and "佐藤 次郎" in own
    assert ours.status_code == 404


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_only_operators_reach_the_register(app, db, make_user, world, role):
    from tests.conftest import signed_in

    browser = signed_in(app, make_user(role))
    for url in ("/operator/register", world.url, world.url + "/print", world.url + ".csv"):
        assert browser.get(url).status_code == 403, (role, url)


def test_the_facility_pages_link_to_the_register(client, world):
    overview = text(client.get(f"/operator/facilities/{world.facility.id}"))
    office = text(client.get(f"/operator/facilities/{world.office.id}"))

    assert f'href="{world.url}"' in overview
    assert f'href="/operator/facilities/{world.office.id}/register"' not in office
    assert 'href="/operator/taxes"' in overview  # the accommodation tax report
