"""Employees see off-season prices in a real browser, on the demo network.

January is a quiet month for most demo regions (Kanto, Tohoku, Kinki, Chugoku,
Shikoku): their facilities' nights carry the 閑散期割引 badge, and sorting by the
biggest saving puts them first.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, LiveServer, page_overflow, yen

pytestmark = pytest.mark.browser

BADGE = re.compile(r"閑散期割引 (\d+)%")
CHECK_IN, CHECK_OUT = date(2027, 1, 12), date(2027, 1, 15)  # Tue–Fri, no holiday


def search_january(page: Page, sort: str) -> None:
    form = page.locator("form.search-form")
    form.locator("input[name=check_in]").fill(CHECK_IN.isoformat())
    form.locator("input[name=check_out]").fill(CHECK_OUT.isoformat())
    form.locator("select[name=sort]").select_option(sort)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("result-count")).to_be_visible()


def test_employee_sees_the_off_season_badge_and_sorts_by_saving(
    page: Page, live_server: LiveServer
):
    live_server.sign_in(page)
    search_january(page, "saving")

    results = page.locator("ol.results > li.result")
    expect(results.first).to_be_visible()
    first = results.first
    badge = first.get_by_test_id("offseason-badge")
    expect(badge).to_have_text(BADGE)
    percent = int(BADGE.search(badge.inner_text()).group(1))
    # The demo facilities' off-season discount is 20%; the badge never claims more
    # than the night really saves.
    assert 1 <= percent <= 20

    # Each night of the stay is priced, and the off-season nights are marked.
    nights = first.get_by_test_id("night-prices").locator("li")
    expect(nights).to_have_count(3)
    marked = nights.evaluate_all("els => els.map(e => Number(e.dataset.offSeason || 0))")
    assert all(1 <= m <= 20 for m in marked) and max(marked) == percent
    night_total = sum(
        int(t.replace("¥", "").replace(",", ""))
        for t in first.get_by_test_id("night-prices").locator(".amount").all_inner_texts()
    )
    assert night_total == yen(first.locator(".price").inner_text())

    # Biggest saving first: the savings shown never grow down the page.
    savings = [
        int(re.sub(r"[^\d]", "", text))
        for text in results.get_by_test_id("saving").all_inner_texts()
    ]
    assert len(savings) > 1 and savings == sorted(savings, reverse=True)

    # The facility's calendar marks the discounted nights too.
    first.locator("h2 a").click()
    expect(page.get_by_test_id("offseason-day").first).to_have_text(BADGE)


def test_the_badge_fits_a_phone(new_page, live_server: LiveServer):
    page = new_page(PHONE)
    live_server.sign_in(page)
    search_january(page, "saving")
    expect(page.get_by_test_id("offseason-badge").first).to_be_visible()
    assert page_overflow(page) == 0
