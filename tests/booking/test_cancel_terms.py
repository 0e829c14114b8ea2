"""Cancelling states its money: the confirmation page says exactly what returns to the
company's credit and what the policy keeps, and the message afterwards says what did."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing import ledger
from booking import cancellation, changes, services
from booking.models import Booking
from booking.terms import cancellation_terms, cancellation_terms_of
from tests.conftest import NOW, days

PRICE = 10_000
GRANT = 10_000_000  # make_company's default credit


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=PRICE)


def book(db, employee, room, check_in: int, check_out: int) -> Booking:
    booking = services.book_stay(
        employee, services.StayRequest(room.id, days(check_in), days(check_out), 1), NOW
    )
    db.session.commit()
    return booking


def page(response) -> str:
    return response.get_data(as_text=True)


def money_line(html: str) -> str:
    return re.search(r'data-testid="cancel-money"><strong>(.*?)</strong>', html, re.S).group(1)


def flashes(html: str) -> list[str]:
    return re.findall(r'class="flash flash-(\w+)"[^>]*>(.*?)</div>', html, re.S)


def balance(db, employee) -> int:
    db.session.rollback()
    return ledger.account_of(employee.company_id).credit_balance


# --- the services ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "refunded", "kept", "percent"),
    [(0, 30_000, 0, 100), (7, 30_000, 0, 100), (8, 15_000, 15_000, 50), (9, 15_000, 15_000, 50)],
)
def test_cancelling_says_what_was_refunded_and_kept(
    db, employee, room, day, refunded, kept, percent
):
    booking = book(db, employee, room, 10, 13)

    terms = cancellation_terms(booking, days(day))
    assert (terms.paid, terms.refund_if_cancelled_now, terms.kept_if_cancelled_now) == (
        30_000,
        refunded,
        kept,
    )
    assert terms.policy.free_until == days(7)
    result = cancellation.cancel_booking(employee, booking.id, NOW + timedelta(days=day))
    db.session.commit()

    assert (result.paid, result.refunded, result.kept, result.refund_percent) == (
        30_000,
        refunded,
        kept,
        percent,
    )
    assert balance(db, employee) == GRANT - kept
    again = cancellation.cancel_booking(employee, booking.id, NOW + timedelta(days=day))
    assert again.already and (again.refunded, again.kept) == (0, 0)
    assert balance(db, employee) == GRANT - kept


def test_a_cancelled_or_begun_stay_would_return_nothing(db, employee, room):
    begun = book(db, employee, room, 2, 4)
    cancelled = book(db, employee, room, 10, 12)
    cancellation.cancel_booking(employee, cancelled.id, NOW)
    db.session.commit()

    terms = cancellation_terms_of([begun, cancelled], days(2))
    assert terms[begun.id].refund_if_cancelled_now == 0
    assert terms[cancelled.id].refund_if_cancelled_now == 0
    assert terms[begun.id].paid == 20_000


def test_the_company_ending_a_stay_returns_everything_it_holds(db, employee, room):
    """A late shortening kept half of the dropped nights; when the company deactivates
    the employee, the stay's whole remaining holding comes back, as before changes."""
    booking = book(db, employee, room, 10, 14)
    changes.change_booking(
        employee,
        booking.id,
        services.StayRequest(room.id, days(10), days(12), 1),
        NOW + timedelta(days=8),
    )
    db.session.commit()
    assert balance(db, employee) == GRANT - 30_000

    cancellation.cancel_future_stays(employee, NOW + timedelta(days=8))
    db.session.commit()
    assert balance(db, employee) == GRANT


# --- the pages --------------------------------------------------------------------------


def test_the_cancel_page_before_the_free_date_says_all_of_it_returns(
    db, client, login, employee, room
):
    booking = book(db, employee, room, 10, 13)
    login(employee)

    html = page(client.get(f"/stays/{booking.id}/cancel"))

    assert "¥30,000" in money_line(html)
    assert 'data-testid="terms"' in html  # the policy's periods, as dates
    assert re.findall(r'data-percent="(\d+)"', html) == ["100", "50", "0"]
    assert f'action="/stays/{booking.id}/cancel"' in html

    response = client.post(f"/stays/{booking.id}/cancel")
    assert response.status_code == 303
    ((kind, message),) = flashes(page(client.get(response.headers["Location"])))
    assert kind == "success" and "¥30,000" in message
    assert balance(db, employee) == GRANT


def test_the_cancel_page_after_the_free_date_states_the_refund_and_the_fee(
    app, db, client, login, employee, room
):
    booking = book(db, employee, room, 10, 13)
    app.config["FIXED_NOW"] = NOW + timedelta(days=8)
    login(employee)

    line = money_line(page(client.get(f"/stays/{booking.id}/cancel")))
    assert line.count("¥15,000") == 2 and "50%" in line

    response = client.post(f"/stays/{booking.id}/cancel")
    ((kind, message),) = flashes(page(client.get(response.headers["Location"])))
    assert kind == "success"
    assert message.count("¥15,000") == 2 and "50%" in message
    assert balance(db, employee) == GRANT - 15_000


def test_a_stay_that_cannot_be_cancelled_offers_no_button(app, db, client, login, employee, room):
    begun = book(db, employee, room, 2, 4)
    cancelled = book(db, employee, room, 10, 12)
    login(employee)
    assert client.post(f"/stays/{cancelled.id}/cancel").status_code == 303
    app.config["FIXED_NOW"] = NOW + timedelta(days=2)
    login(employee)

    for booking in (begun, cancelled):
        html = page(client.get(f"/stays/{booking.id}/cancel"))
        assert 'data-testid="not-cancellable"' in html
        assert 'data-testid="cancel-money"' not in html
        assert f'action="/stays/{booking.id}/cancel"' not in html

    response = client.post(f"/stays/{begun.id}/cancel")
    assert response.headers["Location"].endswith(f"/stays/{begun.id}")
    ((kind, _message),) = flashes(page(client.get(response.headers["Location"])))
    assert kind == "error"
    response = client.post(f"/stays/{cancelled.id}/cancel")  # again: nothing happens
    ((kind, _message),) = flashes(page(client.get(response.headers["Location"])))
    assert kind == "info"
