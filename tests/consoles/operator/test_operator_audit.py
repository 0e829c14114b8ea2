"""An operator reads their own organisation's audit entries, never another's."""

from __future__ import annotations

import re

from accounts import audit
from accounts.models import Role
from identity import orgs
from tests.conftest import NOW, signed_in


def english(app, user):
    browser = signed_in(app, user)
    browser.get("/lang/en")
    return browser


def entry_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-entry-id="(\d+)"', page)]


def test_operators_read_their_own_organisations_entries_only(
    app, db, make_user, make_operator, make_facility, make_company
):
    root = make_user(Role.PLATFORM_ADMIN)
    mine, theirs = make_operator(name="Mine"), make_operator(name="Theirs")
    operator = make_user(Role.OPERATOR, operator=mine)
    rival = make_user(Role.OPERATOR, operator=theirs)
    facility = make_facility(operator=mine, reviewed_at=None)
    other = make_facility(operator=theirs, reviewed_at=None)
    orgs.set_facility_reviewed(facility.id, True, NOW, actor=root)
    orgs.set_facility_reviewed(other.id, True, NOW, actor=root)
    orgs.set_operator_suspended(theirs.id, True, NOW, actor=root)
    company = make_company()
    audit.record("company.policy", NOW, object_type="company", company_id=company.id)
    db.session.commit()

    browser = english(app, operator)
    page = browser.get("/operator/audit").get_data(as_text=True)
    assert len(entry_ids(page)) == 1
    assert f"facility #{facility.id}" in page and f"facility #{other.id}" not in page
    assert "Facility reviewed" in page and "Engawa team" in page and root.email not in page
    assert 'aria-current="page">Audit log<' in page
    page = browser.get(f"/operator/audit?operator={theirs.id}").get_data(as_text=True)
    assert len(entry_ids(page)) == 1 and "suspended" not in page.lower().split("<main")[1]
    page = browser.get("/operator/audit?action=operator.").get_data(as_text=True)
    assert entry_ids(page) == []
    rival_page = english(app, rival).get("/operator/audit").get_data(as_text=True)
    assert len(entry_ids(rival_page)) == 2


def test_only_operators_read_it(app, make_user):
    for role in (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN):
        assert signed_in(app, make_user(role)).get("/operator/audit").status_code == 403
    assert app.test_client().get("/operator/audit").status_code == 302
