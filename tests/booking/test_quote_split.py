"""Money shown before confirming (invariant 9) when the company's policy splits a stay:
the company's part from the stay credit, the employee's by card, the subsidy rule in
words, what is left of the yearly subsidy before and after the stay, who approves it and
how long its nights are held; then the stay page and My stays say the same.

TODAY is Tuesday 2026-12-01; days(4)–days(9) are five nights of 5–10 December."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from accounts.models import Company, Role
from booking import services
from booking.models import Booking
from hr.models import DEFAULT_GROUP, GroupPolicy
from tests.conftest import NOW, days

BLOCK_TAGS = r"</?(?:dt|dd|p|li|ul|div|h\d|label|legend|fieldset|section|button)\b[^>]*>"


@pytest.fixture
def employee(make_employee):
    return make_employee(locale="en")


@pytest.fixture
def room(make_unit):
    return make_unit(base_price=10_000, capacity=2)


def policy(db, company_id: int, **settings) -> GroupPolicy:
    row = GroupPolicy(company_id=company_id, employee_group=DEFAULT_GROUP, **settings)
    db.session.add(row)
    db.session.commit()
    return row


def words(page: str) -> str:
    """The words of a page: a block's tags part them, an inline tag does not."""
    plain = re.sub(r"<[^>]+>", "", re.sub(BLOCK_TAGS, " ", page))
    return re.sub(r"\s+", " ", html.unescape(plain))


def section(page: str, testid: str) -> str:
    start = page.index(f'data-testid="{testid}"')
    return words(page[start : start + 1500].split(">", 1)[1]).strip()


def quote_page(client, room, check_in=4, check_out=9):
    return client.get(
        "/book",
        query_string={
            "unit_id": room.id,
            "check_in": days(check_in).isoformat(),
            "check_out": days(check_out).isoformat(),
            "guests": 1,
        },
    )


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))


def test_a_stay_the_company_pays_in_full_reads_as_before(client, login, employee, room):
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    who = section(page, "who-pays")
    assert "¥50,000 (tax incl.) is paid from your company's stay credit." in who
    assert 'data-testid="split"' not in page and 'data-testid="subsidy-remaining"' not in page
    assert 'data-testid="approval-needed"' not in page
    assert "By confirming, ¥50,000 (tax incl.) is charged to your company's stay credit" in (
        words(page)
    )
    assert section(page, "confirm-button").startswith("Confirm booking")


def test_a_co_paid_stay_shows_both_parts_the_rule_and_what_the_button_charges(
    db, client, login, employee, room
):
    policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=4_000)
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    # 5 nights at ¥10,000: the company pays ¥4,000 a night, the employee the rest.
    assert re.search(r'data-testid="split" data-company="20000" data-employee="30000"', page)
    who = section(page, "who-pays")
    assert (
        "Your company pays ¥20,000 (tax incl.) from the stay credit; you pay ¥30,000"
        " (tax incl.) by card before the stay is confirmed." in who
    )
    assert "The company pays ¥4,000 per person a night" in section(page, "subsidy-rule")
    # The lines that say the credit pays it all are not there.
    assert "is paid from your company's stay credit. You pay nothing" not in who
    terms = section(page, "confirm-terms")
    assert (
        "By confirming, your nights are held while you pay ¥30,000 (tax incl.) by card; once"
        " you have paid, ¥20,000 (tax incl.) is charged to your company's stay credit" in terms
    )
    assert section(page, "confirm-button").startswith("Book and pay ¥30,000 by card")
    assert 'data-testid="subsidy-remaining"' not in page  # no yearly cap


def test_the_yearly_subsidy_left_before_and_after_the_stay(db, client, login, employee, room):
    policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=4_000, annual_cap=50_000)
    # An earlier stay this fiscal year (waiting for its payment) used ¥8,000 of it.
    services.book_stay(employee, services.StayRequest(room.id, days(20), days(22), 1), NOW)
    db.session.commit()
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    assert section(page, "subsidy-remaining").startswith(
        "Your yearly subsidy (Fiscal year 2026): ¥42,000 left before this stay, ¥22,000 after it."
    )


def test_the_cap_reached_within_the_stay_and_the_fiscal_year_named_by_its_first_year(
    db, client, login, employee, room
):
    policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=4_000, annual_cap=15_000)
    company = db.session.get(Company, employee.company_id)
    company.fiscal_year_start_month = 1
    db.session.commit()
    login(employee)

    # 10 to 13 January 2027: in the fiscal year beginning January 2027.
    page = quote_page(client, room, 40, 43).get_data(as_text=True)

    assert re.search(r'data-testid="split" data-company="12000" data-employee="18000"', page)
    assert "¥15,000 left before this stay, ¥3,000 after it" in section(page, "subsidy-remaining")
    assert "(Fiscal year 2027)" in section(page, "subsidy-remaining")

    capped = quote_page(client, room, 44, 50).get_data(as_text=True)  # 6 nights: ¥24,000 > cap
    assert re.search(r'data-testid="split" data-company="15000" data-employee="45000"', capped)
    assert "does not cover all of this stay, so you pay the rest" in section(
        capped, "subsidy-capped"
    )
    assert "¥15,000 left before this stay, ¥0 after it" in section(capped, "subsidy-remaining")
    assert "At most ¥15,000 per employee in a fiscal year" in section(capped, "subsidy-rule")


def test_a_stay_that_needs_approval_says_by_whom_why_and_for_how_long(
    db, client, login, make_user, employee, room
):
    boss = make_user(Role.EMPLOYEE, company=employee.company, name="部長 一郎")
    policy(db, employee.company_id, approval_all=True, approver_id=boss.id, approval_hours=24)
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    assert section(page, "approval-needed").startswith(
        "This stay needs approval by 部長 一郎 (Every stay needs approval): its nights are"
        " held for you for up to 24 hours; nothing is charged until it is approved."
    )
    assert section(page, "confirm-button").startswith("Ask for approval")
    assert "By confirming, you ask for approval; nothing is charged now. Once it is approved," in (
        section(page, "confirm-terms")
    )


def test_the_approver_is_the_manager_else_the_company_admin(
    db, client, login, make_user, employee, room
):
    row = policy(
        db,
        employee.company_id,
        approval_over_subsidy=True,
        approval_over_nights=3,
        subsidy_kind="percent",
        subsidy_amount=50,
    )
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)
    needed = section(page, "approval-needed")
    assert needed.startswith(
        "This stay needs approval by your company admin (Longer stays need approval;"
        " Stays beyond the subsidy need approval): its nights are held for you for up to"
        " 48 hours"
    )
    terms = section(page, "confirm-terms")
    assert (
        "Once it is approved, ¥25,000 (tax incl.) is charged to your company's stay credit"
        " and you pay ¥25,000 (tax incl.) by card" in terms
    )

    manager = make_user(Role.EMPLOYEE, company=employee.company, name="上司 花子")
    employee.manager_id = manager.id
    db.session.commit()
    page = quote_page(client, room).get_data(as_text=True)
    assert section(page, "approval-needed").startswith("This stay needs approval by 上司 花子 (")
    assert row.id  # the policy stayed the same


def test_booking_a_co_paid_stay_holds_it_for_the_payment_and_says_the_parts_after(
    db, client, login, employee, room
):
    policy(db, employee.company_id, subsidy_kind="fixed", subsidy_amount=4_000, annual_cap=50_000)
    login(employee)
    page = quote_page(client, room).get_data(as_text=True)

    booked = client.post("/book", data=hidden_fields(page))

    assert booked.status_code == 303, booked.get_data(as_text=True)
    booking = db.session.scalar(select(Booking))
    assert (booking.status, booking.employee_part, booking.company_part) == (
        "awaiting_payment",
        30_000,
        20_000,
    )
    stay = client.get(booked.headers["Location"]).get_data(as_text=True)
    assert "pay your part by card to confirm the stay" in words(stay)
    split = section(stay, "split")
    assert "Your company, from the stay credit ¥20,000 (tax incl.)" in split
    assert "You, by card ¥30,000 (tax incl.)" in split

    stays = client.get("/stays").get_data(as_text=True)
    assert "Your company pays ¥20,000; you pay ¥30,000 by card." in section(stays, "split")
    assert section(stays, "subsidy-remaining").startswith(
        "Your yearly subsidy (Fiscal year 2026): ¥30,000 left of ¥50,000."
    )


def test_my_stays_shows_the_yearly_subsidy_only_with_a_cap(db, client, login, employee):
    login(employee)
    assert 'data-testid="subsidy-remaining"' not in client.get("/stays").get_data(as_text=True)

    policy(db, employee.company_id, subsidy_kind="percent", subsidy_amount=80, annual_cap=120_000)
    stays = client.get("/stays").get_data(as_text=True)
    assert re.search(r'data-testid="subsidy-remaining" data-remaining="120000"', stays)
    assert "¥120,000 left of ¥120,000" in section(stays, "subsidy-remaining")


def test_the_employees_group_policy_decides_not_the_default(db, client, login, make_employee, room):
    employee = make_employee(locale="en", employee_group="役員")
    policy(db, employee.company_id, subsidy_kind="none")
    db.session.add(
        GroupPolicy(company_id=employee.company_id, employee_group="役員", annual_cap=90_000)
    )
    db.session.commit()
    login(employee)

    page = quote_page(client, room).get_data(as_text=True)

    assert 'data-testid="split"' not in page  # the group's: the company pays all
    assert "¥90,000 left before this stay, ¥40,000 after it" in section(page, "subsidy-remaining")
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
