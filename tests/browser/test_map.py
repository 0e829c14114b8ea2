"""Maps in a real browser, with no tile server (as offline): the pins stand on the outline
of Japan that Engawa serves itself.

The operator sets a facility's place on its form (a click moves the pin and the
coordinates; a postal code fills the address and shows its area), and the search map —
shown here on a small page rendered from the same macros the search page uses — toggles
with the list and opens a facility from its pin. Nothing is saved: the live server is
shared by the whole session.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import render_template_string, url_for
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts.models import User
from core.extensions import db
from facilities.geo import facility_pins
from facilities.models import Facility
from tests.browser.conftest import DEMO_PASSWORD, DESKTOP, LiveServer, page_overflow

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
PHONE_390 = {"width": 390, "height": 844}
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE_390], ids=["desktop", "phone"])
# The policy every page answers with (core/web.py, no tiles configured).
CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)
RECORD_PROBLEMS = """
window.__problems = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__problems.push('violates ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def operator_facility(server: LiveServer) -> Facility:
    with server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        return db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id, Facility.active)
            .order_by(Facility.id)
        ).first()


def watched(page: Page) -> list[str]:
    """Script errors and policy violations of the page, as they happen."""
    problems: list[str] = []
    page.add_init_script(RECORD_PROBLEMS)
    page.on("pageerror", lambda exc: problems.append(f"exception {exc}"))
    page.on(
        "console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None
    )
    return problems


def all_problems(page: Page, problems: list[str]) -> list[str]:
    return problems + page.evaluate("() => window.__problems || []")


def sign_in(page: Page, server: LiveServer, email: str = OPERATOR) -> None:
    page.goto(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    server.pass_second_factor(page, email)


def expect_outline(map_box) -> None:
    """Japan's outline is drawn (an SVG path in its own pane): the background without tiles."""
    expect(map_box).to_have_attribute("data-outline", "ready")
    expect(map_box.locator(".leaflet-outline-pane svg path").first).to_be_attached()
    assert map_box.locator(".leaflet-tile").count() == 0  # no tiles configured


def coordinates(page: Page) -> tuple[str, str]:
    return page.locator("#latitude").input_value(), page.locator("#longitude").input_value()


# --- the operator's facility form ---------------------------------------------------------------


@VIEWPORTS
def test_the_operator_moves_the_pin_and_looks_up_a_postal_code(
    new_page, live_server: LiveServer, viewport
):
    page = new_page(viewport)
    problems = watched(page)
    facility = operator_facility(live_server)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/operator/facilities/{facility.id}/edit")

    # The map shows the outline and the facility's pin, named for screen readers.
    map_box = page.get_by_test_id("pin-map")
    expect(map_box).to_be_visible()
    expect(map_box).to_have_attribute("role", "region")
    expect_outline(map_box)
    pin = map_box.locator(".leaflet-marker-icon")
    expect(pin).to_have_count(1)
    expect(pin).to_have_attribute("alt", re.compile("^(施設の場所|The facility’s place)$"))
    assert page.locator("details.coordinates").get_attribute("open") is None
    before = coordinates(page)
    assert float(before[0]) == pytest.approx(facility.latitude)

    # A click on the map moves the pin there and sets the coordinates.
    map_box.scroll_into_view_if_needed()
    box = map_box.bounding_box()
    x, y = round(box["x"] + box["width"] * 0.7), round(box["y"] + box["height"] * 0.3)
    page.mouse.click(x, y)
    expected = page.evaluate(
        """([x, y]) => {
          const el = document.querySelector('[data-testid=pin-map]');
          const rect = el.getBoundingClientRect();
          const at = el.engawaMap.containerPointToLatLng(
            [x - rect.left - el.clientLeft, y - rect.top - el.clientTop]);  // inside the border
          return [at.lat.toFixed(6), at.lng.toFixed(6)];
        }""",
        [x, y],
    )
    expect(page.locator("#latitude")).to_have_value(expected[0])
    expect(page.locator("#longitude")).to_have_value(expected[1])
    assert coordinates(page) != before
    moved = pin.bounding_box()
    assert abs(moved["x"] + moved["width"] / 2 - x) <= 2
    assert abs(moved["y"] + moved["height"] - y) <= 2
    expect(page.locator("[data-pin-status]")).to_contain_text(expected[0])

    # By keyboard: the button puts the pin at the map's centre.
    page.locator("[data-pin-centre]").focus()
    page.keyboard.press("Enter")
    centre = page.evaluate(
        """() => { const c = document.querySelector('[data-testid=pin-map]').engawaMap.getCenter();
                   return [c.lat.toFixed(6), c.lng.toFixed(6)]; }"""
    )
    expect(page.locator("#latitude")).to_have_value(centre[0])
    expect(page.locator("#longitude")).to_have_value(centre[1])

    # A postal code fills the prefecture, municipality and town, and shows its area.
    page.locator("#postal_code").fill("１００－０００１")
    lookup = page.locator("button[data-postal-lookup]")
    expect(lookup).to_be_visible()
    lookup.click()
    expect(page.locator("#municipality")).to_have_value("千代田区")
    expect(page.locator("#address")).to_have_value("千代田")
    expect(page.locator("#prefecture")).to_have_value("13")
    expect(page.locator("#postal_code")).to_have_value("100-0001")
    expect(page.get_by_test_id("postal-status")).not_to_be_empty()
    expect(page.locator("#address")).to_be_focused()  # to add the street number
    shown = page.evaluate(
        "() => document.querySelector('[data-testid=pin-map]').engawaMap.getCenter()"
    )
    assert shown["lat"] == pytest.approx(35.6895, abs=0.01)  # 東京都庁
    assert shown["lng"] == pytest.approx(139.6917, abs=0.01)

    assert page_overflow(page) == 0
    assert all_problems(page, problems) == []

    # An unknown code says so, and changes nothing (the browser logs the look-up's 404).
    page.locator("#postal_code").fill("999-9999")
    page.locator("#postal_code").press("Enter")  # looks up; does not send the form
    expect(page.get_by_test_id("postal-status")).not_to_contain_text("100-0001")
    expect(page.get_by_test_id("postal-status")).not_to_be_empty()
    expect(page.locator("#municipality")).to_have_value("千代田区")
    assert urlsplit(page.url).path.endswith("/edit")
    assert [p for p in all_problems(page, problems) if "404" not in p] == []


def test_a_new_facility_has_no_pin_until_the_map_is_clicked(page: Page, live_server: LiveServer):
    problems = watched(page)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/operator/facilities/new")

    map_box = page.get_by_test_id("pin-map")
    expect_outline(map_box)
    expect(map_box.locator(".leaflet-marker-icon")).to_have_count(0)
    assert coordinates(page) == ("", "")

    map_box.scroll_into_view_if_needed()
    box = map_box.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)

    expect(map_box.locator(".leaflet-marker-icon")).to_have_count(1)
    lat, lng = (float(v) for v in coordinates(page))
    assert 20 <= lat <= 46 and 122 <= lng <= 154
    assert all_problems(page, problems) == []


# --- the search map and the facility map --------------------------------------------------------

DEMO = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>map demo</title>
<link rel="stylesheet" href="{{ url_for('static', filename='css/app.css') }}">
{% from "_map.html" import map_assets, map_block, map_toggle %}{{ map_assets() }}
</head><body><main class="container">
{{ map_toggle('results', 'results-map') }}
<ol class="results" id="results">
  {% for pin in pins %}
  <li class="card result"><a href="{{ pin.url }}">{{ pin.title }}</a></li>
  {% endfor %}
</ol>
{{ map_block(pins, 'Map of the results', 'map-tall', id='results-map', fallback=False) }}
{{ map_block(pins[:1], 'Map: where the facility is', 'map-short') }}
</main></body></html>"""


def demo_page(server: LiveServer) -> tuple[str, list[dict]]:
    """The search page's list and map (the macros it uses), for the demo's facilities."""
    with server.app.test_request_context("/"):
        found = db.session.scalars(
            select(Facility).where(Facility.active).order_by(Facility.id).limit(12)
        ).all()
        pins = facility_pins(
            found,
            "ja",
            lambda f: url_for("booking.facility", facility_id=f.id),
            lambda f: f"¥{10_000 + f.id * 100:,}（税込）",
        )
        return render_template_string(DEMO, pins=pins), pins


@VIEWPORTS
def test_search_results_toggle_between_the_list_and_a_map_of_their_pins(
    new_page, live_server: LiveServer, viewport
):
    html, pins = demo_page(live_server)
    page = new_page(viewport)
    problems = watched(page)
    sign_in(page, live_server, "employee@acme.example")
    page.route(
        f"{live_server.url}/map-demo",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP},
            body=html,
        ),
    )
    page.goto(f"{live_server.url}/map-demo")

    # The list first; the map waits behind the toggle.
    results, results_map = page.locator("#results"), page.locator("#results-map")
    show_list = page.locator("button[data-view=list]")
    show_map = page.locator("button[data-view=map]")
    expect(show_list).to_have_attribute("aria-pressed", "true")
    expect(results).to_be_visible()
    expect(results_map).to_be_hidden()

    show_map.click()
    expect(show_map).to_have_attribute("aria-pressed", "true")
    expect(show_list).to_have_attribute("aria-pressed", "false")
    expect(results).to_be_hidden()
    expect(results_map).to_be_visible()
    expect_outline(results_map)
    # Each pin is shown on its own or counted in a group (pins that would overlap are
    # grouped; activating a group zooms into it): together, every result once.
    icons = results_map.locator(".leaflet-marker-icon")
    expect(icons.first).to_be_visible()
    singles = results_map.locator(".leaflet-marker-icon:not(.marker-cluster)")
    groups = results_map.locator(".marker-cluster")
    grouped = sum(int(text) for text in groups.all_inner_texts())
    assert singles.count() + grouped == len(pins)
    for i in range(groups.count()):
        expect(groups.nth(i)).to_have_attribute("aria-label", re.compile(r"\d"))
    # Every pin and group is inside the map, after fitting the map to them.
    frame = results_map.bounding_box()
    for i in range(icons.count()):
        spot = icons.nth(i).bounding_box()
        assert frame["x"] <= spot["x"] + spot["width"] / 2 <= frame["x"] + frame["width"]
        assert frame["y"] <= spot["y"] + spot["height"] <= frame["y"] + frame["height"]

    # A pin is a button named after its facility and price; Enter opens its popup.
    assert singles.count(), "the demo's twelve places are not all in groups"
    shown = next(
        p for p in pins if f"{p['title']} {p['price']}" == singles.first.get_attribute("title")
    )
    first = results_map.get_by_role("button", name=f"{shown['title']} {shown['price']}")
    first.focus()
    page.keyboard.press("Enter")
    popup = results_map.locator(".leaflet-popup")
    expect(popup).to_be_visible()
    expect(popup.get_by_role("link", name=shown["title"])).to_have_attribute("href", shown["url"])
    expect(popup).to_contain_text(shown["price"])
    close = popup.locator(".leaflet-popup-close-button")
    expect(close).to_have_attribute("aria-label", re.compile("^(閉じる|Close)$"))  # not Leaflet's

    show_list.click()
    expect(results).to_be_visible()
    expect(results_map).to_be_hidden()

    # The facility page's map: one pin, no toggle.
    single = page.locator("[data-map=pins]:not(#results-map)")
    expect(single).to_be_visible()
    expect(single.locator(".leaflet-marker-icon")).to_have_count(1)
    expect_outline(single)

    assert page_overflow(page) == 0
    assert all_problems(page, problems) == []


def test_without_javascript_the_map_is_a_list_of_places(browser, live_server: LiveServer):
    html, pins = demo_page(live_server)
    context = browser.new_context(java_script_enabled=False, viewport=PHONE_390)
    try:
        page = context.new_page()
        page.route(
            f"{live_server.url}/map-demo",
            lambda route: route.fulfill(status=200, content_type="text/html", body=html),
        )
        page.goto(f"{live_server.url}/map-demo")

        expect(page.locator("#results")).to_be_visible()
        expect(page.locator("[data-view-toggle]")).to_be_hidden()
        expect(page.locator("[data-map]").first).to_be_hidden()
        fallback = page.locator(".map-fallback a")
        expect(fallback).to_have_count(1)  # the facility map's place (search lists its own)
        expect(fallback).to_have_attribute("href", pins[0]["url"])
        assert page_overflow(page) == 0
    finally:
        context.close()


def test_with_tiles_configured_the_map_draws_them_and_credits_the_provider(
    page: Page, live_server: LiveServer
):
    # Tiles from Engawa's own address (nothing may leave the machine): one small image.
    tiles = f"{live_server.url}/static/vendor/leaflet/images/layers.png?z={{z}}&x={{x}}&y={{y}}"
    config = live_server.app.config
    config.update(MAP_TILE_URL=tiles, MAP_TILE_ATTRIBUTION="© <b>Tiles</b> & Co")
    try:
        problems = watched(page)
        sign_in(page, live_server)
        page.goto(f"{live_server.url}/operator/facilities/new")

        map_box = page.get_by_test_id("pin-map")
        expect(map_box.locator("img.leaflet-tile").first).to_be_attached()
        expect(map_box).to_have_class(re.compile(r"\bhas-tiles\b"))
        credit = map_box.locator(".leaflet-control-attribution")
        expect(credit).to_contain_text("© <b>Tiles</b> & Co")  # text, not markup
        expect(credit.locator("b")).to_have_count(0)
        expect(map_box).to_have_attribute("data-outline", "ready")  # drawn over the tiles
        assert all_problems(page, problems) == []
    finally:
        config.update(MAP_TILE_URL="", MAP_TILE_ATTRIBUTION="")
