"""Regional journeys in a real browser (issue 20), against the live demo network.

1. An employee of Globex with a January stay at 白馬山麓ロッジ (Hakuba, Nagano) finds the
   village's snow-clearing volunteers among the programmes during the stay, joins the
   Saturday session inside it for themselves (free, shown before confirming), and finds
   the place on the stay's page and under "My programmes". Then, on a phone (390 px,
   touch), they open their local coupons (Hakuba pays ¥1,000 per guest-night) and the
   café of the village redeems one from its own phone: the amount first, one button,
   the receipt, and the same code again shows it as used.
2. The village (region@hakuba.example, two-factor) reads its region report: visitors,
   guest-nights, the off-season share, local spend by shop category, and the printable
   summary in Japanese and in English.

The stay is Friday → Sunday around the last January Saturday of the snow clearing
(2027-01-29 → 01-31), days no other browser module books, in a room of the lodge free
at the time of the test. The server's clock is pinned to NOW (2026-12-01): a coupon of a
January stay is not valid yet, which the café sees first.

Assertions use test ids, data attributes, hrefs and amounts, never the Japanese words of
new strings (their translations land separately).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select

from accounts.models import User
from accounts.two_factor import qr_svg
from booking.services import BookingError, StayRequest, book_stay
from consoles.operator.region_report import fiscal_year_period, region_report
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility
from regions.coupon_tokens import short_code_of, token_of
from regions.models import (
    Coupon,
    CouponFund,
    CouponRedemption,
    LocalShop,
    Programme,
    ProgrammeSession,
    ProgrammeSignup,
)
from tests.browser.conftest import (
    DEMO_PASSWORD,
    DESKTOP,
    NOW,
    RESULTS_DIR,
    TIMEOUT_MS,
    TODAY,
    LiveServer,
    days,
    page_overflow,
)

pytestmark = pytest.mark.browser

GUEST = "employee@globex.example"  # no other browser test depends on this one's stays
CAFE = "cafe@hakuba.example"  # 白馬ベーカリーカフェ: role shop, no two-factor
REGION = "region@hakuba.example"  # 白馬村役場 観光課: an operator, two-factor
HAKUBA = "204854"  # 白馬村's 全国地方公共団体コード
LODGE = "白馬山麓ロッジ"
SNOW_CLEARING = "雪かきボランティア"  # the start of the programme's Japanese title
HAKUBA_YEN = 1_000  # what 白馬村's fund pays per guest-night (Globex funds none there)
PHONE_390 = {"width": 390, "height": 844}
# Friday check-ins (days after TODAY) of a two-night stay around a January Saturday of
# the snow clearing, the first whose nights a room of the lodge has free: 2027-01-29
# (Saturday 01-30) away from every other module's days; else 2027-01-15 (Saturday 01-16).
FRIDAYS = (59, 45)
YEN = re.compile(r"¥(\d{1,3}(?:,\d{3})*)")


def amount(text: str) -> int:
    """The one ``¥12,345`` amount in ``text`` (with or without a tax note)."""
    found = YEN.findall(text)
    assert len(found) == 1, f"expected one amount in {text!r}"
    return int(found[0].replace(",", ""))


def qr_paths(svg: str) -> list[str]:
    """The drawing of an inline SVG QR code: its paths' ``d`` attributes."""
    return re.findall(r'\sd="([^"]+)"', svg)


def shows_qr_of(card, address: str) -> None:
    """The card's QR code is the one of ``address`` (drawn as the app draws QR codes)."""
    shown = card.get_by_test_id("coupon-qr").inner_html()
    assert qr_paths(shown) and qr_paths(shown) == qr_paths(str(qr_svg(address, "")))


def no_overflow(page: Page) -> None:
    assert page_overflow(page) <= 0, f"{page.url} scrolls sideways at {page.viewport_size}"


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def sign_in_as(server: LiveServer, page: Page, email: str, home: str) -> None:
    """Sign in through the real form (and the authenticator's code when asked) and land
    on the role's home (``LiveServer.sign_in`` knows the demo's first roles only)."""
    page.goto(f"{server.url}/login")
    form = page.locator("main form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    server.pass_second_factor(page, email)
    expect(page).to_have_url(f"{server.url}{home}")


@pytest.fixture
def phone(request, browser: Browser) -> Iterator[Callable[[], Page]]:
    """Open 390×844 pages with touch (Japanese locale), one context each; screenshot
    them when the test fails."""
    contexts: list[BrowserContext] = []

    def open_phone() -> Page:
        context = browser.new_context(locale="ja-JP", viewport=PHONE_390, has_touch=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_phone
    report = getattr(request.node, "report_call", None)
    try:
        if report is not None and report.failed:
            RESULTS_DIR.mkdir(exist_ok=True)
            for i, context in enumerate(contexts):
                for page in context.pages:
                    page.screenshot(
                        path=RESULTS_DIR / f"{request.node.name}-phone-{i}.png", full_page=True
                    )
    finally:
        for context in contexts:
            context.close()


# -- what the database says ------------------------------------------------------------


@dataclass(frozen=True)
class WinterStay:
    """The guest's stay at the lodge and the snow-clearing session inside it."""

    booking_id: int
    check_in: date
    check_out: date
    programme_id: int
    session_id: int
    guest_id: int


@pytest.fixture(scope="module")
def winter_stay(live_server: LiveServer) -> WinterStay:
    """Book (through the app, as the quote page would) two nights at the lodge for the
    guest, Friday → Sunday, in the first room free; the Saturday's snow clearing."""
    app = live_server.app
    with app.app_context():
        lodge = db.session.scalar(select(Facility).where(Facility.name_ja == LODGE))
        snow = db.session.scalar(
            select(Programme).where(Programme.title_ja.startswith(SNOW_CLEARING))
        )
        guest = db.session.scalar(select(User).where(User.email == GUEST))
        assert lodge is not None and snow is not None and guest is not None
        assert snow.price == 0 and snow.stay_required and snow.municipality_code == HAKUBA
        lodge_id, snow_id, guest_id = lodge.id, snow.id, guest.id
        db.session.remove()
    for friday in FRIDAYS:
        check_in, check_out = days(friday), days(friday + 2)
        assert check_in.weekday() == 4 and check_in.month == 1, "a Friday in January"
        saturday = check_in + timedelta(days=1)
        for offer in (
            o for o in live_server.offers(check_in, check_out) if o.facility_id == lodge_id
        ):
            with app.app_context():
                guest = db.session.get(User, guest_id)
                try:
                    booking = book_stay(
                        guest,
                        StayRequest(offer.unit_id, check_in, check_out, 1),
                        NOW,
                        horizon_days=app.config["BOOKING_HORIZON_DAYS"],
                        grace_days=app.config["BILLING_GRACE_DAYS"],
                    )
                except BookingError:
                    db.session.rollback()
                    db.session.remove()
                    continue
                db.session.commit()
                assert booking.status == "confirmed", "Globex's policy confirms at once"
                booking_id = booking.id
                session_id = next(
                    s.id
                    for s in db.session.scalars(
                        select(ProgrammeSession).where(ProgrammeSession.programme_id == snow_id)
                    )
                    if s.starts_at.astimezone(TOKYO).date() == saturday
                )
                db.session.remove()
            return WinterStay(booking_id, check_in, check_out, snow_id, session_id, guest_id)
    raise AssertionError("no room of the lodge is free for a January weekend")


@dataclass(frozen=True)
class CouponRow:
    id: int
    amount: int
    status: str
    valid_from: date
    short_code: str
    url_path: str  # /shop/redeem/<token>: what its QR code opens


def coupons_of_stay(server: LiveServer, booking_id: int) -> list[CouponRow]:
    """The stay's coupons from Hakuba's fund, with the redeem address their QR codes
    carry (the token signed with the live server's key, as the coupons page signs it)."""
    with server.app.app_context():
        rows = db.session.scalars(
            select(Coupon)
            .join(CouponFund, CouponFund.id == Coupon.fund_id)
            .where(Coupon.booking_id == booking_id, CouponFund.operator_id.is_not(None))
            .order_by(Coupon.seq)
        ).all()
        found = [
            CouponRow(
                c.id,
                c.amount,
                c.status,
                c.valid_from,
                short_code_of(c.nonce),
                f"/shop/redeem/{token_of(c)}",
            )
            for c in rows
        ]
        db.session.remove()
    return found


# -- 1. a January stay in Hakuba: snow clearing, then the café -------------------------


def test_employee_joins_snow_clearing_and_pays_the_cafe_with_a_coupon(
    new_page, phone, live_server: LiveServer, winter_stay: WinterStay
):
    url, stay = live_server.url, winter_stay
    page = new_page(DESKTOP)
    live_server.sign_in(page, GUEST)

    # The stay's page names the programmes near it during the stay; the snow clearing of
    # the Saturday is one of them.
    page.goto(f"{url}/stays/{stay.booking_id}")
    expect(page.get_by_test_id("booking-id")).to_have_text(str(stay.booking_id))
    near = page.get_by_test_id("stay-programmes-near")
    item = near.locator(f"li[data-session-id='{stay.session_id}']")
    expect(item).to_be_visible()
    expect(page.get_by_test_id("stay-signups")).to_have_count(0)

    # "All programmes during my stays" lists the same session.
    page.get_by_test_id("stay-programmes").locator("a[href*='during_stays=y']").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/programmes\?"))
    assert parse_qs(urlsplit(page.url).query).get("during_stays") == ["y"]
    card = page.get_by_test_id("sessions").locator(f"li[data-session-id='{stay.session_id}']")
    expect(card).to_be_visible()
    expect(card.get_by_test_id("price")).to_have_attribute("data-price-kind", "free")
    expect(card.get_by_test_id("stay-required")).to_be_visible()
    expect(card.get_by_test_id("seats")).to_have_attribute("data-seats-left", "8")

    # Open the programme from the stay's page.
    page.go_back()
    item.locator(f"a[href='/programmes/{stay.programme_id}']").click()
    expect(page).to_have_url(f"{url}/programmes/{stay.programme_id}")
    expect(page.get_by_test_id("programme-title")).to_contain_text(SNOW_CLEARING)
    expect(page.get_by_test_id("stay-required")).to_be_visible()
    session = page.get_by_test_id("sessions").locator(f"li[data-session-id='{stay.session_id}']")
    join = session.get_by_test_id("join-form")
    expect(join.locator("select[name=booking_id]")).to_have_value(str(stay.booking_id))
    expect(join.locator("input[name=participants]")).to_have_value("1")
    # A session outside every stay of the guest asks for a stay instead.
    expect(page.get_by_test_id("needs-stay").first).to_be_visible()
    join.locator("button[type=submit]").click()

    # The confirm page: the fee in all (nothing: the programme is free) before the button.
    expect(page).to_have_url(
        re.compile(rf"^{re.escape(url)}/programmes/sessions/{stay.session_id}/join\?")
    )
    fee = page.get_by_test_id("fee")
    expect(fee).to_have_attribute("data-fee", "0")
    expect(fee).not_to_contain_text("¥")
    expect(page.get_by_test_id("participants")).to_have_text("1")
    expect(page.get_by_test_id("join-error")).to_have_count(0)
    expect(page.get_by_test_id("waitlist-note")).to_have_count(0)
    confirm = page.get_by_test_id("confirm-button")
    expect(confirm).not_to_contain_text("¥")
    assert fee.evaluate(
        "(a, b) => Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)",
        confirm.element_handle(),
    ), "the fee comes before the confirm button"
    confirm.click()

    # My programmes: the place, joined.
    expect(page).to_have_url(f"{url}/my/programmes")
    expect(page.locator(".flash-success")).to_be_visible()
    with live_server.app.app_context():
        signup = db.session.scalar(
            select(ProgrammeSignup).where(
                ProgrammeSignup.session_id == stay.session_id,
                ProgrammeSignup.user_id == stay.guest_id,
            )
        )
        assert (signup.status, signup.participants, signup.booking_id, signup.fee) == (
            "joined",
            1,
            stay.booking_id,
            0,
        )
        signup_id = signup.id
        db.session.remove()
    row = page.get_by_test_id("upcoming").locator(f"li[data-signup-id='{signup_id}']")
    expect(row.get_by_test_id("status")).to_have_attribute("data-status", "joined")
    expect(row.locator(f"a[href='/programmes/{stay.programme_id}']")).to_contain_text(SNOW_CLEARING)
    expect(row.get_by_test_id("leave-link")).to_be_visible()

    # The stay's page lists it among the stay's programmes.
    page.goto(f"{url}/stays/{stay.booking_id}")
    joined = page.get_by_test_id("stay-signups").locator(f"li[data-signup-id='{signup_id}']")
    expect(joined).to_have_attribute("data-status", "joined")
    expect(joined.locator(f"a[href='/programmes/{stay.programme_id}']")).to_be_visible()

    # -- on the phone: the coupons of the stay --------------------------------------------
    guest = phone()
    live_server.sign_in(guest, GUEST)
    guest.goto(f"{url}/coupons")
    expect(guest).to_have_url(f"{url}/coupons")
    group = guest.locator(
        f"section[data-testid='stay-coupons'][data-booking-id='{stay.booking_id}']"
    )
    expect(group).to_be_visible()
    no_overflow(guest)
    coupons = coupons_of_stay(live_server, stay.booking_id)
    nights = (stay.check_out - stay.check_in).days
    assert [(c.amount, c.status, c.valid_from) for c in coupons] == [
        (HAKUBA_YEN, "open", stay.check_in)
    ] * nights, "one ¥1,000 coupon per guest-night, valid from check-in"
    cards = group.get_by_test_id("coupon")
    expect(cards).to_have_count(nights)
    for coupon in coupons:
        card = group.locator(f"li[data-coupon-id='{coupon.id}']")
        expect(card).to_have_attribute("data-state", "not_yet")
        assert amount(card.locator("h3").inner_text()) == HAKUBA_YEN
        expect(card.get_by_test_id("coupon-qr").locator("svg")).to_be_visible()
        shows_qr_of(card, f"{url}{coupon.url_path}")  # the absolute redeem address
        expect(card.get_by_test_id("short-code")).to_have_text(
            f"{coupon.short_code[:4]}-{coupon.short_code[4:]}"
        )
    first = coupons[0]
    card = group.locator(f"li[data-coupon-id='{first.id}']")

    # The café's phone opens the QR code's address before the stay has begun: the amount,
    # and the refusal (not valid yet), without a button.
    cafe = phone()
    sign_in_as(live_server, cafe, CAFE, "/shop/")
    no_overflow(cafe)
    response = cafe.goto(f"{url}{first.url_path}")
    assert response is not None and response.status == 200
    coupon_box = cafe.get_by_test_id("coupon")
    assert amount(coupon_box.get_by_test_id("amount").inner_text()) == HAKUBA_YEN
    expect(coupon_box.get_by_test_id("area-ok")).to_be_visible()
    refusal = coupon_box.get_by_test_id("refusal")
    expect(refusal).to_have_attribute("data-code", "not_yet")
    expect(refusal).to_have_attribute("role", "alert")
    expect(cafe.get_by_test_id("redeem-button")).to_have_count(0)
    no_overflow(cafe)

    # The server's clock is pinned to NOW, weeks before the stay, and a coupon is only
    # good from the check-in day (its token signs its dates). So that the café can take
    # it "during the stay", the coupon's first day is moved to today through the app.
    # This changes the coupon's token: the guest's page shows the new code, and the old
    # one is no longer a coupon's.
    with live_server.app.app_context():
        db.session.get(Coupon, first.id).valid_from = TODAY
        db.session.commit()
        db.session.remove()
    (first,) = (c for c in coupons_of_stay(live_server, stay.booking_id) if c.id == first.id)
    assert first.valid_from == TODAY
    guest.reload()
    expect(card).to_have_attribute("data-state", "open")
    expect(card.get_by_test_id("coupon-qr").locator("svg")).to_be_visible()
    shows_qr_of(card, f"{url}{first.url_path}")
    no_overflow(guest)
    stale = coupons[0].url_path
    response = cafe.goto(f"{url}{stale}")
    assert response is not None and response.status == 404
    expect(cafe.get_by_test_id("refusal")).to_have_attribute("data-code", "bad_token")

    # Now the café sees the amount and one button, and takes the coupon.
    response = cafe.goto(f"{url}{first.url_path}")
    assert response is not None and response.status == 200
    assert amount(cafe.get_by_test_id("amount").inner_text()) == HAKUBA_YEN
    expect(cafe.get_by_test_id("refusal")).to_have_count(0)
    redeem = cafe.get_by_test_id("redeem-button")
    assert amount(redeem.inner_text()) == HAKUBA_YEN
    no_overflow(cafe)
    redeem.tap()
    expect(cafe).to_have_url(re.compile(rf"^{re.escape(url)}/shop/redemptions/\d+$"))
    redemption_id = int(path_of(cafe).rsplit("/", 1)[1])
    expect(cafe.get_by_test_id("receipt")).to_be_visible()
    assert amount(cafe.get_by_test_id("receipt-amount").inner_text()) == HAKUBA_YEN
    no_overflow(cafe)
    with live_server.app.app_context():
        redemption = db.session.get(CouponRedemption, redemption_id)
        shop = db.session.get(LocalShop, redemption.shop_id)
        assert (redemption.coupon_id, redemption.amount, shop.name, shop.category) == (
            first.id,
            HAKUBA_YEN,
            "白馬ベーカリーカフェ",
            "cafe",
        )
        assert db.session.get(Coupon, first.id).status == "redeemed"
        db.session.remove()

    # The same code again: already used, no button; nothing more is redeemed.
    response = cafe.goto(f"{url}{first.url_path}")
    assert response is not None and response.status == 200
    expect(cafe.get_by_test_id("refusal")).to_have_attribute("data-code", "used")
    expect(cafe.get_by_test_id("redeem-button")).to_have_count(0)
    no_overflow(cafe)
    with live_server.app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(CouponRedemption)
                .where(CouponRedemption.coupon_id == first.id)
            )
            == 1
        )
        db.session.remove()

    # The guest's page shows the coupon used and the rest still to use.
    guest.reload()
    expect(card).to_have_attribute("data-state", "redeemed")
    expect(card.get_by_test_id("coupon-qr")).to_have_count(0)
    assert group.locator("li[data-state='not_yet']").count() == nights - 1, (
        "the other coupons wait for the check-in day"
    )
    no_overflow(guest)


# -- 2. the village reads its report -----------------------------------------------------


def percent(fraction: float) -> str:
    return "%.1f%%" % (fraction * 100)


def test_municipality_reads_its_region_report_and_prints_the_summary(
    new_page, live_server: LiveServer
):
    url = live_server.url
    period = fiscal_year_period(TODAY)  # the report's default: this fiscal year
    with live_server.app.app_context(), live_server.app.test_request_context():
        report = region_report(HAKUBA, period)
        names = {lang: report.name_for(lang) for lang in ("ja", "en")}
        start, end = period.instants()
        spend = {
            category: (int(count), int(yen))
            for category, count, yen in db.session.execute(
                select(
                    LocalShop.category,
                    func.count(CouponRedemption.id),
                    func.sum(CouponRedemption.amount),
                )
                .join(LocalShop, LocalShop.id == CouponRedemption.shop_id)
                .where(
                    LocalShop.municipality_code == HAKUBA,
                    CouponRedemption.redeemed_at >= start,
                    CouponRedemption.redeemed_at < end,
                )
                .group_by(LocalShop.category)
            )
        }
        db.session.remove()
    assert report.visitors > 0 and report.nights >= report.visitors, "the demo stays there"
    assert "cafe" in spend, "the demo's guests spent coupons at the café"
    assert names["ja"].endswith("白馬村")

    page = new_page(DESKTOP)
    sign_in_as(live_server, page, REGION, "/operator/")
    page.locator("nav a[href='/operator/region']").first.click()
    expect(page).to_have_url(f"{url}/operator/region")
    region = page.get_by_test_id("region-report")
    expect(region).to_be_visible()
    expect(page.get_by_test_id("region-name")).to_contain_text(HAKUBA)
    expect(page.get_by_test_id("region-name")).to_contain_text(names["ja"])
    expect(page.get_by_test_id("report-period")).to_contain_text(str(period.first.year))
    no_overflow(page)

    figures = page.get_by_test_id("key-figures")

    def figure(key: str):
        return figures.locator(f"[data-figure='{key}'] .figure")

    expect(figure("visitors")).to_have_text(f"{report.visitors:,}")
    expect(figure("nights")).to_have_text(f"{report.nights:,}")
    expect(figure("off_season_share")).to_have_text(percent(report.off_season_share))
    assert amount(figure("coupon_redeemed").inner_text()) == sum(y for _c, y in spend.values())

    # Local spend by shop category: each category's coupons and yen, as redeemed.
    by_category = page.get_by_test_id("by-category")
    for category, (count, yen) in spend.items():
        row = by_category.locator(f"tr[data-key='{category}']")
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(str(count))
        assert amount(cells.nth(1).inner_text()) == yen
    expect(by_category.locator("tbody tr")).to_have_count(len(spend))
    redeemed = page.get_by_test_id("coupons").locator("[data-figure='redeemed']")
    assert amount(redeemed.inner_text()) == sum(y for _c, y in spend.values())
    month_rows = page.get_by_test_id("by-month").locator("tbody tr")
    expect(month_rows).to_have_count(12)

    # The summary to print, in Japanese, then in English: one page of the same figures.
    for lang in ("ja", "en"):
        page.goto(f"{url}/operator/region")
        page.get_by_test_id(f"summary-{lang}").click()
        expect(page).to_have_url(re.compile(rf"^{re.escape(url)}/operator/region/summary\?"))
        query = parse_qs(urlsplit(page.url).query)
        assert query["lang"] == [lang]
        assert (query["from"], query["to"]) == (
            [period.first.isoformat()],
            [period.last.isoformat()],
        )
        expect(page.locator("html")).to_have_attribute("lang", lang)
        summary = page.get_by_test_id("region-summary")
        expect(summary).to_be_visible()
        expect(summary.locator("h1")).to_contain_text(names[lang])
        printed = page.get_by_test_id("print-figures")
        expect(printed.locator("[data-figure='visitors'] .figure")).to_have_text(
            f"{report.visitors:,}"
        )
        expect(printed.locator("[data-figure='nights'] .figure")).to_have_text(f"{report.nights:,}")
        expect(printed.locator("[data-figure='off_season_share'] .figure")).to_have_text(
            percent(report.off_season_share)
        )
        assert amount(
            printed.locator("[data-figure='coupon_redeemed'] .figure").inner_text()
        ) == sum(y for _c, y in spend.values())
        no_overflow(page)
    expect(page.get_by_test_id("region-summary").locator("h1")).to_contain_text(
        "What the workation network brought"
    )
