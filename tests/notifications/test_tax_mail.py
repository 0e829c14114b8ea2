"""The accommodation tax (宿泊税) and the guest register in the guest's mails, as read off
a real SMTP server: the confirmation (each night's tax, the total, the register to fill
in), the cancellation (the tax refunded in full), the change (the tax charged or
refunded) and the reminder (the register still to fill in).

The Kyoto room costs ¥22,000 a night: ¥20,000 before consumption tax, ¥1,000 of tax
per guest and night (lodging/rates.py, from 2026-03-01); the Nagano room has none.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app, url_for

from booking import cancellation, changes, services
from lodging import register
from lodging.guests import GuestDetails
from notifications import stay_jobs
from tests.conftest import NOW, days
from tests.notifications.mailing import (
    assert_well_formed,
    book,
    html_of,
    paths,
    run_outbox,
    text_of,
)
from tests.smtp import MailCatcher


@pytest.fixture
def inbox(app):
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def kyoto(tax_rules, make_facility, make_unit):
    facility = make_facility(
        name_ja="東山の町家",
        name_en="Higashiyama Townhouse",
        prefecture=26,
        municipality="京都市東山区",
        licence_number="京都市指令保医セ第123号",
    )
    return make_unit(facility=facility, name="町家", base_price=22_000, capacity=2)


@pytest.fixture
def nagano(tax_rules, make_unit):
    return make_unit(base_price=22_000, capacity=2)


def _mail_to(inbox, user, now=NOW):
    run_outbox(now)
    (mail,) = inbox.to(user.email)
    assert_well_formed(mail)
    return mail


def _register_path(booking_id: int) -> str:
    """The employee's page of the stay's guest register (its path)."""
    with current_app.test_request_context():
        return url_for("booking.stay_register", booking_id=booking_id)


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_the_confirmation_states_each_nights_tax_and_asks_for_the_register(
    app, db, make_employee, kyoto, inbox, locale
):
    employee = make_employee(locale=locale)
    booking = book(employee, kyoto, 10, 13, guests=1)
    mail = _mail_to(inbox, employee)
    text, html = text_of(mail), html_of(mail)
    assert text.count("¥1,000") == 3 and "¥3,000" in text and "¥69,000" in text
    assert "¥3,000" in html and "¥69,000" in html
    assert any(p.startswith(_register_path(booking.id)) for p in paths(mail))
    if locale == "en":
        assert "- Fri 11 Dec 2026: ¥22,000 (tax incl.) + Accommodation tax ¥1,000" in text
        assert "Accommodation tax: ¥3,000" in text
        assert "Paid from stay credit in all: ¥69,000" in text
        assert "Fill in the guest register before check-in" in text
    else:
        assert "¥22,000（税込）" in text


def test_a_confirmation_without_tax_has_no_tax_line(app, db, make_employee, nagano, inbox):
    employee = make_employee(locale="en")
    book(employee, nagano, 10, 12)
    text = text_of(_mail_to(inbox, employee))
    assert "Accommodation tax" not in text and "accommodation tax" not in text
    assert "Total: ¥44,000 (tax incl.)" in text


def test_the_cancellation_states_the_tax_refunded_in_full(app, db, make_employee, kyoto, inbox):
    employee = make_employee(locale="en")
    booking = book(employee, kyoto, 2, 4)  # late: half the price is kept, none of the tax
    run_outbox()
    inbox.clear()
    cancellation.cancel_booking(employee, booking.id, NOW + timedelta(hours=1))
    db.session.commit()
    text = text_of(_mail_to(inbox, employee, NOW + timedelta(hours=1)))
    assert "Kept as the cancellation fee: ¥22,000 (tax incl.)" in text
    assert (
        "The accommodation tax of ¥2,000 was returned to your company's stay credit in full."
        in text
    )


def test_a_cancellation_in_the_same_instant_as_the_booking_still_states_the_refund(
    app, db, make_employee, kyoto, inbox
):
    employee = make_employee(locale="en")
    booking = book(employee, kyoto, 10, 11)
    run_outbox()
    inbox.clear()
    cancellation.cancel_booking(employee, booking.id, NOW)
    db.session.commit()
    text = text_of(_mail_to(inbox, employee))
    assert "The accommodation tax of ¥1,000 was returned" in text


def test_a_change_states_the_tax_now_and_what_moved(app, db, make_employee, kyoto, inbox):
    employee = make_employee(locale="en")
    booking = book(employee, kyoto, 10, 12)
    run_outbox()
    inbox.clear()
    later = NOW + timedelta(hours=2)
    changes.change_booking(
        employee, booking.id, services.StayRequest(kyoto.id, days(10), days(13), 1), later
    )
    db.session.commit()
    text = text_of(_mail_to(inbox, employee, later))
    assert "Accommodation tax: ¥3,000" in text
    assert "¥1,000 more accommodation tax was paid from your company's stay credit." in text
    inbox.clear()
    changes.change_booking(
        employee,
        booking.id,
        services.StayRequest(kyoto.id, days(10), days(11), 1),
        later + timedelta(hours=1),
    )
    db.session.commit()
    text = text_of(_mail_to(inbox, employee, later + timedelta(hours=1)))
    assert "Accommodation tax: ¥1,000" in text
    assert "¥2,000 of accommodation tax returned to your company's stay credit in full." in text


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_the_reminder_asks_for_the_register_while_it_is_incomplete(
    app, db, make_employee, kyoto, inbox, locale
):
    employee = make_employee(locale=locale)
    booking = book(employee, kyoto, 4, 6)
    run_outbox()
    inbox.clear()
    next_day = NOW + timedelta(days=1)
    stay_jobs.stay_notices(next_day)
    mail = _mail_to(inbox, employee, next_day)
    assert any(p.startswith(_register_path(booking.id)) for p in paths(mail))
    assert "¥2,000" in text_of(mail)
    if locale == "en":
        assert "Fill in the guest register before check-in" in text_of(mail)
        assert "Accommodation tax: ¥2,000" in text_of(mail)


def test_the_reminder_of_a_complete_register_does_not_ask_for_it(
    app, db, make_employee, kyoto, inbox
):
    employee = make_employee(locale="en")
    booking = book(employee, kyoto, 4, 6)
    register.save_guests(
        booking.id,
        [GuestDetails("山田 太郎", "京都府京都市東山区1-1", "+81751234567")],
        entered_by_id=employee.id,
        now=NOW,
    )
    db.session.commit()
    run_outbox()
    inbox.clear()
    next_day = NOW + timedelta(days=1)
    stay_jobs.stay_notices(next_day)
    mail = _mail_to(inbox, employee, next_day)
    assert not any(p.startswith(_register_path(booking.id)) for p in paths(mail))
    assert "guest register" not in text_of(mail)
