"""Choosing a stay's dates in a real browser: the facility's month calendar as a range
picker (mouse and keyboard, desktop and phone) and the search form's date range.

The facility and dates come from the demo network as the app reads it, so the test
does not depend on which rooms the seed happened to book.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from booking.search import month_calendar
from core.extensions import db
from facilities.models import Facility
from tests.browser.conftest import (
    DEMO_PASSWORD,
    DESKTOP,
    EMPLOYEE,
    TODAY,
    LiveServer,
    page_overflow,
)

pytestmark = pytest.mark.browser

PHONE_390 = {"width": 390, "height": 844}
JANUARY = date(2027, 1, 1)


@dataclass(frozen=True)
class Pick:
    facility_id: int
    check_in: date
    check_out: date  # two nights later
    too_long: date  # one night beyond the facility's maximum, inside January's grid


def _pick(server: LiveServer) -> Pick:
    """A demo facility and a January stay its calendar offers, with room to overstay."""
    with server.app.app_context():
        facilities = db.session.scalars(
            db.select(Facility)
            .where(Facility.active.is_(True), Facility.min_nights == 1, Facility.max_nights <= 21)
            .order_by(Facility.id)
        ).all()
        for facility in facilities:
            for day in range(4, 12):
                check_in = date(2027, 1, day)
                weeks = month_calendar(facility, 2027, 1, TODAY, check_in=check_in)
                cells = {d.day: d for week in weeks for d in week}
                too_long = check_in + timedelta(days=facility.max_nights + 1)
                if (
                    cells[check_in].check_in_ok
                    and cells[check_in + timedelta(days=2)].check_out_ok
                    and too_long in cells
                ):
                    return Pick(facility.id, check_in, check_in + timedelta(days=2), too_long)
    raise AssertionError("the demo network has a facility free for two January nights")


def _day(page: Page, day: date):
    return page.locator(f"table.stay-calendar td[data-date='{day.isoformat()}']")


def _form_dates(page: Page) -> tuple[str, str]:
    form = page.locator("form.book-form")
    return (
        form.locator("input[name=check_in]").input_value(),
        form.locator("input[name=check_out]").input_value(),
    )


def _expect_range(page: Page, pick: Pick) -> None:
    expect(_day(page, pick.check_in)).to_have_class(_has("range-start"))
    expect(_day(page, pick.check_in + timedelta(days=1))).to_have_class(_has("in-range"))
    expect(_day(page, pick.check_out)).to_have_class(_has("range-end"))
    expect(_day(page, pick.check_out + timedelta(days=1))).not_to_have_class(_has("in-range"))


def _has(name: str) -> re.Pattern:
    """A class attribute that holds ``name`` among its classes."""
    return re.compile(rf"(^|\s){name}(\s|$)")


def _open_january(page: Page, server: LiveServer, pick: Pick, viewport) -> None:
    server.sign_in(page)
    page.goto(f"{server.url}/facilities/{pick.facility_id}?month=2027-01")
    expect(page.locator("table.stay-calendar[role=grid]")).to_be_visible()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_390], ids=["desktop", "phone"])
def test_a_click_on_check_in_then_check_out_fills_the_room_form(
    new_page, live_server: LiveServer, viewport
):
    pick = _pick(live_server)
    page = new_page(viewport)
    _open_january(page, live_server, pick, viewport)
    assert page_overflow(page) == 0

    _day(page, pick.check_in).locator(".pick").click()
    assert _form_dates(page) == (pick.check_in.isoformat(), "")
    expect(_day(page, pick.check_in)).to_have_class(_has("range-start"))
    status = page.get_by_test_id("stay-status")
    expect(status).to_contain_text(f"{pick.check_in.month}月{pick.check_in.day}日")

    # A day beyond the facility's longest stay cannot be the check-out.
    beyond = _day(page, pick.too_long).locator(".pick")
    expect(beyond).to_have_attribute("aria-disabled", "true")
    beyond.click(force=True)  # a person can still click it: nothing happens
    assert _form_dates(page) == (pick.check_in.isoformat(), "")

    _day(page, pick.check_out).locator(".pick").click()
    assert _form_dates(page) == (pick.check_in.isoformat(), pick.check_out.isoformat())
    _expect_range(page, pick)
    expect(status).to_contain_text(f"{pick.check_out.month}月{pick.check_out.day}日")
    expect(page.get_by_test_id("nights-summary").first).to_contain_text("2")
    assert page_overflow(page) == 0
    # The room list was priced for other dates: one link shows it for these.
    apply = page.get_by_test_id("stay-apply")
    expect(apply).to_be_visible()
    assert f"check_out={pick.check_out.isoformat()}" in apply.get_attribute("href")

    # The range survives a month change: the month links carry it, the server marks it.
    next_link = page.locator(".month-nav a[rel=next]")
    href = next_link.get_attribute("href")
    assert f"check_in={pick.check_in.isoformat()}" in href
    assert f"check_out={pick.check_out.isoformat()}" in href
    next_link.click()
    expect(page).to_have_url(re.compile(r"month=2027-02"))
    # The new month's page loaded (its script too) before the way back is clicked: on a
    # busy machine a click during the load was lost (CI, stop 31).
    page.wait_for_load_state("load")
    expect(page.locator(".month-nav a[rel=prev]")).to_be_visible()
    page.locator(".month-nav a[rel=prev]").click()
    expect(page).to_have_url(re.compile(r"month=2027-01"))
    _expect_range(page, pick)
    assert _form_dates(page) == (pick.check_in.isoformat(), pick.check_out.isoformat())
    expect(page.get_by_test_id("stay-apply")).to_be_hidden()  # the page is for these dates
    expect(page.get_by_test_id("stay-clear")).to_be_visible()


def test_the_calendar_is_chosen_by_keyboard(new_page, live_server: LiveServer):
    pick = _pick(live_server)
    page = new_page(DESKTOP)
    _open_january(page, live_server, pick, DESKTOP)

    # One day of the grid is in the tab order: the first of the month (today is not shown).
    start = page.locator("table.stay-calendar .pick[tabindex='0']")
    expect(start).to_have_count(1)
    start.focus()
    focused = "() => document.activeElement.closest('td').dataset.date"
    assert page.evaluate(focused) == JANUARY.isoformat()

    page.keyboard.press("ArrowDown")  # a week later
    assert page.evaluate(focused) == (JANUARY + timedelta(days=7)).isoformat()
    page.keyboard.press("ArrowUp")
    for _ in range((pick.check_in - JANUARY).days):
        page.keyboard.press("ArrowRight")
    assert page.evaluate(focused) == pick.check_in.isoformat()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")

    assert _form_dates(page) == (pick.check_in.isoformat(), pick.check_out.isoformat())
    _expect_range(page, pick)
    assert page.locator("table.stay-calendar .pick[tabindex='0']").count() == 1

    # Escape clears the dates; Space chooses as Enter does.
    page.keyboard.press("Escape")
    assert _form_dates(page) == ("", "")
    expect(page.locator("table.stay-calendar td.range-start")).to_have_count(0)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")
    assert _form_dates(page) == (pick.check_in.isoformat(), "")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_390], ids=["desktop", "phone"])
def test_the_search_form_counts_the_nights_and_keeps_check_out_after_check_in(
    new_page, live_server: LiveServer, viewport
):
    page = new_page(viewport)
    live_server.sign_in(page)
    form = page.locator("form.search-form")
    check_in, check_out = (
        form.locator("input[name=check_in]"),
        form.locator("input[name=check_out]"),
    )
    summary = form.get_by_test_id("nights-summary")

    check_in.fill("2027-01-12")
    check_out.fill("2027-01-15")
    expect(summary).to_contain_text("3")
    assert check_out.get_attribute("min") == "2027-01-13"

    # A check-in after the check-out moves the check-out, keeping the three nights.
    check_in.fill("2027-01-20")
    assert check_out.input_value() == "2027-01-23"
    assert check_out.get_attribute("min") == "2027-01-21"
    expect(summary).to_contain_text("3")

    check_out.fill("2027-01-21")
    expect(summary).to_contain_text("1")
    assert page_overflow(page) == 0


def test_without_javascript_the_days_are_links(browser, live_server: LiveServer):
    """No script: the first day's link sets the check-in, the second's the check-out."""
    pick = _pick(live_server)
    context = browser.new_context(locale="ja-JP", viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/login")
        form = page.locator("main form")
        form.locator("input[name=email]").fill(EMPLOYEE)
        form.locator("input[name=password]").fill(DEMO_PASSWORD)
        form.locator("button[type=submit]").click()
        page.goto(f"{live_server.url}/facilities/{pick.facility_id}?month=2027-01")
        expect(page.locator("table.stay-calendar[role=grid]")).to_have_count(0)

        _day(page, pick.check_in).locator("a.pick").click()
        expect(page).to_have_url(re.compile(f"check_in={pick.check_in.isoformat()}"))
        assert _form_dates(page) == (pick.check_in.isoformat(), "")
        expect(_day(page, pick.too_long).locator("a.pick")).to_have_attribute(
            "aria-disabled", "true"
        )
        _day(page, pick.check_out).locator("a.pick").click()
        expect(page).to_have_url(re.compile(f"check_out={pick.check_out.isoformat()}"))
        assert _form_dates(page) == (pick.check_in.isoformat(), pick.check_out.isoformat())
        _expect_range(page, pick)
    finally:
        context.close()


def test_a_check_in_of_one_month_gets_its_check_out_in_the_next(new_page, live_server):
    """The check-in stays chosen on the next month's page, whose days offer the check-out."""
    pick = _pick(live_server)
    page = new_page(DESKTOP)
    _open_january(page, live_server, pick, DESKTOP)
    # The latest possible check-in before February's grid (which starts on 31 January).
    offered = page.locator("table.stay-calendar td[data-in]").evaluate_all(
        "cells => cells.map(td => td.dataset.date)"
    )
    check_in = max(date.fromisoformat(d) for d in offered if d < "2027-01-31")
    _day(page, check_in).locator(".pick").click()
    page.locator(".month-nav a[rel=next]").click()
    expect(page).to_have_url(re.compile(f"check_in={check_in.isoformat()}"))

    # February's first offered check-out ends the stay that began in January.
    check_out_cell = page.locator("table.stay-calendar td[data-out]").first
    check_out = date.fromisoformat(check_out_cell.get_attribute("data-date"))
    assert check_in < check_out
    check_out_cell.locator(".pick").click()
    assert _form_dates(page) == (check_in.isoformat(), check_out.isoformat())
    expect(check_out_cell).to_have_class(_has("range-end"))
