"""Notifications in a real browser, against the live demo network.

An employee books a stay through the pages and, once the mail job has run, finds its
confirmation in the development mailbox (linked from every page's footer), with the
booking number, the HTML part in its sandboxed frame and the stay's .ics. An operator
sees the bell's count rise when a calendar conflict opens, the conflict at the top of
the dashboard, and reaches both by keyboard at 390 px. The live server is shared by the
session, so each test leaves the calendars as it found them.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from accounts import events as ev
from accounts.mail import OutgoingMail
from accounts.models import User
from booking.models import Booking
from calendars.models import CalendarConflict, CalendarFeed
from core.extensions import db
from facilities.models import Facility, Unit
from notifications import jobs
from notifications.dispatch import dispatch_events
from notifications.models import MailOptOut, Notice
from tests.browser.conftest import DESKTOP, NOW, LiveServer, days, page_overflow

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
OPERATOR = "operator@satoyama.example"
CONFIRMED_HEADING = re.compile(r"予約が確定しました|Your stay is confirmed")


def run_mail_job(server: LiveServer) -> str:
    """The scheduler's mail job, as `make run`'s scheduler would run it (no SMTP_HOST:
    the mail stays in the outbox for the development mailbox)."""
    with server.app.app_context():
        summary = str(jobs.mail_outbox(NOW))
        db.session.remove()
    return summary


def book_through_the_pages(page: Page, server: LiveServer) -> int:
    """Search, open the facility of the last free room, book it; the booking id."""
    check_in, check_out = days(70), days(72)
    offer = server.offers(check_in, check_out)[-1]
    page.goto(
        f"{server.url}/facilities/{offer.facility_id}"
        f"?check_in={check_in.isoformat()}&check_out={check_out.isoformat()}&guests=1"
    )
    form = page.locator("form.book-form")
    form.locator(f"#unit-{offer.unit_id}").check()
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/book\?"))
    page.locator("button[data-once]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/stays/\d+$"))
    expect(page.locator("h1")).to_have_text(CONFIRMED_HEADING)
    return int(page.url.rsplit("/", 1)[1])


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_an_employee_reads_the_confirmation_in_the_development_mailbox(
    new_page, live_server: LiveServer, viewport
):
    page = new_page(viewport)
    run_mail_job(live_server)  # what other tests left waiting is told first
    live_server.sign_in(page)
    unread = page.get_by_test_id("bell").get_attribute("data-unread")
    booking_id = book_through_the_pages(page, live_server)
    run_mail_job(live_server)
    # Employees hear of their own stays by mail: the stay adds nothing under their bell.
    page.reload()
    expect(page.get_by_test_id("bell")).to_have_attribute("data-unread", unread)

    # The footer of every page leads to the mailbox; the newest mail is the confirmation.
    page.get_by_test_id("dev-mailbox-link").click()
    expect(page).to_have_url(f"{live_server.url}/dev/mail")
    newest = page.locator("article.mail-card").first
    subject = newest.locator("h2 a")
    expect(subject).to_contain_text(str(booking_id))
    expect(newest.locator("pre.mail-body")).to_contain_text(f"/stays/{booking_id}")
    assert page_overflow(page) == 0

    subject.click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/dev/mail/\d+$"))
    expect(page.get_by_test_id("mail-subject")).to_contain_text(str(booking_id))
    expect(page.get_by_test_id("mail-text")).to_contain_text(f"/stays/{booking_id}")
    # The HTML part, in its frame: the mail's own heading, with the booking number.
    frame = page.frame_locator("iframe[data-testid=mail-html]")
    expect(frame.locator("h1")).to_contain_text(str(booking_id))
    expect(page.get_by_test_id("attachment")).to_have_text(re.compile(r"\.ics$"))
    with page.expect_download() as download:
        page.get_by_test_id("attachment").click()
    assert "BEGIN:VCALENDAR" in download.value.path().read_text()
    assert page_overflow(page) == 0


def test_the_mailbox_shows_only_ones_own_mail(page: Page, live_server: LiveServer):
    run_mail_job(live_server)
    with live_server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        foreign = db.session.scalar(
            select(OutgoingMail.id)
            .where(OutgoingMail.user_id != operator.id, OutgoingMail.to_address != OPERATOR)
            .order_by(OutgoingMail.id.desc())
        )
        db.session.remove()
    live_server.sign_in(page, OPERATOR)
    page.goto(f"{live_server.url}/dev/mail")
    for card in page.locator("article.mail-card").all():
        expect(card.locator("dl dd").first).to_have_text(OPERATOR)
    if foreign is not None:
        expect(page.locator(f"article[data-mail-id='{foreign}']")).to_have_count(0)
        assert page.goto(f"{live_server.url}/dev/mail/{foreign}").status == 404
    assert page.goto(f"{live_server.url}/dev/mail/999999999").status == 404


# --- The operator's bell -----------------------------------------------------------------


def open_conflict(server: LiveServer) -> tuple[int, int]:
    """A conflict on a booking of the operator's facility, as a sync would leave it
    (an Occupancy-held night also listed by an imported calendar), and its event."""
    with server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        booking = db.session.scalars(
            select(Booking)
            .join(Unit, Unit.id == Booking.unit_id)
            .join(Facility, Facility.id == Unit.facility_id)
            .where(Facility.operator_id == operator.operator_id, Booking.status == "confirmed")
            .order_by(Booking.check_in.desc())
        ).first()
        # Paused (inactive): no sync in the session ever fetches its address.
        feed = CalendarFeed(
            unit_id=booking.unit_id,
            label="Notice test feed",
            url="https://calendar.invalid/notice-test.ics",
            active=False,
            created_at=NOW,
        )
        db.session.add(feed)
        db.session.flush()
        nights = (booking.check_out - booking.check_in).days
        conflict = CalendarConflict(
            feed_id=feed.id,
            unit_id=booking.unit_id,
            booking_id=booking.id,
            event_key="notice-test",
            event_summary="Reserved",
            event_start=booking.check_in,
            event_end=booking.check_out,
            first_night=booking.check_in,
            nights=nights,
            detected_at=NOW,
        )
        db.session.add(conflict)
        db.session.flush()
        ev.emit(
            ev.CALENDAR_CONFLICT,
            NOW,
            operator_id=operator.operator_id,
            subject=("conflict", conflict.id),
        )
        db.session.commit()
        dispatch_events(NOW)
        ids = conflict.id, feed.id
        db.session.remove()
    return ids


def close_conflict(server: LiveServer, conflict_id: int, feed_id: int) -> None:
    with server.app.app_context():
        db.session.delete(db.session.get(CalendarConflict, conflict_id))
        db.session.delete(db.session.get(CalendarFeed, feed_id))
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        db.session.execute(
            update(Notice)
            .where(Notice.user_id == operator.id, Notice.read_at.is_(None))
            .values(read_at=NOW)
        )
        db.session.commit()
        db.session.remove()


def unread_of(page: Page) -> int:
    return int(page.get_by_test_id("bell").get_attribute("data-unread"))


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_an_operator_sees_the_bell_rise_when_a_conflict_opens(
    new_page, live_server: LiveServer, viewport
):
    page = new_page(viewport)
    live_server.sign_in(page, OPERATOR)
    expect(page.get_by_test_id("bell")).to_be_visible()
    before = unread_of(page)
    conflict_id, feed_id = open_conflict(live_server)
    try:
        page.reload()
        bell = page.get_by_test_id("bell")
        expect(bell).to_have_attribute("data-unread", str(before + 1))
        expect(bell.locator(".bell-count")).to_have_text(str(before + 1))
        expect(bell).to_have_attribute("aria-label", re.compile(str(before + 1)))
        # The dashboard warns of it at the top, linking to the calendars page.
        alerts = page.get_by_test_id("calendar-alerts")
        expect(alerts).to_be_visible()
        expect(alerts.locator(f"li[data-conflict-id='{conflict_id}']")).to_be_visible()
        assert page_overflow(page) == 0

        # By keyboard: Tab to the bell, open the notices, open the newest one.
        page.locator("body").focus()
        for _ in range(8):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.dataset.testid") == "bell":
                break
        else:
            raise AssertionError("the bell is not reached by Tab")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live_server.url}/notices")
        newest = page.locator("li.notice-item.unread[data-kind='calendar_conflict']").first
        expect(newest).to_be_visible()
        assert page_overflow(page) == 0
        newest.locator("button").focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live_server.url}/operator/calendars")
        expect(page.get_by_test_id("bell")).to_have_attribute("data-unread", str(before))
    finally:
        close_conflict(live_server, conflict_id, feed_id)
    page.goto(f"{live_server.url}/operator/")
    expect(page.get_by_test_id("calendar-alerts")).to_have_count(0)


def test_mail_preferences_by_keyboard_on_a_phone(new_page, live_server: LiveServer):
    page = new_page(PHONE_390)
    live_server.sign_in(page, OPERATOR)
    page.goto(f"{live_server.url}/account")
    page.get_by_test_id("mail-preferences-link").click()
    expect(page).to_have_url(f"{live_server.url}/account/notifications")
    assert page_overflow(page) == 0
    digest = page.locator("input[type=checkbox][value=operator_digest]")
    expect(digest).to_be_checked()
    digest.focus()
    page.keyboard.press("Space")
    expect(digest).not_to_be_checked()
    for _ in range(10):  # on to the Save button
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.type") == "submit":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("input[type=checkbox][value=operator_digest]")).not_to_be_checked()
    with live_server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        kinds = set(
            db.session.scalars(select(MailOptOut.kind).where(MailOptOut.user_id == operator.id))
        )
        db.session.remove()
    assert kinds == {"operator_digest"}
    # Back on, as it was.
    page.locator("input[type=checkbox][value=operator_digest]").check()
    page.locator("form[data-testid=preferences-form] button[type=submit]").click()
    expect(page.locator("input[type=checkbox][value=operator_digest]")).to_be_checked()
