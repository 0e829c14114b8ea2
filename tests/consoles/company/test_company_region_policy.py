"""The company's industry and programme credit policy on the booking policy page
(/company/policy): shown, saved, audited with the other policy fields; bad input
changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Company, Role
from tests.conftest import signed_in

POLICY = {
    "max_nights_per_stay": "14",
    "employee_monthly_cap": "",
    "overage": "refuse",
    "overage_monthly_limit": "",
    "max_workspace_hours_per_month": "40",
}


@pytest.fixture
def company(make_company):
    return make_company(name="Acme")


@pytest.fixture
def browser(app, make_user, company):
    return signed_in(app, make_user(Role.COMPANY_ADMIN, company=company, locale="en"))


def stored(db, company_id: int) -> tuple:
    db.session.rollback()
    db.session.expire_all()
    company = db.session.get(Company, company_id)
    return company.industry, company.programmes_on_credit


def entries(db) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "company.policy").order_by(AuditEntry.id)
        )
    )


def test_the_fields_are_shown_with_the_industries(browser):
    html = browser.get("/company/policy").get_data(as_text=True)
    assert re.search(r'<select [^>]*id="industry" name="industry"', html)
    assert '<option selected value="">Not stated</option>' in html
    assert '<option value="G">Information and communications</option>' in html
    checkbox = re.search(r'<input [^>]*name="programmes_on_credit"[^>]*>', html)[0]
    assert 'type="checkbox"' in checkbox and "checked" not in checkbox
    assert re.search(
        r"Employees may pay regional programmes from the company(&#39;|')s credit", html
    )


def test_they_are_saved_audited_and_shown(db, browser, company):
    response = browser.post(
        "/company/policy", data={**POLICY, "industry": "G", "programmes_on_credit": "y"}
    )
    assert response.status_code == 303
    assert stored(db, company.id) == ("G", True)
    (entry,) = entries(db)
    assert entry.before_values == {"industry": None, "programmes_on_credit": False}
    assert entry.after_values == {"industry": "G", "programmes_on_credit": True}
    assert entry.company_id == company.id

    html = browser.get("/company/policy").get_data(as_text=True)
    assert '<option selected value="G">' in html
    assert "checked" in re.search(r'<input [^>]*name="programmes_on_credit"[^>]*>', html)[0]

    # Unticked and not stated again: both go back, audited once more.
    assert browser.post("/company/policy", data={**POLICY, "industry": ""}).status_code == 303
    assert stored(db, company.id) == (None, False)
    assert entries(db)[-1].after_values == {"industry": None, "programmes_on_credit": False}
    # The same again changes nothing and writes nothing.
    assert browser.post("/company/policy", data={**POLICY, "industry": ""}).status_code == 303
    assert len(entries(db)) == 2


@pytest.mark.parametrize("industry", ["Z", "g", "GG", "1", "<script>"])
def test_an_unknown_industry_changes_nothing(db, browser, company, industry):
    response = browser.post(
        "/company/policy", data={**POLICY, "industry": industry, "programmes_on_credit": "y"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-testid="form-error"' in html and 'class="field-error"' in html
    assert stored(db, company.id) == (None, False)
    assert entries(db) == []


def test_only_the_company_s_own_admin_sets_them(app, db, make_user, company):
    employee = signed_in(app, make_user(Role.EMPLOYEE, company=company))
    response = employee.post("/company/policy", data={**POLICY, "industry": "G"})
    assert response.status_code == 403
    assert stored(db, company.id) == (None, False)
