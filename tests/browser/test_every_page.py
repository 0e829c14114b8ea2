"""Every GET page of every role, on a phone (390 px) and a laptop (1280 px).

For each page (tests/browser/pages.py, derived from the URL map): it opens (status
below 400), the page never scrolls sideways, axe-core finds no serious or critical
WCAG 2.2 AA violation, and the skip link is the first stop of the Tab key and moves
the focus to <main>. One browser context per role and width is reused across that
role's pages, so the whole sweep signs in ten times, not once per page.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import DEMO_PASSWORD, NOW, TIMEOUT_MS, LiveServer, page_overflow
from tests.browser.pages import EXCLUDED, ROLES, PageVisit, pages_by_role, unlisted_endpoints

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")
# Pages answering an error on purpose: the error page must pass the same checks.
ERROR_PAGES = {
    "visitor": [("/no-such-page", 404)],
    "employee": [("/operator/", 403), ("/stays/999999999", 404)],
}
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def role_pages(live_server: LiveServer) -> dict[str, list[PageVisit]]:
    return pages_by_role(live_server.app, NOW)


def open_role(browser: Browser, server: LiveServer, role: str, viewport: dict) -> BrowserContext:
    """A context signed in as the role's demo user (through the real form)."""
    # The content policy forbids the injected axe script; test_csp checks the policy.
    context = browser.new_context(locale="ja-JP", viewport=viewport, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    email = ROLES[role]
    if email is not None:
        page = context.new_page()
        page.goto(f"{server.url}/login")
        form = page.locator("main form")
        form.locator("input[name=email]").fill(email)
        form.locator("input[name=password]").fill(DEMO_PASSWORD)
        form.locator("button[type=submit]").click()
        server.pass_second_factor(page, email)
        page.wait_for_url(lambda url: "/login" not in url)
        page.close()
    return context


def check_page(page: Page, url: str, expected_status: int | None = None) -> list[str]:
    """What is wrong with the page at ``url`` (an empty list when nothing is)."""
    problems = []
    response = page.goto(url)
    status = response.status if response else 0
    if expected_status is not None and status != expected_status:
        problems.append(f"status {status}, expected {expected_status}")
    elif expected_status is None and status >= 400:
        return [f"status {status}"]
    overflow = page_overflow(page)
    if overflow > 1:
        problems.append(f"scrolls sideways by {overflow}px")
    page.add_script_tag(path=str(AXE))
    for v in page.evaluate(RUN_AXE, AXE_TAGS):
        if v["impact"] in BLOCKING:
            problems.append(f"axe {v['impact']} {v['id']} at {', '.join(v['targets'])}")
    problems.extend(check_skip_link(page))
    return problems


def check_skip_link(page: Page) -> list[str]:
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? (e.className || e.tagName) + ' ' + (e.getAttribute('href') || '') : ''; }"
    )
    if first != "skip-link #main":
        return [f"the first Tab stop is {first!r}, not the skip link"]
    page.keyboard.press("Enter")
    focused = page.evaluate("() => document.activeElement && document.activeElement.id")
    if focused != "main":
        return [f"the skip link moved the focus to {focused!r}, not <main>"]
    return []


def test_every_get_page_is_listed_or_excluded_with_a_reason(live_server: LiveServer):
    assert unlisted_endpoints(live_server.app) == [], (
        "add these endpoints to tests/browser/pages.py: PAGES (who opens them, with which "
        "ids) or EXCLUDED (why they are not pages)"
    )
    assert all(reason.strip() for reason in EXCLUDED.values())


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_the_role_fits_reads_and_skips(
    browser: Browser, live_server: LiveServer, role_pages, role: str, width: str
):
    visits = role_pages[role]
    assert visits, f"no pages listed for {role}"
    started = time.monotonic()
    context = open_role(browser, live_server, role, WIDTHS[width])
    failures = []
    try:
        page = context.new_page()
        for visit in visits:
            for problem in check_page(page, f"{live_server.url}{visit.url}", visit.status):
                failures.append(f"{visit.url} [{width}]: {problem}")
        for url, status in ERROR_PAGES.get(role, []):
            for problem in check_page(page, f"{live_server.url}{url}", status):
                failures.append(f"{url} [{width}]: {problem}")
    finally:
        context.close()
    TIMINGS[f"{role}/{width}"] = time.monotonic() - started
    print(f"{role} at {width}: {len(visits)} pages in {TIMINGS[f'{role}/{width}']:.1f}s")
    assert not failures, "\n".join(failures)
