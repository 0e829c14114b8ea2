"""The platform admin approves or rejects the join domains companies ask for."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import join_domains as domains
from accounts.mail import OutgoingMail
from accounts.models import Company, Role
from identity import members
from tests.conftest import NOW, PASSWORD, signed_in


@pytest.fixture
def platform_admin(make_user):
    return make_user(Role.PLATFORM_ADMIN)


@pytest.fixture
def acme_admin(db, make_user, make_company):
    """Acme's admin, who has asked for acme.example (waiting for approval)."""
    admin = make_user(
        Role.COMPANY_ADMIN, company=make_company(name="Acme 株式会社"), email="boss@acme.example"
    )
    domains.set_email_domain(admin.company_id, "acme.example", admin, NOW)
    db.session.commit()
    return admin


def english(app, user):
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def company(db, company_id: int) -> Company:
    db.session.expire_all()
    return db.session.get(Company, company_id)


def mails(db) -> int:
    return db.session.scalar(select(func.count()).select_from(OutgoingMail))


def ask_for_link(app, email: str = "hanako@acme.example"):
    return app.test_client().post("/join", data={"email": email})


def test_a_new_domain_waits_and_the_company_sees_it(app, db, acme_admin):
    assert company(db, acme_admin.company_id).email_domain_state == "pending"
    page = english(app, acme_admin).get("/company/employees").get_data(as_text=True)
    assert 'data-testid="domain-state" data-state="pending"' in page
    assert "Waiting for approval" in page
    assert ask_for_link(app).status_code == 303
    assert mails(db) == 0  # no join link before approval


def test_the_platform_admin_approves_and_links_go_out(app, db, acme_admin, platform_admin):
    browser = english(app, platform_admin)
    page = browser.get("/admin/domains").get_data(as_text=True)
    row = re.search(
        rf'<tr data-company-id="{acme_admin.company_id}">.*?</tr>', page, re.DOTALL
    ).group(0)
    assert "@acme.example" in row and "Acme 株式会社" in row
    response = browser.post(
        f"/admin/domains/{acme_admin.company_id}/approve", data={"domain": "acme.example"}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/domains"
    approved = company(db, acme_admin.company_id)
    assert (approved.email_domain_state, approved.email_domain_approved_at) == ("approved", NOW)
    page = browser.get("/admin/domains").get_data(as_text=True)
    assert 'data-testid="domains-approved"' in page and "No domain is waiting" in page
    company_page = english(app, acme_admin).get("/company/employees").get_data(as_text=True)
    assert 'data-state="approved"' in company_page
    assert ask_for_link(app).status_code == 303
    assert mails(db) == 1


def test_a_rejected_domain_sends_nothing_and_the_company_sees_why(
    app, db, acme_admin, platform_admin
):
    response = english(app, platform_admin).post(
        f"/admin/domains/{acme_admin.company_id}/reject", data={"domain": "acme.example"}
    )
    assert response.status_code == 303
    rejected = company(db, acme_admin.company_id)
    assert (rejected.email_domain_state, rejected.email_domain_rejected_at) == ("rejected", NOW)
    assert ask_for_link(app).status_code == 303 and mails(db) == 0
    page = english(app, acme_admin).get("/company/employees").get_data(as_text=True)
    assert 'data-state="rejected"' in page and "did not approve" in page
    # Saving the same domain again does not put it back in the queue.
    english(app, acme_admin).post("/company/employees/domain", data={"domain": "acme.example"})
    assert company(db, acme_admin.company_id).email_domain_state == "rejected"
    assert domains.domains_for_review() == ([], [])


def test_withdrawing_an_approval_ends_the_links_already_sent(app, db, acme_admin, platform_admin):
    domains.review_email_domain(acme_admin.company_id, "acme.example", True, platform_admin, NOW)
    _invitation, secret = members.request_domain_join("hanako@acme.example", NOW, 14)
    db.session.commit()
    response = english(app, platform_admin).post(
        f"/admin/domains/{acme_admin.company_id}/reject", data={"domain": "acme.example"}
    )
    assert response.status_code == 303
    assert members.invitation_for(secret, NOW + timedelta(minutes=1)) is None
    assert company(db, acme_admin.company_id).email_domain_state == "rejected"


def test_a_domain_changed_since_the_page_was_shown_is_not_decided(
    app, db, acme_admin, platform_admin
):
    browser = english(app, platform_admin)
    # The admin saw "acme.example"; the company has since cleared it and asked again for…
    domains.set_email_domain(acme_admin.company_id, "", acme_admin, NOW)
    db.session.commit()
    response = browser.post(
        f"/admin/domains/{acme_admin.company_id}/approve", data={"domain": "acme.example"}
    )
    assert response.status_code == 303
    assert "changed since the page was shown" in browser.get("/admin/domains").get_data(
        as_text=True
    )
    assert company(db, acme_admin.company_id).email_domain_approved_at is None


def test_a_free_mail_domain_from_before_the_list_grew_cannot_be_approved(
    db, make_user, make_company, platform_admin
):
    legacy = make_company(email_domain="abc.ocn.ne.jp")  # saved before ocn.ne.jp was listed
    with pytest.raises(members.MemberError) as refused:
        domains.review_email_domain(legacy.id, "abc.ocn.ne.jp", True, platform_admin, NOW)
    assert refused.value.code == "free_mail"
    # And even an approved one sends no link.
    db.session.rollback()
    legacy = db.session.get(Company, legacy.id)
    legacy.email_domain_approved_at = NOW
    db.session.commit()
    assert members.request_domain_join("x@abc.ocn.ne.jp", NOW, 14) is None


def test_a_domain_is_approved_for_one_company_only(
    db, make_user, make_company, acme_admin, platform_admin
):
    # A second company got the same domain in before the first was approved (a race).
    other = make_company(email_domain="acme.example")
    domains.review_email_domain(acme_admin.company_id, "acme.example", True, platform_admin, NOW)
    db.session.commit()
    with pytest.raises(members.MemberError) as refused:
        domains.review_email_domain(other.id, "acme.example", True, platform_admin, NOW)
    assert refused.value.code == "domain_taken"


def test_only_the_platform_admin_reviews(app, db, acme_admin, make_user):
    for role in (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR):
        user = acme_admin if role == Role.COMPANY_ADMIN else make_user(role)
        browser = signed_in(app, user)
        assert browser.get("/admin/domains").status_code == 403
        approve = f"/admin/domains/{acme_admin.company_id}/approve"
        assert browser.post(approve, data={"domain": "acme.example"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/admin/domains").status_code == 302
    assert company(db, acme_admin.company_id).email_domain_state == "pending"
    with pytest.raises(members.MemberError) as refused:
        domains.review_email_domain(acme_admin.company_id, "acme.example", True, acme_admin, NOW)
    assert refused.value.code == "forbidden"


def test_unknown_companies_answer_404(app, db, platform_admin):
    browser = signed_in(app, platform_admin)
    for company_id in (999999, 2**40):
        response = browser.post(
            f"/admin/domains/{company_id}/approve", data={"domain": "acme.example"}
        )
        assert response.status_code == 404


def test_review_buttons_need_csrf(app, db, acme_admin, platform_admin):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    signin = {"email": platform_admin.email, "password": PASSWORD, "csrf_token": token}
    assert browser.post("/login", data=signin).status_code == 302
    approve = f"/admin/domains/{acme_admin.company_id}/approve"
    assert browser.post(approve, data={"domain": "acme.example"}).status_code == 400
    assert company(db, acme_admin.company_id).email_domain_state == "pending"
    page = browser.get("/admin/domains").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = browser.post(approve, data={"domain": "acme.example", "csrf_token": token})
    assert response.status_code == 303
    assert company(db, acme_admin.company_id).email_domain_state == "approved"
