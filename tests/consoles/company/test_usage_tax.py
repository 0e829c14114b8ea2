"""The accommodation tax (宿泊税) in the company admin's console: the usage page's columns
and period total, the ledger and its CSV (rows of kind accommodation_tax, labelled), and
each invoice period's tax paid from the stay credit, which no invoice carries.

A Kyoto night at ¥22,000 for one guest carries ¥1,000 of tax (¥20,000 before
consumption tax, from 2026-03-01: lodging/rates.py); a Nagano night none.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from accounts.models import Role
from billing.models import Invoice
from booking import cancellation, front_desk
from booking import services as booking
from consoles.company import usage
from tests.conftest import NOW, days, signed_in
from tests.register_helpers import fill_register


@pytest.fixture
def company(make_company):
    return make_company(name="Acme 株式会社")


@pytest.fixture
def employee(make_user, company):
    return make_user(Role.EMPLOYEE, company=company, name="山田 花子")


@pytest.fixture
def kyoto(tax_rules, make_facility, make_unit):
    facility = make_facility(
        name_en="Higashiyama Townhouse",
        prefecture=26,
        municipality="京都市東山区",
        licence_number="京都市指令保医セ第123号",
    )
    return make_unit(facility=facility, base_price=22_000, capacity=2)


def _book(db, employee, unit, first, last, now=NOW):
    stay = booking.book_stay(
        employee, booking.StayRequest(unit.id, days(first), days(last), 1), now
    )
    db.session.commit()
    return stay


def _admin(app, make_user, company, locale):
    return signed_in(app, make_user(Role.COMPANY_ADMIN, company=company, locale=locale))


def _table(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">(.*?)</table>', html, re.S).group(1)


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_usage_shows_the_tax_by_employee_month_stay_and_period(
    app, db, make_user, company, employee, kyoto, make_unit, locale
):
    _book(db, employee, kyoto, 10, 13)  # ¥3,000 of tax
    cancelled = _book(db, employee, kyoto, 20, 22)  # ¥2,000, then refunded in full
    cancellation.cancel_booking(employee, cancelled.id, NOW + timedelta(hours=1))
    db.session.commit()
    _book(db, employee, make_unit(base_price=22_000), 25, 26)  # Nagano: none

    html = _admin(app, make_user, company, locale).get("/company/usage").get_data(as_text=True)

    by_employee = _table(html, "by-employee")
    assert "山田 花子" in by_employee and "¥3,000" in by_employee
    by_month = _table(html, "by-month")
    assert "¥3,000" in by_month
    upcoming = _table(html, "upcoming")
    assert "¥3,000" in upcoming and "¥66,000" in upcoming
    period = re.search(r'data-testid="period-tax">(.*?)</p>', html, re.S).group(1)
    assert "¥3,000" in period
    ledger_rows = _table(html, "ledger")
    assert ledger_rows.count('class="entry-accommodation_tax"') == 3
    assert "−¥3,000" in ledger_rows and "+¥2,000" in ledger_rows and "−¥2,000" in ledger_rows
    if locale == "en":
        assert ledger_rows.count("Accommodation tax</td>") == 3
        assert "Accommodation tax paid from the stay credit this period: ¥3,000" in period


def test_the_csv_labels_the_tax_entries(app, db, make_user, company, employee, kyoto):
    stay = _book(db, employee, kyoto, 10, 12)
    body = (
        _admin(app, make_user, company, "en")
        .get("/company/usage.csv")
        .get_data()
        .decode("utf-8-sig")
    )
    rows = list(csv.reader(io.StringIO(body)))
    taxes = [r for r in rows[1:] if r[1] == "Accommodation tax"]
    assert [(r[2], r[4], r[5]) for r in taxes] == [("-2000", employee.email, str(stay.id))]
    assert "accommodation_tax" not in body  # the kind's label, never its code


def test_a_no_show_keeps_no_tax_for_its_nights(app, db, make_user, company, employee, kyoto):
    """The month column counts the tax of the nights stays kept (a no-show: none)."""
    stay = _book(db, employee, kyoto, 0, 2)
    operator = make_user(Role.OPERATOR, operator=kyoto.facility.operator)
    front_desk.mark_no_show(operator, stay.id, NOW + timedelta(hours=2))  # on check-in day
    db.session.commit()
    (row,) = usage.usage_by_month(company.id)
    assert (row.nights, row.yen, row.tax) == (2, 44_000, 0)
    (person,) = usage.usage_by_employee(company.id)
    assert person.tax == 0


@pytest.mark.parametrize("marked_after", [3, 9], ids=["on-its-2nd-day", "after-check-out"])
def test_a_no_show_marked_late_keeps_no_tax_either(
    app, db, make_user, company, employee, kyoto, marked_after
):
    """A no-show marked on the 2nd day of its stay, or after its check-out date: its tax
    was given back in full, so no month shows any (the nights stay paid for)."""
    stay = _book(db, employee, kyoto, 2, 5)
    operator = make_user(Role.OPERATOR, operator=kyoto.facility.operator)
    front_desk.mark_no_show(operator, stay.id, NOW + timedelta(days=marked_after))
    db.session.commit()
    (row,) = usage.usage_by_month(company.id)
    assert (row.nights, row.yen, row.tax) == (3, 66_000, 0)
    assert usage.usage_by_employee(company.id)[0].tax == 0


def test_an_early_check_out_keeps_the_tax_of_the_nights_stayed(
    app, db, make_user, company, employee, kyoto
):
    stay = _book(db, employee, kyoto, 10, 14)
    fill_register(stay)
    operator = make_user(Role.OPERATOR, operator=kyoto.facility.operator)
    front_desk.check_in(operator, stay.id, NOW + timedelta(days=10))
    front_desk.check_out(operator, stay.id, NOW + timedelta(days=12))  # 2 of 4 nights
    db.session.commit()
    (row,) = usage.usage_by_month(company.id)
    assert (row.nights, row.yen, row.tax) == (4, 88_000, 2_000)
    assert usage.usage_by_employee(company.id)[0].tax == 2_000  # the ledger agrees


def _invoice(db, company, number, start, end) -> Invoice:
    invoice = Invoice(
        company_id=company.id,
        stripe_invoice_id=f"in_test_{number}",
        number=number,
        status="paid",
        total=8_000,
        period_start=start,
        period_end=end,
        created_at=end,
    )
    db.session.add(invoice)
    db.session.commit()
    return invoice


def test_each_invoice_period_states_the_tax_paid_from_credit_in_it(
    app, db, make_user, make_company, company, employee, kyoto
):
    _book(db, employee, kyoto, 10, 13)  # ¥3,000 at NOW
    _book(db, employee, kyoto, 40, 41, now=NOW + timedelta(days=31))  # next period: ¥1,000
    this = _invoice(db, company, "ACME-1", NOW - timedelta(days=10), NOW + timedelta(days=20))
    following = _invoice(db, company, "ACME-2", NOW + timedelta(days=20), NOW + timedelta(days=50))
    before = _invoice(db, company, "ACME-0", NOW - timedelta(days=40), NOW - timedelta(days=10))
    no_period = Invoice(
        company_id=company.id, stripe_invoice_id="in_x", status="open", total=1, created_at=NOW
    )
    db.session.add(no_period)
    other = make_company()
    _invoice(db, other, "RIVAL-1", NOW - timedelta(days=10), NOW + timedelta(days=20))
    db.session.commit()

    html = _admin(app, make_user, company, "en").get("/company/invoices").get_data(as_text=True)

    rows = dict(re.findall(r'<tr data-invoice-id="(\d+)" (.*?)</tr>', html, re.S))
    taxes = {
        invoice_id: re.search(r'data-testid="invoice-period-tax">(.*?)</td>', row, re.S).group(1)
        for invoice_id, row in rows.items()
    }
    assert taxes[str(this.id)].startswith("¥3,000")
    assert "not on this invoice" in taxes[str(this.id)]
    assert taxes[str(following.id)].startswith("¥1,000")
    assert taxes[str(before.id)].startswith("¥0")
    assert taxes[str(no_period.id)] == "—"
    assert "RIVAL-1" not in html
    assert "not on the invoice" in html


def test_tax_paid_in_periods_counts_refunds_and_each_period_alone(db, employee, kyoto, company):
    stay = _book(db, employee, kyoto, 10, 13)
    cancellation.cancel_booking(employee, stay.id, NOW + timedelta(days=2))
    db.session.commit()
    first = (NOW - timedelta(days=1), NOW + timedelta(days=1))
    second = (NOW + timedelta(days=1), NOW + timedelta(days=3))
    both = (first[0], second[1])
    assert usage.tax_paid_in(company.id, [first, second, both]) == [3_000, -3_000, 0]
    assert usage.tax_paid_in(company.id, []) == []
