"""Every kind of notification mail, as its recipients read it off a real SMTP server.

Each test makes the event where it happens (a service, a job) or, for billing and
calendar news, emits it as its service does; runs the ``mail_outbox`` job; and checks
that the mail reached the people it is for and nobody else, in each person's language,
with a text and an HTML part, no template leftovers, every amount as ¥N,NNN, and
links that open the right page for the person signed in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import icalendar
import pytest
from flask.testing import FlaskClient

from accounts import events as ev
from accounts.models import Role, User
from billing.models import Invoice
from booking import cancellation, changes, services
from calendars.models import CalendarConflict, CalendarFeed
from core.db import TOKYO
from identity import applications
from notifications import stay_jobs
from tests.conftest import NOW, days, signed_in
from tests.notifications.mailing import (
    assert_well_formed,
    attachments,
    book,
    html_of,
    paths,
    run_outbox,
    text_of,
    yen_amounts,
)
from tests.smtp import MailCatcher

CORPORATE_NUMBER = "1180301018771"


@pytest.fixture
def inbox(app):
    """A real SMTP server the outbox delivers to."""
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def world(make_company, make_operator, make_facility, make_unit, make_user):
    """One facility's organisation with two operators (English, Japanese by default), a
    company with two admins and two employees, and strangers to both: another
    organisation's operator, another company's admin, and the Engawa team."""
    operator = make_operator(name="軽井沢ステイ")
    facility = make_facility(
        operator=operator,
        name_ja="森の家",
        name_en="Forest House",
        postal_code="3890102",
        arrival_notes_ja="鍵は玄関のキーボックスにあります。",
        arrival_notes_en="The key is in the box by the front door.",
    )
    unit = make_unit(facility=facility, name="101 和室", base_price=11000, capacity=2)
    company = make_company(name="株式会社テスト")
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        unit=unit,
        company=company,
        op_en=make_user(Role.OPERATOR, operator=operator, locale="en"),
        op_ja=make_user(Role.OPERATOR, operator=operator),
        op_other=make_user(Role.OPERATOR),
        admin_en=make_user(Role.COMPANY_ADMIN, company=company, locale="en"),
        admin_ja=make_user(Role.COMPANY_ADMIN, company=company, locale="ja"),
        admin_other=make_user(Role.COMPANY_ADMIN, company=make_company()),
        employee_en=make_user(Role.EMPLOYEE, company=company, locale="en"),
        employee_ja=make_user(Role.EMPLOYEE, company=company),
        root=make_user(Role.PLATFORM_ADMIN, locale="en"),
    )


def everyone(world) -> list[User]:
    return [value for value in vars(world).values() if isinstance(value, User)]


def delivered(inbox, world, now: datetime = NOW) -> dict[str, list]:
    """Run the outbox job; the mails each person of ``world`` received, by e-mail."""
    run_outbox(now)
    return {user.email: inbox.to(user.email) for user in everyone(world)}


def only_to(received: dict[str, list], *users: User) -> None:
    """Exactly one mail to each of ``users``; nothing to anybody else."""
    expected = {user.email for user in users}
    got = {email for email, mails in received.items() if mails}
    assert got == expected, (got, expected)
    for user in users:
        assert len(received[user.email]) == 1, [str(m["Subject"]) for m in received[user.email]]


def the_mail(received, user: User):
    (mail,) = received[user.email]
    assert_well_formed(mail)
    return mail


def open_links(app, user: User, mail, must_include: str) -> FlaskClient:
    """Open every link of the mail signed in as its recipient: each answers 200."""
    links = paths(mail)
    assert any(link.startswith(must_include) for link in links), (must_include, links)
    browser = signed_in(app, user)
    for link in links:
        response = browser.get(link)
        assert response.status_code == 200, (link, response.status_code)
    return browser


# --- the employee's stay -------------------------------------------------------------------


def test_a_booking_confirms_to_its_guest_with_the_stay_file_and_tells_its_operators(
    app, db, world, inbox
):
    booking = book(world.employee_en, world.unit, 10, 12)
    received = delivered(inbox, world)
    only_to(received, world.employee_en, world.op_en, world.op_ja)

    mail = the_mail(received, world.employee_en)
    subject, text, html = str(mail["Subject"]), text_of(mail), html_of(mail)
    assert f"booking number {booking.id}" in subject
    assert "Forest House" in subject and "森の家" not in text
    for words in (
        f"Booking number: {booking.id}",
        "Room: 101 和室",
        "Check-in: Fri 11 Dec 2026 15:00",
        "Check-out: Sun 13 Dec 2026 10:00",
        "Guests: 1 guest",
        "〒389-0102 Nagano 北佐久郡軽井沢町 軽井沢1-2-3",
        "- Fri 11 Dec 2026: ¥11,000 (tax incl.)",
        "- Sat 12 Dec 2026: ¥11,000 (tax incl.)",
        "Total: ¥22,000 (tax incl.)",
        # The terms as dated periods, with the last day of free cancellation.
        "Free cancellation until Tue 8 Dec 2026",
        "50% returns to your company (¥11,000 (tax incl.) back)",
        "You receive this because you booked a stay on Engawa.",
        "cannot be switched off",
    ):
        assert words in text, words
    assert "Free cancellation until Tue 8 Dec 2026" in html and "¥22,000" in html

    (ics,) = attachments(mail)
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_filename() == f"engawa-stay-{booking.id}.ics"
    calendar = icalendar.Calendar.from_ical(ics.get_content())
    assert str(calendar["METHOD"]) == "PUBLISH"
    (event,) = calendar.walk("VEVENT")
    browser = open_links(app, world.employee_en, mail, f"/stays/{booking.id}")
    served = icalendar.Calendar.from_ical(browser.get(f"/stays/{booking.id}.ics").data)
    (served_event,) = served.walk("VEVENT")
    assert str(event["UID"]) == str(served_event["UID"])
    assert event.decoded("DTSTART") == days(10) and event.decoded("DTEND") == days(12)

    for operator in (world.op_en, world.op_ja):
        mail = the_mail(received, operator)
        text = text_of(mail)
        assert str(booking.id) in str(mail["Subject"])
        assert world.employee_en.name in text  # the guest's name, as in their console
        assert world.employee_en.email not in text + html_of(mail)
        open_links(app, operator, mail, f"/operator/facilities/{world.facility.id}")
    assert "Guest name: " in text_of(the_mail(received, world.op_en))
    assert "宿泊者名: " in text_of(the_mail(received, world.op_ja))


def test_each_person_reads_the_mail_in_their_own_language(app, db, world, inbox):
    booking = book(world.employee_ja, world.unit, 10, 12)
    received = delivered(inbox, world)
    text = text_of(the_mail(received, world.employee_ja))  # locale None: Japanese
    assert f"予約番号: {booking.id}" in text
    assert "森の家" in text and "Forest House" not in text
    assert "2026年12月11日(金) 15:00" in text
    assert "¥22,000（税込）" in text
    assert "Booking number" not in text
    operator_en = text_of(the_mail(received, world.op_en))
    assert "Room: 101 和室" in operator_en and "Forest House" in operator_en


def test_a_cancellation_states_who_cancelled_the_refund_and_the_fee(app, db, world, inbox):
    booking = book(world.employee_en, world.unit, 10, 12)
    run_outbox()
    inbox.clear()
    cancellation.cancel_booking(world.employee_en, booking.id, NOW)
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.employee_en, world.op_en, world.op_ja)

    mail = the_mail(received, world.employee_en)
    text = text_of(mail)
    assert str(booking.id) in str(mail["Subject"])
    assert "You cancelled this stay." in text
    assert "¥22,000 (tax incl.) returns to your company's stay credit." in text
    assert "No cancellation fee was charged." in text
    open_links(app, world.employee_en, mail, f"/stays/{booking.id}")

    operator_mail = the_mail(received, world.op_en)
    assert "The guest cancelled this stay." in text_of(operator_mail)
    assert str(booking.id) in str(operator_mail["Subject"])
    open_links(app, world.op_en, operator_mail, f"/operator/facilities/{world.facility.id}")


def test_a_late_cancellation_states_the_fee_kept(app, db, world, inbox):
    booking = book(world.employee_en, world.unit, 2, 4)
    run_outbox()
    inbox.clear()
    cancellation.cancel_booking(world.employee_en, booking.id, NOW)
    db.session.commit()
    text = text_of(the_mail(delivered(inbox, world), world.employee_en))
    assert "¥11,000 (tax incl.) returns to your company's stay credit." in text
    assert "Kept as the cancellation fee: ¥11,000 (tax incl.)" in text


def test_a_change_states_old_and_new_dates_and_what_was_charged(app, db, world, inbox):
    booking = book(world.employee_en, world.unit, 10, 12)
    run_outbox()
    inbox.clear()
    changes.change_booking(
        world.employee_en,
        booking.id,
        services.StayRequest(world.unit.id, days(10), days(13), 1),
        NOW,
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.employee_en, world.op_en, world.op_ja)
    mail = the_mail(received, world.employee_en)
    text = text_of(mail)
    assert str(booking.id) in str(mail["Subject"])
    assert "You changed this stay." in text
    assert "Before: Fri 11 Dec 2026 – Sun 13 Dec 2026, 101 和室" in text
    assert "Now: Fri 11 Dec 2026 – Mon 14 Dec 2026, 101 和室" in text
    assert "¥11,000 (tax incl.) more was paid from your company's stay credit." in text
    open_links(app, world.employee_en, mail, f"/stays/{booking.id}")
    operator_text = text_of(the_mail(received, world.op_en))
    assert "The guest changed this stay." in operator_text
    assert "Before: Fri 11 Dec 2026 – Sun 13 Dec 2026" in operator_text


def test_the_reminder_carries_the_arrival_notes_in_the_guests_language(app, db, world, inbox):
    english = book(world.employee_en, world.unit, 4, 6)
    run_outbox()
    inbox.clear()
    next_day = NOW + timedelta(days=1)  # check-in (Dec 5) is 3 days after Dec 2
    stay_jobs.stay_notices(next_day)
    received = delivered(inbox, world, next_day)
    only_to(received, world.employee_en)
    mail = the_mail(received, world.employee_en)
    text = text_of(mail)
    assert str(english.id) in str(mail["Subject"])
    assert "The key is in the box by the front door." in text
    assert "鍵は玄関" not in text
    assert "Check-in: Sat 5 Dec 2026 15:00" in text
    assert "mail preferences" in text  # an optional kind: the way to switch it off
    open_links(app, world.employee_en, mail, f"/stays/{english.id}")


def test_the_reminder_in_japanese_carries_the_japanese_notes(app, db, world, inbox):
    book(world.employee_ja, world.unit, 4, 6)
    run_outbox()
    inbox.clear()
    next_day = NOW + timedelta(days=1)
    stay_jobs.stay_notices(next_day)
    text = text_of(the_mail(delivered(inbox, world, next_day), world.employee_ja))
    assert "鍵は玄関のキーボックスにあります。" in text
    assert "The key is in the box" not in text


def test_the_thank_you_asks_for_a_rating_with_links_that_preselect_it(app, db, world, inbox):
    booking = book(world.employee_en, world.unit, 1, 3)
    run_outbox()
    inbox.clear()
    after_check_out = datetime(2026, 12, 4, 11, 0, tzinfo=TOKYO).astimezone(UTC)
    stay_jobs.stay_notices(after_check_out)
    received = delivered(inbox, world, after_check_out)
    only_to(received, world.employee_en)
    mail = the_mail(received, world.employee_en)
    assert str(booking.id) in str(mail["Subject"])
    assert "How was your stay?" in text_of(mail)
    ratings = [link for link in paths(mail) if "/rating" in link]
    assert sorted(ratings) == [f"/stays/{booking.id}/rating?rating={n}" for n in range(1, 6)]
    app.config["FIXED_NOW"] = after_check_out  # the pages open on the day the mail came
    browser = open_links(app, world.employee_en, mail, f"/stays/{booking.id}/rating")
    page = browser.get(f"/stays/{booking.id}/rating?rating=4").get_data(as_text=True)
    assert re.search(r'value="4"[^>]*checked|checked[^>]*value="4"', page)


# --- the facility's operators ---------------------------------------------------------------


def test_a_calendar_conflict_names_the_room_the_nights_and_the_feed(app, db, world, inbox):
    booking = book(world.employee_en, world.unit, 10, 12)
    run_outbox()
    inbox.clear()
    feed = CalendarFeed(unit_id=world.unit.id, label="Airbnb", url="https://example.com/a.ics")
    db.session.add(feed)
    db.session.flush()
    conflict = CalendarConflict(
        feed_id=feed.id,
        unit_id=world.unit.id,
        booking_id=booking.id,
        event_key="uid-1",
        event_start=days(10),
        event_end=days(12),
        first_night=days(10),
        nights=2,
        detected_at=NOW,
    )
    db.session.add(conflict)
    db.session.flush()
    ev.emit(
        ev.CALENDAR_CONFLICT, NOW, operator_id=world.operator.id, subject=("conflict", conflict.id)
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.op_en, world.op_ja)
    mail = the_mail(received, world.op_en)
    text = text_of(mail)
    assert "Airbnb" in text and "101 和室" in text and str(booking.id) in text
    assert "- Fri 11 Dec 2026" in text and "- Sat 12 Dec 2026" in text
    open_links(app, world.op_en, mail, "/operator/calendars")


def test_a_failing_feed_names_the_feed_since_when_and_the_last_error(app, db, world, inbox):
    feed = CalendarFeed(
        unit_id=world.unit.id,
        label="Booking.com",
        url="https://example.com/b.ics",
        created_at=NOW - timedelta(hours=20),
        last_success_at=NOW - timedelta(hours=7),
        last_error="timeout: the calendar did not answer in time",
        last_error_at=NOW - timedelta(minutes=10),
    )
    db.session.add(feed)
    db.session.commit()
    stay_jobs.feed_watch(NOW)
    received = delivered(inbox, world)
    only_to(received, world.op_en, world.op_ja)
    mail = the_mail(received, world.op_en)
    text = text_of(mail)
    assert "Booking.com" in str(mail["Subject"]) and "101 和室" in text
    assert "since 2026/12/01 05:00 (Japan time)" in text
    assert "Last error: timeout: the calendar did not answer in time" in text
    open_links(app, world.op_en, mail, "/operator/calendars")


def test_the_daily_summary_lists_arrivals_departures_and_rooms_to_clean(
    app, db, world, make_unit, inbox
):
    second = make_unit(facility=world.unit.facility, name="102 洋室")
    arriving = book(world.employee_en, world.unit, 4, 6)  # arrives Dec 5
    leaving = book(world.employee_ja, second, 2, 4)  # leaves Dec 5
    run_outbox()
    inbox.clear()
    seven = datetime(2026, 12, 5, 7, 0, tzinfo=TOKYO).astimezone(UTC)
    stay_jobs.operator_digest(seven)
    received = delivered(inbox, world, seven)
    only_to(received, world.op_en, world.op_ja)  # op_other's organisation has no movements
    mail = the_mail(received, world.op_en)
    text = text_of(mail)
    assert "Sat 5 Dec 2026" in str(mail["Subject"])
    assert f"- 101 和室: {world.employee_en.name}, 2 nights, 1 guest (#{arriving.id})" in text
    assert f"- 102 洋室 (#{leaving.id})" in text
    assert "Rooms to clean: 102 洋室" in text
    app.config["FIXED_NOW"] = seven
    open_links(app, world.op_en, mail, f"/operator/facilities/{world.facility.id}/today")


# --- the company's admins -----------------------------------------------------------------


def test_an_issued_invoice_states_its_number_amount_and_due_date(app, db, world, inbox):
    invoice = Invoice(
        company_id=world.company.id,
        stripe_invoice_id="in_test_1",
        number="ENG-0042",
        status="open",
        collection_method="send_invoice",
        total=88_000,
        amount_due=88_000,
        due_date=datetime(2026, 12, 31, 3, 0, tzinfo=UTC),
        created_at=NOW,
    )
    db.session.add(invoice)
    db.session.flush()
    ev.emit(ev.INVOICE_ISSUED, NOW, company_id=world.company.id, subject=("invoice", invoice.id))
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.admin_en, world.admin_ja)
    mail = the_mail(received, world.admin_en)
    text = text_of(mail)
    assert "ENG-0042" in str(mail["Subject"])
    assert "Amount: ¥88,000 (tax incl.)" in text and "Due date: Thu 31 Dec 2026" in text
    assert "company admin of 株式会社テスト" in text
    assert "cannot be switched off" in text
    open_links(app, world.admin_en, mail, "/company/billing")
    assert "金額: ¥88,000（税込）" in text_of(the_mail(received, world.admin_ja))


def test_an_invoice_paid_automatically_says_so(app, db, world, inbox):
    invoice = Invoice(
        company_id=world.company.id,
        stripe_invoice_id="in_test_2",
        number="ENG-0043",
        status="paid",
        total=16_000,
        amount_paid=16_000,
        created_at=NOW,
    )
    db.session.add(invoice)
    db.session.flush()
    ev.emit(ev.INVOICE_ISSUED, NOW, company_id=world.company.id, subject=("invoice", invoice.id))
    db.session.commit()
    text = text_of(the_mail(delivered(inbox, world), world.admin_en))
    assert "Paid automatically with your payment method" in text and "Due date" not in text


def test_a_failed_payment_states_the_end_of_grace(app, db, world, inbox):
    grace_until = NOW + timedelta(days=7)
    ev.emit(
        ev.PAYMENT_FAILED,
        NOW,
        company_id=world.company.id,
        data={"grace_until": grace_until.isoformat()},
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.admin_en, world.admin_ja)
    mail = the_mail(received, world.admin_en)
    assert "Tue 8 Dec 2026" in str(mail["Subject"])
    assert "cannot book stays until the payment is made" in text_of(mail)
    open_links(app, world.admin_en, mail, "/company/billing")


def test_seats_full_tells_the_admins_someone_could_not_join(app, db, world, inbox):
    ev.emit(ev.SEATS_FULL, NOW, company_id=world.company.id)
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.admin_en, world.admin_ja)
    mail = the_mail(received, world.admin_en)
    assert "all seats are taken" in str(mail["Subject"])
    assert "mail preferences" in text_of(mail)
    open_links(app, world.admin_en, mail, "/company/billing")


def test_low_credit_states_the_balance_and_the_grant(app, db, world, inbox):
    ev.emit(
        ev.CREDIT_LOW, NOW, company_id=world.company.id, data={"balance": 12_500, "grant": 150_000}
    )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.admin_en, world.admin_ja)
    mail = the_mail(received, world.admin_en)
    text = text_of(mail)
    assert {12_500, 150_000} <= set(yen_amounts(text))
    assert "Stay credit left: ¥12,500 (tax incl.)" in text
    open_links(app, world.admin_en, mail, "/company/billing")
    assert "宿泊クレジット残高: ¥12,500（税込）" in text_of(the_mail(received, world.admin_ja))


def test_many_refusals_name_the_employee_to_their_admins(app, db, world, inbox):
    for _ in range(4):
        ev.emit(
            ev.BOOKING_REFUSED,
            NOW,
            company_id=world.company.id,
            user_id=world.employee_ja.id,
            actor_id=world.employee_ja.id,
            data={"reason": "credit"},
        )
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.admin_en, world.admin_ja)
    mail = the_mail(received, world.admin_en)
    text = text_of(mail)
    assert world.employee_ja.name in text and "4 times on Tue 1 Dec 2026" in text
    assert world.employee_ja.email not in text
    open_links(app, world.admin_en, mail, "/company/employees")


# --- the Engawa team ----------------------------------------------------------------------


def test_a_confirmed_application_tells_the_engawa_team(app, db, world, inbox):
    application, secret = applications.apply_company(
        "株式会社まちづくり",
        CORPORATE_NUMBER,
        "東京都千代田区丸の内1-1-1",
        "総務 花子",
        "soumu@kaisha.example",
        50,
        NOW,
    )
    applications.confirm(secret, NOW)
    db.session.commit()
    received = delivered(inbox, world)
    only_to(received, world.root)
    mail = the_mail(received, world.root)
    assert "株式会社まちづくり" in str(mail["Subject"])
    assert "soumu@kaisha.example" not in text_of(mail)
    open_links(app, world.root, mail, f"/admin/applications/{application.id}")
