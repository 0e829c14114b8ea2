"""The content policy in a real browser: every page of every role renders under
``Content-Security-Policy`` without a single violation or console error, on a desktop
and on a phone, and the behaviour that used to be inline script still works.

Each role walks its own pages: from its start pages it follows the links it is shown
(same site, GET only), so a page added later is visited without a list to keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from accounts.models import User
from core.extensions import db
from facilities.models import Facility
from tests.browser.conftest import DEMO_PASSWORD, DESKTOP, TIMEOUT_MS, LiveServer, days

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
OPERATOR = "operator@satoyama.example"
MAX_PAGES = 30  # per role: enough for every kind of page, quick enough for CI
STAY = f"check_in={days(20).isoformat()}&check_out={days(23).isoformat()}&guests=1"
ROLES = {
    "visitor": (None, ["/login", "/join"]),
    "employee": ("employee@acme.example", ["/", f"/?{STAY}", "/stays", "/account"]),
    "company_admin": (
        "admin@acme.example",
        ["/company/billing", "/company/usage", "/company/invoices", "/company/employees"],
    ),
    "operator": (OPERATOR, ["/operator/"]),
    "platform_admin": ("root@engawa.example", ["/admin/jobs", "/admin/calendars", "/admin/plans"]),
}
# Links not to follow: they change the language, download files or serve images.
SKIP = re.compile(r"^/lang/|\.(csv|ics|pdf|png|jpe?g|webp)$|^/photos/|^/static/")
# Records every violation in the page itself (injected before any of the page's scripts,
# by the browser, so the policy does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


class Watched:
    """A page whose console errors, uncaught exceptions and policy violations are kept."""

    def __init__(self, page: Page):
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"{page.url}: exception {exc}"))

    def _console(self, message) -> None:
        if message.type == "error":
            source = message.location.get("url") or self.page.url
            self.problems.append(f"{self.page.url}: console {message.text} ({source})")

    def visit(self, url: str) -> int:
        response = self.page.goto(url)
        self.collect()
        return response.status if response else 0

    def collect(self) -> None:
        """Note the violations the page now shown has recorded."""
        self.page.wait_for_load_state("load")
        for violation in self.page.evaluate("() => window.__cspViolations || []"):
            self.problems.append(f"{self.page.url}: violates {violation}")


def open_watched(browser: Browser, viewport: dict, storage_state=None) -> Watched:
    context = browser.new_context(locale="ja-JP", viewport=viewport, storage_state=storage_state)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORD_VIOLATIONS)
    return Watched(context.new_page())


def sign_in(watched: Watched, server: LiveServer, email: str) -> None:
    page = watched.page
    watched.visit(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    server.pass_second_factor(page, email)


def walk(watched: Watched, server: LiveServer, starts: list[str]) -> list[str]:
    """Visit the start pages, then the pages they link to, one URL per kind of page."""
    queue, seen, visited = list(starts), set(), []
    while queue and len(visited) < MAX_PAGES:
        target = queue.pop(0)
        path = urlsplit(target).path
        # Every start page; of the pages linked, one per kind (ids aside).
        shape = re.sub(r"\d+", "N", path)
        key = target if target in starts and target not in visited else shape
        if key in seen or SKIP.search(path):
            continue
        seen.update((target, shape))
        status = watched.visit(f"{server.url}{target}")
        assert status < 400, f"{target} answered {status}"
        visited.append(target)
        for href in watched.page.eval_on_selector_all(
            "a[href]", "links => links.map(a => a.getAttribute('href'))"
        ):
            parts = urlsplit(href)
            if not parts.netloc and href.startswith("/") and not href.startswith("//"):
                queue.append(href)
    return visited


@pytest.mark.parametrize("role", list(ROLES))
def test_no_page_breaks_the_content_policy(browser: Browser, live_server: LiveServer, role):
    email, starts = ROLES[role]
    if role == "employee":  # the quote page, reached by a form rather than a link
        offer = live_server.offers(days(20), days(23))[0]
        starts = [*starts, f"/book?unit_id={offer.unit_id}&{STAY}"]
    desktop = open_watched(browser, DESKTOP)
    try:
        if email:
            sign_in(desktop, live_server, email)
        visited = walk(desktop, live_server, starts)
        assert len(visited) >= len(starts)
        if role == "company_admin":
            # The billing portal is reached by a form post and a redirect (form-action).
            desktop.visit(f"{live_server.url}/company/billing")
            desktop.page.get_by_test_id("portal").click()
            desktop.page.wait_for_url(re.compile(r"/billing/local/portal/"))
            desktop.collect()
            visited.append(urlsplit(desktop.page.url).path)
        assert desktop.problems == [], "\n".join(desktop.problems)

        # The same pages on a phone, with the same session.
        state = desktop.page.context.storage_state()
        phone = open_watched(browser, PHONE_390, storage_state=state)
        try:
            for target in visited:
                phone.visit(f"{live_server.url}{target}")
            assert phone.problems == [], "\n".join(phone.problems)
        finally:
            phone.page.context.close()
    finally:
        desktop.page.context.close()


def test_the_policy_is_enforced_in_the_browser(page: Page, live_server: LiveServer):
    """A script injected into a page (as an XSS would be) is refused and reported."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{live_server.url}/login")
    ran = page.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation', () => resolve('refused'));
            const s = document.createElement('script');
            s.textContent = "window.__injected = true";
            document.body.appendChild(s);
            setTimeout(() => resolve(window.__injected ? 'ran' : 'silent'), 2000);
        })"""
    )
    assert ran == "refused"


def test_an_export_address_is_selected_whole_on_click(
    new_page: Callable[..., Page], live_server: LiveServer
):
    with live_server.app.app_context():
        facility_id = db.session.scalar(
            select(Facility.id)
            .join(User, User.operator_id == Facility.operator_id)
            .where(User.email == OPERATOR)
            .order_by(Facility.id)
        )
    page = new_page()
    live_server.sign_in(page, OPERATOR)
    page.goto(f"{live_server.url}/operator/facilities/{facility_id}/calendars")
    address = page.locator("input.copy-url").first
    expect(address).to_be_visible()
    address.click(position={"x": 5, "y": 5})
    selected = page.evaluate(
        "() => { const i = document.activeElement;"
        " return [i.selectionStart, i.selectionEnd, i.value.length]; }"
    )
    assert selected[0] == 0 and selected[1] == selected[2] > 0
