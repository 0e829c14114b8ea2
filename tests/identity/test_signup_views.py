"""The public sign-up pages: applying, the one "check your mail" answer, confirming by the
mailed link, bad input, CSRF, and throttling per network and per address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import mail
from accounts.mail import OutgoingMail
from accounts.models import Role
from core.ratelimit import Limit, RateLimitWindow
from identity import signup_views
from identity.models import Application, ApplicationStatus
from identity.signup_views import SIGNUPS_PER_ADDRESS, SIGNUPS_PER_IP
from tests.conftest import NOW

BASE = "https://engawa.example"
CONFIRM_LINK = re.compile(r"https?://[^\s/]+(/signup/confirm/[\w-]+)")
TOYOTA = "1180301018771"

COMPANY = {
    "org_name": "株式会社テスト",
    "corporate_number": "1-1803-0101-8771",
    "billing_address": "東京都千代田区丸の内1-1-1",
    "expected_seats": "120",
    "contact_name": "総務 花子",
    "contact_email": "soumu@kaisha.example",
}
OPERATOR = {
    "org_name": "里山町観光協会",
    "operator_kind": "municipality",
    "contact_name": "山田 太郎",
    "contact_email": "info@satoyama.example",
    "facility_name": "里山の宿",
    "facility_kind": "stay",
    "postal_code": "389-0102",
    "prefecture": "20",
    "municipality": "北佐久郡軽井沢町",
    "address": "軽井沢1-2-3",
    "licence_number": "長野県指令 5佐保第123号",
    "office_note": "",
}


@pytest.fixture(autouse=True)
def base_url(app):
    app.config["BASE_URL"] = BASE


def visitor(app, ip: str = "198.51.100.7"):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    browser.get("/lang/en")
    return browser


def applications_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Application))


def mail_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(OutgoingMail))


def confirm_path(db, email: str) -> str:
    queued = db.session.scalars(
        select(OutgoingMail).where(OutgoingMail.to_address == email).order_by(OutgoingMail.id)
    ).all()[-1]
    return CONFIRM_LINK.search(mail.body_of(queued)).group(1)


# --- Pages --------------------------------------------------------------------------------


def test_the_sign_in_page_links_to_both_sign_up_pages(app):
    page = visitor(app).get("/login").get_data(as_text=True)
    assert 'href="/signup/company"' in page
    assert 'href="/signup/operator"' in page


@pytest.mark.parametrize("path", ["/signup/company", "/signup/operator"])
def test_the_forms_show_with_a_csrf_token(app, path):
    app.config["WTF_CSRF_ENABLED"] = True
    response = visitor(app).get(path)
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_a_company_applies_confirms_and_is_told_what_happens_next(app, db):
    browser = visitor(app)
    response = browser.post("/signup/company", data=COMPANY)
    assert response.status_code == 303
    assert response.headers["Location"] == "/signup/sent"
    assert "Check your mail" in browser.get("/signup/sent").get_data(as_text=True)
    [application] = db.session.scalars(select(Application)).all()
    assert application.corporate_number == TOYOTA
    assert application.locale == "en"
    assert application.detail_values["expected_seats"] == 120
    path = confirm_path(db, "soumu@kaisha.example")
    confirmed = browser.get(path)
    assert confirmed.status_code == 200
    assert confirmed.headers["Cache-Control"] == "no-store"
    assert confirmed.headers["Referrer-Policy"] == "no-referrer"
    page = confirmed.get_data(as_text=True)
    assert 'data-status="pending"' in page
    assert "choose a plan" in page
    db.session.refresh(application)
    assert application.status == ApplicationStatus.PENDING
    # A second click says the same and changes nothing.
    again = browser.get(path)
    assert again.status_code == 200
    assert 'data-status="pending"' in again.get_data(as_text=True)


def test_an_operator_registers_its_first_facility(app, db):
    response = visitor(app).post("/signup/operator", data=OPERATOR)
    assert response.status_code == 303, response.get_data(as_text=True)
    [application] = db.session.scalars(select(Application)).all()
    assert application.kind == "operator"
    assert application.detail_values["postal_code"] == "3890102"
    assert application.detail_values["operator_kind"] == "municipality"


def test_a_postal_code_alone_fills_the_address_for_checking(app, db):
    data = {**OPERATOR, "municipality": "", "address": "", "prefecture": "13"}
    response = visitor(app).post("/signup/operator", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-testid="postal-filled"' in page
    assert "北佐久郡軽井沢町" in page
    assert applications_count(db) == 0


def test_a_satellite_office_needs_its_note_not_a_licence(app, db):
    data = {**OPERATOR, "facility_kind": "office", "licence_number": "", "office_note": ""}
    response = visitor(app).post("/signup/operator", data=data)
    assert response.status_code == 400
    assert "For a satellite office" in response.get_data(as_text=True)
    data["office_note"] = "Ten desks, a meeting room, open 9–18."
    assert visitor(app).post("/signup/operator", data=data).status_code == 303
    assert applications_count(db) == 1


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        ({"corporate_number": "2180301018771"}, "this one is not valid"),
        ({"corporate_number": "118030101877"}, "this one is not valid"),
        ({"org_name": ""}, "This field is required"),
        ({"expected_seats": "0"}, "From 1 to 100,000"),
        ({"expected_seats": "100001"}, "From 1 to 100,000"),
        ({"expected_seats": "many"}, "Not a valid integer"),
        ({"contact_email": "nobody"}, "valid e-mail address"),
        ({"billing_address": "x" * 501}, "500"),
    ],
)
def test_bad_company_input_shows_the_form_again_and_writes_nothing(app, db, change, message):
    response = visitor(app).post("/signup/company", data={**COMPANY, **change})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'aria-invalid="true"' in page or 'data-testid="signup-error"' in page
    assert 'value="総務 花子"' in page  # what was typed stays
    assert applications_count(db) == 0
    assert mail_count(db) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"postal_code": "12-34"},
        {"prefecture": "48"},
        {"prefecture": "tokyo"},
        {"facility_kind": "castle"},
        {"operator_kind": "guild"},
        {"licence_number": ""},
        {"facility_name": ""},
    ],
)
def test_bad_operator_input_shows_the_form_again(app, db, change):
    response = visitor(app).post("/signup/operator", data={**OPERATOR, **change})
    assert response.status_code == 400
    assert applications_count(db) == 0


def test_a_post_without_csrf_token_is_refused(app, db):
    app.config["WTF_CSRF_ENABLED"] = True
    response = visitor(app).post("/signup/company", data=COMPANY)
    assert response.status_code == 400
    assert "could not be understood" in response.get_data(as_text=True)
    assert applications_count(db) == 0


def test_an_unknown_or_expired_link_says_so(app, db):
    browser = visitor(app)
    unknown = browser.get("/signup/confirm/not-a-real-token")
    assert unknown.status_code == 404
    assert "not valid" in unknown.get_data(as_text=True)
    assert browser.get("/signup/confirm/" + "a" * 500).status_code == 404
    browser.post("/signup/company", data=COMPANY)
    path = confirm_path(db, "soumu@kaisha.example")
    app.config["FIXED_NOW"] = NOW + timedelta(hours=49)
    expired = browser.get(path)
    assert expired.status_code == 410
    assert "no longer works" in expired.get_data(as_text=True)


# --- Never telling whether an address is known --------------------------------------------


def test_a_registered_address_gets_the_same_answer(app, db, make_user):
    make_user(Role.COMPANY_ADMIN, email="soumu@kaisha.example")
    known = visitor(app, "198.51.100.1").post("/signup/company", data=COMPANY)
    fresh = visitor(app, "198.51.100.2").post(
        "/signup/company", data={**COMPANY, "contact_email": "new@kaisha.example"}
    )
    assert (known.status_code, known.headers["Location"]) == (
        fresh.status_code,
        fresh.headers["Location"],
    )
    assert applications_count(db) == 1  # only the new address's
    # The known mailbox is told why nothing was made; nobody else learns it.
    notice = db.session.scalar(
        select(OutgoingMail).where(OutgoingMail.to_address == "soumu@kaisha.example")
    )
    assert "/signup/confirm/" not in mail.body_of(notice)


def test_an_address_with_an_application_under_review_gets_the_same_answer(app, db):
    visitor(app, "198.51.100.1").post("/signup/company", data=COMPANY)
    visitor(app).get(confirm_path(db, "soumu@kaisha.example"))
    again = visitor(app, "198.51.100.2").post(
        "/signup/operator", data={**OPERATOR, "contact_email": "soumu@kaisha.example"}
    )
    assert (again.status_code, again.headers["Location"]) == (303, "/signup/sent")
    assert applications_count(db) == 1


# --- Throttling ---------------------------------------------------------------------------


def test_posts_are_throttled_per_network(app, db):
    browser = visitor(app)
    for i in range(SIGNUPS_PER_IP.count):
        data = {**COMPANY, "contact_email": f"person{i}@kaisha.example"}
        assert browser.post("/signup/company", data=data).status_code == 303
    refused = browser.post(
        "/signup/operator", data={**OPERATOR, "contact_email": "late@kaisha.example"}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many applications" in refused.get_data(as_text=True)
    assert applications_count(db) == SIGNUPS_PER_IP.count
    # Another network carries on.
    other = visitor(app, "203.0.113.9").post(
        "/signup/company", data={**COMPANY, "contact_email": "other@kaisha.example"}
    )
    assert other.status_code == 303


def test_bad_input_counts_too(app, db):
    browser = visitor(app)
    for i in range(SIGNUPS_PER_IP.count):
        data = {**COMPANY, "contact_email": f"p{i}@kaisha.example", "corporate_number": "1"}
        assert browser.post("/signup/company", data=data).status_code == 400
    assert browser.post("/signup/company", data=COMPANY).status_code == 429


def test_posts_are_throttled_per_address_whatever_the_network(app, db):
    for i in range(SIGNUPS_PER_ADDRESS.count):
        response = visitor(app, f"198.51.100.{10 + i}").post(
            "/signup/company", data={**COMPANY, "contact_email": "Target@Kaisha.example"}
        )
        assert response.status_code == 303
    refused = visitor(app, "198.51.100.99").post(
        "/signup/company", data={**COMPANY, "contact_email": "target@kaisha.example"}
    )
    assert refused.status_code == 429
    mails = db.session.scalar(
        select(func.count())
        .select_from(OutgoingMail)
        .where(OutgoingMail.to_address == "target@kaisha.example")
    )
    assert mails == SIGNUPS_PER_ADDRESS.count


def test_the_throttle_keeps_no_address(app, db):
    visitor(app).post("/signup/company", data=COMPANY)
    keys = list(db.session.scalars(select(RateLimitWindow.key)))
    assert keys and not any("kaisha" in key for key in keys)


def test_confirming_is_throttled_per_network(app, db, monkeypatch):
    monkeypatch.setattr(signup_views, "CONFIRMS_PER_IP", Limit("signup-confirm-ip", 2, 3600))
    browser = visitor(app)
    for _ in range(2):
        assert browser.get("/signup/confirm/guess").status_code == 404
    assert browser.get("/signup/confirm/guess").status_code == 429
