"""A company admin reads their own company's audit entries, never another's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from accounts import audit
from accounts.models import Role
from identity import orgs, people
from tests.conftest import NOW, signed_in


@pytest.fixture
def world(db, make_company, make_user):
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    root = make_user(Role.PLATFORM_ADMIN)
    admin = make_user(Role.COMPANY_ADMIN, company=acme, name="総務 太郎")
    employee = make_user(Role.EMPLOYEE, company=acme)
    rival = make_user(Role.COMPANY_ADMIN, company=globex)
    audit.record(
        "company.policy",
        NOW,
        actor=admin,
        object_type="company",
        object_id=acme.id,
        company_id=acme.id,
        before={"max_nights_per_stay": 14},
        after={"max_nights_per_stay": 7},
    )
    people.lock(employee.id, NOW + timedelta(minutes=1), actor=root)
    audit.record(
        "company.policy",
        NOW,
        actor=rival,
        object_type="company",
        object_id=globex.id,
        company_id=globex.id,
        before={"max_nights_per_stay": 14},
        after={"max_nights_per_stay": 3},
    )
    orgs.create_operator("Op", "op@op.example", NOW, actor=root)
    db.session.commit()
    return {"acme": acme, "globex": globex, "admin": admin, "employee": employee, "root": root}


def english(app, user):
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def entry_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-entry-id="(\d+)"', page)]


def test_the_admin_reads_their_own_company_entries_only(app, world):
    page = english(app, world["admin"]).get("/company/audit").get_data(as_text=True)
    assert len(entry_ids(page)) == 2
    assert "max_nights_per_stay</span>: 14 → 7" in page
    assert "→ 3" not in page  # Globex's change
    assert "総務 太郎" in page  # their own people by name
    assert "Engawa team" in page  # the platform's lock, without the admin's address
    assert world["root"].email not in page
    assert "Account locked" in page
    assert 'aria-current="page">Audit log<' in page


def test_a_foreign_company_id_in_the_address_changes_nothing(app, world):
    browser = english(app, world["admin"])
    page = browser.get(f"/company/audit?company={world['globex'].id}").get_data(as_text=True)
    assert len(entry_ids(page)) == 2 and "→ 3" not in page
    page = browser.get("/company/audit?action=operator.").get_data(as_text=True)
    assert entry_ids(page) == []


def test_filters_narrow_the_companys_entries(app, world):
    browser = english(app, world["admin"])
    page = browser.get("/company/audit?action=user.").get_data(as_text=True)
    assert len(entry_ids(page)) == 1 and "Account locked" in page
    page = browser.get("/company/audit?type=company").get_data(as_text=True)
    assert len(entry_ids(page)) == 1
    page = browser.get("/company/audit?since=2026-12-02").get_data(as_text=True)
    assert entry_ids(page) == [] and "No entries." in page
    for junk in ("since=nope", "page=0", "page=999999999999", "until=9999-12-31"):
        assert browser.get(f"/company/audit?{junk}").status_code == 200, junk


def test_only_company_admins_read_it(app, world, make_user):
    colleague = make_user(Role.EMPLOYEE, company=world["acme"])
    assert signed_in(app, colleague).get("/company/audit").status_code == 403
    for role in (Role.EMPLOYEE, Role.OPERATOR, Role.PLATFORM_ADMIN):
        assert signed_in(app, make_user(role)).get("/company/audit").status_code == 403
    assert app.test_client().get("/company/audit").status_code == 302  # to sign in
