"""The operator console in a real browser, against the live demo network.

The demo operator of さとやま運営 closes nights of one room, finds them on the
facility calendar, and opens them again (the live server is shared by the whole
session, so the test leaves the room as it found it). Assertions lean on URLs and
``data-`` attributes, which hold whether or not the Japanese catalogue is compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts.models import User
from availability.models import Block, Occupancy
from core.extensions import db
from facilities.models import Facility, Unit
from tests.browser.conftest import LiveServer, days, page_overflow

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
PHONE_390 = {"width": 390, "height": 844}
# Beyond the demo's seeded bookings (120 days ahead), so the nights are free.
FIRST, LAST = days(130), days(132)


@dataclass(frozen=True)
class Room:
    facility_id: int
    unit_id: int
    unit_name: str


def demo_room(server: LiveServer) -> Room:
    """The first room on sale of the operator's first facility."""
    with server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        unit = db.session.scalars(
            select(Unit)
            .join(Facility)
            .where(Facility.operator_id == operator.operator_id, Facility.active, Unit.active)
            .order_by(Facility.id, Unit.id)
        ).first()
        return Room(unit.facility_id, unit.id, unit.name)


def held(server: LiveServer, unit_id: int, first: date, last: date) -> dict[date, str]:
    """Nights of the room in first..last and what holds them."""
    with server.app.app_context():
        rows = db.session.execute(
            select(Occupancy.night, Occupancy.booking_id, Block.reason)
            .outerjoin(Block, Block.id == Occupancy.block_id)
            .where(Occupancy.unit_id == unit_id, Occupancy.night.between(first, last))
        ).all()
        return {night: (f"booking {b}" if b else reason) for night, b, reason in rows}


def test_operator_closes_nights_and_sees_them_on_the_facility_calendar(
    page: Page, live_server: LiveServer
):
    url = live_server.url
    room = demo_room(live_server)
    assert held(live_server, room.unit_id, FIRST, LAST) == {}, "the nights start free"
    live_server.sign_in(page, OPERATOR)

    # From the console's front page to the facility, then to "close dates".
    page.goto(f"{url}/operator/")
    card = page.locator(f"li[data-facility-id='{room.facility_id}']")
    expect(card).to_be_visible()
    card.locator("h2 a").click()
    expect(page).to_have_url(f"{url}/operator/facilities/{room.facility_id}")
    page.locator(f".facility-nav a[href='/operator/facilities/{room.facility_id}/close']").click()
    expect(page).to_have_url(f"{url}/operator/facilities/{room.facility_id}/close")

    form = page.locator("form.close-form")
    form.locator("select[name=unit]").select_option(str(room.unit_id))
    form.locator("input[name=first_night]").fill(FIRST.isoformat())
    form.locator("input[name=last_night]").fill(LAST.isoformat())
    form.locator("select[name=reason]").select_option("maintenance")
    form.locator("input[name=note]").fill("屋根の修理")
    form.locator("button[type=submit]").click()

    # Straight to the facility calendar, on the month of the first closed night.
    month = FIRST.strftime("%Y-%m")
    expect(page).to_have_url(f"{url}/operator/facilities/{room.facility_id}/calendar?month={month}")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(".flash-success")).to_contain_text(room.unit_name)
    row = page.locator(f".tape-row[data-unit-id='{room.unit_id}']")
    closed = row.locator(f"a.bar.closed[data-start='{FIRST}']")
    expect(closed).to_have_attribute("data-reason", "maintenance")
    expect(closed).to_have_attribute("data-end", days(133).isoformat())
    expect(closed).to_have_attribute("title", re.compile("屋根の修理"))
    for n in (129, 133):
        expect(row.locator(f"a.free[data-day='{days(n)}']")).to_have_count(1)
    assert held(live_server, room.unit_id, FIRST, LAST) == {
        days(130): "maintenance",
        days(131): "maintenance",
        days(132): "maintenance",
    }

    # The closing is listed; reopening asks first, then frees the nights again.
    page.locator(".page-head a[href$='/close']").click()
    period = page.get_by_test_id("closed-periods").locator("li", has_text="屋根の修理")
    expect(period).to_have_count(1)
    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    period.locator("button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(
        page.get_by_test_id("closed-periods").locator("li", has_text="屋根の修理")
    ).to_have_count(0)
    assert len(questions) == 1 and questions[0]
    assert held(live_server, room.unit_id, FIRST, LAST) == {}

    page.goto(f"{url}/operator/facilities/{room.facility_id}/calendar?month={month}")
    expect(row.locator(f"a.free[data-day='{days(131)}']")).to_have_count(1)


def test_closing_over_a_booked_night_is_refused_in_the_browser(page: Page, live_server: LiveServer):
    """The demo's bookings are real: a room's booked night cannot be closed."""
    room = demo_room(live_server)
    with live_server.app.app_context():
        night = db.session.scalar(
            select(Occupancy.night)
            .where(
                Occupancy.unit_id == room.unit_id,
                Occupancy.booking_id.is_not(None),
                Occupancy.night >= days(1),
            )
            .order_by(Occupancy.night)
        )
    assert night is not None, "the demo books about half of every room's nights"
    live_server.sign_in(page, OPERATOR)
    page.goto(f"{live_server.url}/operator/facilities/{room.facility_id}/close")

    form = page.locator("form.close-form")
    form.locator("select[name=unit]").select_option(str(room.unit_id))
    form.locator("input[name=first_night]").fill(night.isoformat())
    form.locator("input[name=last_night]").fill(night.isoformat())
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.locator("button[type=submit]").click()

    assert answer.value.status == 409
    expect(page.get_by_test_id("form-error")).to_contain_text(room.unit_name)
    assert "booking" in held(live_server, room.unit_id, night, night)[night]


@pytest.mark.parametrize(
    "path",
    ["/operator/", "{f}", "{f}/calendar", "{f}/close", "{f}/today", "{f}/housekeeping",
     "{f}/occupancy", "{f}/edit"],
)  # fmt: skip
def test_console_pages_fit_a_phone_screen(new_page, live_server: LiveServer, path):
    page = new_page(viewport=PHONE_390)
    room = demo_room(live_server)
    live_server.sign_in(page, OPERATOR)

    target = path.replace("{f}", f"/operator/facilities/{room.facility_id}")
    response = page.goto(f"{live_server.url}{target}")

    assert response.status == 200
    expect(page.locator("h1")).to_be_visible()
    assert page_overflow(page) <= 1, f"{target} scrolls sideways at 390px"
