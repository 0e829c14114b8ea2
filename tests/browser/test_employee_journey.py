"""The employee's whole journey on a laptop and on a phone: photos and a map before
choosing, dates picked on the calendar, the money terms before confirming, a stay
changed without rebooking, and a late cancellation whose fee is stated before and after.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, LiveServer, days, page_overflow, yen

PHONE_390 = {"width": 390, "height": 844}
EMPLOYEE = "employee@globex.example"  # not the other tests' employee: caps stay theirs


def no_overflow(page: Page) -> None:
    assert page_overflow(page) == 0, f"{page.url} is wider than the screen"


def short(day: date) -> str:
    return f"{day.month}/{day.day}"


@pytest.mark.parametrize(
    ("viewport", "stay_start"),
    [(DESKTOP, 40), (PHONE_390, 50)],
    ids=["desktop", "phone"],
)
def test_search_choose_book_change_and_cancel_late(
    new_page, live_server: LiveServer, viewport, stay_start
):
    page = new_page(viewport)
    url = live_server.url
    live_server.sign_in(page, EMPLOYEE)
    check_in, check_out = days(stay_start), days(stay_start + 3)

    # Search: after searching, the results come first and the form is one summary line.
    page.goto(f"{url}/?check_in={check_in}&check_out={check_out}&guests=1")
    expect(page.get_by_test_id("search-summary")).to_contain_text("3泊")
    expect(page.locator("form.search-form")).to_be_hidden()
    first = page.locator("ol.results > li.result").first
    expect(first).to_be_visible()
    if viewport is PHONE_390:
        assert first.bounding_box()["y"] < PHONE_390["height"], "results are above the fold"
    # Each card leads with its cover photo and states the free-cancellation date.
    expect(first.locator(".card-cover img")).to_be_visible()
    expect(first.get_by_test_id("terms-line")).to_contain_text(short(days(stay_start - 3)))
    no_overflow(page)
    # The map of the results: pins on the outline of Japan (no tiles in tests).
    page.get_by_role("button", name="地図").click()
    expect(page.locator("#results-map .leaflet-marker-icon").first).to_be_visible()
    expect(
        page.locator("#results-map path.leaflet-interactive, #results-map svg path").first
    ).to_be_attached()
    page.get_by_role("button", name="リスト").click()
    expect(first).to_be_visible()

    # The facility page opens on its gallery and shows where it is.
    first.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"/facilities/\d+"))
    facility_id = int(re.search(r"/facilities/(\d+)", page.url).group(1))
    expect(page.get_by_test_id("gallery")).to_be_visible()
    expect(page.get_by_test_id("map")).to_be_visible()
    no_overflow(page)

    # Pick other dates on the calendar: check-in, then check-out, two nights.
    new_in, new_out = days(stay_start + 1), days(stay_start + 3)
    calendar = page.get_by_test_id("stay-calendar")
    calendar.locator(f"td[data-date='{new_in}'] a.pick").click()
    calendar.locator(f"td[data-date='{new_out}'] a.pick").click()
    form = page.locator("form.book-form")
    expect(form.locator("input[name=check_in]")).to_have_value(new_in.isoformat())
    expect(form.locator("input[name=check_out]")).to_have_value(new_out.isoformat())
    expect(calendar.locator(f"td[data-date='{new_in}']")).to_have_class(re.compile("range-start"))
    page.get_by_test_id("stay-apply").click()
    # The rooms now show their totals for those two nights.
    form = page.locator("form.book-form")
    room = form.locator("li.room:not(.taken)").first
    expect(room.get_by_test_id("room-total")).to_be_visible()
    room_total = yen(room.get_by_test_id("room-total").locator("strong").inner_text())
    room.locator("input[name=unit_id]").check()
    form.locator("button[type=submit]").click()

    # The quote: the breakdown, who pays, and the cancellation terms in yen.
    expect(page).to_have_url(re.compile(r"/book\?"))
    total = yen(page.get_by_test_id("total").inner_text())
    expect(page.get_by_test_id("who-pays")).to_contain_text(f"¥{total:,}")
    terms = page.get_by_test_id("terms")
    expect(terms).to_contain_text(short(days(stay_start - 2)))
    expect(terms).to_contain_text(f"¥{total // 2:,}")
    no_overflow(page)
    page.locator("button[data-once]").click()
    expect(page).to_have_url(re.compile(r"/stays/\d+$"))
    booking_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("refund-now")).to_contain_text(f"¥{total:,}")
    assert live_server.booking(booking_id).total_price == total
    assert total == room_total  # the room list priced the stay as the quote does

    # Change the stay to two nights starting tomorrow or the day after: late, inside the
    # 50% period, in whichever room of the facility is free then, at today's prices.
    late = next(
        (days(start), days(start + 2), offer.unit_id)
        for start in (2, 1)
        for offer in live_server.offers(days(start), days(start + 2))
        if offer.facility_id == facility_id
    )
    late_in, late_out, late_unit = late
    page.get_by_test_id("change-stay").click()
    change = page.locator("form.change-form")
    change.locator("input[name=check_in]").fill(late_in.isoformat())
    change.locator("input[name=check_out]").fill(late_out.isoformat())
    change.locator("select[name=unit_id]").select_option(str(late_unit))
    change.locator("button[type=submit]").click()
    preview = page.get_by_test_id("change-preview")
    expect(preview).to_be_visible()
    new_total = yen(page.get_by_test_id("new-total").inner_text())
    expect(page.get_by_test_id("change-money")).to_contain_text(
        "変わりません" if new_total == total else "¥"
    )
    no_overflow(page)
    page.locator("form[action$='/change'] button[data-once]").click()
    expect(page).to_have_url(f"{url}/stays/{booking_id}")
    expect(page.locator(".flash-success")).to_be_visible()
    state = live_server.booking(booking_id)
    assert (state.check_in, state.check_out, state.unit_id) == (late_in, late_out, late_unit)
    assert state.occupied_nights == [late_in, late_in + (late_out - late_in) / 2]

    # Cancel late: the page states the fee before confirming, and the message after.
    page.get_by_test_id("cancel-stay").click()
    money = page.get_by_test_id("cancel-money")
    kept = new_total - new_total // 2
    expect(money).to_contain_text(f"¥{new_total // 2:,}")
    expect(money).to_contain_text(f"¥{kept:,}")
    no_overflow(page)
    page.locator("main form button.danger").click()
    expect(page).to_have_url(f"{url}/stays")
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text(f"¥{new_total // 2:,}")
    expect(flash).to_contain_text(f"¥{kept:,}")
    assert live_server.booking(booking_id).status == "cancelled"
