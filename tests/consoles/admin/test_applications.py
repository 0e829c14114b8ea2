"""The platform admin's review of sign-up applications: list, filters, paging, every
field, approve after a confirm page, reject with a reason; nobody else gets in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.mail import OutgoingMail
from accounts.models import Company, OperatorOrg, Role, User
from consoles.admin import application_views
from facilities.models import Facility
from identity import applications
from identity.applications import FirstFacility
from identity.models import Application, ApplicationStatus
from tests.conftest import NOW, PASSWORD, signed_in

TOYOTA = "1180301018771"
NTA = "7000012050002"


@pytest.fixture
def root(make_user):
    return make_user(Role.PLATFORM_ADMIN, email="root@engawa.example")


@pytest.fixture
def admin(app, root):
    browser = signed_in(app, root)
    browser.get("/lang/en")
    return browser


def company_application(
    db, email="soumu@kaisha.example", number=TOYOTA, confirm=True, when=NOW
) -> Application:
    application, secret = applications.apply_company(
        "株式会社テスト", number, "東京都千代田区丸の内1-1-1", "総務 花子", email, 120, when
    )
    if confirm:
        applications.confirm(secret, when)
    db.session.commit()
    return application


def operator_application(db, email="info@satoyama.example", kind="stay") -> Application:
    facility = FirstFacility(
        name="里山の宿",
        kind=kind,
        postal_code="3890102",
        prefecture=20,
        municipality="北佐久郡軽井沢町",
        address="軽井沢1-2-3",
        licence_number="長野県指令 5佐保第123号" if kind != "office" else "",
        office_note="Ten desks and a meeting room" if kind == "office" else "",
    )
    application, secret = applications.apply_operator(
        "里山町観光協会", "municipality", "山田 太郎", email, facility, NOW
    )
    applications.confirm(secret, NOW)
    db.session.commit()
    return application


def fresh(db, application_id: int) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application_id)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- Who may see it -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR])
def test_nobody_but_the_platform_admin_gets_in(app, db, make_user, role):
    application = company_application(db)
    browser = signed_in(app, make_user(role))
    base = f"/admin/applications/{application.id}"
    assert browser.get("/admin/applications/").status_code == 403
    assert browser.get(base).status_code == 403
    assert browser.get(base + "/approve").status_code == 403
    assert browser.post(base + "/approve").status_code == 403
    assert browser.post(base + "/reject", data={"reason": "no"}).status_code == 403
    assert fresh(db, application.id).status == ApplicationStatus.PENDING


def test_signed_out_visitors_are_sent_to_sign_in(app, db):
    response = app.test_client().get("/admin/applications/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("application_id", ["999999", "0", "99999999999"])
def test_an_unknown_id_is_not_found(app, db, admin, application_id):
    base = f"/admin/applications/{application_id}"
    assert admin.get(base).status_code == 404
    assert admin.get(base + "/approve").status_code == 404
    assert admin.post(base + "/approve").status_code == 404
    assert admin.post(base + "/reject", data={"reason": "no"}).status_code == 404


# --- The list -----------------------------------------------------------------------------


def test_the_list_shows_waiting_applications_first_and_filters(app, db, admin):
    company = company_application(db)
    operator = operator_application(db)
    unconfirmed = company_application(db, "late@kaisha.example", NTA, confirm=False)
    page = admin.get("/admin/applications/").get_data(as_text=True)
    assert f'data-application-id="{company.id}"' in page
    assert f'data-application-id="{operator.id}"' in page
    assert f'data-application-id="{unconfirmed.id}"' not in page  # pending by default
    page = admin.get("/admin/applications/?kind=operator").get_data(as_text=True)
    assert f'data-application-id="{operator.id}"' in page
    assert f'data-application-id="{company.id}"' not in page
    page = admin.get("/admin/applications/?status=unconfirmed").get_data(as_text=True)
    assert f'data-application-id="{unconfirmed.id}"' in page
    assert f'data-application-id="{company.id}"' not in page
    page = admin.get("/admin/applications/?status=&kind=").get_data(as_text=True)
    assert page.count("data-application-id=") == 3
    # Unknown filters narrow nothing; an odd page number is the first page.
    odd = admin.get("/admin/applications/?status=nonsense&kind=x&page=abc")
    assert odd.status_code == 200
    assert odd.get_data(as_text=True).count("data-application-id=") == 3


def test_the_list_pages(app, db, admin, monkeypatch):
    monkeypatch.setattr(application_views, "PAGE_SIZE", 2)
    for i in range(5):
        company_application(db, f"p{i}@kaisha.example", NTA if i % 2 else TOYOTA)
    first = admin.get("/admin/applications/").get_data(as_text=True)
    assert first.count("data-application-id=") == 2
    assert "1 / 3" in first
    last = admin.get("/admin/applications/?page=3").get_data(as_text=True)
    assert last.count("data-application-id=") == 1
    beyond = admin.get("/admin/applications/?page=99").get_data(as_text=True)
    assert "3 / 3" in beyond


# --- Detail -------------------------------------------------------------------------------


def test_the_detail_shows_every_field_the_applicant_gave(app, db, admin):
    company = company_application(db)
    page = admin.get(f"/admin/applications/{company.id}").get_data(as_text=True)
    for text in (
        "株式会社テスト",
        TOYOTA,
        "東京都千代田区丸の内1-1-1",
        "120",
        "総務 花子",
        "soumu@kaisha.example",
    ):
        assert text in page
    operator = operator_application(db, kind="office")
    page = admin.get(f"/admin/applications/{operator.id}").get_data(as_text=True)
    for text in (
        "里山町観光協会",
        "Municipality",
        "山田 太郎",
        "info@satoyama.example",
        "里山の宿",
        "389-0102",
        "北佐久郡軽井沢町",
        "軽井沢1-2-3",
        "Ten desks and a meeting room",
    ):
        assert text in page


def test_the_detail_warns_of_what_would_stop_approval(app, db, admin, make_user, make_company):
    application = company_application(db)
    make_company(corporate_number=TOYOTA)
    make_user(Role.EMPLOYEE, email="soumu@kaisha.example")
    page = admin.get(f"/admin/applications/{application.id}").get_data(as_text=True)
    assert 'data-testid="conflicts"' in page
    assert "already has an Engawa account" in page
    assert "corporate number already uses Engawa" in page


# --- Approving ----------------------------------------------------------------------------


def test_approving_shows_what_it_creates_then_creates_it(app, db, admin, root):
    application = company_application(db)
    confirm = admin.get(f"/admin/applications/{application.id}/approve")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert 'data-testid="will-create"' in page
    assert TOYOTA in page and "soumu@kaisha.example" in page
    assert count(db, Company) == 0  # looking changes nothing
    response = admin.post(f"/admin/applications/{application.id}/approve")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/applications/{application.id}"
    decided = fresh(db, application.id)
    assert decided.status == ApplicationStatus.APPROVED
    assert decided.decided_by_id == root.id
    company = db.session.get(Company, decided.company_id)
    assert company.corporate_number == TOYOTA
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "has been approved" in page
    assert 'data-status="approved"' in page
    # A second approval (a stale tab) is refused and creates nothing more.
    again = admin.post(f"/admin/applications/{application.id}/approve")
    assert again.status_code == 409
    assert "already been decided" in again.get_data(as_text=True)
    assert count(db, Company) == 1


def test_approving_an_operator_creates_an_unlisted_facility(app, db, admin):
    application = operator_application(db)
    assert admin.post(f"/admin/applications/{application.id}/approve").status_code == 303
    decided = fresh(db, application.id)
    org = db.session.get(OperatorOrg, decided.operator_id)
    [facility] = db.session.scalars(select(Facility).where(Facility.operator_id == org.id))
    assert facility.reviewed_at is None
    assert db.session.scalar(select(User.role).where(User.operator_id == org.id)) == "operator"


def test_an_approval_that_cannot_be_made_says_why_and_creates_nothing(app, db, admin, make_company):
    application = company_application(db)
    make_company(corporate_number=TOYOTA)
    response = admin.post(f"/admin/applications/{application.id}/approve")
    assert response.status_code == 409
    assert "corporate number already uses Engawa" in response.get_data(as_text=True)
    assert fresh(db, application.id).status == ApplicationStatus.PENDING
    assert count(db, Company) == 1


def test_an_unconfirmed_application_cannot_be_approved(app, db, admin):
    application = company_application(db, confirm=False)
    page = admin.get(f"/admin/applications/{application.id}").get_data(as_text=True)
    assert 'data-testid="approve-link"' not in page
    assert admin.get(f"/admin/applications/{application.id}/approve").status_code == 302
    assert admin.post(f"/admin/applications/{application.id}/approve").status_code == 409
    assert count(db, Company) == 0


# --- Rejecting ----------------------------------------------------------------------------


def test_rejecting_needs_a_reason_and_mails_it(app, db, admin):
    application = company_application(db)
    base = f"/admin/applications/{application.id}"
    missing = admin.post(base + "/reject", data={"reason": "   "})
    assert missing.status_code == 400
    assert "Give the reason" in missing.get_data(as_text=True)
    assert admin.post(base + "/reject", data={"reason": "x" * 2001}).status_code == 400
    assert fresh(db, application.id).status == ApplicationStatus.PENDING
    before = count(db, OutgoingMail)
    response = admin.post(base + "/reject", data={"reason": "The corporate number is closed."})
    assert response.status_code == 303
    decided = fresh(db, application.id)
    assert decided.status == ApplicationStatus.REJECTED
    assert decided.reason == "The corporate number is closed."
    assert count(db, OutgoingMail) == before + 1
    page = admin.get(base).get_data(as_text=True)
    assert "The corporate number is closed." in page
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "application.reject")
        )
        == 1
    )


def test_an_expired_application_cannot_be_decided(app, db, admin):
    application = company_application(db, when=NOW - timedelta(days=31))
    response = admin.post(f"/admin/applications/{application.id}/reject", data={"reason": "late"})
    assert response.status_code == 409
    assert fresh(db, application.id).status == ApplicationStatus.PENDING


def test_decisions_need_csrf(app, db, root):
    application = company_application(db)
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    signin = {"email": root.email, "password": PASSWORD, "csrf_token": token}
    assert browser.post("/login", data=signin).status_code == 302
    base = f"/admin/applications/{application.id}"
    assert browser.post(base + "/approve").status_code == 400
    assert browser.post(base + "/reject", data={"reason": "no"}).status_code == 400
    assert fresh(db, application.id).status == ApplicationStatus.PENDING
    page = browser.get(base + "/approve").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert browser.post(base + "/approve", data={"csrf_token": token}).status_code == 303
    assert fresh(db, application.id).status == ApplicationStatus.APPROVED
