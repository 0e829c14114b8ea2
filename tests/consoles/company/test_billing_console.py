"""The corporate admin's billing console (企業管理者): its pages show the admin's own
company, its forms refuse bad input without changing anything, its buttons go
through the billing flows (the local backend plays the provider), and nobody but
a company admin gets in. The admin reads English here, so the assertions do not
move when the Japanese catalogue changes."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from accounts.models import Company, Role
from billing import ledger
from billing.models import (
    BillingAccount,
    CheckoutAttempt,
    EntryKind,
    Invoice,
    LocalObject,
    Subscription,
)
from billing.providers import gateway
from booking import services as booking
from booking.workspace import WorkspaceRequest, book_workspace
from tests.booking.workspace_helpers import TUESDAY, at, make_space
from tests.conftest import NOW, days, plan_named, signed_in

ROUTES = [
    ("GET", "/company/billing", None),
    ("POST", "/company/billing/subscribe", {"plan": "1", "seats": "5", "method": "invoice"}),
    ("POST", "/company/billing/seats", {"seats": "5"}),
    ("GET", "/company/billing/cancel", None),
    ("POST", "/company/billing/cancel", {}),
    ("POST", "/company/billing/portal", {}),
    ("POST", "/company/billing/details", {"billing_name": "乗っ取り"}),
    ("GET", "/company/policy", None),
    ("POST", "/company/policy", {"max_nights_per_stay": "1", "overage": "refuse"}),
    ("GET", "/company/usage", None),
    ("GET", "/company/usage.csv", None),
    ("GET", "/company/invoices", None),
]
ROUTE_IDS = [f"{m}-{p.removeprefix('/company/')}" for m, p, _f in ROUTES]
POSTS = [(p, f) for m, p, f in ROUTES if m == "POST"]

GOOD_POLICY = {
    "max_nights_per_stay": "10",
    "employee_monthly_cap": "50000",
    "overage": "allow",
    "overage_monthly_limit": "200000",
}


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def company(make_company):
    """Subscribed: 1000 seats of Standard (¥8,000 a seat), ¥10,000,000 of credit."""
    return make_company(name="Acme 株式会社")


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company, name="管理 太郎", locale="en")


@pytest.fixture
def browser(app, admin):
    return signed_in(app, admin)


@pytest.fixture
def newcomer(db, make_company, make_user):
    """An admin of a company without a subscription, with two plans on offer."""
    company = make_company(subscribed=False, name="Newco")
    plan_named("lite")
    plan_named("standard")
    db.session.commit()
    return make_user(Role.COMPANY_ADMIN, company=company, locale="en")


def page(response) -> str:
    return response.get_data(as_text=True)


def csrf_token(browser, path: str) -> str:
    html = page(browser.get(path))
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def count(db, model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def follow(browser, response) -> str:
    """The page a PRG answer leads to (flash messages included)."""
    assert response.status_code == 303, page(response)[:2000]
    return page(browser.get(response.headers["Location"]))


def policy_of(db, company_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    account = ledger.account_of(company_id)
    return (
        db.session.get(Company, company_id).max_nights_per_stay,
        account.employee_monthly_cap,
        account.overage_allowed,
        account.overage_monthly_limit,
    )


def book(db, employee, unit, first: int, last: int):
    stay = booking.book_stay(
        employee, booking.StayRequest(unit.id, days(first), days(last), 1), NOW
    )
    db.session.commit()
    return stay


# --- the billing page -----------------------------------------------------------------------


def test_billing_page_shows_the_subscription_plan_seats_and_monthly_total(browser, company):
    html = page(browser.get("/company/billing"))

    assert "Acme 株式会社" in html
    assert 'data-status="active"' in html and ">Active<" in html
    assert "Standard" in html
    assert "¥8,000 (tax incl.) a month" in html  # fee per seat
    assert "¥15,000 a month" in html  # credit per seat
    assert "1 in use of 1000 paid" in html  # the admin is the one person enrolled
    assert "¥8,000,000 (tax incl.)" in html  # 1000 × ¥8,000
    assert "¥10,000,000" in html  # credit left
    assert 'data-testid="seats-form"' in html
    assert 'data-testid="subscribe-form"' not in html
    assert 'data-testid="test-mode"' in html  # the local backend is marked


def test_the_test_mode_banner_is_only_shown_for_the_local_backend(app, browser):
    app.config["BILLING_BACKEND"] = "stripe"
    assert 'data-testid="test-mode"' not in page(browser.get("/company/billing"))


def test_past_due_shows_the_end_of_the_grace_period(app, make_company, make_user):
    company = make_company(status="past_due")  # past due since NOW, 7 days of grace
    admin = make_user(Role.COMPANY_ADMIN, company=company, locale="en")

    html = page(signed_in(app, admin).get("/company/billing"))

    assert 'data-status="past_due"' in html and "Payment overdue" in html
    grace = re.search(r'data-testid="past-due">(.*?)</p>', html, re.S).group(1)
    assert "8 Dec 2026" in grace


def test_a_subscription_set_to_end_shows_its_last_day_and_no_seat_changes(db, browser, company):
    sub = ledger.account_of(company.id).subscription
    sub.cancel_at_period_end = True  # current period ends NOW + 20 days
    db.session.commit()

    html = page(browser.get("/company/billing"))

    assert re.search(r'data-testid="ends-on">Ends on [^<]*21 Dec 2026<', html)
    assert 'data-testid="seats-form"' not in html
    assert 'data-testid="cancel-link"' not in html


def test_without_a_subscription_the_page_offers_the_plans(app, newcomer):
    html = page(signed_in(app, newcomer).get("/company/billing"))

    assert 'data-testid="no-subscription"' in html
    assert 'data-testid="subscribe-form"' in html
    assert "Lite" in html and "Standard" in html
    assert "¥3,000 (tax incl.) a seat a month" in html
    assert "¥15,000 of stay credit a seat a month" in html
    assert 'value="card"' in html and 'value="invoice"' in html
    assert "due within 30 days" in html
    assert 'data-testid="seats-form"' not in html


@pytest.mark.parametrize(
    ("arg", "shown", "text"),
    [
        ("done", "checkout-done", "Payment received"),
        ("cancelled", "checkout-cancelled", "nothing was charged"),
    ],
)
def test_the_return_from_checkout_is_explained(app, newcomer, arg, shown, text):
    html = page(signed_in(app, newcomer).get(f"/company/billing?checkout={arg}"))
    assert f'data-testid="{shown}"' in html and text in html


@pytest.mark.parametrize(
    "form",
    [
        {"plan": "999999", "seats": "3", "method": "card"},
        {"plan": "abc", "seats": "3", "method": "card"},
        {"seats": "3", "method": "card"},
        {"plan": "{standard}", "seats": "0", "method": "card"},
        {"plan": "{standard}", "seats": "-2", "method": "invoice"},
        {"plan": "{standard}", "seats": "three", "method": "invoice"},
        {"plan": "{standard}", "seats": "3", "method": "bitcoin"},
        {"plan": "{standard}", "seats": "3"},
    ],
    ids=[
        "unknown-plan",
        "plan-nan",
        "no-plan",
        "seats-0",
        "seats-negative",
        "seats-nan",
        "bitcoin",
        "no-method",
    ],
)
def test_a_bad_subscription_request_is_refused_and_creates_nothing(app, db, newcomer, form):
    form = {k: v.format(standard=plan_named("standard").id) for k, v in form.items()}
    db.session.commit()

    response = signed_in(app, newcomer).post("/company/billing/subscribe", data=form)

    assert response.status_code == 400
    assert 'data-testid="form-error"' in page(response)
    assert count(db, CheckoutAttempt) == 0
    assert count(db, Subscription) == 0
    assert count(db, LocalObject) == 0  # the provider was never asked
    assert count(db, BillingAccount, BillingAccount.stripe_customer_id.isnot(None)) == 0


def test_an_inactive_plan_cannot_be_bought(app, db, newcomer):
    plan = plan_named("lite")
    plan.active = False
    db.session.commit()

    response = signed_in(app, newcomer).post(
        "/company/billing/subscribe", data={"plan": plan.id, "seats": "3", "method": "card"}
    )

    assert response.status_code == 400
    assert count(db, CheckoutAttempt) == 0


def test_fewer_seats_than_people_enrolled_is_explained_on_the_page(app, db, newcomer, make_user):
    make_user(Role.EMPLOYEE, company=newcomer.company)
    make_user(Role.EMPLOYEE, company=newcomer.company)  # three people with the admin
    response = signed_in(app, newcomer).post(
        "/company/billing/subscribe",
        data={"plan": plan_named("standard").id, "seats": "2", "method": "card"},
    )

    assert response.status_code == 422
    assert "at least 3 seats are needed" in page(response)
    assert count(db, CheckoutAttempt) == 0


# --- subscribing and changing through the local backend ---------------------------------------


def subscribe_by_invoice(app, db, admin, seats: int = 3) -> str:
    browser = signed_in(app, admin)
    response = browser.post(
        "/company/billing/subscribe",
        data={"plan": plan_named("standard").id, "seats": str(seats), "method": "invoice"},
    )
    return follow(browser, response)


def test_card_subscription_goes_through_checkout_and_comes_back_active(app, db, newcomer):
    browser = signed_in(app, newcomer)
    response = browser.post(
        "/company/billing/subscribe",
        data={"plan": plan_named("standard").id, "seats": "4", "method": "card"},
    )

    assert response.status_code == 303
    checkout = response.headers["Location"]
    assert urlsplit(checkout).path.startswith("/billing/local/checkout/cs_local_")
    attempt = db.session.scalar(select(CheckoutAttempt))
    assert (attempt.seats, attempt.method) == (4, "card")
    assert attempt.stripe_session_id == checkout.rsplit("/", 1)[1]
    assert count(db, Subscription) == 0  # nothing until paid

    # The test-mode Checkout page opens; the payment itself is made as the lead's local
    # backend tests make it (its pay button locks SQLite: see the report).
    assert browser.get(checkout).status_code == 200
    db.session.commit()  # no transaction of ours open while the provider works
    gateway().complete_checkout(checkout.rsplit("/", 1)[1])
    html = page(browser.get("/company/billing?checkout=done"))

    assert 'data-testid="checkout-done"' in html
    assert 'data-status="active"' in html
    assert "1 in use of 4 paid" in html
    assert "¥32,000 (tax incl.)" in html  # 4 × ¥8,000
    assert "¥60,000" in html  # 4 × ¥15,000 granted


def test_invoice_subscription_starts_at_once_with_an_open_invoice(app, db, newcomer):
    html = subscribe_by_invoice(app, db, newcomer, seats=3)

    assert "The first invoice has been issued and is due in 30 days" in html
    assert 'data-status="active"' in html
    sub = db.session.scalar(select(Subscription))
    assert (sub.company_id, sub.seats, sub.collection_method) == (
        newcomer.company_id,
        3,
        "send_invoice",
    )
    invoices = page(signed_in(app, newcomer).get("/company/invoices"))
    row = re.search(r'<tr data-invoice-id="\d+" data-status="(\w+)">(.*?)</tr>', invoices, re.S)
    assert row.group(1) in ("open", "overdue")  # the local provider's clock is the real one
    assert "¥24,000 (tax incl.)" in row.group(2)  # 3 × ¥8,000
    assert "incl. tax ¥2,181" in row.group(2)
    assert "/billing/local/invoices/in_local_" in row.group(2)


def test_subscribing_twice_is_refused_on_the_page(app, db, newcomer):
    subscribe_by_invoice(app, db, newcomer)
    response = signed_in(app, newcomer).post(
        "/company/billing/subscribe",
        data={"plan": plan_named("standard").id, "seats": "9", "method": "invoice"},
    )
    # The page no longer offers the form; a stale one posted anyway is answered plainly.
    assert response.status_code == 422
    assert "already has a subscription" in page(response)
    assert count(db, Subscription) == 1


def test_seats_change_through_the_provider(app, db, newcomer):
    subscribe_by_invoice(app, db, newcomer, seats=3)
    browser = signed_in(app, newcomer)

    html = follow(browser, browser.post("/company/billing/seats", data={"seats": "5"}))

    assert "now has 5 seats" in html
    assert "1 in use of 5 paid" in html
    assert db.session.scalar(select(Subscription.seats)) == 5


def test_seats_cannot_go_below_the_people_enrolled(app, db, newcomer, make_user):
    subscribe_by_invoice(app, db, newcomer, seats=3)
    make_user(Role.EMPLOYEE, company=newcomer.company)

    response = signed_in(app, newcomer).post("/company/billing/seats", data={"seats": "1"})

    assert response.status_code == 422
    assert "2 people are enrolled" in page(response)
    assert db.session.scalar(select(Subscription.seats)) == 3


@pytest.mark.parametrize("seats", ["0", "-1", "", "many", "1.5", "100001"])
def test_bad_seat_numbers_are_refused(db, browser, company, seats):
    response = browser.post("/company/billing/seats", data={"seats": seats})
    assert response.status_code == 400
    assert 'data-testid="form-error"' in page(response)
    assert count(db, Subscription, Subscription.seats != 1000) == 0


def test_a_provider_refusal_is_shown_not_a_server_error(db, browser, company):
    """The fixture's subscription is unknown to the provider: the change fails cleanly."""
    response = browser.post("/company/billing/seats", data={"seats": "1200"})

    assert response.status_code == 422
    assert "Nothing was charged" in page(response)
    assert db.session.scalar(select(Subscription.seats)) == 1000


def test_cancel_asks_first_then_ends_at_the_period_end(app, db, newcomer):
    subscribe_by_invoice(app, db, newcomer)
    browser = signed_in(app, newcomer)

    confirm = page(browser.get("/company/billing/cancel"))
    assert 'data-testid="cancel-confirm"' in confirm
    assert db.session.scalar(select(Subscription.cancel_at_period_end)) is False

    html = follow(browser, browser.post("/company/billing/cancel"))

    assert "will end at the end of the current period" in html
    assert 'data-testid="ends-on"' in html
    assert db.session.scalar(select(Subscription.cancel_at_period_end)) is True
    # Nothing left to cancel: the confirm page sends the admin back.
    assert browser.get("/company/billing/cancel").status_code == 303


def test_cancel_failure_is_a_flash_not_a_server_error(db, browser, company):
    html = follow(browser, browser.post("/company/billing/cancel"))
    assert "flash-error" in html and "Nothing was charged" in html
    assert db.session.scalar(select(Subscription.cancel_at_period_end)) is False


def test_the_payment_portal_opens_for_a_customer(app, db, newcomer):
    subscribe_by_invoice(app, db, newcomer)
    browser = signed_in(app, newcomer)
    assert 'data-testid="portal"' in page(browser.get("/company/billing"))

    response = browser.post("/company/billing/portal")

    assert response.status_code == 303
    customer = ledger.account_of(newcomer.company_id).stripe_customer_id
    assert urlsplit(response.headers["Location"]).path == f"/billing/local/portal/{customer}"


def test_the_portal_without_a_customer_explains_why(browser):
    html = follow(browser, browser.post("/company/billing/portal"))
    assert "no billing account yet" in html


# --- billing details ------------------------------------------------------------------------


def test_billing_details_are_saved(db, browser, company):
    form = {
        "billing_name": " アクメ株式会社 経理部 ",
        "billing_address": "東京都千代田区丸の内1-1-1",
        "billing_email": "billing@acme.example",
    }
    html = follow(browser, browser.post("/company/billing/details", data=form))

    assert "The billing details have been saved." in html
    db.session.expire_all()
    account = ledger.account_of(company.id)
    assert (account.billing_name, account.billing_address, account.billing_email) == (
        "アクメ株式会社 経理部",
        "東京都千代田区丸の内1-1-1",
        "billing@acme.example",
    )


@pytest.mark.parametrize(
    "form",
    [
        {"billing_name": "", "billing_email": "a@b.example"},
        {"billing_name": "Acme", "billing_email": "not an address"},
        {"billing_name": "x" * 201},
        {"billing_name": "Acme", "billing_address": "y" * 501},
    ],
    ids=["no-name", "bad-email", "long-name", "long-address"],
)
def test_bad_billing_details_change_nothing(db, browser, company, form):
    response = browser.post("/company/billing/details", data=form)
    assert response.status_code == 400
    db.session.expire_all()
    account = ledger.account_of(company.id)
    assert (account.billing_name, account.billing_email) == ("", "")


# --- policy ---------------------------------------------------------------------------------


def test_policy_page_shows_the_current_policy(browser, company):
    html = page(browser.get("/company/policy"))
    assert re.search(r'name="max_nights_per_stay"[^>]*value="14"', html)
    assert re.search(r'value="refuse"[^>]*checked|checked[^>]*value="refuse"', html)


def test_policy_is_saved(db, browser, company):
    html = follow(browser, browser.post("/company/policy", data=GOOD_POLICY))

    assert "The booking policy has been saved." in html
    assert policy_of(db, company.id) == (10, 50_000, True, 200_000)
    # The page shows what was saved.
    assert re.search(r'name="employee_monthly_cap"[^>]*value="50000"', html)


def test_policy_blank_cap_means_no_cap_and_refusing_overage_clears_the_limit(db, browser, company):
    browser.post("/company/policy", data=GOOD_POLICY)
    form = {
        "max_nights_per_stay": "7",
        "employee_monthly_cap": "",
        "overage": "refuse",
        "overage_monthly_limit": "999",
    }

    assert browser.post("/company/policy", data=form).status_code == 303
    assert policy_of(db, company.id) == (7, None, False, 0)


@pytest.mark.parametrize(
    "changes",
    [
        {"employee_monthly_cap": "-1"},
        {"employee_monthly_cap": "abc"},
        {"employee_monthly_cap": "1.5"},
        {"employee_monthly_cap": "99999999999"},
        {"overage_monthly_limit": ""},
        {"overage_monthly_limit": "-100"},
        {"overage_monthly_limit": "lots"},
        {"overage": "sometimes"},
        {"overage": ""},
        {"max_nights_per_stay": "0"},
        {"max_nights_per_stay": "61"},
        {"max_nights_per_stay": ""},
        {"max_nights_per_stay": "ten"},
    ],
    ids=[
        "cap-negative",
        "cap-nan",
        "cap-fraction",
        "cap-huge",
        "overage-without-limit",
        "limit-negative",
        "limit-nan",
        "overage-unknown",
        "overage-blank",
        "nights-0",
        "nights-61",
        "nights-blank",
        "nights-nan",
    ],
)
def test_bad_policy_input_changes_nothing(db, browser, company, changes):
    before = policy_of(db, company.id)

    response = browser.post("/company/policy", data={**GOOD_POLICY, **changes})

    assert response.status_code == 400
    assert 'data-testid="form-error"' in page(response)
    assert 'class="field-error"' in page(response)
    assert policy_of(db, company.id) == before


def workspace_hours_of(db, company_id: int) -> int | None:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(Company, company_id).max_workspace_hours_per_month


def test_workspace_hours_are_shown_and_saved_apart_from_the_nights(db, browser, company):
    html = page(browser.get("/company/policy"))
    assert re.search(r'name="max_workspace_hours_per_month"[^>]*value="40"', html)  # default

    form = {**GOOD_POLICY, "max_workspace_hours_per_month": "12"}
    html = follow(browser, browser.post("/company/policy", data=form))

    assert "The booking policy has been saved." in html
    assert workspace_hours_of(db, company.id) == 12
    assert policy_of(db, company.id) == (10, 50_000, True, 200_000)
    assert re.search(r'name="max_workspace_hours_per_month"[^>]*value="12"', html)
    # Blank is no cap, as for the yen cap.
    form["max_workspace_hours_per_month"] = ""
    assert browser.post("/company/policy", data=form).status_code == 303
    assert workspace_hours_of(db, company.id) is None


@pytest.mark.parametrize("hours", ["-1", "745", "ten", "1.5"])
def test_bad_workspace_hours_change_nothing(db, browser, company, hours):
    form = {**GOOD_POLICY, "max_workspace_hours_per_month": hours}

    response = browser.post("/company/policy", data=form)

    assert response.status_code == 400
    assert 'class="field-error"' in page(response)
    assert workspace_hours_of(db, company.id) == 40


def test_the_saved_workspace_hours_are_what_workspace_bookings_are_checked_against(
    db, browser, company, make_user, make_facility
):
    employee = make_user(Role.EMPLOYEE, company=company)
    unit = make_space(db, make_facility())
    browser.post("/company/policy", data={**GOOD_POLICY, "max_workspace_hours_per_month": "1"})
    two_hours = WorkspaceRequest(unit.id, at(TUESDAY, 10), at(TUESDAY, 12))

    with pytest.raises(booking.BookingError) as refused:
        book_workspace(employee, [two_hours], NOW)
    assert refused.value.code == "policy_workspace_month"


def test_the_saved_cap_is_what_bookings_are_checked_against(
    db, browser, company, make_user, make_unit
):
    employee = make_user(Role.EMPLOYEE, company=company)
    unit = make_unit(base_price=11000)
    browser.post("/company/policy", data={**GOOD_POLICY, "employee_monthly_cap": "5000"})

    with pytest.raises(booking.BookingError):
        booking.book_stay(employee, booking.StayRequest(unit.id, days(5), days(6), 1), NOW)


# --- usage ----------------------------------------------------------------------------------


@pytest.fixture
def stays(db, company, make_user, make_unit, make_facility):
    employee = make_user(Role.EMPLOYEE, company=company, name="山田 花子")
    unit = make_unit(facility=make_facility(name_en="Karuizawa Forest House"))
    later = book(db, employee, unit, 20, 23)
    soon = book(db, employee, unit, 5, 7)
    return employee, unit, soon, later


def test_usage_shows_balance_burn_down_stays_and_ledger(db, browser, company, stays):
    employee, unit, soon, later = stays
    spent = soon.total_price + later.total_price

    html = page(browser.get("/company/usage"))

    balance = re.search(r'data-testid="balance">([^<]*)<', html).group(1)
    assert balance == f"¥{10_000_000 - spent:,}"
    # The burn-down chart, drawn on the server, with its figures as a table.
    assert 'data-testid="burn-chart"' in html and 'data-testid="burn-line"' in html
    assert re.search(r'<polyline class="burn" points="[\d., ]+"', html)
    assert 'data-testid="burn-table"' in html
    # Upcoming stays of the company's employees, soonest first.
    upcoming = re.search(r'data-testid="upcoming">(.*?)</table>', html, re.S).group(1)
    assert "山田 花子" in upcoming and "Karuizawa Forest House" in upcoming
    assert upcoming.index(f'data-booking-id="{soon.id}"') < upcoming.index(
        f'data-booking-id="{later.id}"'
    )
    assert f"¥{soon.total_price:,}" in upcoming
    # By employee and by month.
    by_employee = re.search(r'data-testid="by-employee">(.*?)</table>', html, re.S).group(1)
    assert "山田 花子" in by_employee and f"¥{spent:,}" in by_employee
    assert "December 2026" in re.search(r'data-testid="by-month">(.*?)</table>', html, re.S).group(
        1
    )
    # The ledger: the grant and both stays, signed.
    ledger_rows = re.search(r'data-testid="ledger">(.*?)</table>', html, re.S).group(1)
    assert "Granted" in ledger_rows and "+¥10,000,000" in ledger_rows
    assert ledger_rows.count("Stay</td>") == 2
    assert f"−¥{soon.total_price:,}" in ledger_rows
    assert f"#{soon.id}" in ledger_rows


def test_usage_without_a_period_says_so(app, newcomer):
    html = page(signed_in(app, newcomer).get("/company/usage"))
    assert 'data-testid="no-period"' in html
    assert 'data-testid="balance">¥0<' in html


def test_ledger_csv_has_a_bom_a_header_and_every_entry(db, browser, company, stays):
    employee, unit, soon, later = stays

    response = browser.get("/company/usage.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="engawa-credit-{company.id}-2026-12-01.csv"'
    )
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == [
        "Date (Asia/Tokyo)",
        "Kind",
        "Amount (yen)",
        "Balance after (yen)",
        "Employee e-mail",
        "Booking number",
        "Note",
    ]
    # Oldest first: the grant, then the two stays as booked.
    assert [r[1] for r in rows[1:]] == ["Granted", "Stay", "Stay"]
    assert rows[1][:4] == ["2026/12/01 12:00", "Granted", "10000000", "10000000"]
    assert rows[3][2:6] == [
        str(-soon.total_price),  # a plain negative number, not neutralised
        str(10_000_000 - later.total_price - soon.total_price),
        employee.email,
        str(soon.id),
    ]


def test_workspace_entries_say_workspace_in_the_ledger_and_its_csv(
    db, browser, company, make_user, make_facility
):
    employee = make_user(Role.EMPLOYEE, company=company)
    unit = make_space(db, make_facility())
    (booked,) = book_workspace(
        employee, [WorkspaceRequest(unit.id, at(TUESDAY, 10), at(TUESDAY, 12))], NOW
    )
    db.session.commit()

    html = page(browser.get("/company/usage"))
    row = re.search(r'<tr data-entry-id="\d+" class="entry-spend">(.*?)</tr>', html, re.S)
    assert row and "Workspace" in row.group(1) and f"#{booked.id}" in row.group(1)
    rows = list(csv.reader(io.StringIO(browser.get("/company/usage.csv").get_data(as_text=True))))
    assert rows[-1][1] == "Workspace" and rows[-1][5] == str(booked.id)
    assert rows[-1][2] == str(-booked.total_price)


def test_ledger_csv_neutralises_formulas(db, browser, company, make_user):
    sneaky = make_user(Role.EMPLOYEE, company=company, email="=1+2@evil.example")
    account = ledger.account_of(company.id, lock=True)
    ledger.append(
        account,
        EntryKind.GRANT,
        500,
        NOW,
        user_id=sneaky.id,
        note='=HYPERLINK("http://evil.example","click")',
    )
    ledger.append(account, EntryKind.REFUND, 100, NOW, note="@SUM(A1:A9)")
    ledger.append(account, EntryKind.OVERAGE, 100, NOW, note="+1-1")
    db.session.commit()

    body = browser.get("/company/usage.csv").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))

    assert rows[2][4] == "'=1+2@evil.example"
    assert rows[2][6] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[3][6] == "'@SUM(A1:A9)"
    assert rows[4][6] == "'+1-1"
    for row in rows[1:]:
        assert re.fullmatch(r"-?\d+", row[2]) and re.fullmatch(r"-?\d+", row[3])


# --- invoices -------------------------------------------------------------------------------


def make_invoice(db, company, number: str, **kw) -> Invoice:
    invoice = Invoice(
        company_id=company.id,
        stripe_invoice_id=f"in_test_{number}",
        number=number,
        status=kw.pop("status", "paid"),
        total=kw.pop("total", 11_000),
        period_start=NOW - timedelta(days=10),
        period_end=NOW + timedelta(days=20),
        created_at=kw.pop("created_at", NOW),
        **kw,
    )
    db.session.add(invoice)
    db.session.commit()
    return invoice


def test_invoices_list_status_totals_tax_and_links(app, db, browser, company):
    app.config["INVOICE_REGISTRATION_NUMBER"] = "T9876543210987"
    app.config["PLATFORM_BILLING_NAME"] = "Engawa株式会社"
    account = ledger.account_of(company.id, lock=True)
    account.billing_name, account.billing_address = "アクメ経理部", "東京都千代田区1-1"
    db.session.commit()
    paid = make_invoice(
        db,
        company,
        "ACME-0001",
        hosted_invoice_url="https://pay.example/i/1",
        invoice_pdf="https://pay.example/i/1.pdf",
        created_at=NOW - timedelta(days=40),
    )
    late = make_invoice(
        db, company, "ACME-0002", status="open", total=88_000, due_date=NOW - timedelta(days=1)
    )
    sneaky = make_invoice(
        db,
        company,
        "ACME-0003",
        status="open",
        hosted_invoice_url="javascript:alert(1)",
        due_date=NOW + timedelta(days=29),
    )

    html = page(browser.get("/company/invoices"))

    assert "アクメ経理部" in html and "東京都千代田区1-1" in html
    assert "Engawa株式会社" in html and "T9876543210987" in html
    rows = dict(re.findall(r'<tr data-invoice-id="(\d+)" (.*?)</tr>', html, re.S))
    assert 'data-status="paid"' in rows[str(paid.id)] and "Paid" in rows[str(paid.id)]
    assert "¥11,000 (tax incl.)" in rows[str(paid.id)]
    assert "incl. tax ¥1,000" in rows[str(paid.id)]
    assert 'href="https://pay.example/i/1"' in rows[str(paid.id)]
    assert 'href="https://pay.example/i/1.pdf"' in rows[str(paid.id)]
    assert 'data-status="overdue"' in rows[str(late.id)] and "Overdue" in rows[str(late.id)]
    assert "incl. tax ¥8,000" in rows[str(late.id)]
    assert 'data-status="open"' in rows[str(sneaky.id)]
    assert "javascript:" not in html
    # Newest first.
    assert html.index("ACME-0003") < html.index("ACME-0001")


def test_no_invoices_yet(browser):
    assert 'data-testid="no-invoices"' in page(browser.get("/company/invoices"))


# --- tenant walls ---------------------------------------------------------------------------


def test_an_admin_never_sees_another_companys_data(
    db, browser, company, make_company, make_user, make_unit, make_facility
):
    other = make_company(name="Rival 合同会社")
    rival = make_user(Role.EMPLOYEE, company=other, name="他社 次郎", email="jiro@rival.example")
    unit = make_unit(facility=make_facility(name_en="Rival Retreat Hakone"))
    stay = book(db, rival, unit, 8, 11)
    account = ledger.account_of(other.id, lock=True)
    account.billing_name = "Rival 経理"
    ledger.append(account, EntryKind.REFUND, 700, NOW, note="rival-secret-note")
    db.session.commit()
    make_invoice(db, other, "RIVAL-0001", hosted_invoice_url="https://pay.example/rival")

    pages = {
        path: page(browser.get(path))
        for path in ("/company/billing", "/company/usage", "/company/invoices", "/company/policy")
    }
    pages["csv"] = browser.get("/company/usage.csv").get_data().decode("utf-8-sig")

    secrets = ["Rival", "他社 次郎", "jiro@rival.example", "rival-secret-note", "RIVAL-0001"]
    secrets += ["pay.example/rival", f'data-booking-id="{stay.id}"']
    for name, html in pages.items():
        for secret in secrets:
            assert secret not in html, (name, secret)
    # A's own numbers, not B's: B spent from its own ¥10,000,000.
    assert 'data-testid="balance">¥10,000,000<' in pages["/company/usage"]


def test_a_company_id_in_the_query_is_ignored(db, browser, company, make_company):
    other = make_company(name="Rival 合同会社")
    make_invoice(db, other, "RIVAL-0001")
    html = page(browser.get(f"/company/invoices?company_id={other.id}"))
    assert "RIVAL-0001" not in html
    browser.post(f"/company/policy?company_id={other.id}", data=GOOD_POLICY)
    assert policy_of(db, other.id)[0] == 14  # unchanged
    assert policy_of(db, company.id)[0] == 10


# --- roles and strangers --------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.OPERATOR, Role.PLATFORM_ADMIN])
def test_other_roles_are_refused_everywhere(app, db, make_user, company, role):
    kw = {"company": company} if role == Role.EMPLOYEE else {}
    intruder = signed_in(app, make_user(role, **kw))
    before = policy_of(db, company.id)

    answers = {
        f"{method} {path}": intruder.open(path, method=method, data=form).status_code
        for method, path, form in ROUTES
    }

    assert answers == dict.fromkeys(answers, 403)
    assert policy_of(db, company.id) == before
    assert count(db, CheckoutAttempt) == 0


@pytest.mark.parametrize(("method", "path", "form"), ROUTES, ids=ROUTE_IDS)
def test_strangers_are_sent_to_sign_in(app, db, company, method, path, form):
    response = app.test_client().open(path, method=method, data=form)
    assert response.status_code in (302, 303)
    assert urlsplit(response.headers["Location"]).path == "/login"


# --- CSRF -----------------------------------------------------------------------------------


def test_every_post_requires_a_csrf_token(app, db, browser, company):
    app.config["WTF_CSRF_ENABLED"] = True
    before = policy_of(db, company.id)

    answers = {path: browser.post(path, data=form).status_code for path, form in POSTS}

    assert answers == dict.fromkeys(answers, 400)
    assert policy_of(db, company.id) == before
    assert count(db, CheckoutAttempt) == 0
    assert ledger.account_of(company.id).billing_name == ""


def test_with_the_token_the_forms_work(app, db, browser, company):
    app.config["WTF_CSRF_ENABLED"] = True
    token = csrf_token(browser, "/company/policy")

    response = browser.post("/company/policy", data={**GOOD_POLICY, "csrf_token": token})

    assert response.status_code == 303
    assert policy_of(db, company.id) == (10, 50_000, True, 200_000)
