"""An employee's booking journey in a real browser, against a live server with the demo network.

Assertions lean on what stays true whether or not the Japanese catalogue is
compiled: URLs, ``data-testid`` attributes, the ``lang`` of the page, dates
formatted by Babel, and the yen amounts a person would check.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import EMPLOYEE, PHONE, LiveServer, days, page_overflow, yen

pytestmark = pytest.mark.browser

CONFIRMED_HEADING = re.compile(r"予約が確定しました|Your stay is confirmed")


def quote_url(server: LiveServer, unit_id: int, check_in, check_out, guests: int = 1) -> str:
    query = urlencode(
        {
            "unit_id": unit_id,
            "check_in": check_in.isoformat(),
            "check_out": check_out.isoformat(),
            "guests": guests,
        }
    )
    return f"{server.url}/book?{query}"


def search_for(page: Page, check_in, check_out, place: str = "", guests: int = 1) -> None:
    form = page.locator("form.search-form")
    form.locator("select[name=place]").select_option(place)
    form.locator("input[name=check_in]").fill(check_in.isoformat())
    form.locator("input[name=check_out]").fill(check_out.isoformat())
    form.locator("input[name=guests]").fill(str(guests))
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("result-count")).to_be_visible()


def test_employee_books_a_stay_and_cancels_it(page: Page, live_server: LiveServer):
    url = live_server.url
    check_in, check_out = days(14), days(17)
    live_server.sign_in(page)

    # Search the whole country for three nights.
    search_for(page, check_in, check_out)
    results = page.locator("ol.results > li.result")
    expect(results.first).to_be_visible()
    totals = [yen(text) for text in results.locator(".price").all_inner_texts()]
    assert totals, "the demo network has free rooms two weeks ahead"
    assert totals == sorted(totals), "results come cheapest first by default"

    # Open the cheapest facility; the search remembered the dates.
    first = results.first
    shown_total = yen(first.locator(".price").inner_text())
    facility_name = first.locator("h2 a").inner_text()
    first.locator("h2 a").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/facilities/\d+\?"))
    expect(page.locator("h1")).to_have_text(facility_name)
    facility_id = int(re.search(r"/facilities/(\d+)", page.url).group(1))
    # The calendar shows the month of the stay with every night bookable.
    for offset in range(3):
        night = days(14 + offset).isoformat()
        expect(page.locator(f"td[data-date='{night}']")).to_have_attribute(
            "data-status", re.compile("^(free|few)$")
        )

    # Only the rooms free for every night can be chosen; the one the search priced
    # (the cheapest free room) comes preselected.
    offers = [o for o in live_server.offers(check_in, check_out) if o.facility_id == facility_id]
    offer = offers[0]
    assert offer.total == shown_total
    booking_form = page.locator("form.book-form")
    radios = booking_form.locator("input[name=unit_id]")
    expect(radios.first).to_be_attached()
    free_ids = {o.unit_id for o in offers}
    for radio in radios.all():
        if int(radio.get_attribute("value")) in free_ids:
            expect(radio).to_be_enabled()
        else:
            expect(radio).to_be_disabled()
    chosen = booking_form.locator(f"#unit-{offer.unit_id}")
    expect(chosen).to_be_checked()
    chosen.check()
    booking_form.locator("input[name=check_in]").fill(check_in.isoformat())
    booking_form.locator("input[name=check_out]").fill(check_out.isoformat())
    booking_form.locator("input[name=guests]").fill("1")
    booking_form.locator("button[type=submit]").click()

    # The confirmation page: a price for each night, and their total.
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/book\?"))
    nights = page.get_by_test_id("breakdown").locator("li")
    expect(nights).to_have_count(3)
    nightly = [yen(text) for text in nights.locator(".amount").all_inner_texts()]
    total = yen(page.get_by_test_id("total").inner_text())
    assert total == sum(nightly) == shown_total
    expect(page.locator(".total-line")).to_contain_text(re.compile(r"3\s*(泊|nights)"))
    # Who pays, and what a cancellation would return, before confirming.
    expect(page.get_by_test_id("who-pays")).to_contain_text(f"¥{total:,}")
    expect(page.get_by_test_id("terms")).to_be_visible()
    expect(page.get_by_test_id("booking-error")).to_have_count(0)

    page.locator("button[data-once]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/stays/\d+$"))
    booking_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("h1")).to_have_text(CONFIRMED_HEADING)
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.get_by_test_id("booking-id")).to_have_text(str(booking_id))
    assert yen(page.get_by_test_id("total").inner_text()) == total

    state = live_server.booking(booking_id)
    assert (state.user_email, state.unit_id, state.status) == (EMPLOYEE, offer.unit_id, "confirmed")
    assert (state.check_in, state.check_out, state.total_price) == (check_in, check_out, total)
    assert state.occupied_nights == [days(14), days(15), days(16)]

    # Those nights are now taken for that room: no confirm button any more.
    page.goto(quote_url(live_server, offer.unit_id, check_in, check_out))
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.locator("button[data-once]")).to_have_count(0)

    # My stays lists it; cancelling asks first.
    page.locator("header a[href='/stays']").click()
    expect(page).to_have_url(f"{url}/stays")
    stay = page.get_by_test_id("upcoming").locator(f"li[data-booking-id='{booking_id}']")
    expect(stay).to_be_visible()
    expect(stay).to_contain_text(facility_name)
    assert yen(stay.locator("p").first.inner_text()) == total

    # Cancelling states the refund first (two weeks ahead: all of it), then what came back.
    stay.locator("a.danger").click()
    expect(page).to_have_url(f"{url}/stays/{booking_id}/cancel")
    expect(page.get_by_test_id("cancel-money")).to_contain_text(f"¥{total:,}")
    cancel_path = f"/stays/{booking_id}/cancel"
    with page.expect_response(lambda r: r.url.endswith(cancel_path)) as cancelled:
        page.locator("main form button.danger").click()
    assert cancelled.value.status == 303
    expect(page).to_have_url(f"{url}/stays")
    expect(page.locator(".flash-success")).to_contain_text(f"¥{total:,}")
    expect(stay).to_have_class(re.compile(r"\bcancelled\b"))
    expect(stay.locator(".badge.cancelled")).to_be_visible()
    expect(stay.locator("a.danger")).to_have_count(0)

    state = live_server.booking(booking_id)
    assert state.status == "cancelled"
    assert state.occupied_nights == []

    # The nights are free again: the same room can be confirmed once more.
    page.goto(quote_url(live_server, offer.unit_id, check_in, check_out))
    expect(page.get_by_test_id("total")).to_be_visible()
    expect(page.locator("button[data-once]")).to_be_visible()
    expect(page.locator(".flash-error")).to_have_count(0)


def test_language_switch_turns_the_ui_to_english_and_back(page: Page, live_server: LiveServer):
    url = live_server.url
    live_server.sign_in(page)
    search_for(page, days(14), days(17), place="r:kanto")
    searched = page.url
    html = page.locator("html")
    kanto = page.locator("select[name=place] option[value='r:kanto']")
    switch = page.locator(".lang-switch a")
    expect(html).to_have_attribute("lang", "ja")
    expect(kanto).to_have_text("関東")
    expect(switch).to_have_text("English")

    switch.click()
    # Same page, same search, now in English.
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(searched)
    expect(page.locator("h1")).to_have_text("Find a stay")
    expect(kanto).to_have_text("Kanto")
    expect(page.get_by_test_id("result-count")).to_be_visible()
    expect(switch).to_have_text("日本語")
    assert page.locator("select[name=place]").input_value() == "r:kanto"

    # The choice holds on the next page: dates and names follow the language.
    page.locator("ol.results > li.result h2 a").first.click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/facilities/\d+"))
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator(".month-nav strong")).to_have_text("December 2026")

    switch.click()
    expect(html).to_have_attribute("lang", "ja")
    expect(page.locator(".month-nav strong")).to_have_text("2026年12月")
    expect(switch).to_have_text("English")


def test_search_fits_a_phone_screen(new_page, live_server: LiveServer):
    page = new_page(viewport=PHONE)
    live_server.sign_in(page)
    assert page_overflow(page) <= 1, "the empty search page scrolls sideways"

    search_for(page, days(14), days(17))
    expect(page.locator("ol.results > li.result").first).to_be_visible()
    assert page_overflow(page) <= 1, "the search results scroll sideways"


def test_double_clicking_confirm_books_once(page: Page, live_server: LiveServer):
    check_in, check_out = days(21), days(24)
    offer = live_server.offers(check_in, check_out)[0]
    before = live_server.count_bookings(EMPLOYEE, offer.unit_id, check_in, check_out)
    live_server.sign_in(page)
    page.goto(quote_url(live_server, offer.unit_id, check_in, check_out))

    page.locator("button[data-once]").dblclick()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/stays/\d+$"))
    expect(page.locator("h1")).to_have_text(CONFIRMED_HEADING)
    assert live_server.count_bookings(EMPLOYEE, offer.unit_id, check_in, check_out) == before + 1


def test_the_same_confirmation_posted_twice_books_once(page: Page, live_server: LiveServer):
    check_in, check_out = days(28), days(31)
    offer = live_server.offers(check_in, check_out)[-1]
    before = live_server.count_bookings(EMPLOYEE, offer.unit_id, check_in, check_out)
    live_server.sign_in(page)
    page.goto(quote_url(live_server, offer.unit_id, check_in, check_out))
    expect(page.locator("button[data-once]")).to_be_visible()

    # Two posts of the same form at once, bypassing the button's own guard.
    outcomes = page.evaluate(
        """async () => {
            const form = document.querySelector("form[method=post][action$='/book']");
            const post = () => fetch(form.action, {method: "POST", body: new FormData(form)});
            const responses = await Promise.all([post(), post()]);
            return responses.map((r) => [r.status, new URL(r.url).pathname]);
        }"""
    )
    (status_a, path_a), (status_b, path_b) = outcomes
    assert status_a == status_b == 200
    assert re.fullmatch(r"/stays/\d+", path_a)
    assert path_a == path_b, "both posts lead to the same booking"
    assert live_server.count_bookings(EMPLOYEE, offer.unit_id, check_in, check_out) == before + 1
    state = live_server.booking(int(path_a.rsplit("/", 1)[1]))
    assert state.status == "confirmed"
    assert state.occupied_nights == [days(28), days(29), days(30)]
