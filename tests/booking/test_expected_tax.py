"""Money is never a surprise: a new booking is refused when its accommodation tax (宿泊税)
is no longer the one the employee was shown (``expected_tax``), as a changed price is
(``expected_total``): the service, the quote page's confirm button and
``POST /api/v1/bookings``.

The Kyoto room costs ¥11,000 a night (¥10,000 before consumption tax): ¥400 a guest and
night by Kyoto's rule from 2026-03-01, so ¥800 for two nights. The platform admin then
edits that rule to ¥500 in that bracket (¥1,000 for the stay). The default facility is in
Nagano, where no rule levies the tax. SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from accounts.models import Role
from availability.models import Occupancy
from billing import ledger
from billing.models import CreditEntry
from booking import api, services
from booking.models import Booking
from lodging import tax_admin
from lodging.models import AccommodationTaxRule
from tests.conftest import NOW, bearer, days

PRICE = 11_000
TAX_SHOWN = 800  # two nights at ¥400
TAX_NOW = 1_000  # two nights at ¥500, once the rule is edited
KYOTO_CHANGE = date(2026, 3, 1)
START_CREDIT = 10_000_000
SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture
def kyoto(tax_rules, make_facility, make_unit):
    facility = make_facility(prefecture=26, municipality="京都市東山区")
    return make_unit(facility=facility, base_price=PRICE, capacity=2)


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def edit_rule(db, make_user):
    """The platform admin raises Kyoto's ¥6,000–19,999 bracket from ¥400 to ¥500."""

    def edit() -> None:
        admin = make_user(Role.PLATFORM_ADMIN)
        rule = db.session.scalar(
            select(AccommodationTaxRule).where(
                AccommodationTaxRule.prefecture == 26,
                AccommodationTaxRule.effective_from == KYOTO_CHANGE,
            )
        )
        brackets = [[low, 500 if low == 6000 else tax] for low, tax in rule.brackets]
        values = tax_admin.RuleValues(
            prefecture=rule.prefecture,
            municipality=rule.municipality,
            effective_from=rule.effective_from,
            effective_until=rule.effective_until,
            brackets=brackets,
            source_url=rule.source_url,
            note=rule.note,
        )
        tax_admin.update_rule(rule.id, values, actor=admin, now=NOW)
        db.session.commit()

    return edit


def stay_of(unit, guests: int = 1) -> services.StayRequest:
    return services.StayRequest(unit.id, days(10), days(12), guests)


def nothing_booked(db, company_id: int) -> bool:
    db.session.rollback()
    bookings = db.session.scalar(select(func.count()).select_from(Booking))
    claimed = db.session.scalar(select(func.count()).select_from(Occupancy))
    spent = db.session.scalar(
        select(func.count()).select_from(CreditEntry).where(CreditEntry.booking_id.is_not(None))
    )
    balance = ledger.account_of(company_id).credit_balance
    return (bookings, claimed, spent, balance) == (0, 0, 0, START_CREDIT)


# --- the service ----------------------------------------------------------------------------


def test_a_tax_rule_edited_between_quote_and_booking_refuses_the_booking(
    db, employee, kyoto, edit_rule
):
    quote = services.quote_stay(employee, stay_of(kyoto), NOW)
    assert quote.accommodation_tax == TAX_SHOWN
    edit_rule()

    with pytest.raises(services.PriceChanged) as refused:
        services.book_stay(
            employee,
            stay_of(kyoto),
            NOW,
            expected_total=quote.total,
            expected_tax=quote.accommodation_tax,
        )
    assert refused.value.code == "price_changed"
    assert "¥1,000" in str(refused.value.message)
    assert nothing_booked(db, employee.company_id)

    # Confirmed again with the tax now shown, it books, and pays that tax.
    again = services.quote_stay(employee, stay_of(kyoto), NOW)
    assert again.accommodation_tax == TAX_NOW
    booking = services.book_stay(
        employee, stay_of(kyoto), NOW, expected_total=again.total, expected_tax=TAX_NOW
    )
    db.session.commit()
    assert (booking.total_price, booking.accommodation_tax) == (2 * PRICE, TAX_NOW)
    assert [n.accommodation_tax for n in booking.nights] == [500, 500]


def test_the_tax_shown_books_and_no_expected_tax_is_not_checked(db, employee, kyoto, unit):
    booking = services.book_stay(employee, stay_of(kyoto), NOW, expected_tax=TAX_SHOWN)
    assert booking.accommodation_tax == TAX_SHOWN
    # Where no tax is levied the tax shown is 0, and only 0 books.
    with pytest.raises(services.PriceChanged):
        services.book_stay(employee, stay_of(unit), NOW, expected_tax=1)
    db.session.rollback()
    assert services.book_stay(employee, stay_of(unit), NOW, expected_tax=0).accommodation_tax == 0
    # Without expected_tax (scripts of old), the tax in force is charged as before.
    later = services.StayRequest(kyoto.id, days(20), days(21), 2)
    assert services.book_stay(employee, later, NOW).accommodation_tax == 400


# --- the quote page ---------------------------------------------------------------------------


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]*)"', page)
    assert found, f"no hidden {name} on the page"
    return found[1]


def _confirm_form(page: str, unit) -> dict:
    return {
        "unit_id": unit.id,
        "check_in": days(10).isoformat(),
        "check_out": days(12).isoformat(),
        "guests": 1,
        **{n: _hidden(page, n) for n in ("request_key", "expected_total", "expected_tax")},
    }


def _quote_page(client, unit) -> str:
    args = {"unit_id": unit.id, "check_in": days(10), "check_out": days(12), "guests": 1}
    response = client.get("/book", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_the_quote_page_refuses_a_tax_edited_since_and_books_the_new_one(
    db, client, login, employee, kyoto, edit_rule
):
    login(employee)
    page = _quote_page(client, kyoto)
    form = _confirm_form(page, kyoto)
    assert (form["expected_total"], form["expected_tax"]) == (str(2 * PRICE), str(TAX_SHOWN))
    edit_rule()

    refused = client.post("/book", data=form)

    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert 'data-testid="booking-error"' in text
    assert "The accommodation tax of this stay has changed to ¥1,000 since it was shown" in text
    assert nothing_booked(db, employee.company_id)
    # The page shows the stay again with the new tax, ready to confirm.
    assert _hidden(text, "expected_tax") == str(TAX_NOW)

    booked = client.post("/book", data=_confirm_form(text, kyoto))
    assert booked.status_code == 303
    (booking,) = db.session.scalars(select(Booking)).all()
    assert booking.accommodation_tax == TAX_NOW
    assert booked.headers["Location"].endswith(f"/stays/{booking.id}")


def test_the_quote_page_books_a_stay_without_tax_with_zero_shown(
    db, client, login, employee, tax_rules, unit
):
    login(employee)
    form = _confirm_form(_quote_page(client, unit), unit)
    assert form["expected_tax"] == "0"
    assert client.post("/book", data=form).status_code == 303
    assert db.session.scalar(select(Booking.accommodation_tax)) == 0


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", str(10**10 + 1)])
def test_a_bad_expected_tax_on_the_form_books_nothing(db, client, login, employee, kyoto, bad):
    login(employee)
    form = _confirm_form(_quote_page(client, kyoto), kyoto) | {"expected_tax": bad}
    response = client.post("/book", data=form)
    assert response.status_code == 400
    assert nothing_booked(db, employee.company_id)


# --- the API ----------------------------------------------------------------------------------


def _post(client, headers, unit, **fields):
    body = {
        "unit_id": unit.id,
        "check_in": days(10).isoformat(),
        "check_out": days(12).isoformat(),
        **fields,
    }
    return client.post("/api/v1/bookings", json=body, headers=headers)


def test_the_api_refuses_a_tax_edited_since_with_409_and_books_the_right_one(
    db, client, employee, kyoto, edit_rule
):
    headers = bearer(db, employee)
    edit_rule()

    stale = _post(client, headers, kyoto, expected_total=2 * PRICE, expected_tax=TAX_SHOWN)

    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "price_changed" and "¥1,000" in error["message"]
    assert nothing_booked(db, employee.company_id)

    booked = _post(client, headers, kyoto, expected_total=2 * PRICE, expected_tax=TAX_NOW)
    assert booked.status_code == 201, booked.get_json()
    body = booked.get_json()
    assert (body["total_price"], body["accommodation_tax"]) == (2 * PRICE, TAX_NOW)
    assert [n["accommodation_tax"] for n in body["nights"]] == [500, 500]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("abc", "invalid_number"),
        (True, "invalid_number"),
        (1.5, "invalid_number"),
        ([800], "invalid_number"),
        (-1, "out_of_range"),
        (10**10 + 1, "out_of_range"),
    ],
)
def test_the_api_refuses_a_bad_expected_tax(db, client, employee, kyoto, value, code):
    response = _post(client, bearer(db, employee), kyoto, expected_tax=value)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert nothing_booked(db, employee.company_id)


def test_the_api_takes_expected_tax_as_a_string_of_digits_too(db, client, employee, kyoto):
    response = _post(client, bearer(db, employee), kyoto, expected_tax=str(TAX_SHOWN))
    assert response.status_code == 201
    assert response.get_json()["accommodation_tax"] == TAX_SHOWN


def test_the_spec_documents_expected_tax_with_the_codes_bounds():
    spec = yaml.safe_load(SPEC.read_text())
    post = spec["paths"]["/api/v1/bookings"]["post"]
    field = post["requestBody"]["content"]["application/json"]["schema"]["properties"][
        "expected_tax"
    ]
    assert field["type"] == "integer"
    assert (field["minimum"], field["maximum"]) == (
        api.MIN_EXPECTED_TOTAL,
        api.MAX_EXPECTED_TOTAL,
    )
    conflict = post["responses"]["409"]
    assert "expected_tax" in conflict["description"]
