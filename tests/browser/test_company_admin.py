"""A company admin's console in a real browser, against the live demo network.

Acme's admin looks at the Standard subscription, adds seats, invites a new hire by a
one-time link (opened in a browser of its own), follows the credit on the usage page,
opens the paid first invoice on the local billing backend, and deactivates an
employee. The live server is shared by the whole session, so every test works with
numbers read from the database or the page before it acts, never with fixed ones.
Assertions lean on URLs, ``data-testid`` attributes and numbers, which hold whether
or not the Japanese catalogue has the new strings yet.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts import mail
from accounts.mail import OutgoingMail
from accounts.models import User
from billing import services
from billing.models import Invoice
from core.extensions import db
from tests.browser.conftest import EMPLOYEE, NOW, TODAY, LiveServer, page_overflow, yen

pytestmark = pytest.mark.browser

ADMIN = "admin@acme.example"
NEW_HIRE = "new.hire@acme.example"
LEAVER = "leaver@acme.example"
NEW_PASSWORD = "new-hire-password-1"
PHONE_390 = {"width": 390, "height": 844}
BOM = b"\xef\xbb\xbf"
CSV_HEADER = (
    "Date (Asia/Tokyo)",
    "Kind",
    "Amount (yen)",
    "Balance after (yen)",
    "Employee e-mail",
    "Booking number",
    "Note",
)
REGISTRATION_NUMBER = re.compile(r"T\d{13}")
DIGITS = re.compile(r"[^\d]")


@dataclass(frozen=True)
class Company:
    id: int
    plan: str
    seats: int
    seats_used: int
    balance: int


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    active: bool


# What the database says, read the way the app reads it (own app context).


def company_of(server: LiveServer, email: str = ADMIN) -> Company:
    with server.app.app_context():
        company_id = db.session.scalar(select(User.company_id).where(User.email == email))
        s = services.summary(company_id)
        sub = s.subscription
        return Company(company_id, sub.plan.name, s.seats, s.seats_used, s.account.credit_balance)


def member(server: LiveServer, email: str) -> Member | None:
    with server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return None if user is None else Member(user.id, user.name, user.active)


def first_invoice(server: LiveServer, company_id: int) -> Invoice:
    with server.app.app_context():
        invoice = db.session.scalar(
            select(Invoice)
            .where(Invoice.company_id == company_id)
            .order_by(Invoice.created_at, Invoice.id)
            .limit(1)
        )
        db.session.expunge(invoice)
        return invoice


def csv_header(server: LiveServer, locale: str) -> list[str]:
    """The ledger CSV's header row as the app writes it in ``locale``."""
    with server.app.test_request_context(), force_locale(locale):
        return [gettext(cell) for cell in CSV_HEADER]


def seats_line(server: LiveServer, locale: str, used: int, paid: int) -> str:
    """The subscription's seats as the billing page words them in ``locale``."""
    with server.app.test_request_context(), force_locale(locale):
        return gettext("%(used)d in use of %(paid)d paid", used=used, paid=paid)


def amount(text: str) -> int:
    """The integer in a yen amount such as ¥1,234,000."""
    return int(DIGITS.sub("", text))


# What a person does in the browser.


def open_company(page: Page, server: LiveServer) -> None:
    """From anywhere, the header's Company link to the subscription page."""
    page.locator("header.site-header a[href='/company/billing']").click()
    expect(page).to_have_url(f"{server.url}/company/billing")
    expect(page.get_by_test_id("subscription")).to_be_visible()


def mailed_link(server: LiveServer, email: str) -> str:
    """The one-time link in the newest mail queued for ``email`` (stored encrypted)."""
    with server.app.app_context():
        queued = db.session.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.to_address == email)
            .order_by(OutgoingMail.id.desc())
        ).first()
        body = mail.body_of(queued)
        db.session.remove()
    return re.search(r"https?://\S+/join/[\w-]+", body).group(0)


def invite(page: Page, server: LiveServer, email: str) -> str:
    """Invite ``email`` on the Employees page; returns the one-time link from its e-mail
    (the admin never sees it: the page answers the same whoever the address belongs to)."""
    page.goto(f"{server.url}/company/employees")
    form = page.locator("form[action='/company/employees/invite']")
    form.locator("input[name=email]").fill(email)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/company/employees")
    expect(page.locator(".flash-success").first).to_contain_text(email)
    expect(page.get_by_test_id("invitations")).to_contain_text(email)
    link = mailed_link(server, email)
    assert re.fullmatch(rf"{re.escape(server.url)}/join/[\w-]{{40,}}", link), link
    assert link not in page.content()
    return link


def join(page: Page, server: LiveServer, link: str, email: str, name: str) -> None:
    """Open an invitation link, set name and password, and land signed in on search."""
    page.goto(link)
    expect(page.get_by_test_id("join-email")).to_have_text(email)
    form = page.locator("main form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    form.locator("input[name=confirm]").fill(NEW_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".flash-success")).to_contain_text(name)
    expect(page.locator("form.search-form")).to_be_visible()


def member_row(page: Page, user_id: int):
    return page.get_by_test_id("members").locator(f"tr[data-user-id='{user_id}']")


def test_admin_manages_seats_invites_a_new_hire_and_reads_usage(new_page, live_server):
    url = live_server.url
    before = company_of(live_server)
    assert member(live_server, NEW_HIRE) is None, "the new hire has no account yet"
    admin = new_page()
    live_server.sign_in(admin, ADMIN)

    # The Company link leads to the subscription: Standard, seats paid vs in use, credit.
    open_company(admin, live_server)
    assert before.plan == "Standard"
    expect(admin.get_by_test_id("plan")).to_have_text("Standard")
    expect(admin.get_by_test_id("status")).to_have_attribute("data-status", "active")
    lang = admin.locator("html").get_attribute("lang")
    expect(admin.get_by_test_id("seats")).to_have_text(
        seats_line(live_server, lang, before.seats_used, before.seats)
    )
    assert amount(admin.get_by_test_id("balance").inner_text()) == before.balance
    expect(admin.get_by_test_id("test-mode")).to_be_visible()

    # Five more seats: confirmed, shown, and stored.
    target = before.seats + 5
    seats_form = admin.get_by_test_id("seats-form")
    seats_form.locator("input[name=seats]").fill(str(target))
    seats_form.locator("button[type=submit]").click()
    expect(admin).to_have_url(f"{url}/company/billing")
    expect(admin.locator(".flash-success")).to_contain_text(str(target))
    expect(admin.get_by_test_id("seats")).to_contain_text(str(target))
    assert company_of(live_server).seats == target
    admin.reload()
    expect(admin.get_by_test_id("seats")).to_have_text(
        seats_line(live_server, lang, before.seats_used, target)
    )

    # Employees: invite the new hire; the one-time link is shown this once only.
    admin.locator("nav.company-nav a[href='/company/employees']").click()
    expect(admin).to_have_url(f"{url}/company/employees")
    expect(admin.get_by_test_id("seats-paid")).to_have_text(str(target))
    expect(admin.get_by_test_id("seats-used")).to_have_text(str(before.seats_used))
    link = invite(admin, live_server, NEW_HIRE)
    admin.goto(f"{url}/company/employees")
    expect(admin.get_by_test_id("invitations")).to_contain_text(NEW_HIRE)
    assert link not in admin.content()

    # The new hire opens the link in a browser of their own and lands signed in.
    hire = new_page()
    join(hire, live_server, link, NEW_HIRE, "新井 花子")
    expect(hire.locator("header.site-header a[href='/stays']")).to_be_visible()
    expect(hire.locator("header.site-header a[href='/company/billing']")).to_have_count(0)
    hire.goto(f"{url}/account")
    expect(hire.locator("main")).to_contain_text(NEW_HIRE)
    joined = member(live_server, NEW_HIRE)
    assert joined is not None and joined.active and joined.name == "新井 花子"
    # The link worked once.
    hire_again = new_page()
    hire_again.goto(link)
    expect(hire_again.get_by_test_id("invalid-invitation")).to_be_visible()

    # The admin sees them active, one more seat in use, the invitation gone.
    admin.reload()
    row = member_row(admin, joined.id)
    expect(row).to_contain_text(NEW_HIRE)
    expect(row.locator(".badge.ok")).to_be_visible()
    expect(row).not_to_have_class(re.compile(r"\btaken\b"))
    expect(admin.get_by_test_id("seats-used")).to_have_text(str(before.seats_used + 1))
    expect(admin.get_by_test_id("invitations")).to_have_count(0)
    assert company_of(live_server).seats_used == before.seats_used + 1

    # Usage: the balance, the burn-down chart, the tables and the ledger as CSV.
    admin.locator("nav.company-nav a[href='/company/usage']").click()
    expect(admin).to_have_url(f"{url}/company/usage")
    now = company_of(live_server)
    assert amount(admin.get_by_test_id("balance").inner_text()) == now.balance
    chart = admin.locator("svg[data-testid='burn-chart']")
    expect(chart).to_be_visible()
    expect(chart.locator("polyline.pace")).to_have_count(1)
    for table in ("by-employee", "by-month", "ledger"):
        expect(admin.get_by_test_id(table).locator("tbody tr").first).to_be_visible()
    ledger = admin.get_by_test_id("ledger").locator("tbody tr")
    newest_balance = amount(ledger.first.locator("td.num").nth(1).inner_text())
    assert newest_balance == now.balance

    with admin.expect_download() as download_info:
        admin.get_by_test_id("csv-link").click()
    download = download_info.value
    assert download.suggested_filename == f"engawa-credit-{now.id}-{TODAY.isoformat()}.csv"
    raw = download.path().read_bytes()
    assert raw.startswith(BOM), "Excel in Japan needs the UTF-8 byte-order mark"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == csv_header(live_server, lang)
    assert len(rows) > 1 and all(len(r) == len(CSV_HEADER) for r in rows)
    assert int(rows[-1][3]) == now.balance, "the last row's balance is the balance now"


def test_the_burn_down_runs_from_the_period_start_to_today(page: Page, live_server):
    acme = company_of(live_server)
    with live_server.app.app_context():
        burn = services.burn_down(acme.id, NOW)
    assert burn is not None
    assert burn.start <= TODAY <= burn.end, (burn.start, TODAY, burn.end)
    live_server.sign_in(page, ADMIN)
    page.goto(f"{live_server.url}/company/usage")
    chart = page.get_by_test_id("burn-chart")
    expect(chart).to_be_visible()
    expect(page.get_by_test_id("burn-line")).to_have_count(1)
    expect(chart.locator("circle.today")).to_have_count(1)
    days_so_far = page.get_by_test_id("burn-table").locator("tbody tr")
    expect(days_so_far).to_have_count((TODAY - burn.start).days + 1)
    # (the per-day figures sit in a closed <details>: text_content, not inner_text)
    assert amount(days_so_far.last.locator("td.num").text_content()) == acme.balance


def test_a_deactivated_employee_is_signed_out_on_the_next_page(new_page, live_server):
    url = live_server.url
    admin, leaver = new_page(), new_page()
    live_server.sign_in(admin, ADMIN)
    used = company_of(live_server).seats_used
    link = invite(admin, live_server, LEAVER)
    join(leaver, live_server, link, LEAVER, "去田 一郎")
    person = member(live_server, LEAVER)
    assert person is not None and person.active

    admin.goto(f"{url}/company/employees")
    row = member_row(admin, person.id)
    expect(row.locator(".badge.ok")).to_be_visible()
    expect(admin.get_by_test_id("seats-used")).to_have_text(str(used + 1))

    # Deactivating asks first; dismissing the question changes nothing.
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    admin.once("dialog", dismiss)
    row.locator("button.danger").click()
    expect(row.locator(".badge.ok")).to_be_visible()
    assert member(live_server, LEAVER).active

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    admin.once("dialog", accept)
    deactivate_path = f"/company/employees/{person.id}/deactivate"
    with admin.expect_response(lambda r: r.url.endswith(deactivate_path)) as response:
        row.locator("button.danger").click()
    assert response.value.status == 303
    expect(admin).to_have_url(f"{url}/company/employees")
    expect(admin.locator(".flash-success")).to_be_visible()
    expect(row.locator(".badge.bad")).to_be_visible()
    expect(row).to_have_class(re.compile(r"\btaken\b"))
    expect(admin.get_by_test_id("seats-used")).to_have_text(str(used))
    assert len(questions) == 2 and all("去田 一郎" in q for q in questions)
    assert not member(live_server, LEAVER).active

    # The leaver's own browser is signed out on its next page.
    leaver.goto(f"{url}/stays")
    expect(leaver).to_have_url(re.compile(rf"^{re.escape(url)}/login\b"))
    expect(leaver.locator("main form input[name=password]")).to_be_visible()
    expect(leaver.locator("header.site-header a[href='/stays']")).to_have_count(0)


def test_invoices_list_the_paid_first_invoice_and_open_it(page: Page, live_server):
    url = live_server.url
    acme = company_of(live_server)
    invoice = first_invoice(live_server, acme.id)
    assert invoice.status == "paid" and invoice.number
    live_server.sign_in(page, ADMIN)
    page.goto(f"{url}/company/billing")
    page.locator("nav.company-nav a[href='/company/invoices']").click()
    expect(page).to_have_url(f"{url}/company/invoices")

    registration = page.get_by_test_id("registration-number").locator(".reg-no")
    expect(registration).to_have_text(REGISTRATION_NUMBER)
    number = registration.inner_text()
    row = page.get_by_test_id("invoices").locator(f"tr[data-invoice-id='{invoice.id}']")
    expect(row).to_have_attribute("data-status", "paid")
    expect(row.locator("td").first).to_have_text(invoice.number)
    assert yen(row.locator("td.num").first.inner_text()) == invoice.total > 0

    # Its page on the local backend opens in a new tab: a qualified invoice.
    with page.context.expect_page() as opened:
        row.locator(f"a[href='{invoice.hosted_invoice_url}']").click()
    doc_page = opened.value
    expect(doc_page).to_have_url(f"{url}{invoice.hosted_invoice_url}")
    doc = doc_page.locator("article.invoice-doc")
    expect(doc.locator("h1")).to_contain_text(re.compile(r"適格|qualified invoice"))
    expect(doc).to_contain_text(invoice.number)
    expect(doc).to_contain_text(number)
    expect(doc).to_contain_text(f"¥{invoice.total:,}")
    expect(doc_page.locator(".test-mode")).to_be_visible()

    # The printable version: the same document without the test-mode banner.
    doc_page.locator("a[href='?print=1']").click()
    expect(doc_page).to_have_url(f"{url}{invoice.hosted_invoice_url}?print=1")
    expect(doc).to_contain_text(invoice.number)
    expect(doc).to_contain_text(number)
    expect(doc_page.locator(".test-mode")).to_have_count(0)


def sideways(page: Page) -> list[int]:
    """The page's scroll width and the viewport's width, in CSS pixels."""
    return page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")


def test_the_console_fits_a_phone(new_page, live_server):
    page = new_page(viewport=PHONE_390)
    live_server.sign_in(page, ADMIN)
    pages = (
        ("/company/billing", "seats-form"),
        ("/company/usage", "burn-chart"),
        ("/company/invoices", "invoices"),
        ("/company/employees", "members"),
        ("/company/policy", "policy-form"),
    )
    for path, testid in pages:
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_test_id(testid)).to_be_visible()
        if path == "/company/usage":
            page.locator("#burn-down details summary").click()  # the figures per day too
        scroll_width, inner_width = sideways(page)
        assert scroll_width <= inner_width + 1, f"{path} scrolls sideways at 390px"
        assert page_overflow(page) <= 1, f"{path} is wider than the screen"


def test_an_employee_gets_403_and_no_company_link(page: Page, live_server):
    live_server.sign_in(page, EMPLOYEE)
    expect(page.locator("header.site-header a[href='/stays']")).to_be_visible()
    expect(page.locator("header.site-header a[href^='/company']")).to_have_count(0)
    for path in ("/company/billing", "/company/usage", "/company/usage.csv", "/company/employees"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 403, path
        expect(page.locator("main h1")).to_have_text("403")
        expect(page.get_by_test_id("subscription")).to_have_count(0)
        expect(page.locator("header.site-header a[href='/company/billing']")).to_have_count(0)


def test_billing_page_switches_to_english(page: Page, live_server):
    url = live_server.url
    live_server.sign_in(page, ADMIN)
    page.goto(f"{url}/company/billing")
    html = page.locator("html")
    switch = page.locator(".lang-switch a")
    if html.get_attribute("lang") == "en":  # a remembered choice: start from Japanese
        switch.click()
    expect(html).to_have_attribute("lang", "ja")

    try:
        switch.click()
        expect(html).to_have_attribute("lang", "en")
        expect(page).to_have_url(f"{url}/company/billing")
        expect(page.locator("main h1")).to_have_text("Subscription")
        expect(page.locator("#seats h2")).to_have_text("Seats")
        expect(page.get_by_test_id("seats")).to_have_text(re.compile(r"^\d+ in use of \d+ paid$"))
        expect(page.locator("nav.company-nav a[href='/company/usage']")).to_have_text(
            "Usage and credit"
        )
        expect(page.locator("header.site-header a[href='/company/billing']")).to_have_text(
            "Company"
        )
        expect(switch).to_have_text("日本語")
    finally:
        # The choice is remembered on the account: leave it as the other tests expect.
        page.goto(f"{url}/lang/ja?next=/company/billing")
    expect(html).to_have_attribute("lang", "ja")
    expect(switch).to_have_text("English")
