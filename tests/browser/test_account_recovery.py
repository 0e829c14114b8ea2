"""In the browser: an employee resets a forgotten password through the mailed link; an
operator enrols an authenticator app and signs in with it."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts.mail import OutgoingMail, body_of
from accounts.models import Company, OperatorOrg, Role, User
from accounts.services import hash_password
from core.extensions import db
from tests.browser.conftest import DEMO_PASSWORD, FAST_HASH, LiveServer

NEW_PASSWORD = "my new long passphrase"


def add_person(server: LiveServer, email: str, role: Role) -> None:
    """A person of the demo network who is not one of its shared demo accounts."""
    with server.app.app_context():
        membership = (
            {"operator": db.session.scalar(select(OperatorOrg).order_by(OperatorOrg.id))}
            if role == Role.OPERATOR
            else {"company": db.session.scalar(select(Company).order_by(Company.id))}
        )
        db.session.add(
            User(
                email=email,
                name="テスト 太郎",
                role=role,
                password_hash=hash_password(DEMO_PASSWORD, FAST_HASH),
                **membership,
            )
        )
        db.session.commit()
        db.session.remove()


def reset_link(server: LiveServer, email: str) -> str:
    """The link in the newest mail queued to ``email`` (as the mail server would get it)."""
    with server.app.app_context():
        mail = db.session.scalar(
            select(OutgoingMail)
            .where(OutgoingMail.to_address == email)
            .order_by(OutgoingMail.id.desc())
        )
        body = body_of(mail)
        db.session.remove()
    return re.search(r"https?://\S+/password/reset/\S+", body)[0]


def sign_in_form(page: Page, server: LiveServer, email: str, password: str) -> None:
    page.goto(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()


def test_an_employee_resets_a_forgotten_password(page: Page, live_server: LiveServer):
    email = "forgetful@acme.example"
    add_person(live_server, email, Role.EMPLOYEE)
    page.goto(f"{live_server.url}/login")
    page.get_by_test_id("forgot-password").click()
    expect(page).to_have_url(f"{live_server.url}/password/forgot")
    page.locator("main form input[name=email]").fill(email)
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("forgot-sent")).to_be_visible()

    link = reset_link(live_server, email)
    assert link.startswith(live_server.url)
    page.goto(link)
    form = page.locator("main form")
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    form.locator("input[name=password_confirm]").fill(NEW_PASSWORD + "!")
    form.locator("button[type=submit]").click()
    expect(page.locator(".field-error")).to_be_visible()  # the two differ: nothing changed
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    form.locator("input[name=password_confirm]").fill(NEW_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/login")
    expect(page.locator(".flash-success")).to_be_visible()

    sign_in_form(page, live_server, email, DEMO_PASSWORD)
    expect(page.locator(".flash-error")).to_be_visible()  # the old password is gone
    sign_in_form(page, live_server, email, NEW_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("form.search-form")).to_be_visible()

    page.goto(link)  # used: a clear page with the way to a new one
    expect(page.get_by_test_id("link-invalid")).to_be_visible()


def test_an_operator_enrols_an_authenticator_and_signs_in_with_it(
    page: Page, live_server: LiveServer
):
    email = "new-operator@satoyama.example"
    add_person(live_server, email, Role.OPERATOR)
    # The first sign-in completes and asks to enrol before the next one.
    sign_in_form(page, live_server, email, DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/operator/")
    page.goto(f"{live_server.url}/account")
    expect(page.get_by_test_id("two-factor-summary").locator(".badge.bad")).to_be_visible()
    page.locator("#two-factor a.button").click()
    expect(page).to_have_url(f"{live_server.url}/account/two-factor")
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)
    page.locator("main form input[name=code]").fill(totp.now())
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.get_by_test_id("continue").click()
    expect(page.get_by_test_id("two-factor-status")).to_be_visible()

    page.context.clear_cookies()  # another day, a new browser session
    sign_in_form(page, live_server, email, DEMO_PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/login/two-factor")
    # The enrolling code's time step is spent: the next step's code (accepted, one step
    # ahead for clock drift) signs in.
    page.locator("main form input[name=code]").fill(totp.at(time.time() + 30))
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}/operator/")
