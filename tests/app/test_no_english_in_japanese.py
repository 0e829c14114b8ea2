"""No English in the Japanese UI: every page of every role, rendered in Japanese.

On the demo network (seeded, priced and subscribed as ``make run`` does), each role
signs in with the Japanese locale and walks its pages from its start pages, following
the links it is shown (one page per endpoint and shape of query). Each HTML page's
visible text (not what a form's textarea holds: that is what someone typed), its
<title> and the attributes people read (``alt``, ``title``, ``aria-label``,
``placeholder``, a button's value) are scanned for Latin-alphabet words. A word passes
only if it is in ``ALLOWED`` (brands, units, file formats, technical names that Japanese
pages write in Latin letters too), or comes from the data people entered (names of
companies, facilities, rooms, people, plans, calendars; addresses; invoice numbers),
or sits in an element marked ``translate="no"`` (codes such as job names and an
error's class name in a job's summary) or ``lang="en"`` (English on purpose, e.g. the
brand, or a job summary recorded before summaries were translatable).

Every GET page of the url map must be reached by some role, unless ``SKIPPED`` says
why it is not an HTML page to read (downloads, JSON, images, one-time links).

To fix a failure: wrap the English in ``_()``/``_l()`` (or show a code through
``status_label``), run ``make extract-messages`` and translate the new entries
following docs/GLOSSARY.md.
"""

from __future__ import annotations

import html as htmllib
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

import jpholiday
import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from accounts.models import Company, OperatorOrg, User
from app import create_app
from availability.direct import record_direct_stay
from billing.models import BillingAccount, Invoice, Plan
from billing.settings import BillingSettings
from booking.models import Booking
from booking.search import SearchQuery, search
from booking.workspace_checkin import checkin_code
from calendars.models import CalendarFeed
from core.db import TOKYO, tokyo_today
from core.extensions import db
from demo.data import FOREIGN_COMPANIONS
from demo.seed import seed_demo, subscribe_demo_companies
from facilities.models import Facility, FacilityPhoto, Unit
from facilities.workspace import WorkspaceUnit
from hr.models import GroupPolicy
from notifications.models import WebhookEndpoint
from notifications.webhook_endpoints import new_secret, seal_secret
from pricing.engine import recompute
from regions import match_offer, matching
from regions.coupon_tokens import token_of
from regions.models import (
    Coupon,
    CouponFund,
    CouponStatus,
    LocalShop,
    MatchRequest,
    Programme,
    ProgrammeSession,
)
from tests.conftest import post_sign_in
from tests.core.test_i18n import ensure_compiled

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TODAY = tokyo_today(NOW)
PASSWORD = "engawa-demo"
FAST_HASH = "pbkdf2:sha256:1000"
MAX_PAGES_PER_ROLE = 120

STAY = {
    "check_in": (TODAY + timedelta(days=20)).isoformat(),
    "check_out": (TODAY + timedelta(days=22)).isoformat(),
    "guests": "1",
}
ROLES = {
    "anonymous": (
        None,
        [
            "/login",
            "/join",
            "/password/forgot",
            "/password/forgot/sent",
            "/signup/company",
            "/signup/operator",
            "/signup/sent",
            "/no-such-page",
        ],
    ),
    "employee": (
        "employee@acme.example",
        [
            "/",
            "/?" + "&".join(f"{k}={v}" for k, v in STAY.items()),
            "/stays",
            "/account",
            "/account/two-factor",
        ],
    ),
    "company_admin": (
        "admin@acme.example",
        [
            "/company/billing",
            "/company/sso/",
            "/company/scim",
            "/company/audit",
            "/account",
            "/account/two-factor",
            "/operator/",
        ],
    ),
    "operator": (
        "operator@satoyama.example",
        ["/operator/", "/operator/audit", "/account", "/no-such-page"],
    ),
    # A municipality (issue 20): its programmes, coupon funds, shops and region report.
    "region": (
        "region@hakuba.example",
        [
            "/operator/",
            "/operator/programmes",
            "/operator/coupons",
            "/operator/coupons/shops",
            "/operator/region",
            "/operator/matching",
        ],
    ),
    # A registered shop that redeems local coupons.
    "shop": ("cafe@hakuba.example", ["/shop/", "/shop/redeem", "/shop/redemptions"]),
    "platform_admin": (
        "root@engawa.example",
        [
            "/admin/",
            "/admin/applications/",
            "/admin/companies",
            "/admin/operators",
            "/admin/users",
            "/admin/audit",
            "/admin/jobs",
            "/admin/calendars",
            "/admin/domains",
            "/admin/plans",
            "/account",
        ],
    ),
}

# Endpoints with a GET route that are not an HTML page to read, and why.
SKIPPED = {
    "static": "files (CSS, JS, images)",
    "health.healthz": "JSON for load balancers",
    "health.readyz": "JSON for load balancers",
    "health.metrics": "Prometheus text, loopback or token only",
    "booking.photo": "an image",
    "booking.stay_ics": "an .ics download",
    "calendars.feed": "an .ics export for other sites",
    "calendars.workspace_feed": "an .ics export for other sites",
    "company.usage_csv": "a CSV download",
    "company_hr.people_template": "a CSV download",
    "company_hr.stays_csv": "a CSV download (reached through the export page's form)",
    "operator.bookings_csv": "a CSV download",
    "operator.dashboard_csv": "a CSV download",
    "operator.register_csv": "a CSV download",
    "operator.tax_report_csv": "a CSV download",
    "booking.stay_register_passport": "an image of a guest's passport",
    "operator.booking_register_passport": "an image of a guest's passport",
    "accounts.set_language": "a redirect, no page",
    "members.join": "a one-time link from an invitation e-mail",
    "local_billing.checkout": "a checkout session that subscribing opens (browser journey)",
    "notifications.dev_mailbox": "development only: shows the mails as queued, in their language",
    "notifications.dev_mail": "development only: one mail as queued, in its language",
    "notifications.dev_mail_html": "development only: a mail's HTML part, in its language",
    "notifications.dev_mail_attachment": "a mail's attachment (an .ics download)",
    "operator.postal_code": "JSON for the address form's postal-code lookup",
    "recovery.reset": "a one-time link from a reset e-mail",
    "recovery.set_password": "a one-time link from a new account's e-mail",
    "two_factor.code": "the second step of a sign-in, only after a password",
    "two_factor.enrol": "the second step of a sign-in, only after a password",
    "signup.confirm": "a one-time link from an application's confirmation e-mail",
    "admin.reactivate_company": "linked for a deactivated company only (browser: pages.py)",
    "admin.unsuspend_operator": "linked for a suspended operator only (browser: pages.py)",
    "sso.start": "a redirect to the company's identity provider",
    "sso.callback": "the identity provider's answer (its error pages: tests/identity)",
    "company_report.report_csv": "a CSV download",
    "company_report_api.report": "JSON API for machines",
    "copay.paid": "a redirect to the stay once the card payment is read",
    "local_billing.stay_checkout": "the test-mode payment a stay's Pay button opens (browser)",
    "approvals.decide": "a stay waiting for approval: the demo has none (tests/booking)",
    "company.coupon_fund_statement_csv": "a CSV download",
    "operator.coupon_fund_statement_csv": "a CSV download",
    "operator.region_csv": "a CSV download",
    "shop.redemptions_csv": "a CSV download",
    "company.match_done": "shown once, after accepting (tests/consoles/test_matching_pages)",
}
# The JSON API and SCIM speak English to machines by design.
SKIPPED_PREFIXES = ("api.", "operator_api.", "region_api.", "scim.")

# Latin-alphabet words a Japanese page writes as they are, and why.
ALLOWED = {
    # the product and the providers and sites it names
    "Engawa", "Stripe", "Checkout", "Airbnb", "Booking", "com", "Google",
    # identity providers, authenticator apps and the standards they speak, named as they are
    "Microsoft", "Entra", "ID", "Okta", "Authenticator", "SCIM", "SSO", "OpenID",
    "Connect", "TOTP", "QR", "NPO", "Workspace", "PKCE", "URI",
    # technical names and units written in Latin letters in Japanese too
    "Wi-Fi", "Mbps", "MB", "iCal", "URL", "API", "CSV", "PDF", "JPEG", "PNG", "WebP",
    "Excel", "UTF-8", "Shift", "JIS",  # a CSV file's encodings, as spreadsheets name them
    "JSON", "ics", "https", "HTTPS", "http", "webcal", "Authorization", "Bearer", "TOKEN",
    "Webhook",
    # hotel figures Japanese operators read in Latin letters (客室単価（ADR）, RevPAR)
    "ADR", "RevPAR",
    # what the external calendar itself shows, quoted (export note)
    "Reserved", "Not", "available",
    # the scheduler command an admin runs, quoted on the jobs page
    "flask", "app", "wsgi", "scheduler", "run",
    # example domain in a form hint
    "example", "co", "jp",
    # a paper size and a key, as Japanese print hints write them
    "A4", "Ctrl",
    # the form of a 住宅宿泊事業 notification number (M and 9 digits), in a form hint
    "M130012345",
}  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-’'][A-Za-z0-9]+)*")
# E-mail addresses, links, @domains, and the invoice issuer's registration number (T + 13 digits).
EMAIL_OR_URL = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?|webcal)://\S+|@[\w.-]+|\bT\d{13}\b"
)
READ_ATTRIBUTES = ("alt", "title", "aria-label", "placeholder")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class VisibleText(HTMLParser):
    """The text a reader meets, without scripts, styles and elements marked as not
    Japanese on purpose (``translate="no"``, ``lang`` other than ja)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: is its content skipped?

    def _skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        lang = (attrs.get("lang") or "ja").lower()
        skip = (
            self._skipping()
            or tag in ("script", "style", "template", "textarea")  # textarea: what was typed
            or attrs.get("translate") == "no"
            or not lang.startswith("ja")
        )
        if not skip:
            self.parts.extend(attrs[a] for a in READ_ATTRIBUTES if attrs.get(a))
            if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
                self.parts.append(attrs["value"])
        if tag not in VOID:
            self.stack.append(skip)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._skipping():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return "\n".join(p for p in parser.parts if p.strip())


def english_words(text: str, data_words: set[str]) -> set[str]:
    text = EMAIL_OR_URL.sub(" ", text)
    return {
        w
        for w in LATIN_WORD.findall(text)
        if len(w) > 1 and w not in ALLOWED and w not in data_words
    }


def words_of_the_data() -> set[str]:
    """Latin words in what people entered: names, addresses, labels, numbers."""
    columns = [
        Company.name,
        Company.email_domain,
        OperatorOrg.name,
        User.name,
        Facility.name_ja,
        Facility.name_en,
        Facility.municipality,
        Facility.address,
        Unit.name,
        FacilityPhoto.caption,
        Plan.name,
        CalendarFeed.label,
        BillingAccount.billing_name,
        BillingAccount.billing_address,
        Invoice.number,
        Facility.licence_number,
        User.employee_number,
        User.department,
        User.employee_group,
        GroupPolicy.employee_group,
        # issue 20: what regions, shops and companies entered
        Programme.title_en,
        Programme.description_en,
        Programme.meeting_point,
        LocalShop.name,
        LocalShop.address,
        CouponFund.name,
        MatchRequest.title,
        MatchRequest.description,
    ]
    words: set[str] = set()
    for column in columns:
        for value in db.session.scalars(select(column)):
            words.update(LATIN_WORD.findall(value or ""))
    # The register's lines are sealed at rest: the demo's foreign guests, as entered.
    for guest in FOREIGN_COMPANIONS:
        for value in guest.values():
            words.update(LATIN_WORD.findall(value))
    return words


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    ensure_compiled()
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "english-scan-secret-key",
            "SQLALCHEMY_DATABASE_URI": "sqlite:///"
            + str(tmp_path_factory.mktemp("scan") / "scan.db"),
            "PASSWORD_HASH_METHOD": FAST_HASH,
            "WTF_CSRF_ENABLED": False,
            "FIXED_NOW": NOW,
        }
    )
    with app.app_context():
        db.create_all()
        seed_demo(NOW, password_method=FAST_HASH)
        db.session.commit()
        recompute(NOW)
        subscribe_demo_companies(NOW, settings=BillingSettings.from_config(app.config))
        data_words = words_of_the_data()
        # Pages reached through forms rather than links: a quote for a free room, and the
        # local payment backend's portal of a subscribed company.
        check_in, check_out = (date.fromisoformat(STAY[k]) for k in ("check_in", "check_out"))
        offer = search(SearchQuery(check_in=check_in, check_out=check_out, guests=1))[0].units[0]
        extra = {"employee": [f"/book?unit_id={offer.id}&" + urlencode(STAY)]}
        customer = db.session.scalar(
            select(BillingAccount.stripe_customer_id)
            .join(Company, Company.id == BillingAccount.company_id)
            .where(Company.name.startswith("Acme"))
        )
        extra["company_admin"] = [f"/billing/local/portal/{customer}"]
        # An upcoming stay of the demo employee (it holds only past ones), so the pages
        # to change or cancel a stay are reached too.
        later = (TODAY + timedelta(days=40), TODAY + timedelta(days=42))
        offer = search(SearchQuery(check_in=later[0], check_out=later[1], guests=1))[0].units[0]
        # The rating page of one of those past stays (the crawler opens one stay page,
        # an upcoming one), and a webhook endpoint of each organisation (off, at a name
        # that never resolves) so their pages are reached from the webhooks list.
        past = db.session.scalar(
            select(Booking.id)
            .join(User, User.id == Booking.user_id)
            .where(User.email == ROLES["employee"][0], Booking.check_out <= TODAY)
            .order_by(Booking.check_out.desc())
        )
        extra["employee"].append(f"/stays/{past}/rating")
        admin = db.session.scalar(select(User).where(User.email == ROLES["company_admin"][0]))
        operator = db.session.scalar(select(User).where(User.email == ROLES["operator"][0]))
        for company_id, operator_id, types in (
            (admin.company_id, None, "booking.created invoice.issued"),
            (None, operator.operator_id, "booking.created calendar.conflict"),
        ):
            db.session.add(
                WebhookEndpoint(
                    company_id=company_id,
                    operator_id=operator_id,
                    url="https://hooks.engawa.invalid/events",
                    description="宿泊管理システム",
                    event_types=types,
                    secret=seal_secret(new_secret()),
                    active=False,
                )
            )
        db.session.commit()
        extra["company_admin"].append("/company/webhooks")
        extra.setdefault("operator", []).append("/operator/webhooks")
        # A direct stay of the operator's (the demo records none), and the move page of
        # one of their upcoming stays without a chosen room or dates (it always answers).
        facility = db.session.scalar(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id)
            .order_by(Facility.id)
        )
        night = TODAY + timedelta(days=150)
        unit = sorted(facility.units, key=lambda u: u.id)[0]
        direct = record_direct_stay(
            operator,
            unit,
            night,
            night + timedelta(days=1),
            guest_name="直接 太郎",
            guests=1,
            nightly_price=0,
            note="",
            now=NOW,
        )
        db.session.commit()
        upcoming = db.session.scalar(
            select(Booking.id)
            .join(Unit, Unit.id == Booking.unit_id)
            .where(Unit.facility_id == facility.id, Booking.check_in > TODAY)
            .order_by(Booking.check_in, Booking.id)
        )
        extra["operator"] += [
            f"/operator/bookings/{upcoming}/move",
            f"/operator/direct-stays/{direct.id}",
        ]
        db.session.remove()
    employee = app.test_client()
    post_sign_in(employee, ROLES["employee"][0], PASSWORD)
    booked = employee.post(
        "/book",
        data={
            "unit_id": offer.id,
            "check_in": later[0].isoformat(),
            "check_out": later[1].isoformat(),
            "guests": 1,
            "expected_total": offer.total_price,
        },
    )
    assert booked.status_code in (302, 303), "the demo employee could not book a stay"
    stay = urlsplit(booked.headers["Location"]).path
    shorter = {"unit_id": offer.id, "check_in": later[0], "check_out": later[0] + timedelta(1)}
    extra["employee"] += [
        stay,
        f"{stay}/change/preview?" + urlencode({**shorter, "guests": 1}),
        f"{stay}/guests",  # the guest register, linked from the stay while incomplete
    ]
    extra["employee"] += workspace_pages(app, employee)
    regional = region_pages(app, employee)
    for role, pages in regional.items():
        extra.setdefault(role, []).extend(pages)
    yield app, data_words, extra
    with app.app_context():
        db.engine.dispose()


def workspace_pages(app, employee) -> list[str]:
    """The workspace pages reached through forms: a demo office's day, the confirm page,
    a booking made through it, and the unit's check-in page (its QR code's address)."""
    with app.app_context():
        unit = db.session.scalar(
            select(WorkspaceUnit)
            .join(Facility, Facility.id == WorkspaceUnit.facility_id)
            .where(Facility.kind == "office")
            .order_by(WorkspaceUnit.id)
        )
        unit_id, facility_id = unit.id, unit.facility_id
        code = checkin_code(app.config["SECRET_KEY"], unit_id)
    day = TODAY + timedelta(days=7)
    while day.weekday() >= 5 or jpholiday.is_holiday(day):
        day += timedelta(days=1)
    start = datetime.combine(day, time(10), tzinfo=TOKYO)
    times = {
        "unit_id": unit_id,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }
    booked = employee.post("/workspace/book", data=times)
    assert booked.status_code in (302, 303), "the demo employee could not book workspace"
    return [
        f"/workspace/facilities/{facility_id}?date={day.isoformat()}",
        "/workspace/book?" + urlencode(times),
        urlsplit(booked.headers["Location"]).path,
        f"/workspace/check-in/{unit_id}/{code}",
    ]


def region_pages(app, employee) -> dict[str, list[str]]:
    """Issue 20's pages reached through forms or one-time addresses: joining a programme
    (a session that needs no stay) and the leave page of the place taken; a coupon's
    redeem page as the shop's phone opens it; a proposal to the demo company's request,
    made by the operator of Nagano's facilities, and its accept page."""
    with app.app_context():
        session_id = db.session.scalar(
            select(ProgrammeSession.id)
            .join(Programme, Programme.id == ProgrammeSession.programme_id)
            .where(Programme.stay_required.is_(False), ProgrammeSession.starts_at > NOW)
            .order_by(ProgrammeSession.starts_at)
        )
        coupon = db.session.scalar(
            select(Coupon)
            .where(Coupon.status == CouponStatus.OPEN, Coupon.municipality_code == "204854")
            .order_by(Coupon.id)
        )
        token = token_of(coupon)
        request_id = db.session.scalar(select(MatchRequest.id).order_by(MatchRequest.id))
        operator = db.session.scalar(select(User).where(User.email == ROLES["operator"][0]))
        request = db.session.get(MatchRequest, request_id)
        facilities = db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == operator.operator_id, Facility.prefecture == 20)
            .where(Facility.kind != "office")
            .order_by(Facility.id)
        ).all()
        nights = timedelta(days=request.nights)
        facility, check_in = next(
            (f, request.earliest + timedelta(days=d))
            for d in range((request.latest - request.earliest).days - request.nights + 1)
            for f in facilities
            if len(
                match_offer.free_rooms(
                    f.id,
                    request.earliest + timedelta(days=d),
                    request.earliest + timedelta(days=d) + nights,
                )
            )
            >= request.people
        )
        proposal = matching.propose(
            operator,
            request_id,
            matching.ProposalInput(facility.id, check_in, check_in + nights),
            NOW,
        )
        db.session.commit()
        proposal_id = proposal.id
    joined = employee.post(f"/programmes/sessions/{session_id}/join", data={"participants": 1})
    assert joined.status_code in (302, 303), "the demo employee could not join a programme"
    return {
        "employee": [f"/programmes/sessions/{session_id}/join?participants=1", "/my/programmes"],
        "shop": [f"/shop/redeem/{token}"],
        "company_admin": [f"/company/matching/proposals/{proposal_id}/accept"],
    }


def endpoint_of(adapter, path: str) -> str | None:
    try:
        endpoint, _args = adapter.match(path, "GET")
    except (NotFound, MethodNotAllowed, RequestRedirect):
        return None
    return endpoint


def skipped(endpoint: str) -> bool:
    return endpoint in SKIPPED or endpoint.startswith(SKIPPED_PREFIXES)


LINK = re.compile(r'<a\b[^>]*\bhref="([^"#]*)', re.I)


def walk(app, client, starts: list[str], data_words: set[str]) -> tuple[dict, set[str]]:
    """Visit the start pages and the same-site pages they link to. Returns the English
    words found per page and the endpoints read."""
    adapter = app.url_map.bind("localhost")
    queue, seen, found, read = list(starts), set(), {}, set()
    while queue and len(read) < MAX_PAGES_PER_ROLE * 2 and len(seen) < MAX_PAGES_PER_ROLE:
        target = queue.pop(0)
        parts = urlsplit(target)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            continue
        endpoint = endpoint_of(adapter, parts.path)
        if endpoint is not None and skipped(endpoint):
            continue
        shape = (endpoint or parts.path, frozenset(k for k, _v in parse_qsl(parts.query)))
        if shape in seen:
            continue
        seen.add(shape)
        response = client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
        if response.status_code in (301, 302, 303):
            queue.append(response.headers["Location"])
            continue
        if not response.mimetype == "text/html":
            continue
        html = response.get_data(as_text=True)
        if endpoint is not None and response.status_code == 200:
            read.add(endpoint)
        words = english_words(visible_text(html), data_words)
        if words:
            found[f"{target} ({response.status_code})"] = sorted(words)
        queue.extend(htmllib.unescape(link) for link in LINK.findall(html))
    return found, read


@pytest.mark.parametrize("role", ROLES)
def test_no_english_word_on_any_japanese_page(demo_app, role):
    app, data_words, extra = demo_app
    email, starts = ROLES[role]
    starts = starts + extra.get(role, [])
    client = app.test_client()
    if email:
        response = post_sign_in(client, email, PASSWORD)
        assert response.status_code == 302, f"{email} could not sign in"
    client.get("/lang/ja")
    found, read = walk(app, client, starts, data_words)
    assert read, f"{role} read no page"
    READ_BY_ROLE[role] = read
    assert not found, f"English on the Japanese pages of {role}:\n" + "\n".join(
        f"  {page}: {' '.join(words)}" for page, words in sorted(found.items())
    )


READ_BY_ROLE: dict[str, set[str]] = {}


def test_every_page_of_the_url_map_is_read_by_some_role(demo_app):
    """Run after the scans above (same module, in order): a new page is scanned too."""
    app, data_words, extra = demo_app
    read: set[str] = set()
    for role, (email, starts) in ROLES.items():
        starts = starts + extra.get(role, [])
        if role not in READ_BY_ROLE:
            client = app.test_client()
            if email:
                post_sign_in(client, email, PASSWORD)
            client.get("/lang/ja")
            READ_BY_ROLE[role] = walk(app, client, starts, data_words)[1]
        read |= READ_BY_ROLE[role]
    pages = defaultdict(set)
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not skipped(rule.endpoint):
            pages[rule.endpoint].add(rule.rule)
    missing = sorted(f"{e} {sorted(r)}" for e, r in pages.items() if e not in read)
    assert not missing, (
        "pages no role reached (link them from a page of their role, add a start page, "
        "or say in SKIPPED why they are not scanned):\n  " + "\n  ".join(missing)
    )
