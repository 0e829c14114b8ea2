"""A day at the front desk in a real browser, against the live demo network.

The demo operator of さとやま運営 lands on the dashboard and reads today's counts and this
month's figures; a guest's stay arriving today is booked; on the tape chart the operator
drags it to another room and confirms the move, drags across two free nights of a room
and closes them, opens the stay from its bar and checks the guest in; back on the
dashboard the figures have moved by exactly what was done. The checked-in stay's page
is then read on a 390 px phone.

The live server is shared by the whole session: the stay is written straight into the
database (a background employee's, priced so the move costs the company nothing), and
the stay, its events and the closing are removed afterwards, so later tests see the demo
as it was. Assertions lean on URLs and ``data-`` attributes, which hold whether or not
the Japanese catalogue is compiled. Screenshots go to /tmp/front-desk-*.png.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import delete, func, select

from accounts.events import Event
from accounts.models import User
from availability.blocks import remove_block
from availability.models import Block, BlockSource, Occupancy
from billing.models import CreditEntry
from booking.models import Booking, BookingNight, BookingStatus
from core.extensions import db
from facilities.models import Facility, Unit
from facilities.services import operator_facilities
from lodging import register
from lodging.models import RegisterPurge, RegisterRead
from notifications.models import Notice, WebhookDelivery
from pricing.prices import unit_night_prices
from tests.browser.conftest import NOW, TODAY, LiveServer, days, page_overflow, yen
from tests.register_helpers import fill_register

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
PHONE_390 = {"width": 390, "height": 844}
STAY_NIGHTS = 2  # the stay arrives today (the pinned 2026-12-01) for two nights
CLOSE_FROM = range(2, 9)  # where the two nights closed may start: this month, on screen
CLOSING_NOTE = "フロント点検 (front desk flow)"
FACILITIES_PER_PAGE = 20  # the dashboard's first page of facility cards
SHOTS = Path(tempfile.gettempdir())  # /tmp: screenshots to look at


@dataclass(frozen=True)
class Room:
    id: int
    name: str


@dataclass
class Desk:
    """The rooms and nights this test uses, and what it wrote (removed afterwards)."""

    facility_id: int
    room_a: Room  # the stay is booked here
    room_b: Room  # and dragged here
    room_c: Room  # two nights of this room are closed
    close_first: date
    guest_id: int
    guest_name: str
    prices: list[int]  # the stay's nightly prices
    booking_id: int | None = None  # the stay once booked

    @property
    def close_end(self) -> date:
        return self.close_first + timedelta(days=2)

    @property
    def total(self) -> int:
        return sum(self.prices)

    def chart(self, server: LiveServer) -> str:
        return f"{server.url}/operator/facilities/{self.facility_id}/calendar"


def _free(unit_id: int, first: date, end: date) -> bool:
    return (
        db.session.scalar(
            select(Occupancy.id).where(
                Occupancy.unit_id == unit_id, Occupancy.night >= first, Occupancy.night < end
            )
        )
        is None
    )


def _pick(facility: Facility) -> tuple[Room, Room, Room, date] | None:
    """Two rooms free tonight and tomorrow night, and a room with two free nights later
    in the chart's two weeks (another room where there is one), or None."""
    units = sorted((u for u in facility.units if u.active and u.capacity >= 1), key=lambda u: u.id)
    free_now = [u for u in units if _free(u.id, TODAY, days(STAY_NIGHTS))]
    if len(free_now) < 2:
        return None
    a, b = free_now[0], free_now[1]
    others = [u for u in units if u.id not in (a.id, b.id)] + [a, b]
    for unit in others:
        for n in CLOSE_FROM:
            if _free(unit.id, days(n), days(n + 2)):
                return Room(a.id, a.name), Room(b.id, b.name), Room(unit.id, unit.name), days(n)
    return None


@pytest.fixture
def desk(live_server: LiveServer) -> Iterator[Desk]:
    """The operator's first facility (on the dashboard's first page) with what the flow
    needs free; the stay is booked by ``book`` once the dashboard has been read."""
    with live_server.app.app_context():
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        found = None
        for facility in operator_facilities(operator)[:FACILITIES_PER_PAGE]:
            if facility.active and (picked := _pick(facility)) is not None:
                found = facility, *picked
                break
        assert found is not None, "a satoyama facility has two rooms free tonight"
        facility, a, b, c, close_first = found
        guest = db.session.scalar(
            select(User)
            .join(Booking, Booking.user_id == User.id)
            .join(Unit, Unit.id == Booking.unit_id)
            .where(Unit.facility_id == facility.id)
            .order_by(Booking.id)
            .limit(1)
        )
        # What the stay cost when booked: at most what either room costs tonight, so the
        # operator's move keeps every price and nothing moves on the company's credit.
        nights = [days(n) for n in range(STAY_NIGHTS)]
        in_a, in_b = (unit_night_prices(db.session.get(Unit, r.id), nights) for r in (a, b))
        prices = [min(x.price, y.price) for x, y in zip(in_a, in_b, strict=True)]
        made = Desk(facility.id, a, b, c, close_first, guest.id, guest.name, prices)
        db.session.remove()
    try:
        yield made
    finally:
        _clean_up(live_server, made)


def book(server: LiveServer, desk: Desk) -> int:
    """The guest's stay in room A, arriving today, as a booking made now would be."""
    with server.app.app_context():
        guest = db.session.get(User, desk.guest_id)
        booking = Booking(
            user_id=guest.id,
            company_id=guest.company_id,
            unit_id=desk.room_a.id,
            check_in=TODAY,
            check_out=days(STAY_NIGHTS),
            guests=1,
            total_price=desk.total,
            created_at=NOW,
        )
        db.session.add(booking)
        db.session.flush()
        desk.booking_id = booking.id
        for n, price in enumerate(desk.prices):
            db.session.add(BookingNight(booking_id=booking.id, night=days(n), price=price))
            db.session.add(Occupancy(unit_id=desk.room_a.id, night=days(n), booking_id=booking.id))
        db.session.commit()
        fill_register(booking)  # check-in waits for a complete guest register
        db.session.remove()
    return desk.booking_id


def _clean_up(server: LiveServer, desk: Desk) -> None:
    with server.app.app_context():
        for block in db.session.scalars(
            select(Block).where(
                Block.unit_id == desk.room_c.id,
                Block.source == BlockSource.MANUAL,
                Block.start_date == desk.close_first,
                Block.note == CLOSING_NOTE,
            )
        ):
            remove_block(block, TODAY)
        if desk.booking_id is not None:
            events = select(Event.id).where(
                Event.subject_type == "booking", Event.subject_id == desk.booking_id
            )
            db.session.execute(delete(Notice).where(Notice.event_id.in_(events)))
            db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(events)))
            db.session.execute(
                delete(Event).where(
                    Event.subject_type == "booking", Event.subject_id == desk.booking_id
                )
            )
            db.session.execute(delete(Occupancy).where(Occupancy.booking_id == desk.booking_id))
            register.purge(desk.booking_id, desk.facility_id, "cancelled", NOW)  # the register
            for model in (RegisterPurge, RegisterRead):
                db.session.execute(delete(model).where(model.booking_id == desk.booking_id))
            db.session.execute(
                delete(BookingNight).where(BookingNight.booking_id == desk.booking_id)
            )
            db.session.execute(delete(Booking).where(Booking.id == desk.booking_id))
        db.session.commit()
        db.session.remove()


# --- the dashboard ------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Today's counts and this month's figures of one dashboard section."""

    arrivals: int
    in_house: int
    nights_sold: int
    nights_available: int
    room_revenue: int
    pickup: int
    occupancy: str  # as shown: "41.3%"

    def after(self, *, arrived: int, sold: int, closed: int, revenue: int) -> Board:
        """This board once a stay of ``sold`` nights (this month, booked now) arrives today
        and ``closed`` nights of this month are closed."""
        nights_sold = self.nights_sold + sold
        nights_available = self.nights_available - closed
        return replace(
            self,
            arrivals=self.arrivals + arrived,
            in_house=self.in_house + arrived,
            nights_sold=nights_sold,
            nights_available=nights_available,
            room_revenue=self.room_revenue + revenue,
            pickup=self.pickup + sold,
            occupancy=f"{round(100 * nights_sold / nights_available, 1):.1f}%",
        )


def read_board(section: Locator, table_testid: str) -> Board:
    def this_month(figure: str) -> str:
        cell = table.locator(f"td[data-period='this'][data-figure='{figure}'] .value")
        return cell.inner_text().strip()

    table = section.get_by_test_id(table_testid)
    expect(table).to_be_visible()
    sold, available = (int(n) for n in this_month("nights").split("/"))
    return Board(
        arrivals=int(section.get_by_test_id("arrivals").first.inner_text()),
        in_house=int(section.get_by_test_id("in-house").first.inner_text()),
        nights_sold=sold,
        nights_available=available,
        room_revenue=yen(this_month("room_revenue")),
        pickup=int(this_month("pickup")),
        occupancy=this_month("occupancy"),
    )


def read_dashboard(page: Page, facility_id: int) -> tuple[Board, Board]:
    """(the organisation, the facility) as the dashboard shows them now."""
    organisation = read_board(page.get_by_test_id("organisation"), "organisation-figures")
    card = page.locator(f"li[data-facility-id='{facility_id}']")
    card.locator("details.facility-figures > summary").click()
    return organisation, read_board(card, "facility-figures")


# --- the chart ----------------------------------------------------------------------------


def centre(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page: Page, start: Locator, end: Locator, *, along_row: bool = False) -> None:
    """Press on ``start`` and move to ``end`` (to its row only, keeping the column, unless
    ``along_row``), as a mouse does; the caller lets go, after looking if it likes."""
    start.scroll_into_view_if_needed()
    end.scroll_into_view_if_needed()
    x, y = centre(start.bounding_box())
    tx, ty = centre(end.bounding_box())
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(tx if along_row else x, ty, steps=12)


def collect_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    return errors


# --- the day ------------------------------------------------------------------------------


def test_a_day_at_the_front_desk(
    new_page: Callable[..., Page], live_server: LiveServer, desk: Desk
):
    url = live_server.url
    page = new_page()
    errors = collect_errors(page)

    # 1. Sign in and land on the dashboard; read what the day will change.
    live_server.sign_in(page, OPERATOR)
    expect(page).to_have_url(f"{url}/operator/")
    org_before, facility_before = read_dashboard(page, desk.facility_id)

    # 2. A guest's stay arriving today.
    booking_id = book(live_server, desk)
    bar = page.locator(f"a.bar[data-booking-id='{booking_id}']")

    # 3. The tape chart, from the facility's card: drag the stay to room B and confirm.
    page.locator(f"li[data-facility-id='{desk.facility_id}'] a[href$='/calendar']").click()
    expect(page).to_have_url(desk.chart(live_server))
    row_a = page.locator(f".tape-row[data-unit-id='{desk.room_a.id}']")
    row_b = page.locator(f".tape-row[data-unit-id='{desk.room_b.id}']")
    expect(row_a.locator(f"a.bar[data-booking-id='{booking_id}']")).to_contain_text(desk.guest_name)
    expect(bar).to_have_class(re.compile(r"\bconfirmed\b"))
    expect(page.locator(".tape-head .day.today")).to_have_attribute("data-day", TODAY.isoformat())
    page.screenshot(path=str(SHOTS / "front-desk-chart-before.png"), full_page=True)

    drag(page, bar, row_b)
    page.mouse.up()

    expect(page).to_have_url(
        f"{url}/operator/bookings/{booking_id}/move?unit_id={desk.room_b.id}"
        f"&check_in={TODAY}&check_out={days(STAY_NIGHTS)}"
    )
    preview = page.get_by_test_id("move-preview")
    expect(preview.get_by_test_id("new-room")).to_contain_text(desk.room_b.name)
    # the operator's move keeps the prices: the same total, nothing charged or returned
    expect(preview.get_by_test_id("new-total")).to_have_text(
        preview.get_by_test_id("old-total").inner_text()
    )
    assert yen(preview.get_by_test_id("new-total").inner_text()) == desk.total
    assert live_server.booking(booking_id).unit_id == desk.room_a.id, "nothing moved yet"
    page.screenshot(path=str(SHOTS / "front-desk-move-confirm.png"), full_page=True)
    page.get_by_test_id("confirm-move").click()

    expect(page).to_have_url(f"{url}/operator/bookings/{booking_id}")
    expect(page.locator(".flash-success")).to_contain_text(desk.room_b.name)
    expect(page.get_by_test_id("room")).to_have_text(desk.room_b.name)
    moved = live_server.booking(booking_id)
    assert (moved.unit_id, moved.check_in, moved.check_out) == (
        desk.room_b.id,
        TODAY,
        days(STAY_NIGHTS),
    )
    assert moved.occupied_nights == [days(n) for n in range(STAY_NIGHTS)]
    assert moved.total_price == desk.total
    with live_server.app.app_context():
        entries = db.session.scalar(
            select(func.count()).where(CreditEntry.booking_id == booking_id)
        )
        db.session.remove()
    assert entries == 0, "the company's credit did not move"

    page.goto(desk.chart(live_server))
    expect(row_b.locator(f"a.bar[data-booking-id='{booking_id}']")).to_be_visible()
    expect(row_a.locator(f"a.bar[data-booking-id='{booking_id}']")).to_have_count(0)

    # 4. Drag across two free nights of room C and close them.
    row_c = page.locator(f".tape-row[data-unit-id='{desk.room_c.id}']")
    first = row_c.locator(f"a.free[data-day='{desk.close_first}']")
    second = row_c.locator(f"a.free[data-day='{desk.close_first + timedelta(days=1)}']")
    drag(page, first, second, along_row=True)
    expect(row_c.locator("a.free.selected")).to_have_count(2)
    expect(page.locator("[data-tape-status]")).to_contain_text(desk.room_c.name)
    page.mouse.up()

    expect(page).to_have_url(re.compile(r"/calendar/selection\?"))
    assert f"unit_id={desk.room_c.id}" in page.url
    assert f"start={desk.close_first}" in page.url and f"end={desk.close_end}" in page.url
    expect(page.get_by_test_id("selection-room")).to_contain_text(desk.room_c.name)
    form = page.locator("form.selection-close-form")
    form.locator("select[name=reason]").select_option("maintenance")
    form.locator("input[name=note]").fill(CLOSING_NOTE)
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(f"{desk.chart(live_server)}?view=2w&start={TODAY}")
    expect(page.locator(".flash-success")).to_contain_text(desk.room_c.name)
    closed = row_c.locator(f"a.bar.closed[data-start='{desk.close_first}']")
    expect(closed).to_have_attribute("data-end", desk.close_end.isoformat())
    expect(closed).to_have_attribute("data-reason", "maintenance")
    expect(closed).to_have_attribute("title", re.compile(re.escape(CLOSING_NOTE)))
    with live_server.app.app_context():
        held = db.session.scalars(
            select(Occupancy.night)
            .where(
                Occupancy.unit_id == desk.room_c.id,
                Occupancy.block_id.is_not(None),
                Occupancy.night >= desk.close_first,
                Occupancy.night < desk.close_end,
            )
            .order_by(Occupancy.night)
        ).all()
        db.session.remove()
    assert held == [desk.close_first, desk.close_first + timedelta(days=1)]

    # 5. Open the stay from its bar and check the guest in.
    page.screenshot(path=str(SHOTS / "front-desk-chart-after.png"), full_page=True)
    row_b.locator(f"a.bar[data-booking-id='{booking_id}']").click()
    expect(page).to_have_url(f"{url}/operator/bookings/{booking_id}")
    status = page.get_by_test_id("status")
    expect(status).to_have_class(re.compile(r"\bstatus-confirmed\b"))
    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    # The front desk ticks that it checked each guest's identity against the register.
    identity = page.locator("#identity_checked")
    expect(identity).to_have_attribute("required", "")
    identity.check()
    page.once("dialog", accept)
    page.locator(f"form[action$='/bookings/{booking_id}/check-in'] button[type=submit]").click()

    expect(page).to_have_url(f"{url}/operator/bookings/{booking_id}")
    expect(page.locator(".flash-success")).to_contain_text(desk.guest_name)
    expect(status).to_have_class(re.compile(r"\bstatus-checked_in\b"))
    desk_card = page.get_by_test_id("front-desk")
    expect(desk_card.locator("form[action$='/check-out'] button")).to_be_visible()
    expect(desk_card.locator("form[action$='/check-in']")).to_have_count(0)
    expect(
        page.get_by_test_id("history").locator("li[data-type='booking.checked_in']")
    ).to_have_count(1)
    assert len(questions) == 1 and questions[0], "the button asked first"
    assert live_server.booking(booking_id).status == BookingStatus.CHECKED_IN
    page.screenshot(path=str(SHOTS / "front-desk-checked-in.png"), full_page=True)

    page.goto(desk.chart(live_server))
    expect(bar).to_have_class(re.compile(r"\bchecked_in\b"))

    # 6. The dashboard: one more arrival in the house, two nights sold, two closed.
    page.goto(f"{url}/operator/")
    org_after, facility_after = read_dashboard(page, desk.facility_id)
    change = {"arrived": 1, "sold": STAY_NIGHTS, "closed": 2, "revenue": desk.total}
    assert facility_after == facility_before.after(**change)
    assert org_after == org_before.after(**change)
    page.screenshot(path=str(SHOTS / "front-desk-dashboard.png"), full_page=True)
    assert errors == [], "no script error, nothing the content policy refused"

    # 7. The checked-in stay on a phone: the front desk fits, nothing scrolls sideways.
    phone = new_page(viewport=PHONE_390)
    phone_errors = collect_errors(phone)
    live_server.sign_in(phone, OPERATOR)
    phone.goto(f"{url}/operator/bookings/{booking_id}")
    expect(phone.get_by_test_id("status")).to_have_class(re.compile(r"\bstatus-checked_in\b"))
    check_out = phone.get_by_test_id("front-desk").locator("form[action$='/check-out'] button")
    check_out.scroll_into_view_if_needed()
    expect(check_out).to_be_in_viewport()
    assert page_overflow(phone) <= 1
    phone.screenshot(path=str(SHOTS / "front-desk-phone-stay.png"), full_page=True)
    assert phone_errors == []
