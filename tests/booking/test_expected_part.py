"""Money is never a surprise: a new booking is refused when the employee's own part of
it (co-pay, ``expected_employee_part``) is no longer the one they were shown, as a moved
price or tax is. Here the company pays ¥11,000 a night up to ¥33,000 a fiscal year: a
first three-night stay at ¥11,000 a night is all the company's, and once another stay
has used the year's subsidy the same stay is all the employee's. The service, the
quote page's confirm button and ``POST /api/v1/bookings``; SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts.models import Role
from booking import services
from booking.models import Booking, BookingStatus
from hr.models import GroupPolicy
from tests.conftest import NOW, bearer, days

PRICE = 11_000
CAP = 3 * PRICE


@pytest.fixture
def employee(db, make_company, make_user):
    company = make_company(name="株式会社上限")
    db.session.add(
        GroupPolicy(
            company_id=company.id,
            employee_group="",
            subsidy_kind="fixed",
            subsidy_amount=PRICE,
            annual_cap=CAP,
        )
    )
    db.session.commit()
    return make_user(Role.EMPLOYEE, company=company, locale="en")


@pytest.fixture
def rooms(make_unit):
    return make_unit(base_price=PRICE, capacity=2), make_unit(base_price=PRICE, capacity=2)


def stay(unit, start=10, end=13) -> services.StayRequest:
    return services.StayRequest(unit.id, days(start), days(end), 1)


def use_the_subsidy(db, employee, unit) -> None:
    """Another stay of the employee takes the year's whole subsidy."""
    services.book_stay(employee, stay(unit, 20, 23), NOW)
    db.session.commit()


def bookings(db, unit) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(Booking).where(Booking.unit_id == unit.id)
    )


def test_a_part_that_grew_since_it_was_shown_books_nothing(db, employee, rooms):
    shown, other = rooms
    assert services.quote_stay(employee, stay(shown), NOW).split.employee == 0
    use_the_subsidy(db, employee, other)

    with pytest.raises(services.PriceChanged) as refused:
        services.book_stay(employee, stay(shown), NOW, expected_employee_part=0)
    with force_locale("en"):
        assert "Your own part of this stay has changed to ¥33,000" in str(refused.value.message)
    db.session.rollback()
    assert bookings(db, shown) == 0

    # The part now shown books, and the stay waits for the employee's card.
    booking = services.book_stay(employee, stay(shown), NOW, expected_employee_part=CAP)
    assert (booking.status, booking.employee_part) == (BookingStatus.AWAITING_PAYMENT, CAP)


def test_the_part_shown_books_and_no_expected_part_is_not_checked(db, employee, rooms):
    shown, other = rooms
    booking = services.book_stay(employee, stay(shown), NOW, expected_employee_part=0)
    assert (booking.status, booking.employee_part) == (BookingStatus.CONFIRMED, 0)
    db.session.commit()
    later = services.book_stay(employee, stay(other, 20, 23), NOW)
    assert later.employee_part == CAP  # the subsidy is spent; nothing compared it


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"(?: type="hidden")? value="([^"]*)"', page)
    assert found, f"no hidden {name} on the page"
    return found[1]


def _confirm_form(page: str, unit) -> dict:
    names = ("request_key", "expected_total", "expected_tax", "expected_employee_part")
    return {
        "unit_id": unit.id,
        "check_in": days(10).isoformat(),
        "check_out": days(13).isoformat(),
        "guests": 1,
        **{n: _hidden(page, n) for n in names},
    }


def test_the_quote_page_refuses_a_part_that_grew_and_shows_the_new_one(
    db, client, login, employee, rooms
):
    shown, other = rooms
    login(employee)
    args = {"unit_id": shown.id, "check_in": days(10), "check_out": days(13), "guests": 1}
    page = client.get("/book", query_string=args).get_data(as_text=True)
    form = _confirm_form(page, shown)
    assert form["expected_employee_part"] == "0"
    use_the_subsidy(db, employee, other)

    refused = client.post("/book", data=form)

    assert refused.status_code == 409
    text = refused.get_data(as_text=True)
    assert "Your own part of this stay has changed to ¥33,000 (tax incl.)" in text
    assert bookings(db, shown) == 0
    assert _hidden(text, "expected_employee_part") == str(CAP)
    assert client.post("/book", data=_confirm_form(text, shown)).status_code == 303
    assert bookings(db, shown) == 1


@pytest.mark.parametrize("bad", ["abc", "-1", str(10**10 + 1)])
def test_a_bad_expected_part_on_the_form_books_nothing(db, client, login, employee, rooms, bad):
    shown, _other = rooms
    login(employee)
    args = {"unit_id": shown.id, "check_in": days(10), "check_out": days(13), "guests": 1}
    page = client.get("/book", query_string=args).get_data(as_text=True)
    response = client.post(
        "/book", data=_confirm_form(page, shown) | {"expected_employee_part": bad}
    )
    assert response.status_code == 400
    assert bookings(db, shown) == 0


def test_the_api_refuses_a_part_that_grew_with_409(db, client, employee, rooms):
    shown, other = rooms
    headers = bearer(db, employee)
    use_the_subsidy(db, employee, other)
    body = {
        "unit_id": shown.id,
        "check_in": days(10).isoformat(),
        "check_out": days(13).isoformat(),
        "expected_employee_part": 0,
    }

    stale = client.post("/api/v1/bookings", json=body, headers=headers)
    assert stale.status_code == 409
    assert stale.get_json()["error"]["code"] == "price_changed"
    assert bookings(db, shown) == 0

    bad = client.post(
        "/api/v1/bookings", json=body | {"expected_employee_part": -1}, headers=headers
    )
    assert bad.status_code == 400  # as a bad expected_total
    fresh = client.post(
        "/api/v1/bookings", json=body | {"expected_employee_part": CAP}, headers=headers
    )
    assert fresh.status_code in (201, 202), fresh.get_json()
    assert bookings(db, shown) == 1
