"""Workspace journeys in a real browser (issue 19), against the live demo network.

1. On a laptop, an employee adds a phone booth for each working day to a stay on its
   quote page, sees the desks' price before confirming, and finds the three desk
   bookings on the stay's page; the company's credit pays the stay and the desks. A
   second employee then finds the booth taken at that time.
2. On a phone (390 px, touch), another employee searches a meeting room for
   14:00–15:30, sees the price and the cancellation terms before the confirm button,
   confirms it by keyboard and finds it under "My workspace".

Both use facilities of the demo operator うみべ (umibe): the other operator's facilities
are changed by other browser tests. The days are weekdays without holidays, chosen away
from the days other modules book, and every unit is picked free at the time of the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from accounts.models import User
from billing.models import BillingAccount, CreditEntry
from booking.workspace_models import WorkspaceBooking
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility, FacilityKind
from facilities.workspace import WorkspaceKind, WorkspaceUnit
from hr.policy import default_work_days
from tests.browser.conftest import (
    DESKTOP,
    EMPLOYEE,
    RESULTS_DIR,
    TIMEOUT_MS,
    LiveServer,
    days,
    page_overflow,
    yen,
)

pytestmark = pytest.mark.browser

UMIBE_OPERATOR = "operator@umibe.example"  # not satoyama: other tests change its facilities
SECOND_EMPLOYEE = "employee@globex.example"  # another company's employee
BOOTH = "個室ブース A"  # the one booth of each facility offering stays and workspace
PHONE_390 = {"width": 390, "height": 844}
# A stay Wednesday → Saturday (three nights): its working days are Wed, Thu and Fri.
STAY_START, STAY_END = 57, 60  # 2027-01-27 → 2027-01-30
MEETING_DAY = 63  # Tuesday 2027-02-02
TAKEN = re.compile(r"予約済み|Taken")  # a slot held already, as the day view labels it
PLAIN_YEN = re.compile(r"¥(\d{1,3}(?:,\d{3})*)")


def plain_yen(text: str) -> int:
    """The one ``¥12,345`` amount in ``text`` (shown without the tax note)."""
    found = PLAIN_YEN.findall(text)
    assert len(found) == 1, f"expected one amount in {text!r}"
    return int(found[0].replace(",", ""))


def no_overflow(page: Page) -> None:
    assert page_overflow(page) <= 0, f"{page.url} scrolls sideways"


# -- what the database says ------------------------------------------------------------


@dataclass(frozen=True)
class StayWithBooth:
    """A room free for the whole stay at an umibe facility with a booth."""

    facility_id: int
    facility_name: str
    prefecture: int
    unit_id: int
    booth_id: int


def umibe_facility_ids(server: LiveServer, kind: str) -> set[int]:
    with server.app.app_context():
        operator_id = db.session.scalar(
            select(User.operator_id).where(User.email == UMIBE_OPERATOR)
        )
        ids = db.session.scalars(
            select(Facility.id).where(Facility.operator_id == operator_id, Facility.kind == kind)
        ).all()
        db.session.remove()
    return set(ids)


def stay_with_booth(server: LiveServer, check_in: date, check_out: date) -> StayWithBooth:
    both = umibe_facility_ids(server, FacilityKind.BOTH)
    offers = [o for o in server.offers(check_in, check_out) if o.facility_id in both]
    assert offers, "an umibe facility with workspace has a room free for the stay"
    offer = offers[0]
    with server.app.app_context():
        facility = db.session.get(Facility, offer.facility_id)
        booth_id = db.session.scalar(
            select(WorkspaceUnit.id).where(
                WorkspaceUnit.facility_id == facility.id,
                WorkspaceUnit.kind == WorkspaceKind.PHONE_BOOTH,
                WorkspaceUnit.name == BOOTH,
                WorkspaceUnit.active.is_(True),
            )
        )
        found = StayWithBooth(
            facility.id, facility.name_ja, facility.prefecture, offer.unit_id, booth_id
        )
        db.session.remove()
    assert found.booth_id is not None, f"{found.facility_name} has {BOOTH}"
    return found


def meeting_rooms(server: LiveServer) -> dict[int, int]:
    """The umibe offices' active meeting rooms: unit id → prefecture."""
    offices = umibe_facility_ids(server, FacilityKind.OFFICE)
    with server.app.app_context():
        rows = db.session.execute(
            select(WorkspaceUnit.id, Facility.prefecture)
            .join(Facility, Facility.id == WorkspaceUnit.facility_id)
            .where(
                WorkspaceUnit.facility_id.in_(offices),
                WorkspaceUnit.kind == WorkspaceKind.MEETING_ROOM,
                WorkspaceUnit.active.is_(True),
            )
            .order_by(Facility.prefecture, WorkspaceUnit.id)
        ).all()
        db.session.remove()
    return dict(rows)


def credit_balance(server: LiveServer, email: str) -> int:
    with server.app.app_context():
        balance = db.session.scalar(
            select(BillingAccount.credit_balance)
            .join(User, User.company_id == BillingAccount.company_id)
            .where(User.email == email)
        )
        db.session.remove()
    return balance


@dataclass(frozen=True)
class Held:
    """A workspace booking as the database holds it (times on the Tokyo clock)."""

    user_email: str
    unit_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    total_price: int
    charged: int  # what its credit entries took (positive)


def desks_of(server: LiveServer, stay_id: int) -> list[Held]:
    with server.app.app_context():
        rows = db.session.scalars(
            select(WorkspaceBooking)
            .where(WorkspaceBooking.stay_id == stay_id)
            .order_by(WorkspaceBooking.starts_at)
        ).all()
        found = [desk_state(row) for row in rows]
        db.session.remove()
    return found


def workspace_booking(server: LiveServer, booking_id: int) -> Held:
    with server.app.app_context():
        found = desk_state(db.session.get(WorkspaceBooking, booking_id))
        db.session.remove()
    return found


def desk_state(row: WorkspaceBooking) -> Held:
    entries = db.session.scalars(
        select(CreditEntry.amount).where(CreditEntry.workspace_booking_id == row.id)
    ).all()
    return Held(
        row.user.email,
        row.unit_id,
        row.starts_at.astimezone(TOKYO),
        row.ends_at.astimezone(TOKYO),
        row.status,
        row.total_price,
        -sum(entries),
    )


def tokyo(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TOKYO)


def api_time(moment: datetime) -> str:
    return moment.isoformat()  # 2027-01-28T13:00:00+09:00, as the pages' links carry it


# -- a phone with a touch screen -------------------------------------------------------


@pytest.fixture
def touch_phone(request, browser: Browser) -> Iterator[Page]:
    """A 390×844 page with touch (Japanese locale); screenshot when the test fails."""
    context = browser.new_context(locale="ja-JP", viewport=PHONE_390, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    try:
        if report is not None and report.failed:
            RESULTS_DIR.mkdir(exist_ok=True)
            page.screenshot(path=RESULTS_DIR / f"{request.node.name}-phone.png", full_page=True)
    finally:
        context.close()


def precedes(first, second) -> bool:
    """``first`` comes before ``second`` in the page (what a reader meets first)."""
    return first.evaluate(
        "(a, b) => Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)",
        second.element_handle(),
    )


def tab_to(page: Page, target, limit: int = 80) -> None:
    """Press Tab (from where the page stands, freshly loaded: its top) until ``target``
    has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target} within {limit} presses")


# -- 1. a booth for each working day of a stay -----------------------------------------


def test_employee_adds_a_booth_for_three_working_days_to_a_stay(new_page, live_server: LiveServer):
    url = live_server.url
    check_in, check_out = days(STAY_START), days(STAY_END)
    work_days = default_work_days(check_in, check_out)
    assert [d.weekday() for d in work_days] == [2, 3, 4], "Wed, Thu, Fri: no holiday"
    place = stay_with_booth(live_server, check_in, check_out)

    page = new_page(DESKTOP)
    live_server.sign_in(page)

    # Search the facility's prefecture for the stay and open the facility.
    form = page.locator("form.search-form")
    form.locator("select[name=place]").select_option(f"p:{place.prefecture}")
    form.locator("input[name=check_in]").fill(check_in.isoformat())
    form.locator("input[name=check_out]").fill(check_out.isoformat())
    form.locator("input[name=guests]").fill("1")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("result-count")).to_be_visible()
    result = page.locator(f"ol.results > li.result[data-facility-id='{place.facility_id}']")
    expect(result).to_be_visible()
    result.locator("h2 a").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/facilities/{place.facility_id}\?"))
    expect(page.locator("h1")).to_have_text(place.facility_name)

    # Choose the free room; the quote page offers a desk for each working day.
    booking_form = page.locator("form.book-form")
    booking_form.locator(f"#unit-{place.unit_id}").check()
    booking_form.locator("input[name=check_in]").fill(check_in.isoformat())
    booking_form.locator("input[name=check_out]").fill(check_out.isoformat())
    booking_form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/book\?"))
    stay_total = yen(page.get_by_test_id("total").inner_text())
    desks = page.get_by_test_id("desks")
    expect(desks).to_be_visible()
    for day in work_days:
        expect(desks.locator("#desk-days-hint")).to_contain_text(f"{day.month}/{day.day}")
    expect(page.get_by_test_id("desk-lines")).to_have_count(0)

    from_, to = desks.locator("#desk-from"), desks.locator("#desk-to")
    booth_option = desks.locator(f"#desk-unit option[value='{place.booth_id}']")

    def show_price(desk_unit: str, desk_from: str, desk_to: str) -> None:
        """Press "Show the price with the desk"; back on the quote with these values."""
        asked = {"desk_unit": [desk_unit], "desk_from": [desk_from], "desk_to": [desk_to]}
        desks.get_by_test_id("desk-price").click()
        page.wait_for_url(
            lambda u: all(
                parse_qs(urlsplit(u).query, keep_blank_values=True).get(k) == v
                for k, v in asked.items()
            )
        )

    # At the default 09:00-18:00 the booth (four hours at most) is named with its limit.
    expect(desks.get_by_test_id("desk-other-hours")).to_contain_text(BOOTH)
    from_.select_option("13:00")
    to.select_option("15:00")
    show_price("", "13:00", "15:00")
    expect(booth_option).to_contain_text(BOOTH)

    # Bad hours: an end before the start is refused and nothing is priced.
    desks.get_by_test_id("desk-unit").select_option(str(place.booth_id))
    from_.select_option("15:00")
    to.select_option("13:00")
    show_price(str(place.booth_id), "15:00", "13:00")
    expect(page.get_by_test_id("desk-error")).to_be_visible()
    expect(page.get_by_test_id("desk-lines")).to_have_count(0)
    expect(page.get_by_test_id("confirm-desks")).to_have_count(0)

    # The booth stays chosen: right hours are the one step left. 13:00–15:00 on each
    # working day, priced day by day before confirming.
    expect(desks.get_by_test_id("desk-unit")).to_have_value(str(place.booth_id))
    from_.select_option("13:00")
    to.select_option("15:00")
    show_price(str(place.booth_id), "13:00", "15:00")
    expect(page.get_by_test_id("desk-error")).to_have_count(0)
    lines = page.get_by_test_id("desk-lines").locator("li")
    expect(lines).to_have_count(3)
    for line, day in zip(lines.all(), work_days, strict=True):
        expect(line.locator(".night")).to_have_text(
            re.compile(rf"{day:%Y/%m/%d} 13:00\s*–\s*15:00")
        )
        expect(line.locator(".why")).to_have_text(BOOTH)
    line_prices = [yen(text) for text in lines.locator(".amount").all_inner_texts()]
    desk_total = yen(page.get_by_test_id("desk-total").inner_text())
    assert desk_total == sum(line_prices) > 0
    assert yen(page.get_by_test_id("stay-total").inner_text()) == stay_total
    assert yen(page.get_by_test_id("combined-total").inner_text()) == stay_total + desk_total
    credit_shown = plain_yen(page.get_by_test_id("combined-credit").inner_text())
    expect(page.get_by_test_id("desk-terms")).to_be_visible()
    confirm = page.get_by_test_id("confirm-button")
    expect(page.get_by_test_id("confirm-desks")).to_contain_text(f"¥{desk_total:,}")
    assert precedes(page.get_by_test_id("desk-total"), confirm), "the price comes first"

    before = credit_balance(live_server, EMPLOYEE)
    confirm.click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/stays/\d+$"))
    stay_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("booking-id")).to_have_text(str(stay_id))
    expect(page.locator(".flash-success")).to_be_visible()

    # The stay's page lists the three desk bookings with their times.
    booked = page.get_by_test_id("stay-desks").locator("li")
    expect(booked).to_have_count(3)
    for row, day in zip(booked.all(), work_days, strict=True):
        expect(row).to_have_attribute("data-status", "confirmed")
        expect(row.locator(".night")).to_have_text(re.compile(rf"{day:%Y/%m/%d} 13:00\s*–\s*15:00"))
        expect(row.locator(".why")).to_contain_text(BOOTH)
    assert sum(yen(t) for t in booked.locator(".amount").all_inner_texts()) == desk_total

    # The company's credit paid the stay and the desks, as the quote said.
    assert before - credit_balance(live_server, EMPLOYEE) == credit_shown
    state = live_server.booking(stay_id)
    assert (state.user_email, state.unit_id, state.status) == (EMPLOYEE, place.unit_id, "confirmed")
    assert (state.check_in, state.check_out, state.total_price) == (check_in, check_out, stay_total)
    held = desks_of(live_server, stay_id)
    assert [(d.starts_at, d.ends_at) for d in held] == [
        (tokyo(day, time(13)), tokyo(day, time(15))) for day in work_days
    ]
    assert {(d.user_email, d.unit_id, d.status) for d in held} == {
        (EMPLOYEE, place.booth_id, "confirmed")
    }
    assert [d.charged for d in held] == [d.total_price for d in held] == line_prices

    # A second employee finds the booth taken then, and cannot book it.
    other = new_page(DESKTOP)
    live_server.sign_in(other, SECOND_EMPLOYEE)
    thursday = work_days[1]
    other.goto(f"{url}/workspace/facilities/{place.facility_id}?date={thursday.isoformat()}")
    booth = other.locator(f"form.ws-unit[data-unit-id='{place.booth_id}']")
    expect(booth.locator("h3")).to_have_text(BOOTH)
    for start in ("13:00", "13:45", "14:30"):
        slot = booth.locator(f"li.ws-slot[data-from='{start}']")
        expect(slot).to_have_attribute("data-available", "false")
        expect(slot.locator(".ws-state")).to_have_text(TAKEN)
        expect(slot.locator("input[type=radio]")).to_have_count(0)
    expect(booth.locator("li.ws-slot[data-from='15:00']")).to_have_attribute(
        "data-available", "true"
    )
    times = {
        "unit_id": place.booth_id,
        "start": api_time(tokyo(thursday, time(14))),
        "end": api_time(tokyo(thursday, time(14, 30))),
    }
    other.goto(f"{url}/workspace/book?{urlencode(times)}")
    refusal = other.get_by_test_id("not-free")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_attribute("role", "alert")
    expect(refusal).to_have_text(re.compile(r"\S"))
    expect(other.get_by_test_id("confirm-button")).to_have_count(0)
    other.get_by_test_id("back-to-day").click()
    expect(other).to_have_url(re.compile(rf"/workspace/facilities/{place.facility_id}\?"))
    assert [d.user_email for d in desks_of(live_server, stay_id)] == [EMPLOYEE] * 3


# -- 2. a meeting room on a phone ------------------------------------------------------


def test_employee_books_a_meeting_room_on_a_phone(touch_phone: Page, live_server: LiveServer):
    page, url = touch_phone, live_server.url
    day = days(MEETING_DAY)
    assert day.weekday() == 1, "a Tuesday"
    rooms = meeting_rooms(live_server)
    assert rooms, "the umibe offices have meeting rooms"
    prefecture = next(iter(rooms.values()))
    live_server.sign_in(page, SECOND_EMPLOYEE)

    page.goto(f"{url}/workspace")
    expect(page.locator("h1")).to_be_visible()
    no_overflow(page)
    form = page.locator("form.search-form")

    def search(starts: str, ends: str) -> None:
        form.locator("select[name=place]").select_option(f"p:{prefecture}")
        form.locator("input[name=day]").fill(day.isoformat())
        form.locator("select[name=starts]").select_option(starts)
        form.locator("select[name=ends]").select_option(ends)
        form.locator("select[name=kind]").select_option(WorkspaceKind.MEETING_ROOM.value)
        form.locator("button[type=submit]").tap()

    # An end before the start is refused, with the field named.
    search("15:30", "14:00")
    expect(page.get_by_test_id("search-error")).to_be_visible()
    expect(page.locator("#ends-error")).to_be_visible()
    expect(page.get_by_test_id("result-count")).to_have_count(0)
    no_overflow(page)

    search("14:00", "15:30")
    expect(page.get_by_test_id("result-count")).to_be_visible()
    expect(page.get_by_test_id("search-summary")).to_contain_text("14:00–15:30")
    no_overflow(page)
    ours = [uid for uid, pref in rooms.items() if pref == prefecture]
    result = page.locator(", ".join(f"li.ws-result[data-unit-id='{uid}']" for uid in ours)).first
    expect(result).to_be_visible()
    unit_id = int(result.get_attribute("data-unit-id"))
    listed = yen(result.get_by_test_id("price").inner_text())
    expect(page.get_by_test_id("terms-line")).to_be_visible()

    # Open the result: the day view has the time chosen; "See the price" confirms it.
    result.get_by_test_id("day-link").tap()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/workspace/facilities/\d+\?"))
    unit = page.locator(f"form.ws-unit[data-unit-id='{unit_id}']")
    expect(unit.locator("li.ws-slot[data-from='14:00'] input[type=radio]")).to_be_checked()
    expect(unit.locator("select[name=minutes]")).to_have_value("90")
    no_overflow(page)
    unit.get_by_test_id("choose").tap()

    # The confirm page: the price in yen and the cancellation terms, then the button.
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/workspace/book\?"))
    expect(page.get_by_test_id("time")).to_contain_text("14:00–15:30")
    total = page.get_by_test_id("total")
    terms = page.get_by_test_id("terms")
    confirm = page.get_by_test_id("confirm-button")
    assert yen(total.inner_text()) == listed
    expect(terms.locator("li.period[data-percent='100']")).to_contain_text(f"¥{listed:,}")
    expect(page.get_by_test_id("booking-error")).to_have_count(0)
    assert precedes(total, confirm) and precedes(terms, confirm), "money first, then confirm"
    no_overflow(page)

    # By keyboard: Tab reaches the confirm button, Enter books.
    before = credit_balance(live_server, SECOND_EMPLOYEE)
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/workspace/bookings/\d+$"))
    booking_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("booking-id")).to_have_text(str(booking_id))
    expect(page.get_by_test_id("time")).to_contain_text("14:00–15:30")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "confirmed")
    expect(page.locator(".flash-success")).to_contain_text(f"¥{listed:,}")
    assert yen(page.get_by_test_id("total").inner_text()) == listed
    no_overflow(page)

    state = workspace_booking(live_server, booking_id)
    assert (state.user_email, state.unit_id, state.status) == (
        SECOND_EMPLOYEE,
        unit_id,
        "confirmed",
    )
    assert (state.starts_at, state.ends_at) == (tokyo(day, time(14)), tokyo(day, time(15, 30)))
    assert state.charged == state.total_price == listed
    assert before - credit_balance(live_server, SECOND_EMPLOYEE) == listed

    # My workspace lists it among the upcoming bookings.
    page.goto(f"{url}/workspace/bookings")
    expect(page).to_have_url(f"{url}/workspace/bookings")
    row = page.get_by_test_id("upcoming").locator(f"li[data-booking-id='{booking_id}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("14:00–15:30")
    expect(row.get_by_test_id("status")).to_have_attribute("data-status", "confirmed")
    no_overflow(page)
