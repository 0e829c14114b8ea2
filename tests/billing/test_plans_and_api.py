"""The platform admin's plans, and the ``GET /api/v1/company`` contract."""

from __future__ import annotations

import pytest

from accounts.models import Role
from billing import ledger
from billing.models import Plan
from tests.conftest import bearer, plan_named, signed_in


def test_company_api_answers_the_contract_for_a_corporate_admin(app, db, make_company, make_user):
    company = make_company(name="Acme", seats=25, credit=375_000)
    make_user(Role.EMPLOYEE, company=company)
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    other = make_company(name="Globex", seats=3, credit=1)
    make_user(Role.COMPANY_ADMIN, company=other)

    response = app.test_client().get("/api/v1/company", headers=bearer(db, admin))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": company.id,
        "name": "Acme",
        "plan": "standard",
        "seats": 25,
        "seats_used": 2,
        "subscription_status": "active",
        "credit_balance": 375_000,
    }


def test_company_api_without_subscription(app, db, make_company, make_user):
    admin = make_user(Role.COMPANY_ADMIN, company=make_company(subscribed=False))
    body = app.test_client().get("/api/v1/company", headers=bearer(db, admin)).get_json()
    assert (body["plan"], body["seats"], body["subscription_status"], body["credit_balance"]) == (
        None,
        0,
        None,
        0,
    )


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.OPERATOR, Role.PLATFORM_ADMIN])
def test_company_api_is_forbidden_to_other_roles(app, db, make_user, role):
    response = app.test_client().get("/api/v1/company", headers=bearer(db, make_user(role)))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_company_api_needs_a_token(app):
    assert app.test_client().get("/api/v1/company").status_code == 401


def test_a_deactivated_admins_token_stops_working(app, db, make_user):
    admin = make_user(Role.COMPANY_ADMIN)
    headers = bearer(db, admin)
    admin.active = False
    db.session.commit()
    assert app.test_client().get("/api/v1/company", headers=headers).status_code == 401


def test_platform_admin_edits_a_plan(app, db, make_user):
    plan = plan_named("lite")
    db.session.commit()
    browser = signed_in(app, make_user(Role.PLATFORM_ADMIN))
    page = browser.get("/admin/plans")
    assert page.status_code == 200
    assert "¥3,000" in page.get_data(as_text=True)

    response = browser.post(
        f"/admin/plans/{plan.id}",
        data={
            "name": "Lite 2027",
            "fee_per_seat": "3500",
            "credit_per_seat": "6000",
            "active": "y",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Plan, plan.id)
    assert (saved.name, saved.fee_per_seat, saved.credit_per_seat, saved.active) == (
        "Lite 2027",
        3500,
        6000,
        True,
    )


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "fee_per_seat": "3000", "credit_per_seat": "5000"},
        {"name": "X", "fee_per_seat": "-1", "credit_per_seat": "5000"},
        {"name": "X", "fee_per_seat": "3000", "credit_per_seat": "lots"},
        {"name": "X", "fee_per_seat": "99999999999", "credit_per_seat": "5000"},
    ],
)
def test_bad_plan_input_changes_nothing(app, db, make_user, data):
    plan = plan_named("lite")
    db.session.commit()
    browser = signed_in(app, make_user(Role.PLATFORM_ADMIN))
    assert browser.post(f"/admin/plans/{plan.id}", data=data).status_code == 400
    db.session.expire_all()
    assert (db.session.get(Plan, plan.id).fee_per_seat, plan.name) == (3000, "Lite")


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR])
def test_plans_are_for_the_platform_admin_only(app, db, make_user, role):
    plan = plan_named("lite")
    db.session.commit()
    browser = signed_in(app, make_user(role))
    assert browser.get("/admin/plans").status_code == 403
    assert browser.post(f"/admin/plans/{plan.id}", data={"name": "Hacked"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Plan, plan.id).name == "Lite"


def test_unknown_plan_is_not_found(app, db, make_user):
    browser = signed_in(app, make_user(Role.PLATFORM_ADMIN))
    assert browser.get("/admin/plans/999999").status_code == 404
    assert browser.get("/admin/plans/99999999999999999999").status_code == 404


def test_ledger_account_is_made_once(app, db, make_company):
    company = make_company(subscribed=False)
    first = ledger.account_of(company.id)
    db.session.commit()
    assert ledger.account_of(company.id).company_id == first.company_id == company.id


def test_employees_see_their_own_allowance_not_the_company_credit(app, db, make_company, make_user):
    company = make_company(credit=123_400)
    account = ledger.account_of(company.id)
    account.employee_monthly_cap = 40_000
    db.session.commit()
    page = signed_in(app, make_user(Role.EMPLOYEE, company=company)).get("/")
    html = page.get_data(as_text=True)
    assert "¥123,400" not in html  # the pool is for the company's admins
    assert "¥40,000" in html.split('data-testid="allowance"')[1][:400]


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete"])
def test_employees_see_why_booking_is_closed_and_whom_to_ask(
    app, db, make_company, make_user, status
):
    company = make_company(status=status)
    make_user(Role.COMPANY_ADMIN, company=company, email=f"boss-{status}@acme.example")
    page = signed_in(app, make_user(Role.EMPLOYEE, company=company)).get("/")
    html = page.get_data(as_text=True)
    assert 'data-testid="booking-closed"' in html
    assert f"boss-{status}@acme.example" in html
