"""What a review of the notifications found, each fixed where people would notice it:

- a line break in a facility's, room's or feed's name no longer makes its mail
  unsendable (the subject is one line; the names are kept on one line from entry);
- a guest who books or moves a stay 3 days or less before check-in still gets the
  facility's arrival notes (confirmation, change, the stay's page), and a stay moved
  later is reminded again for its new date;
- a message is sent only about a subject that still belongs to the event's
  organisations and person (a deleted row's id may be used again);
- a page number in other digits than ASCII ("²") is the first page, not an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from accounts import events as ev
from accounts.events import Event
from accounts.mail import OutgoingMail
from accounts.models import Role
from billing.models import Invoice
from booking import changes, services
from calendars import feeds
from calendars.models import CalendarConflict, CalendarFeed
from core.db import TOKYO
from core.extensions import db as _db
from facilities.models import Facility, Unit
from notifications import dispatch, stay_jobs
from notifications.models import Notice
from tests.conftest import NOW, days, signed_in
from tests.notifications.mailing import book, html_of, queued, run_outbox, text_of, undispatched
from tests.smtp import MailCatcher

NOTES_JA = "鍵は玄関のキーボックスにあります。\n最終バスは18:40です。"
NOTES_EN = "The key is in the box by the front door.\nLast bus 18:40."


@pytest.fixture
def inbox(app):
    """A real SMTP server the outbox delivers to."""
    with MailCatcher() as catcher:
        app.config.update(SMTP_HOST=catcher.host, SMTP_PORT=catcher.port)
        yield catcher


@pytest.fixture
def stay_world(make_company, make_operator, make_facility, make_unit, make_user):
    """A facility with arrival notes in both languages, its operator, and a company with
    an English- and a Japanese-reading employee."""
    operator = make_operator(name="軽井沢ステイ")
    facility = make_facility(
        operator=operator,
        name_ja="森の家",
        name_en="Forest House",
        arrival_notes_ja=NOTES_JA,
        arrival_notes_en=NOTES_EN,
    )
    unit = make_unit(facility=facility, name="101 和室", base_price=11000)
    company = make_company(name="株式会社テスト")
    return SimpleNamespace(
        operator=operator,
        facility=facility,
        unit=unit,
        company=company,
        op=make_user(Role.OPERATOR, operator=operator, locale="en"),
        employee_en=make_user(Role.EMPLOYEE, company=company, locale="en"),
        employee_ja=make_user(Role.EMPLOYEE, company=company),
    )


def tokyo(day: int, hour: int) -> datetime:
    """An instant of December 2026 in Japan time."""
    return datetime(2026, 12, day, hour, tzinfo=TOKYO).astimezone(UTC)


# --- 1. a line break in a name ------------------------------------------------------------


def test_a_facility_named_over_two_lines_still_gets_its_confirmation_delivered(
    app, db, stay_world, inbox
):
    # Old data may hold a line break: set it straight in the database.
    facility = db.session.get(Facility, stay_world.facility.id)
    facility.name_ja = "森の家\n二号"
    facility.name_en = "Forest\r\nHouse  Two"
    db.session.get(Unit, stay_world.unit.id).name = "101\n和室"
    db.session.commit()
    booking_ja = book(stay_world.employee_ja, stay_world.unit, 10, 12)
    booking_en = book(stay_world.employee_en, stay_world.unit, 20, 22)

    run_outbox(NOW)

    (mail_ja,) = inbox.to(stay_world.employee_ja.email)
    (mail_en,) = inbox.to(stay_world.employee_en.email)
    subject_ja, subject_en = str(mail_ja["Subject"]), str(mail_en["Subject"])
    assert "森の家 二号" in subject_ja and str(booking_ja.id) in subject_ja
    assert "Forest House Two" in subject_en and str(booking_en.id) in subject_en
    operator_subjects = [str(m["Subject"]) for m in inbox.to(stay_world.op.email)]
    assert len(operator_subjects) == 2
    assert all("101 和室" in s and "Forest House Two" in s for s in operator_subjects)
    for subject in [subject_ja, subject_en, *operator_subjects]:
        assert "\n" not in subject and "\r" not in subject
    # Every mail sent at its first attempt, none waiting for a retry or given up.
    mails = queued()
    assert len(mails) == 4
    assert all(m.sent_at is not None and m.failed_at is None and m.attempts <= 1 for m in mails)
    assert all("\n" not in m.subject for m in mails)


FACILITY_FORM = {
    "name_ja": "白樺の宿",
    "name_en": "Birch Inn",
    "kind": "stay",
    "prefecture": "20",
    "municipality": "北佐久郡軽井沢町",
    "address": "軽井沢1-2-3",
    "latitude": "36.34",
    "longitude": "138.63",
    "wifi_mbps": "100",
    "work_desks": "2",
    "check_in_time": "15:00",
    "check_out_time": "10:00",
    "min_nights": "1",
    "max_nights": "14",
}


def test_names_typed_over_several_lines_are_saved_on_one(app, db, stay_world):
    facility_id, unit_id = stay_world.facility.id, stay_world.unit.id
    browser = signed_in(app, stay_world.op)
    response = browser.post(
        f"/operator/facilities/{facility_id}/edit",
        data={**FACILITY_FORM, "name_ja": " 白樺の\r\n宿 ", "name_en": "Birch\n\n  Inn\t"},
    )
    assert response.status_code == 303
    response = browser.post(
        f"/operator/facilities/{facility_id}/units/new",
        data={"name": "201\r\n洋室", "capacity": "2", "base_price": "12000"},
    )
    assert response.status_code == 303
    db.session.rollback()
    facility = db.session.get(Facility, facility_id)
    assert (facility.name_ja, facility.name_en) == ("白樺の 宿", "Birch Inn")
    names = db.session.scalars(select(Unit.name).where(Unit.facility_id == facility_id)).all()
    assert sorted(names) == ["101 和室", "201 洋室"]

    feed = feeds.add_feed(
        db.session.get(Unit, unit_id), "https://example.com/a.ics", "Air\r\nbnb ", NOW
    )
    assert feed.label == "Air bnb"
    with pytest.raises(feeds.FeedError):  # nothing but line breaks is no name
        feeds.add_feed(db.session.get(Unit, unit_id), "https://example.com/b.ics", "\r\n", NOW)


def test_a_room_name_of_line_breaks_only_is_refused(app, db, stay_world):
    browser = signed_in(app, stay_world.op)
    response = browser.post(
        f"/operator/facilities/{stay_world.facility.id}/units/new",
        data={"name": "\r\n", "capacity": "2", "base_price": "12000"},
    )
    assert response.status_code in (400, 422)
    db.session.rollback()
    count = select(func.count(Unit.id)).where(Unit.facility_id == stay_world.facility.id)
    assert db.session.scalar(count) == 1


# --- 2. arrival notes for late bookings and changes ---------------------------------------


def test_a_stay_booked_2_days_ahead_has_the_notes_in_its_confirmation(app, db, stay_world, inbox):
    book(stay_world.employee_en, stay_world.unit, 2, 4)  # checks in Dec 3: no reminder
    book(stay_world.employee_ja, stay_world.unit, 5, 6)
    run_outbox(NOW)
    (mail_en,) = inbox.to(stay_world.employee_en.email)
    text, html = text_of(mail_en), html_of(mail_en)
    assert "Arrival notes from the facility" in text
    assert "The key is in the box by the front door.\nLast bus 18:40." in text
    assert "鍵は玄関" not in text
    assert "Arrival notes from the facility" in html and "Last bus 18:40." in html
    (mail_ja,) = inbox.to(stay_world.employee_ja.email)
    assert "鍵は玄関のキーボックスにあります。\n最終バスは18:40です。" in text_of(mail_ja)
    assert "The key is in the box" not in text_of(mail_ja)
    # The operator's own mail does not repeat their notes.
    for mail in inbox.to(stay_world.op.email):
        assert "Last bus" not in text_of(mail)


def test_notes_in_one_language_reach_readers_of_the_other_and_none_show_no_heading(
    app, db, stay_world, make_facility, make_unit, inbox
):
    only_ja = make_unit(
        facility=make_facility(operator=stay_world.operator, arrival_notes_ja="裏口からどうぞ。")
    )
    without = make_unit(facility=make_facility(operator=stay_world.operator))
    book(stay_world.employee_en, only_ja, 2, 3)
    book(stay_world.employee_ja, without, 2, 3)
    run_outbox(NOW)
    (fallback,) = inbox.to(stay_world.employee_en.email)
    assert "Arrival notes from the facility\n裏口からどうぞ。" in text_of(fallback)
    (plain,) = inbox.to(stay_world.employee_ja.email)
    assert "施設からの到着時のご案内" not in text_of(plain)
    assert "Arrival notes" not in text_of(plain)
    assert "施設からの到着時のご案内" not in html_of(plain)


def test_a_stay_moved_close_to_check_in_has_the_notes_in_the_change_mail(
    app, db, stay_world, inbox
):
    booking = book(stay_world.employee_en, stay_world.unit, 10, 12)
    run_outbox(NOW)
    inbox.clear()
    changes.change_booking(
        stay_world.employee_en,
        booking.id,
        services.StayRequest(stay_world.unit.id, days(2), days(4), 1),
        NOW,
    )
    db.session.commit()
    run_outbox(NOW)
    (mail,) = inbox.to(stay_world.employee_en.email)
    assert "You changed this stay." in text_of(mail)
    assert "Arrival notes from the facility" in text_of(mail)
    assert "Last bus 18:40." in text_of(mail) and "Last bus 18:40." in html_of(mail)


def test_the_stay_page_shows_the_notes_to_its_guest(app, db, stay_world, make_facility):
    booking = book(stay_world.employee_en, stay_world.unit, 2, 4)
    page = signed_in(app, stay_world.employee_en).get(f"/stays/{booking.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h3>Arrival notes</h3>" in html
    assert 'data-testid="arrival-notes">The key is in the box by the front door.' in html
    japanese = book(stay_world.employee_ja, stay_world.unit, 5, 6)
    html = signed_in(app, stay_world.employee_ja).get(f"/stays/{japanese.id}")
    assert "最終バスは18:40です。" in html.get_data(as_text=True)
    # Another employee of the same company does not see the stay at all.
    assert signed_in(app, stay_world.employee_ja).get(f"/stays/{booking.id}").status_code == 404


def test_the_stay_page_has_no_notes_heading_when_the_facility_wrote_none(
    app, db, stay_world, make_unit
):
    booking = book(stay_world.employee_en, make_unit(), 2, 4)
    html = signed_in(app, stay_world.employee_en).get(f"/stays/{booking.id}").get_data(as_text=True)
    assert "Arrival notes" not in html and 'data-testid="arrival-notes"' not in html


def test_a_stay_moved_later_is_reminded_again_for_its_new_date(app, db, stay_world):
    booking = book(stay_world.employee_en, stay_world.unit, 4, 6)  # checks in Dec 5
    stay_jobs.stay_notices(tokyo(2, 9))
    changes.change_booking(
        stay_world.employee_en,
        booking.id,
        services.StayRequest(stay_world.unit.id, days(9), days(11), 1),  # now Dec 10
        tokyo(2, 10),
    )
    db.session.commit()
    for day in (2, 7, 7, 8):
        stay_jobs.stay_notices(tokyo(day, 12))
        run_outbox(tokyo(day, 12))
    db.session.rollback()
    reminders = db.session.scalars(
        select(Event.dedupe_key).where(Event.type == ev.STAY_REMINDER).order_by(Event.id)
    ).all()
    assert reminders == [f"reminder:{booking.id}:2026-12-05", f"reminder:{booking.id}:2026-12-10"]
    sent = queued("stay_reminder")
    assert [m.user_id for m in sent] == [stay_world.employee_en.id] * 2
    assert "Thu 10 Dec 2026" in sent[1].subject


# --- 3. a subject that belongs to someone else now ----------------------------------------


@pytest.fixture
def elsewhere(stay_world, make_operator, make_facility, make_unit, make_user, make_company):
    """Another organisation's room with its operator, and another company's admin."""
    other_operator = make_operator()
    unit = make_unit(facility=make_facility(operator=other_operator))
    other_company = make_company()
    return SimpleNamespace(
        unit=unit,
        op=make_user(Role.OPERATOR, operator=other_operator),
        company=other_company,
        admin=make_user(Role.COMPANY_ADMIN, company=other_company),
        employee=make_user(Role.EMPLOYEE, company=other_company),
    )


def _booking_event(stay_world, elsewhere, whose: str) -> None:
    """A stay event of the facility's organisation and the English employee, whose
    subject id now names a stay of someone else (``whose``)."""
    if whose == "operator":  # the employee's own stay, at another organisation's room
        booking = book(stay_world.employee_en, elsewhere.unit, 10, 12)
    else:  # another company's employee, at this very room
        booking = book(elsewhere.employee, stay_world.unit, 10, 12)
    run_outbox(NOW)
    ev.emit(
        ev.BOOKING_CREATED,
        NOW,
        company_id=stay_world.company.id,
        operator_id=stay_world.operator.id,
        user_id=stay_world.employee_en.id,
        subject=("booking", booking.id),
    )


def _conflict_event(stay_world, elsewhere, whose: str) -> None:
    booking = book(elsewhere.employee, elsewhere.unit, 10, 12)
    run_outbox(NOW)
    feed = CalendarFeed(unit_id=elsewhere.unit.id, label="Airbnb", url="https://example.com/c")
    _db.session.add(feed)
    _db.session.flush()
    conflict = CalendarConflict(
        feed_id=feed.id,
        unit_id=elsewhere.unit.id,
        booking_id=booking.id,
        event_key="uid-1",
        event_start=days(10),
        event_end=days(12),
        first_night=days(10),
        nights=2,
        detected_at=NOW,
    )
    _db.session.add(conflict)
    _db.session.flush()
    subject = ("conflict", conflict.id) if whose == "conflict" else ("feed", feed.id)
    ev.emit(
        ev.CALENDAR_CONFLICT if whose == "conflict" else ev.FEED_FAILING,
        NOW,
        operator_id=stay_world.operator.id,
        subject=subject,
        data={} if whose == "conflict" else {"since": NOW.isoformat()},
    )


def _invoice_event(stay_world, elsewhere, whose: str) -> None:
    invoice = Invoice(
        company_id=elsewhere.company.id,
        stripe_invoice_id="in_elsewhere",
        number="ENG-0099",
        status="open",
        collection_method="send_invoice",
        total=88_000,
        amount_due=88_000,
        created_at=NOW,
    )
    _db.session.add(invoice)
    _db.session.flush()
    ev.emit(
        ev.INVOICE_ISSUED, NOW, company_id=stay_world.company.id, subject=("invoice", invoice.id)
    )


@pytest.mark.parametrize(
    ("make_event", "whose"),
    [
        (_booking_event, "operator"),
        (_booking_event, "company"),
        (_conflict_event, "conflict"),
        (_conflict_event, "feed"),
        (_invoice_event, "invoice"),
    ],
    ids=["booking-other-operator", "booking-other-guest", "conflict", "feed", "invoice"],
)
def test_an_event_whose_subject_belongs_to_someone_else_sends_nothing(
    app, db, stay_world, elsewhere, make_user, make_event, whose
):
    make_user(Role.COMPANY_ADMIN, company=stay_world.company)
    make_event(stay_world, elsewhere, whose)  # the stays' own mail is dispatched first
    db.session.commit()
    before = db.session.scalar(select(func.count(OutgoingMail.id)))
    notices = db.session.scalar(select(func.count(Notice.id)))
    dispatch.dispatch_events(NOW)
    db.session.rollback()
    assert db.session.scalar(select(func.count(OutgoingMail.id))) == before
    assert db.session.scalar(select(func.count(Notice.id))) == notices
    assert not undispatched()  # dispatched, as an event whose subject is gone


def test_an_event_of_the_subjects_own_organisations_is_still_sent(app, db, stay_world, elsewhere):
    # The same stay event as above, about the employee's own stay at this facility.
    booking = book(stay_world.employee_en, stay_world.unit, 10, 12)
    run_outbox(NOW)
    ev.emit(
        ev.STAY_REMINDER,
        NOW,
        company_id=stay_world.company.id,
        operator_id=stay_world.operator.id,
        user_id=stay_world.employee_en.id,
        subject=("booking", booking.id),
    )
    db.session.commit()
    dispatch.dispatch_events(NOW)
    assert [m.user_id for m in queued("stay_reminder")] == [stay_world.employee_en.id]


# --- 4. page numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["²", "١", "٣", "１", "-1", "0", "99999999999999", "3x", ""])
def test_any_page_number_opens_a_page(app, db, stay_world, page):
    browser = signed_in(app, stay_world.op)
    assert browser.get("/notices", query_string={"page": page}).status_code == 200
    app.config.update(DEV_MAILBOX=True, SMTP_HOST=None)
    assert browser.get("/dev/mail", query_string={"page": page}).status_code == 200
