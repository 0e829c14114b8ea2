"""The outside check of issue 14, as its reviewer runs it.

With SMTP pointed at a real server (aiosmtpd), an employee with an API token books
with ``POST /api/v1/bookings``; ``mail_outbox`` runs (the job function, and once through
``flask scheduler run-job mail_outbox``). The employee has a message naming the booking
with a ``text/calendar`` part, and an operator of the facility's organisation has one
naming the booking. ``DELETE /api/v1/bookings/<id>`` 5 days before check-in: the
employee's mail states the refund in yen, the full total; 2 days before: half.
"""

from __future__ import annotations

import re

import pytest

from accounts.models import Role
from notifications import jobs
from tests.conftest import NOW, bearer, days
from tests.notifications.mailing import text_of
from tests.smtp import MailCatcher


@pytest.fixture
def inbox(app):
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def employee(make_employee):
    return make_employee()


@pytest.fixture
def operators(make_user, unit):
    organisation = unit.facility.operator
    return [make_user(Role.OPERATOR, operator=organisation) for _ in range(2)]


def post_booking(client, headers, unit, check_in: int, check_out: int) -> dict:
    body = {
        "unit_id": unit.id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": 1,
    }
    response = client.post("/api/v1/bookings", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def run_mail_outbox_by_cli(app) -> str:
    result = app.test_cli_runner().invoke(args=["scheduler", "run-job", "mail_outbox"])
    assert result.exit_code == 0, result.output
    assert "mail_outbox: ok" in result.output
    return result.output


def names(mail, booking_id: int) -> bool:
    """The mail names the booking: its booking number line (予約番号 / Booking number)."""
    assert str(booking_id) in str(mail["Subject"]) + text_of(mail)
    line = rf"^(予約番号|Booking number): {booking_id}$"
    return re.search(line, text_of(mail), re.MULTILINE) is not None


def calendar_parts(mail) -> list:
    return [part for part in mail.walk() if part.get_content_type() == "text/calendar"]


def assert_told_of(inbox, employee, operators, booking_id: int) -> None:
    (mail,) = [m for m in inbox.to(employee.email) if names(m, booking_id)]
    assert calendar_parts(mail), "the confirmation carries the stay as text/calendar"
    operator_mails = [
        m for operator in operators for m in inbox.to(operator.email) if names(m, booking_id)
    ]
    assert operator_mails, "an operator of the facility's organisation hears of the booking"


def test_book_by_api_mail_out_and_cancel_with_the_refund_in_yen(
    app, db, client, inbox, employee, operators, unit
):
    headers = bearer(db, employee)

    early = post_booking(client, headers, unit, 5, 7)  # check-in 5 days ahead
    jobs.mail_outbox(NOW)  # the job function
    assert_told_of(inbox, employee, operators, early["id"])

    late = post_booking(client, headers, unit, 2, 4)  # check-in 2 days ahead
    run_mail_outbox_by_cli(app)  # the command line
    assert_told_of(inbox, employee, operators, late["id"])

    inbox.clear()
    assert client.delete(f"/api/v1/bookings/{early['id']}", headers=headers).status_code == 204
    jobs.mail_outbox(NOW)
    (cancelled,) = [m for m in inbox.to(employee.email) if names(m, early["id"])]
    full = early["total_price"]
    assert full > 0
    assert f"¥{full:,}" in text_of(cancelled)  # 5 days before check-in: all of it back

    inbox.clear()
    assert client.delete(f"/api/v1/bookings/{late['id']}", headers=headers).status_code == 204
    run_mail_outbox_by_cli(app)
    (cancelled,) = [m for m in inbox.to(employee.email) if names(m, late["id"])]
    half = late["total_price"] // 2
    text = text_of(cancelled)
    assert f"¥{half:,}" in text  # 2 days before check-in: half back (and half kept)
    assert f"¥{late['total_price']:,}" not in text
