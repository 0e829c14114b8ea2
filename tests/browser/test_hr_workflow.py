"""The company's HR workflow in a real browser, against the live demo network.

Acme's contract employee (契約社員: business stays need approval; a subsidy of ¥6,000 a
person-night leaves a part to pay) books a business workation: the quote shows what the
company pays and what they pay by card, and that it needs approval. Their manager (the
Acme admin) hears of it under the bell and approves it there; the employee then pays
their part in the local backend's test mode, and the stay is confirmed. The admin reads
the outcome report, at 390 px and by keyboard.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from billing.models import CreditEntry, StayPayment
from booking.models import Booking
from core.extensions import db
from notifications.dispatch import dispatch_events
from tests.browser.conftest import DESKTOP, NOW, LiveServer, days, page_overflow

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
CONTRACT = "contract@acme.example"
MANAGER = "admin@acme.example"
CONFIRMED_HEADING = re.compile(r"予約が確定しました|Your stay is confirmed")


def dispatch(server: LiveServer) -> None:
    """What the scheduler's dispatch does after a commit: events become notices."""
    with server.app.app_context():
        dispatch_events(NOW)
        db.session.commit()
        db.session.remove()


def book_business_stay(page: Page, server: LiveServer) -> int:
    check_in, check_out = days(40), days(43)
    offer = server.offers(check_in, check_out)[0]
    page.goto(
        f"{server.url}/facilities/{offer.facility_id}"
        f"?check_in={check_in.isoformat()}&check_out={check_out.isoformat()}&guests=1"
    )
    form = page.locator("form.book-form")
    form.locator(f"#unit-{offer.unit_id}").check()
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/book\?"))
    # Business workation: the quote says that choice needs approval, and who pays what.
    expect(page.get_by_test_id("approval-if-business")).to_be_visible()
    expect(page.get_by_test_id("approval-if-leisure")).to_have_count(0)
    page.locator("#purpose-business").check()
    split = page.get_by_test_id("split")
    expect(split).to_be_visible()
    company, employee = (
        int(split.get_attribute("data-company")),
        int(split.get_attribute("data-employee")),
    )
    assert company > 0 and employee > 0
    assert company + employee == offer.total
    page.get_by_test_id("confirm-button").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/stays/\d+$"))
    expect(page.get_by_test_id("approval-status")).to_have_attribute(
        "data-status", "pending_approval"
    )
    return int(page.url.rsplit("/", 1)[1])


def test_business_stay_approved_from_the_bell_then_paid_by_card(new_page, live_server):
    employee_page = new_page(DESKTOP)
    live_server.sign_in(employee_page, CONTRACT)
    booking_id = book_business_stay(employee_page, live_server)
    with live_server.app.app_context():
        assert db.session.get(Booking, booking_id).status == "pending_approval"
        charged = db.session.scalars(
            select(CreditEntry).where(CreditEntry.booking_id == booking_id)
        ).all()
        assert charged == []  # nothing is charged while it waits
        db.session.remove()
    dispatch(live_server)

    # The manager, on a phone: the bell counts the request; its notice leads to the page.
    manager = new_page(PHONE_390)
    live_server.sign_in(manager, MANAGER)
    bell = manager.get_by_test_id("bell")
    expect(bell).not_to_have_attribute("data-unread", "0")
    bell.click()
    manager.locator("li[data-kind=approval_requested] button").first.click()
    expect(manager).to_have_url(f"{live_server.url}/approvals/{booking_id}")
    assert page_overflow(manager) == 0
    manager.locator("textarea[name=comment]").fill("良い旅を")
    manager.get_by_test_id("approve").click()
    expect(manager.locator(".flash").first).to_be_visible()

    # Approved: the stay now waits for the employee's card; they pay in test mode.
    employee_page.goto(f"{live_server.url}/stays/{booking_id}")
    expect(employee_page.get_by_test_id("copay-status")).to_have_attribute(
        "data-status", "awaiting_payment"
    )
    employee_page.get_by_test_id("pay").click()
    employee_page.get_by_test_id("pay-test-card").click()
    expect(employee_page).to_have_url(re.compile(rf"/stays/{booking_id}(/paid)?$"))
    employee_page.goto(f"{live_server.url}/stays/{booking_id}")
    expect(employee_page.locator("h1")).to_have_text(CONFIRMED_HEADING)
    with live_server.app.app_context():
        booking = db.session.get(Booking, booking_id)
        payment = db.session.scalar(select(StayPayment).where(StayPayment.booking_id == booking_id))
        assert booking.status == "confirmed"
        assert payment.status == "paid" and payment.amount == booking.employee_part
        spent = db.session.scalars(
            select(CreditEntry.amount).where(
                CreditEntry.booking_id == booking_id, CreditEntry.kind == "spend"
            )
        ).all()
        assert spent == [-(booking.total_price - booking.employee_part)]
        db.session.remove()


@pytest.mark.parametrize("viewport", [PHONE_390, DESKTOP], ids=["390", "1280"])
def test_the_admin_reads_the_outcome_report(new_page, live_server: LiveServer, viewport):
    page = new_page(viewport)
    live_server.sign_in(page, MANAGER)
    page.goto(f"{live_server.url}/company/report")
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("svg").first).to_be_visible()
    assert page_overflow(page) == 0
    # By keyboard: the period form is reachable and submits.
    page.locator("main input").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/company/report"))
    page.goto(f"{live_server.url}/company/report/print")
    expect(page.locator("svg").first).to_be_visible()
