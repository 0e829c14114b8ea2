"""The photo gallery in a real browser: by keyboard, by swipe, at 390 px, without script.

The gallery is the one guests see on a facility page; the operator's photo page shows
it too ("as guests see them"), which is where these tests meet it. The fixture takes
one facility of the shared live server, whose demo photos the seed drew.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from facilities.models import Facility, FacilityPhoto
from tests.browser.conftest import DEMO_PASSWORD, LiveServer, page_overflow

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
PHONE_390 = {"width": 390, "height": 844}


@pytest.fixture
def facility_id(live_server: LiveServer) -> int:
    """A facility of the demo operator with the four photos the seed drew for it."""
    with live_server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        facility = db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id, Facility.active)
            .order_by(Facility.id)
        ).first()
        count = db.session.scalar(
            select(func.count())
            .select_from(FacilityPhoto)
            .where(FacilityPhoto.facility_id == facility.id)
        )
        db.session.remove()
    assert count == 4, "the browser tests' demo network has its drawn photos"
    return facility.id


def sign_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(OPERATOR)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    server.pass_second_factor(page, OPERATOR)
    expect(page).not_to_have_url(f"{server.url}/login")


def shown(page: Page) -> int:
    """The index of the one slide shown."""
    return page.evaluate(
        """() => {
          const slides = [...document.querySelectorAll('[data-gallery-slide]')];
          const visible = slides.filter(s => !s.hidden);
          return visible.length === 1 ? slides.indexOf(visible[0]) : -visible.length;
        }"""
    )


def test_the_gallery_goes_through_the_photos_by_keyboard(
    live_server: LiveServer, new_page, facility_id: int
):
    page = new_page()
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/operator/facilities/{facility_id}/photos")
    gallery = page.locator("[data-gallery]")
    expect(gallery.locator("[data-gallery-controls]")).to_be_visible()
    assert shown(page) == 0
    # The first photo loads at once, in a size from the srcset; the others wait.
    first = gallery.locator("[data-gallery-slide] img").first
    assert first.get_attribute("loading") == "eager"
    assert ".webp 960w" in first.get_attribute("srcset")
    assert gallery.locator("[data-gallery-slide] img").nth(1).get_attribute("loading") == "lazy"
    # The cover comes first, with its caption.
    expect(gallery.locator("[data-gallery-slide]").first.locator("figcaption")).to_contain_text(
        "の外観"
    )

    # Arrow keys on the focused photo.
    gallery.locator("[data-gallery-track]").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert shown(page) == 2
    expect(gallery.locator("[data-gallery-status]")).to_contain_text("3")
    page.keyboard.press("ArrowLeft")
    assert shown(page) == 1
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert shown(page) == 3  # round from the first to the last

    # The buttons, reached with Tab, pressed with Enter; the focus ring shows.
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.hasAttribute('data-gallery-prev')")
    assert focused
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert shown(page) == 2
    page.keyboard.press("Tab")  # next
    page.keyboard.press("Enter")
    assert shown(page) == 3
    # A thumbnail opens its photo and is marked as the one shown.
    thumb = gallery.locator("[data-gallery-thumb]").nth(1)
    thumb.focus()
    page.keyboard.press("Enter")
    assert shown(page) == 1
    expect(thumb).to_have_attribute("aria-current", "true")
    page.keyboard.press("ArrowRight")
    assert shown(page) == 2
    expect(gallery.locator("[data-gallery-thumb]").nth(2)).to_be_focused()


def test_the_gallery_fits_a_phone_and_follows_a_swipe(
    live_server: LiveServer, new_page, facility_id: int
):
    page = new_page(PHONE_390)
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/operator/facilities/{facility_id}/photos")
    expect(page.locator("[data-gallery-controls]")).to_be_visible()
    page.locator("[data-gallery]").scroll_into_view_if_needed()

    assert page_overflow(page) == 0
    box = page.locator("[data-gallery-slide]:not([hidden]) img").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_390["width"]
    for button in ("[data-gallery-prev]", "[data-gallery-next]"):
        size = page.locator(button).bounding_box()
        assert size["width"] >= 44 and size["height"] >= 44

    def swipe(dx: int) -> None:
        page.evaluate(
            """dx => {
              const track = document.querySelector('[data-gallery-track]');
              const at = (type, x) => track.dispatchEvent(new PointerEvent(type, {
                pointerId: 7, pointerType: 'touch', clientX: x, clientY: 300, bubbles: true}));
              at('pointerdown', 200); at('pointerup', 200 + dx);
            }""",
            dx,
        )

    swipe(-120)
    assert shown(page) == 1
    swipe(-120)
    assert shown(page) == 2
    swipe(120)
    assert shown(page) == 1
    swipe(-10)  # a tap, not a swipe
    assert shown(page) == 1


def test_without_script_the_photos_are_a_list_that_scrolls_inside_the_page(
    live_server: LiveServer, browser, facility_id: int
):
    context = browser.new_context(locale="ja-JP", viewport=PHONE_390, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server)
        page.goto(f"{live_server.url}/operator/facilities/{facility_id}/photos")
        track = page.locator("[data-gallery-track]")
        expect(track.locator("[data-gallery-slide]")).to_have_count(4)
        expect(page.locator("[data-gallery-controls]")).to_be_hidden()
        assert track.evaluate("t => t.scrollWidth > t.clientWidth")
        assert page_overflow(page) == 0
    finally:
        context.close()
