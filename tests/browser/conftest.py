"""A live Engawa with the demo network, served on 127.0.0.1, and headless Chromium.

The browser tests do not use the parametrized ``app`` fixture: one real server
(a SQLite file, CSRF on, the clock pinned) is seeded once with the demo network
and shared by the whole session. Each test gets a fresh browser context, so
cookies and language choices never leak from one test to the next.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import func, select

from accounts import two_factor
from accounts.models import User
from app import create_app
from availability.models import Occupancy
from billing.settings import BillingSettings
from booking.models import Booking
from booking.search import SearchQuery, search
from core.db import tokyo_today
from core.extensions import db
from demo.seed import seed_demo, subscribe_demo_companies
from facilities.photos import photo_dir
from pricing.engine import recompute
from tests.conftest import LoopbackServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST_HASH = "pbkdf2:sha256:1000"
# Where a sign-in asks for the authenticator's code.
TWO_FACTOR_STEP = "/login/two-factor"
# The same fixed instant as the rest of the suite: 2026-12-01 12:00 in Tokyo.
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = tokyo_today(NOW)
DEMO_PASSWORD = "engawa-demo"
EMPLOYEE = "employee@acme.example"
# Where each demo role lands after signing in (everyone else: search).
LANDING = {
    "admin@acme.example": "/company/billing",
    "admin@globex.example": "/company/billing",
    "operator@satoyama.example": "/operator/",
    "operator@umibe.example": "/operator/",
    "root@engawa.example": "/admin/",
}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
RESULTS_DIR = Path(__file__).resolve().parents[2] / "test-results"
TIMEOUT_MS = 15_000  # generous: CI machines run Chromium beside other jobs

expect.set_options(timeout=TIMEOUT_MS)

# A price as employees see it: integer yen with the tax note (総額表示). Until the
# Japanese catalogue is compiled the note reads "(tax incl.)" instead of （税込）.
PRICE = re.compile(r"¥(\d{1,3}(?:,\d{3})*)\s*(?:（税込）|\(tax incl\.\))")


def days(n: int) -> date:
    """A date ``n`` days after the fixed TODAY."""
    return TODAY + timedelta(days=n)


def yen(text: str) -> int:
    """The amount of the one price in ``text``; fails unless it is shown tax included."""
    found = PRICE.findall(text)
    assert len(found) == 1, f"expected one tax-included price in {text!r}"
    return int(found[0].replace(",", ""))


@dataclass(frozen=True)
class Offer:
    """A unit free for every night of a stay, and what the stay costs there."""

    facility_id: int
    unit_id: int
    total: int


@dataclass(frozen=True)
class BookingState:
    user_email: str
    unit_id: int
    check_in: date
    check_out: date
    status: str
    total_price: int
    occupied_nights: list[date]


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask

    # What the database says, read the way the app reads it (own app context).

    def offers(self, check_in: date, check_out: date, guests: int = 1) -> list[Offer]:
        """Every free unit for the stay, cheapest first within each facility."""
        with self.app.app_context():
            results = search(SearchQuery(check_in=check_in, check_out=check_out, guests=guests))
            return [Offer(r.facility_id, u.id, u.total_price) for r in results for u in r.units]

    def booking(self, booking_id: int) -> BookingState:
        with self.app.app_context():
            booking = db.session.get(Booking, booking_id)
            nights = db.session.scalars(
                select(Occupancy.night)
                .where(Occupancy.booking_id == booking_id)
                .order_by(Occupancy.night)
            ).all()
            return BookingState(
                booking.user.email,
                booking.unit_id,
                booking.check_in,
                booking.check_out,
                booking.status,
                booking.total_price,
                list(nights),
            )

    def count_bookings(self, email: str, unit_id: int, check_in: date, check_out: date) -> int:
        """Bookings (any status) of one user for one unit and stay."""
        with self.app.app_context():
            return db.session.scalar(
                select(func.count())
                .select_from(Booking)
                .join(User, User.id == Booking.user_id)
                .where(
                    User.email == email,
                    Booking.unit_id == unit_id,
                    Booking.check_in == check_in,
                    Booking.check_out == check_out,
                )
            )

    # What a person does in the browser.

    def current_code(self, email: str) -> str:
        """The authenticator's code now for an enrolled person (the demo operators, company
        admins and root use ``DEMO_TOTP_SECRET``). The last code step accepted is
        forgotten first, so sign-ins within one 30-second step may use the same code."""
        with self.app.app_context():
            user = db.session.scalar(select(User).where(User.email == email))
            user.totp_last_step = None
            secret = two_factor.open_secret(user.totp_secret)
            db.session.commit()
            db.session.remove()
        return pyotp.TOTP(secret).now()

    def pass_second_factor(self, page: Page, email: str) -> None:
        """After the password was sent: when the server asks for the authenticator's
        code, type it; returns once the page has left the sign-in steps."""
        page.wait_for_url(lambda url: urlsplit(url).path != "/login")
        if urlsplit(page.url).path != TWO_FACTOR_STEP:
            return
        form = page.locator("main form")
        form.locator("input[name=code]").fill(self.current_code(email))
        form.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: urlsplit(url).path != TWO_FACTOR_STEP)

    def sign_in(self, page: Page, email: str = EMPLOYEE, password: str = DEMO_PASSWORD) -> None:
        """Sign in through the real form (with its CSRF token) and land on the role's home:
        search for employees, the company console, the operator or platform console."""
        page.goto(f"{self.url}/login")
        form = page.locator("main form")
        form.locator("input[name=email]").fill(email)
        form.locator("input[name=password]").fill(password)
        form.locator("button[type=submit]").click()
        self.pass_second_factor(page, email)
        home = LANDING.get(email, "/")
        expect(page).to_have_url(f"{self.url}{home}")
        if home == "/":
            expect(page.locator("form.search-form")).to_be_visible()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    db_file = tmp_path_factory.mktemp("live") / "engawa-browser.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-test-secret-key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "FIXED_NOW": NOW,
            # WTF_CSRF_ENABLED keeps its default (on): the browser posts real forms.
        }
    )
    assert app.config.get("WTF_CSRF_ENABLED", True), "the browser tests need CSRF on"
    # Photos (the demo's drawn ones, and uploads) go to a temporary instance folder.
    app.instance_path = str(db_file.parent / "instance")
    with app.app_context():
        db.create_all()
        seed_demo(NOW, password_method=FAST_HASH, photo_dir=photo_dir(app.instance_path))
        db.session.commit()
        recompute(NOW)  # as `flask seed-demo` does: every night priced
        # and Acme and Globex subscribed (local backend)
        subscribe_demo_companies(NOW, settings=BillingSettings.from_config(app.config))
        db.session.remove()

    server = LoopbackServer.wsgi(app, name="live-server")
    app.config["BASE_URL"] = server.url  # links in mails
    try:
        with server:
            yield LiveServer(server.url, app)
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report on the item, so fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def new_page(request, browser: Browser) -> Iterator[Callable[..., Page]]:
    """Open pages in fresh contexts (Japanese locale); screenshot them if the test fails."""
    contexts: list[BrowserContext] = []

    def open_page(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(locale="ja-JP", viewport=viewport)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page

    report = getattr(request.node, "report_call", None)
    failed = report is not None and report.failed
    try:
        if failed:
            RESULTS_DIR.mkdir(exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            for i, context in enumerate(contexts):
                for j, page in enumerate(context.pages):
                    page.screenshot(path=RESULTS_DIR / f"{name}-{i}-{j}.png", full_page=True)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page) -> Page:
    return new_page()


def page_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
