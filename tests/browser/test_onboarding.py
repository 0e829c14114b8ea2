"""A new company joins without a shell, in a real browser against the live demo network.

From the sign-in page its contact applies (company name, 法人番号, billing address,
seats), confirms the e-mail address by the mailed link, the Engawa team's
root@engawa.example approves the application, the contact chooses a password through
the mailed set-password link, signs in to the company console, subscribes in test mode
(the local checkout) and invites the first employee, who joins.

Links are read from the outbox (stored encrypted) in the live app's own context.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts import mail
from accounts.mail import OutgoingMail
from accounts.models import Company, User
from core.extensions import db
from identity.models import Application
from tests.browser.conftest import LiveServer, page_overflow

pytestmark = pytest.mark.browser

COMPANY = "株式会社縁側オンボーディング"
CORPORATE_NUMBER = "7000012050002"  # a real 法人番号 (国税庁); its check digit is right
CONTACT = "soumu@onboarding.example"
CONTACT_NAME = "総務 花子"
ADMIN_PASSWORD = "onboarding-admin-pass-1"
ROOT = "root@engawa.example"
NEW_HIRE = "first.hire@onboarding.example"
NEW_HIRE_PASSWORD = "first-hire-password-1"
PHONE_390 = {"width": 390, "height": 844}


def mailed_link(server: LiveServer, email: str, path: str) -> str:
    """The link under ``path`` in the newest mail to ``email`` that carries one."""
    pattern = re.compile(rf"https?://\S+{re.escape(path)}[\w-]+")
    with server.app.app_context():
        queued = db.session.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.to_address == email)
            .order_by(OutgoingMail.id.desc())
        ).all()
        bodies = [mail.body_of(m) or "" for m in queued]
        db.session.remove()
    for body in bodies:
        found = pattern.search(body)
        if found:
            return found.group(0)
    raise AssertionError(f"no mail to {email} carries a {path} link")


def application_status(server: LiveServer, email: str) -> str | None:
    with server.app.app_context():
        status = db.session.scalar(
            select(Application.status)
            .where(Application.contact_email == email)
            .order_by(Application.id.desc())
        )
        db.session.remove()
        return status


def company_number_of(server: LiveServer, email: str) -> str | None:
    with server.app.app_context():
        number = db.session.scalar(
            select(Company.corporate_number)
            .join(User, User.company_id == Company.id)
            .where(User.email == email)
        )
        db.session.remove()
        return number


def apply(page: Page, server: LiveServer) -> None:
    """From the sign-in page to the company application, filled in and sent."""
    page.goto(f"{server.url}/login")
    page.get_by_test_id("signup-links").locator("a[href='/signup/company']").click()
    expect(page).to_have_url(f"{server.url}/signup/company")
    assert page_overflow(page) == 0, "the application form fits a 390 px screen"
    form = page.get_by_test_id("company-signup")
    form.locator("input[name=org_name]").fill(COMPANY)
    # A wrong check digit first: the form comes back with the message and nothing sent.
    form.locator("input[name=corporate_number]").fill("1000012050002")
    form.locator("textarea[name=billing_address]").fill("東京都千代田区丸の内1-1-1")
    form.locator("input[name=expected_seats]").fill("40")
    form.locator("input[name=contact_name]").fill(CONTACT_NAME)
    form.locator("input[name=contact_email]").fill(CONTACT)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("signup-error")).to_be_visible()
    expect(page.locator("#corporate_number")).to_have_attribute("aria-invalid", "true")
    assert application_status(server, CONTACT) is None
    form = page.get_by_test_id("company-signup")
    expect(form.locator("input[name=org_name]")).to_have_value(COMPANY)
    form.locator("input[name=corporate_number]").fill("7-0000-1205-0002")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/signup/sent")
    expect(page.get_by_test_id("check-mail")).to_be_visible()
    assert application_status(server, CONTACT) == "unconfirmed"


def approve(page: Page, server: LiveServer) -> None:
    """root@engawa.example finds the application and approves it after the confirm page."""
    server.sign_in(page, ROOT)
    page.goto(f"{server.url}/admin/applications/")
    page.get_by_test_id("applications").get_by_role("link", name=COMPANY).click()
    expect(page.get_by_test_id("corporate-number")).to_have_text(CORPORATE_NUMBER)
    expect(page.get_by_test_id("application-status")).to_have_attribute("data-status", "pending")
    page.get_by_test_id("approve-link").click()
    expect(page.get_by_test_id("will-create")).to_contain_text(CORPORATE_NUMBER)
    page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("application-status")).to_have_attribute("data-status", "approved")
    expect(page.locator(".flash-success")).to_contain_text(COMPANY)


def choose_password(page: Page, server: LiveServer) -> None:
    """The set-password link (accounts' recovery pages: ``password``, ``password_confirm``)."""
    page.goto(mailed_link(server, CONTACT, "/password/set/"))
    form = page.locator("main form")
    form.locator("input[name=password]").fill(ADMIN_PASSWORD)
    form.locator("input[name=password_confirm]").fill(ADMIN_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(f"{server.url}/login")))


def sign_in_as_new_admin(page: Page, server: LiveServer) -> None:
    """The new company admin lands on the company console's subscription page."""
    page.goto(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(CONTACT)
    form.locator("input[name=password]").fill(ADMIN_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/company/billing")
    expect(page.get_by_test_id("company-name")).to_have_text(COMPANY)
    expect(page.get_by_test_id("no-subscription")).to_be_visible()


def subscribe_in_test_mode(page: Page, server: LiveServer) -> None:
    """The first plan, five seats, by card through the local test-mode checkout."""
    form = page.get_by_test_id("subscribe-form")
    form.locator("label.plan-option input[type=radio]").first.check()
    form.locator("input[name=seats]").fill("5")
    form.locator("input[name=method][value=card]").check()
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/billing/local/checkout/cs_local_"))
    page.locator("button[name=action][value=pay]").click()
    expect(page).to_have_url(re.compile(re.escape(f"{server.url}/company/billing")))
    expect(page.get_by_test_id("checkout-done")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "active")


def invite_and_join(admin: Page, new_hire: Page, server: LiveServer) -> None:
    admin.goto(f"{server.url}/company/employees")
    form = admin.locator("form[action='/company/employees/invite']")
    form.locator("input[name=email]").fill(NEW_HIRE)
    form.locator("button[type=submit]").click()
    expect(admin.locator(".flash-success").first).to_contain_text(NEW_HIRE)
    expect(admin.get_by_test_id("invitations")).to_contain_text(NEW_HIRE)
    new_hire.goto(mailed_link(server, NEW_HIRE, "/join/"))
    expect(new_hire.get_by_test_id("join-email")).to_have_text(NEW_HIRE)
    form = new_hire.locator("main form")
    form.locator("input[name=name]").fill("新入 一郎")
    form.locator("input[name=password]").fill(NEW_HIRE_PASSWORD)
    form.locator("input[name=confirm]").fill(NEW_HIRE_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(new_hire).to_have_url(f"{server.url}/")
    expect(new_hire.locator("form.search-form")).to_be_visible()


def test_a_company_applies_is_approved_subscribes_and_invites(new_page, live_server):
    applicant = new_page(PHONE_390)
    apply(applicant, live_server)

    # The mailed confirmation link says what happens next.
    applicant.goto(mailed_link(live_server, CONTACT, "/signup/confirm/"))
    expect(applicant.get_by_test_id("confirm-status")).to_have_attribute("data-status", "pending")
    assert application_status(live_server, CONTACT) == "pending"

    approve(new_page(), live_server)
    assert company_number_of(live_server, CONTACT) == CORPORATE_NUMBER

    contact = new_page()
    choose_password(contact, live_server)
    sign_in_as_new_admin(contact, live_server)
    subscribe_in_test_mode(contact, live_server)
    invite_and_join(contact, new_page(), live_server)
