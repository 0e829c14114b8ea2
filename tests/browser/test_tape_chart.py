"""The tape chart in a real browser, against the live demo network.

The demo operator of さとやま運営 opens the chart on a laptop and a phone, drags a stay
to another room (landing on the move's confirm page), drags across two free nights
and closes them through the selection page, reaches a stay by the keyboard, and drags
a stay with a finger on a tablet. The live server is shared by the whole session: the
stay these tests drag is written straight into the database 150 days ahead (beyond the
demo's bookings and the nights other tests close) and removed afterwards, with the
nights closed here. Screenshots go to /tmp/tape-chart-*.png.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from accounts.models import User
from availability.blocks import remove_block
from availability.models import Block, Occupancy
from booking.models import Booking, BookingNight
from core.extensions import db
from facilities.models import Facility, Unit
from tests.browser.conftest import (
    DESKTOP,
    NOW,
    TIMEOUT_MS,
    TODAY,
    LiveServer,
    days,
    page_overflow,
)

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
PHONE_390 = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}
FIRST = days(150)  # the chart's first day: nobody else's nights
CHECK_IN, CHECK_OUT = days(152), days(155)  # the stay dragged around
FREE = (days(157), days(158))  # two nights closed by dragging
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(tempfile.gettempdir())  # /tmp: screenshots to look at


@dataclass(frozen=True)
class Scene:
    facility_id: int
    room_a: int
    room_b: int
    room_b_name: str
    booking_id: int
    guest_name: str

    def chart(self, server: LiveServer) -> str:
        return (
            f"{server.url}/operator/facilities/{self.facility_id}/calendar"
            f"?view=2w&start={FIRST.isoformat()}"
        )


def _free(unit_id: int, first: date, end: date) -> bool:
    return (
        db.session.scalar(
            select(Occupancy.id).where(
                Occupancy.unit_id == unit_id, Occupancy.night >= first, Occupancy.night < end
            )
        )
        is None
    )


@pytest.fixture
def scene(live_server: LiveServer) -> Iterator[Scene]:
    """Two free rooms of the operator's first facility and a stay in the first of them."""
    end = FIRST + timedelta(days=14)
    with live_server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        facility = db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id, Facility.active)
            .order_by(Facility.id)
        ).first()
        rooms = [
            u
            for u in db.session.scalars(
                select(Unit).where(Unit.facility_id == facility.id, Unit.active).order_by(Unit.id)
            )
            if _free(u.id, FIRST, end)
        ]
        assert len(rooms) >= 2, "the demo's first facility has two rooms free 150 days ahead"
        guest = db.session.scalar(
            select(User)
            .join(Booking, Booking.user_id == User.id)
            .where(Booking.unit_id == rooms[0].id)
            .order_by(Booking.id)
        )
        nights = [CHECK_IN + timedelta(days=n) for n in range((CHECK_OUT - CHECK_IN).days)]
        booking = Booking(
            user_id=guest.id,
            company_id=guest.company_id,
            unit_id=rooms[0].id,
            check_in=CHECK_IN,
            check_out=CHECK_OUT,
            guests=1,
            total_price=10_000 * len(nights),
            created_at=NOW,
        )
        db.session.add(booking)
        db.session.flush()
        for night in nights:
            db.session.add(BookingNight(booking_id=booking.id, night=night, price=10_000))
            db.session.add(Occupancy(unit_id=rooms[0].id, night=night, booking_id=booking.id))
        db.session.commit()
        made = Scene(facility.id, rooms[0].id, rooms[1].id, rooms[1].name, booking.id, guest.name)
        db.session.remove()
    try:
        yield made
    finally:
        with live_server.app.app_context():
            for block in db.session.scalars(
                select(Block).where(
                    Block.unit_id.in_([made.room_a, made.room_b]),
                    Block.source == "manual",
                    Block.start_date >= FIRST,
                    Block.end_date <= end,
                )
            ):
                remove_block(block, TODAY)
            db.session.execute(delete(Occupancy).where(Occupancy.booking_id == made.booking_id))
            db.session.execute(
                delete(BookingNight).where(BookingNight.booking_id == made.booking_id)
            )
            db.session.execute(delete(Booking).where(Booking.id == made.booking_id))
            db.session.commit()
            db.session.remove()


def the_bar(page: Page, scene: Scene):
    return page.locator(f"a.bar[data-booking-id='{scene.booking_id}']")


def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=12)
    page.mouse.up()


def centre(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def serious_axe_violations(page: Page) -> list:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}))
            .violations.filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))"""
    )
    return found


def test_the_chart_at_desktop_and_phone_widths(new_page, live_server: LiveServer, scene: Scene):
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    live_server.sign_in(page, OPERATOR)
    page.goto(scene.chart(live_server))

    bar = the_bar(page, scene)
    expect(bar).to_be_visible()
    expect(bar).to_contain_text(scene.guest_name)
    expect(bar).to_have_class(re.compile(r"\bconfirmed\b"))
    expect(page.locator(".tape-head .day").first).to_have_attribute("data-day", FIRST.isoformat())
    assert page_overflow(page) <= 1
    page.screenshot(path=str(SHOTS / "tape-chart-desktop.png"), full_page=True)
    page.goto(
        f"{live_server.url}/operator/facilities/{scene.facility_id}/calendar?view=month"
        f"&month={TODAY:%Y-%m}"
    )
    expect(page.locator(".tape-head .day.today")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "tape-chart-desktop-month.png"))
    assert errors == [], "no script error, nothing the content policy refused"

    phone = new_page(viewport=PHONE_390)
    live_server.sign_in(phone, OPERATOR)
    phone.goto(scene.chart(live_server))
    expect(the_bar(phone, scene)).to_be_attached()
    assert page_overflow(phone) <= 1, "the chart scrolls inside its region, not the page"
    wrap = phone.locator(".tape-wrap")
    room = phone.locator(f"#room-{scene.room_a}")
    before = room.bounding_box()
    wrap.evaluate("el => { el.scrollLeft = 400; }")
    phone.wait_for_function("() => document.querySelector('.tape-wrap').scrollLeft > 0")
    after = room.bounding_box()
    assert abs(after["x"] - before["x"]) < 1, "the room column stays put"
    phone.screenshot(path=str(SHOTS / "tape-chart-phone.png"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE_390], ids=["desktop", "phone"])
def test_the_chart_and_selection_pass_axe(browser, live_server: LiveServer, scene: Scene, viewport):
    # the content policy forbids the injected axe script; test_csp checks the policy
    context = browser.new_context(locale="ja-JP", viewport=viewport, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        live_server.sign_in(page, OPERATOR)
        page.goto(scene.chart(live_server))
        assert serious_axe_violations(page) == []
        page.goto(
            f"{live_server.url}/operator/facilities/{scene.facility_id}/calendar/selection"
            f"?unit_id={scene.room_b}&start={FREE[0]}&end={FREE[1] + timedelta(days=1)}"
        )
        expect(page.locator("h1")).to_be_visible()
        assert page_overflow(page) <= 1
        assert serious_axe_violations(page) == []
    finally:
        context.close()


def test_dragging_a_stay_to_another_room_asks_to_move_it(
    page: Page, live_server: LiveServer, scene: Scene
):
    live_server.sign_in(page, OPERATOR)
    page.goto(scene.chart(live_server))
    bar = the_bar(page, scene)
    target = page.locator(f".tape-row[data-unit-id='{scene.room_b}']")
    x, y = centre(bar.bounding_box())
    _tx, ty = centre(target.bounding_box())

    drag(page, (x, y), (x, ty))

    expect(page).to_have_url(
        f"{live_server.url}/operator/bookings/{scene.booking_id}/move?unit_id={scene.room_b}"
        f"&check_in={CHECK_IN}&check_out={CHECK_OUT}"
    )
    expect(page.locator("h1")).to_be_visible()
    assert live_server.booking(scene.booking_id).unit_id == scene.room_a, "nothing moved yet"

    # Two days later in the same room: the same length, other dates.
    page.goto(scene.chart(live_server))
    cell = page.locator(".tape-head .day").first.bounding_box()["width"]
    x, y = centre(the_bar(page, scene).bounding_box())
    drag(page, (x, y), (x + 2 * cell, y))
    expect(page).to_have_url(
        f"{live_server.url}/operator/bookings/{scene.booking_id}/move?unit_id={scene.room_a}"
        f"&check_in={CHECK_IN + timedelta(days=2)}&check_out={CHECK_OUT + timedelta(days=2)}"
    )

    # A click that does not drag opens the stay.
    page.goto(scene.chart(live_server))
    the_bar(page, scene).click()
    expect(page).to_have_url(f"{live_server.url}/operator/bookings/{scene.booking_id}")


def test_dragging_across_free_nights_closes_them(page: Page, live_server: LiveServer, scene: Scene):
    live_server.sign_in(page, OPERATOR)
    page.goto(scene.chart(live_server))
    row = page.locator(f".tape-row[data-unit-id='{scene.room_b}']")
    first = row.locator(f"a.free[data-day='{FREE[0]}']").bounding_box()
    last = row.locator(f"a.free[data-day='{FREE[1]}']").bounding_box()

    page.mouse.move(*centre(first))
    page.mouse.down()
    page.mouse.move(*centre(last), steps=10)
    expect(row.locator("a.free.selected")).to_have_count(2)
    expect(page.locator("[data-tape-status]")).to_contain_text(scene.room_b_name)
    page.mouse.up()

    expect(page).to_have_url(re.compile(r"/calendar/selection\?"))
    assert f"unit_id={scene.room_b}" in page.url
    assert f"start={FREE[0]}" in page.url and f"end={FREE[1] + timedelta(days=1)}" in page.url
    expect(page.get_by_test_id("selection-room")).to_contain_text(scene.room_b_name)
    expect(page.get_by_test_id("record-direct-stay")).to_have_attribute(
        "href", re.compile(rf"/direct-stays/new\?unit_id={scene.room_b}&start={FREE[0]}")
    )
    form = page.locator("form.selection-close-form")
    form.locator("select[name=reason]").select_option("private_use")
    form.locator("input[name=note]").fill("オーナー利用")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(scene.chart(live_server))
    expect(page.locator(".flash-success")).to_contain_text(scene.room_b_name)
    closed = row.locator("a.bar.closed")
    expect(closed).to_have_count(1)
    expect(closed).to_have_attribute("data-reason", "private_use")
    expect(closed).to_have_attribute("data-start", FREE[0].isoformat())
    expect(closed).to_have_attribute("title", re.compile("オーナー利用"))
    page.screenshot(path=str(SHOTS / "tape-chart-closed.png"))
    with live_server.app.app_context():
        held = db.session.scalars(
            select(Occupancy.night)
            .where(Occupancy.unit_id == scene.room_b, Occupancy.block_id.is_not(None))
            .where(Occupancy.night >= FIRST)
            .order_by(Occupancy.night)
        ).all()
        db.session.remove()
    assert held == list(FREE)


def test_a_stay_is_reached_by_the_keyboard(page: Page, live_server: LiveServer, scene: Scene):
    live_server.sign_in(page, OPERATOR)
    page.goto(scene.chart(live_server))
    row = page.locator(f".tape-row[data-unit-id='{scene.room_a}']")
    row.locator(f"a.free[data-day='{CHECK_IN - timedelta(days=1)}']").focus()

    page.keyboard.press("Tab")
    expect(the_bar(page, scene)).to_be_focused()
    # arrow keys: down to the next room, back up, right to the night after the stay
    page.keyboard.press("ArrowDown")
    below = page.locator(f".tape-row[data-unit-id='{scene.room_b}'] a.free[data-day='{CHECK_IN}']")
    expect(below).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(the_bar(page, scene)).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(row.locator(f"a.free[data-day='{CHECK_OUT}']")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(the_bar(page, scene)).to_be_focused()

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/operator/bookings/{scene.booking_id}")


def test_a_finger_drags_a_stay_on_a_tablet(browser, live_server: LiveServer, scene: Scene):
    context = browser.new_context(locale="ja-JP", viewport=TABLET, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        live_server.sign_in(page, OPERATOR)
        page.goto(scene.chart(live_server))
        x, y = centre(the_bar(page, scene).bounding_box())
        _tx, ty = centre(page.locator(f".tape-row[data-unit-id='{scene.room_b}']").bounding_box())
        touch = context.new_cdp_session(page)

        def point(kind: str, px: float, py: float) -> None:
            points = [] if kind == "touchEnd" else [{"x": px, "y": py, "id": 1}]
            touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        point("touchStart", x, y)
        for step in range(1, 11):
            point("touchMove", x, y + (ty - y) * step / 10)
        point("touchEnd", x, ty)

        expect(page).to_have_url(re.compile(rf"/bookings/{scene.booking_id}/move\?"))
        assert f"unit_id={scene.room_b}" in page.url and f"check_in={CHECK_IN}" in page.url
        page.screenshot(path=str(SHOTS / "tape-chart-tablet-move.png"))
    finally:
        context.close()
