"""What company admins and the Engawa team change in the consoles is in the audit log:
employees deactivated and reactivated, invitations, the booking policy, join domains
approved, plans changed. Each entry belongs to the organisation concerned."""

from __future__ import annotations

from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Role
from tests.conftest import NOW, plan_named, signed_in


def _entries(db, action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_company_admin_s_member_and_policy_changes_are_audited(app, db, make_user):
    admin = make_user(Role.COMPANY_ADMIN)
    employee = make_user(Role.EMPLOYEE, company=admin.company)
    browser = signed_in(app, admin)

    assert browser.post(f"/company/employees/{employee.id}/deactivate").status_code == 303
    assert browser.post(f"/company/employees/{employee.id}/reactivate").status_code == 303
    browser.post("/company/employees/invite", data={"email": "new.hire@example.com"})
    policy = {
        "max_nights_per_stay": "10",
        "employee_monthly_cap": "50000",
        "overage": "refuse",
        "overage_monthly_limit": "0",
        "max_workspace_hours_per_month": "40",  # unchanged: not in the audit's diff
        "industry": "G",
        "programmes_on_credit": "y",
    }
    assert browser.post("/company/policy", data=policy).status_code == 303
    assert browser.post("/company/policy", data=policy).status_code == 303  # no change

    for action in ("member.deactivate", "member.reactivate"):
        (entry,) = _entries(db, action)
        assert (entry.actor_id, entry.object_id, entry.company_id) == (
            admin.id,
            employee.id,
            admin.company_id,
        )
    (invite,) = _entries(db, "member.invite")
    assert invite.company_id == admin.company_id and "new.hire" not in (invite.after or "")
    (policy_entry,) = _entries(db, "company.policy")  # the unchanged second save wrote none
    assert policy_entry.before_values == {
        "max_nights_per_stay": 14,
        "employee_monthly_cap": None,
        "industry": None,
        "programmes_on_credit": False,
    }
    assert policy_entry.after_values == {
        "max_nights_per_stay": 10,
        "employee_monthly_cap": 50000,
        "industry": "G",
        "programmes_on_credit": True,
    }

    browser.get("/lang/en")
    page = browser.get("/company/audit").get_data(as_text=True)
    for label in ("Employee deactivated", "Employee reactivated", "Booking policy changed"):
        assert label in page


def test_the_engawa_team_s_domain_approvals_and_plan_edits_are_audited(
    app, db, make_user, make_company
):
    company = make_company(email_domain="acme.example")
    plan = plan_named("lite")
    db.session.commit()
    root = signed_in(app, make_user(Role.PLATFORM_ADMIN))

    response = root.post(f"/admin/domains/{company.id}/approve", data={"domain": "acme.example"})
    assert response.status_code == 303
    form = {"name": "Lite 2027", "fee_per_seat": "3500", "credit_per_seat": "6000", "active": "y"}
    assert root.post(f"/admin/plans/{plan.id}", data=form).status_code in (302, 303)

    (approved,) = _entries(db, "domain.approve")
    assert approved.company_id == company.id
    assert approved.after_values == {"email_domain": "acme.example"}
    (edited,) = _entries(db, "plan.update")
    assert edited.before_values["fee_per_seat"] == 3000
    assert edited.after_values["fee_per_seat"] == 3500
    assert edited.after_values["name"] == "Lite 2027"
    assert approved.created_at == NOW  # dated by the edge's clock (FIXED_NOW in tests)
