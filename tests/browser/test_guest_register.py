"""The guest register (宿泊者名簿) in a real browser, against the live demo network.

An employee's upcoming stay for two guests at a Kyoto city inn (the accommodation tax
line shows on the stay page) is booked through the services; the employee follows the
stay page's link to the register, reaches the form by keyboard, fills in a resident and
a companion who lives abroad (nationality, passport number and a passport image drawn
with Pillow) and sees the register complete. The facility's operator then finds the
stay in the register by its period, opens the passport image and the print view (the
宿泊者名簿 table with both guests), and reads those reads in the access log. Both
register pages fit a 390 px phone. The stay is cancelled and its register purged
afterwards, so later tests see the demo as it was. Assertions lean on ids, URLs and
``data-`` attributes, which hold whether or not the Japanese catalogue is compiled.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts.models import User
from booking.cancellation import cancel_booking
from booking.models import Booking
from booking.services import BookingError, StayRequest, book_stay
from core.extensions import db
from facilities.models import Facility
from lodging import register
from tests.browser.conftest import EMPLOYEE, NOW, LiveServer, days, page_overflow

pytestmark = pytest.mark.browser

OPERATOR = "operator@satoyama.example"
KYOTO_INN = "Gion Hanamikoji Machiya"  # 京都市東山区, the satoyama operator's (demo/data.py)
PHONE_390 = {"width": 390, "height": 844}
SHOTS = Path(tempfile.gettempdir())  # /tmp/guest-register-*.png: screenshots to look at
RESIDENT = {
    "name": "山田 花子",
    "address": "〒154-0015 東京都世田谷区桜新町2-14-3",
    "phone": "090-3412-7781",
}
COMPANION = {
    "name": "Emily Carter",
    "address": "1200 Pine Street, San Francisco, CA 94109, USA",
    "phone": "+1 415 555 2671",
    "nationality": "US",
    "passport_number": "571234567",
}
# The register form's fields in Tab order, per guest block (WTForms ids: guests-<i>-<name>).
BLOCK_FIELDS = ("name", "phone", "address", "lives_abroad", "nationality", "passport_number")


@dataclass(frozen=True)
class Stay:
    booking_id: int
    facility_id: int
    check_in: date
    tax: int  # the stay's accommodation tax, in yen
    employee_name: str
    operator_name: str


@pytest.fixture
def stay(live_server: LiveServer) -> Iterator[Stay]:
    """The employee's stay of two nights for two guests at the Kyoto inn, some weeks out."""
    app = live_server.app
    with app.app_context():
        employee = db.session.scalar(select(User).where(User.email == EMPLOYEE))
        operator = db.session.scalar(select(User).where(User.email == OPERATOR))
        inn = db.session.scalar(select(Facility).where(Facility.name_en == KYOTO_INN))
        assert inn is not None and inn.municipality.startswith("京都市")
        assert inn.operator_id == operator.operator_id
        rooms = [u for u in sorted(inn.units, key=lambda u: u.id) if u.active and u.capacity >= 2]
        booking = book_two_guests(app, employee, rooms)
        db.session.commit()
        names = employee.name, operator.name
        made = Stay(booking.id, inn.id, booking.check_in, booking.accommodation_tax, *names)
        db.session.remove()
    try:
        yield made
    finally:
        with app.app_context():
            employee = db.session.scalar(select(User).where(User.email == EMPLOYEE))
            cancel_booking(employee, made.booking_id, NOW)
            register.purge(made.booking_id, made.facility_id, "cancelled", NOW)
            db.session.commit()
            db.session.remove()


def book_two_guests(app, employee: User, rooms: list) -> Booking:
    """The first two nights, some weeks out, that one of ``rooms`` has free."""
    for start, room in ((start, room) for start in range(40, 120, 3) for room in rooms):
        try:
            return book_stay(
                employee,
                StayRequest(room.id, days(start), days(start + 2), 2),
                NOW,
                horizon_days=app.config["BOOKING_HORIZON_DAYS"],
                grace_days=app.config["BILLING_GRACE_DAYS"],
            )
        except BookingError:
            db.session.rollback()
    raise AssertionError("no room of the Kyoto inn is free for two nights")


def passport_png(tmp_path: Path) -> Path:
    """A small stand-in for a passport's photo page."""
    path = tmp_path / "passport.png"
    image = Image.new("RGB", (120, 84), (30, 60, 120))
    image.paste((235, 225, 200), (10, 10, 40, 50))  # the photo
    image.save(path, "PNG")
    return path


def tab_stops(page: Page, start: str, until: str, limit: int = 40) -> list[str]:
    """The ids (or test ids) the Tab key stops at after the element ``start``, up to
    the one whose test id is ``until``."""
    page.locator(start).focus()
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(
            "() => document.activeElement.id || document.activeElement.dataset.testid || ''"
        )
        stops.append(stop)
        if stop == until:
            return stops
    raise AssertionError(f"{until} is not reached by Tab: {stops}")


def fill_guest(page: Page, index: int, guest: dict[str, str], passport: Path | None = None):
    block = f"#guests-{index}"
    for name in ("name", "address", "phone"):
        page.locator(f"{block}-{name}").fill(guest[name])
    if "nationality" in guest:
        page.locator(f"{block}-lives_abroad").check()
        page.locator(f"{block}-nationality").select_option(guest["nationality"])
        page.locator(f"{block}-passport_number").fill(guest["passport_number"])
    if passport is not None:
        page.locator(f"{block}-passport").set_input_files(passport)


def test_an_employee_registers_two_guests_and_the_operator_prints_the_register(
    new_page, live_server: LiveServer, stay: Stay, tmp_path: Path
):
    url = live_server.url
    passport = passport_png(tmp_path)

    # 1. The employee's stay: the tax line, and a register still to fill in.
    page = new_page()
    live_server.sign_in(page)
    page.goto(f"{url}/stays/{stay.booking_id}")
    assert stay.tax > 0, "a Kyoto city stay pays the accommodation tax"
    expect(page.get_by_test_id("accommodation-tax")).to_have_text(f"¥{stay.tax:,}")
    status = page.get_by_test_id("register-status")
    expect(status).to_have_attribute("data-complete", "false")
    status.get_by_test_id("register-link").click()
    expect(page).to_have_url(f"{url}/stays/{stay.booking_id}/guests")
    expect(page.get_by_test_id("register-missing")).to_be_visible()
    expect(page.locator("fieldset.guest-block")).to_have_count(2)

    # By keyboard: Tab goes through both guests' fields, in order, to the Save button.
    stops = tab_stops(page, "[data-testid=back-to-stay]", "save-register")
    fields = [s for s in stops if s.startswith("guests-")]
    expected = [f"guests-{i}-{name}" for i in (0, 1) for name in (*BLOCK_FIELDS, "passport")]
    assert fields == expected

    # 2. A resident, then a companion who lives abroad with a passport image; a passport
    # number that is no passport number is refused on its field and nothing is saved.
    fill_guest(page, 0, RESIDENT)
    fill_guest(page, 1, {**COMPANION, "passport_number": "12"}, passport)
    page.get_by_test_id("save-register").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.locator("#guests-1-passport_number")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#guests-0-name")).to_have_value(RESIDENT["name"])  # kept as typed
    expect(page.get_by_test_id("passport-stored")).to_have_count(0)
    fill_guest(page, 1, COMPANION, passport)  # the image is chosen again; saved by keyboard
    page.get_by_test_id("save-register").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{url}/stays/{stay.booking_id}/guests")
    expect(page.locator(".flash-success").first).to_be_visible()
    expect(page.get_by_test_id("register-complete")).to_be_visible()
    expect(page.get_by_test_id("form-error")).to_have_count(0)
    expect(page.locator("#guests-0-name")).to_have_value(RESIDENT["name"])
    expect(page.locator("#guests-1-passport_number")).to_have_value(COMPANION["passport_number"])
    stored = page.get_by_test_id("guest-2").get_by_test_id("passport-stored")
    expect(stored).to_be_visible()
    image = page.request.get(url + stored.get_by_test_id("passport-link").get_attribute("href"))
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert image.body() == passport.read_bytes()
    assert "no-store" in image.headers["cache-control"]
    page.set_viewport_size(PHONE_390)
    assert page_overflow(page) == 0, "the employee's register fits a phone"
    page.screenshot(path=str(SHOTS / "guest-register-employee-390.png"), full_page=True)

    page.get_by_test_id("back-to-stay").click()
    expect(page.get_by_test_id("register-status")).to_have_attribute("data-complete", "true")

    # 3. The operator finds the stay in the facility's register, by its period.
    desk = new_page()
    live_server.sign_in(desk, OPERATOR)
    desk.goto(f"{url}/operator/register")
    row = desk.locator(f"tr[data-facility-id='{stay.facility_id}']")
    row.locator(f"a[href$='/facilities/{stay.facility_id}/register']").click()
    expect(desk).to_have_url(f"{url}/operator/facilities/{stay.facility_id}/register")
    check_out = stay.check_in + timedelta(days=2)
    desk.locator("#register-from").fill(stay.check_in.isoformat())
    desk.locator("#register-to").fill(check_out.isoformat())
    desk.locator("#register-to").press("Enter")  # the form's Show, by keyboard
    expect(desk).to_have_url(
        f"{url}/operator/facilities/{stay.facility_id}/register?from={stay.check_in}&to={check_out}"
    )
    entry = desk.locator(f"article.register-entry[data-booking-id='{stay.booking_id}']")
    expect(entry.get_by_test_id("register-status").locator(".badge.ok")).to_be_visible()
    guests = entry.get_by_test_id("register-guests")
    first, second = guests.locator("tr[data-position='1']"), guests.locator("tr[data-position='2']")
    expect(first).to_contain_text(RESIDENT["name"])
    expect(first).to_contain_text(RESIDENT["address"])
    expect(second).to_contain_text(COMPANION["name"])
    expect(second).to_contain_text(COMPANION["passport_number"])
    on_file = second.locator(f"a[href*='/bookings/{stay.booking_id}/']")
    image = desk.request.get(url + on_file.get_attribute("href"))
    assert image.status == 200 and image.body() == passport.read_bytes()
    desk.set_viewport_size(PHONE_390)
    assert page_overflow(desk) == 0, "the operator's register fits a phone"
    desk.screenshot(path=str(SHOTS / "guest-register-operator-390.png"), full_page=True)

    # The print view: the 宿泊者名簿 table with both guests and the passport number.
    desk.get_by_test_id("register-print-link").click()
    expect(desk).to_have_url(re.compile(rf"/facilities/{stay.facility_id}/register/print\?"))
    expect(desk.locator("h1")).to_have_text(re.compile(r"宿泊者名簿|Guest register"))
    printed = desk.get_by_test_id("register-print").locator(
        f"tbody[data-booking-id='{stay.booking_id}']"
    )
    expect(printed.locator("tr")).to_have_count(2)
    for text in (RESIDENT["name"], COMPANION["name"], COMPANION["passport_number"]):
        expect(printed).to_contain_text(text)
    desk.set_viewport_size({"width": 1280, "height": 900})
    desk.screenshot(path=str(SHOTS / "guest-register-print.png"), full_page=True)

    # 4. The access log lists the reads just made, the employee's and the operator's (it
    # has every stay's reads, newest first, 50 to a page: the pages are read to the end).
    desk.locator(".register-tools a[href*='/register?']").click()  # back, period kept
    desk.get_by_test_id("register-log-link").click()
    expect(desk).to_have_url(f"{url}/operator/facilities/{stay.facility_id}/register/log")
    # The URL changes before the new page's rows are there: wait for them (newest first,
    # so the reads just made are on the first page) before reading rows without waiting.
    expect(
        desk.get_by_test_id("register-log").locator(f"tr[data-booking-id='{stay.booking_id}']")
    ).not_to_have_count(0)
    logged: set[tuple[str, str]] = set()
    while True:
        log = desk.get_by_test_id("register-log")
        for row in log.locator(f"tr[data-booking-id='{stay.booking_id}']").all():
            who = row.locator("td").nth(1).inner_text().strip()
            logged.add((row.get_attribute("data-action"), who))
        following = desk.locator(".pager a[rel=next]")
        if not following.count():
            break
        desk.goto(url + following.get_attribute("href"))
    employee, operator = stay.employee_name, stay.operator_name
    assert logged == {
        *(("edit", employee), ("view", employee), ("passport", employee)),
        *(("view", operator), ("passport", operator), ("print", operator)),
    }
