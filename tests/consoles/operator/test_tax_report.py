"""The operator's accommodation tax report (宿泊税) per municipality and month: the
nights, taxable guests and tax their return is based on, on the page and as CSV, for
their own facilities only."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from accounts.models import Role
from booking import front_desk, services
from booking.models import Booking, BookingNight
from booking.stay_tax import kept_tax, night_taxes
from consoles.operator.tax_report import tax_report
from core.dates import stay_nights
from tests.conftest import NOW, days, signed_in
from tests.register_helpers import fill_register

pytestmark = pytest.mark.usefixtures("tax_rules")


def d(text: str) -> date:
    return date.fromisoformat(text)


def booking(db, employee, unit, check_in, check_out, guests, price, **kw) -> Booking:
    """A stay with its nights and their tax by the seeded rules (as booking freezes them)."""
    nights = stay_nights(d(check_in), d(check_out))
    taxes = night_taxes(unit.facility, [(n, price) for n in nights], guests)
    stay = Booking(
        user_id=employee.id,
        company_id=employee.company_id,
        unit_id=unit.id,
        check_in=d(check_in),
        check_out=d(check_out),
        guests=guests,
        total_price=price * len(nights),
        accommodation_tax=sum(taxes),
        **kw,
    )
    stay.nights = [
        BookingNight(night=n, price=price, accommodation_tax=t)
        for n, t in zip(nights, taxes, strict=True)
    ]
    db.session.add(stay)
    db.session.commit()
    return stay


@pytest.fixture
def chain(db, make_operator, make_facility, make_unit, make_employee, make_user):
    """An organisation with two facilities in Kyoto city, one in Tokyo and one in Nagano
    (no tax), their stays, and another organisation's Kyoto stay."""
    org = make_operator()
    kyoto = make_facility(
        operator=org, name_en="Gion House", prefecture=26, municipality="京都市東山区"
    )
    kyoto2 = make_facility(
        operator=org, name_en="Kamo House", prefecture=26, municipality="京都市東山区"
    )
    tokyo = make_facility(operator=org, name_en="Kanda Inn", prefecture=13, municipality="千代田区")
    nagano = make_facility(operator=org, name_en="Forest Lodge")
    rooms = {
        "kyoto": make_unit(facility=kyoto),
        "kyoto2": make_unit(facility=kyoto2),
        "tokyo": make_unit(facility=tokyo),
        "nagano": make_unit(facility=nagano),
    }
    guest = make_employee()
    # Kyoto, ¥8,000 a guest before consumption tax: ¥400 a guest and night.
    booking(db, guest, rooms["kyoto"], "2026-11-29", "2026-12-02", 2, 17600)
    booking(db, guest, rooms["kyoto"], "2026-12-10", "2026-12-12", 1, 8800, status="cancelled")
    booking(
        db,
        guest,
        rooms["kyoto"],
        "2026-12-05",
        "2026-12-07",
        1,
        8800,
        status="no_show",
        released_on=d("2026-12-05"),
    )
    booking(
        db,
        guest,
        rooms["kyoto"],
        "2026-12-15",
        "2026-12-20",
        1,
        8800,
        status="checked_out",
        released_on=d("2026-12-17"),
    )
    booking(db, guest, rooms["kyoto2"], "2027-01-05", "2027-01-06", 1, 8800)
    # Tokyo: ¥10,000 before consumption tax → ¥100; ¥9,000 → none (a night all the same).
    booking(db, guest, rooms["tokyo"], "2026-12-20", "2026-12-22", 1, 11000, status="checked_in")
    booking(db, guest, rooms["tokyo"], "2026-12-22", "2026-12-23", 1, 9900)
    booking(db, guest, rooms["nagano"], "2026-12-01", "2026-12-02", 1, 11000)
    # Another organisation's house in Kyoto, and a stay outside the months.
    foreign = make_unit(
        facility=make_facility(name_en="Other Kyoto", prefecture=26, municipality="京都市左京区")
    )
    booking(db, guest, foreign, "2026-12-01", "2026-12-05", 3, 30000)
    booking(db, guest, rooms["kyoto"], "2027-02-10", "2027-02-11", 1, 8800)
    operator = make_user(Role.OPERATOR, operator=org, locale="en")
    return org, operator, {"kyoto": kyoto, "kyoto2": kyoto2, "tokyo": tokyo, "foreign": foreign}


EXPECTED = [
    # prefecture, municipality, month, nights, taxable guests, tax
    (13, "千代田区", "2026-12", 3, 2, 200),
    (20, "北佐久郡軽井沢町", "2026-12", 1, 0, 0),
    (26, "京都市東山区", "2026-11", 2, 4, 1600),
    (26, "京都市東山区", "2026-12", 3, 4, 1600),
    (26, "京都市東山区", "2027-01", 1, 1, 400),
]


def test_report_per_municipality_and_month(db, chain):
    org, _operator, facilities = chain
    report = tax_report(org.id, d("2026-11-01"), d("2027-01-01"))
    assert [
        (
            r.prefecture,
            r.municipality,
            r.month.strftime("%Y-%m"),
            r.figures.nights,
            r.figures.taxable_guests,
            r.figures.tax,
        )
        for r in report.rows
    ] == EXPECTED
    assert (report.total.nights, report.total.taxable_guests, report.total.tax) == (10, 11, 3800)
    # Each facility's share of its municipality's month.
    january = report.rows[-1]
    assert [f for f, _figures in january.facilities] == [facilities["kyoto2"].id]


def test_kyoto_rate_change_splits_over_the_months(db, make_facility, make_unit, make_employee):
    house = make_facility(prefecture=26, municipality="京都市中京区")
    room = make_unit(facility=house)
    booking(db, make_employee(), room, "2026-02-27", "2026-03-02", 1, 8800)
    report = tax_report(house.operator_id, d("2026-02-01"), d("2026-03-01"))
    # ¥200 a night until 2026-02-28, ¥400 from 03-01 (the rule in force that night).
    assert [(r.month.month, r.figures.nights, r.figures.tax) for r in report.rows] == [
        (2, 2, 400),
        (3, 1, 400),
    ]


def test_the_page_shows_the_rows_and_totals(app, db, chain):
    _org, operator, _facilities = chain
    browser = signed_in(app, operator)
    response = browser.get("/operator/taxes", query_string={"from": "2026-11", "to": "2027-01"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    rows = re.findall(
        r'<tr data-municipality="(\d+)-([^"]*)" data-month="([0-9-]+)">.*?'
        r'data-testid="nights">(\d+)<.*?data-testid="taxable-guests">(\d+)<.*?'
        r'data-testid="tax">¥([\d,]+)<',
        page,
        re.S,
    )
    assert [
        (int(p), m, month, int(n), int(g), int(t.replace(",", ""))) for p, m, month, n, g, t in rows
    ] == EXPECTED
    assert re.search(r'data-testid="total-nights">10<', page)
    assert re.search(r'data-testid="total-taxable-guests">11<', page)
    assert re.search(r'data-testid="total-tax">¥3,800<', page)
    assert "Direct stays (walk-ins, phone bookings) are not in this report" in page
    assert "Gion House" in page and "Kamo House" in page
    assert "Other Kyoto" not in page and "京都市左京区" not in page
    assert "/operator/taxes.csv?from=2026-11&amp;to=2027-01" in page


def test_csv_has_the_same_columns_and_a_total(app, db, chain):
    _org, operator, _facilities = chain
    browser = signed_in(app, operator)
    response = browser.get("/operator/taxes.csv", query_string={"from": "2026-11", "to": "2027-01"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "engawa-accommodation-tax-2026-11-2027-01.csv" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "private, no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == [
        "Prefecture",
        "Municipality",
        "Month",
        "Nights",
        "Taxable guests (guest-nights)",
        "Accommodation tax (yen)",
    ]
    assert rows[1] == ["Tokyo", "千代田区", "2026-12", "3", "2", "200"]
    assert rows[3] == ["Kyoto", "京都市東山区", "2026-11", "2", "4", "1600"]
    assert rows[-1] == ["Total", "", "", "10", "11", "3800"]
    assert len(rows) == 1 + len(EXPECTED) + 1
    assert "左京区" not in text


def test_csv_cells_never_run_as_formulas(app, db, make_facility, make_unit, make_user):
    evil = make_facility(prefecture=13, municipality="=HYPERLINK(1)")
    room = make_unit(facility=evil)
    booking(db, make_user(Role.EMPLOYEE), room, "2026-12-01", "2026-12-02", 1, 11000)
    browser = signed_in(app, make_user(Role.OPERATOR, operator=evil.operator, locale="en"))
    text = browser.get(
        "/operator/taxes.csv", query_string={"from": "2026-12", "to": "2026-12"}
    ).get_data(as_text=True)
    assert "'=HYPERLINK(1)" in text


def test_default_is_the_last_12_months(app, db, chain):
    _org, operator, _facilities = chain
    browser = signed_in(app, operator)
    page = browser.get("/operator/taxes").get_data(as_text=True)
    assert 'value="2026-01"' in page and 'value="2026-12"' in page
    # January 2027 is after this month: not in the default report.
    assert 'data-month="2027-01"' not in page and 'data-month="2026-12"' in page
    text = browser.get("/operator/taxes.csv").get_data(as_text=True)
    assert "2026-12" in text and "2027-01" not in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-13", "to": "2027-01"}, "Enter the first and the last month"),
        ({"from": "2026-11"}, "Enter the first and the last month"),
        ({"from": "11/2026", "to": "2027-01"}, "Enter the first and the last month"),
        ({"from": "2027-01", "to": "2026-11"}, "cannot be before the first month"),
        ({"from": "2023-01", "to": "2026-12"}, "at most 36 months"),
        ({"from": "1990-01", "to": "1990-02"}, "within 10 years of today"),
    ],
)
def test_bad_months_are_refused_with_a_reason(app, db, chain, params, message):
    _org, operator, _facilities = chain
    browser = signed_in(app, operator)
    response = browser.get("/operator/taxes", query_string=params)
    assert response.status_code == 400
    error = re.search(r'data-testid="months-error">([^<]*)<', response.get_data(as_text=True))
    assert message in error.group(1) and "Showing the last 12 months instead." in error.group(1)
    answer = browser.get("/operator/taxes.csv", query_string=params)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)


def test_walls_another_operator_sees_only_their_own(app, db, chain, make_user):
    _org, _operator, facilities = chain
    other_org = facilities["foreign"].facility.operator
    other = signed_in(app, make_user(Role.OPERATOR, operator=other_org, locale="en"))
    page = other.get("/operator/taxes", query_string={"from": "2026-12", "to": "2026-12"})
    text = page.get_data(as_text=True)
    assert "京都市左京区" in text and "京都市東山区" not in text and "Gion House" not in text
    # 4 nights of 3 guests at ¥30,000 (¥9,090 each before consumption tax): ¥400 each.
    assert re.search(r'data-testid="total-tax">¥4,800<', text)
    employee = signed_in(app, make_user(Role.EMPLOYEE))
    assert employee.get("/operator/taxes").status_code == 403
    assert employee.get("/operator/taxes.csv").status_code == 403
    stranger = signed_in(app, make_user(Role.OPERATOR, locale="en"))
    empty = stranger.get("/operator/taxes").get_data(as_text=True)
    assert 'data-testid="tax-report-empty"' in empty


def test_signed_out_is_sent_to_sign_in(client, db):
    response = client.get("/operator/taxes")
    assert response.status_code in (302, 401)


# --- stays that keep their tax -------------------------------------------------------------


def _front_desk_stays(db, org, make_facility, make_unit, make_employee, make_user):
    """Three stays of one guest at a Kyoto house at ¥22,000 a night (¥1,000 of tax each),
    through the real front desk: a no-show marked on the 2nd day of its stay, a no-show
    marked after its check-out date, and an early check-out after 2 of 4 nights."""
    house = make_facility(operator=org, name_en="Gion House", prefecture=26, municipality="京都市")
    room = make_unit(facility=house, base_price=22_000, capacity=2)
    guest, desk = make_employee(), make_user(Role.OPERATOR, operator=org)

    def book(first: int, last: int) -> Booking:
        stay = services.book_stay(
            guest, services.StayRequest(room.id, days(first), days(last), 1), NOW
        )
        db.session.commit()
        return stay

    late_no_show, later_no_show, early = book(2, 5), book(6, 8), book(10, 14)
    fill_register(early)
    front_desk.mark_no_show(desk, late_no_show.id, NOW + timedelta(days=3))  # its 2nd day
    front_desk.mark_no_show(desk, later_no_show.id, NOW + timedelta(days=9))  # after check-out
    front_desk.check_in(desk, early.id, NOW + timedelta(days=10))
    front_desk.check_out(desk, early.id, NOW + timedelta(days=12))  # 2 nights stayed
    db.session.commit()
    assert (late_no_show.released_on, later_no_show.released_on) == (days(3), None)
    return guest, (late_no_show, later_no_show, early)


def test_a_no_show_keeps_no_nights_and_an_early_check_out_the_nights_stayed(
    db, make_operator, make_facility, make_unit, make_employee, make_user
):
    """The report counts what ``booking.stay_tax.kept_tax`` keeps: a no-show's tax was
    given back in full, whenever it was marked; an early check-out keeps the nights
    stayed."""
    org = make_operator()
    _guest, stays = _front_desk_stays(db, org, make_facility, make_unit, make_employee, make_user)
    report = tax_report(org.id, d("2026-12-01"), d("2026-12-01"))
    (row,) = report.rows
    assert (row.figures.nights, row.figures.taxable_guests, row.figures.tax) == (2, 2, 2_000)
    assert sum(kept_tax(stay) for stay in stays) == report.total.tax


@pytest.mark.parametrize(("marked_on", "released"), [(3, True), (9, False)])
def test_a_no_show_alone_is_not_in_the_report(
    db, make_operator, make_facility, make_unit, make_employee, make_user, marked_on, released
):
    """A no-show marked on the 2nd day of its stay, or after its check-out date."""
    org = make_operator()
    house = make_facility(operator=org, prefecture=26, municipality="京都市東山区")
    room = make_unit(facility=house, base_price=22_000, capacity=2)
    stay = services.book_stay(
        make_employee(), services.StayRequest(room.id, days(2), days(5), 1), NOW
    )
    db.session.commit()
    assert tax_report(org.id, d("2026-12-01"), d("2026-12-01")).total.tax == 3_000  # booked
    desk = make_user(Role.OPERATOR, operator=org)
    front_desk.mark_no_show(desk, stay.id, NOW + timedelta(days=marked_on))
    db.session.commit()
    assert (stay.released_on is not None) is released
    report = tax_report(org.id, d("2026-12-01"), d("2026-12-01"))
    assert report.rows == []
    assert (report.total.nights, report.total.taxable_guests, report.total.tax) == (0, 0, 0)
