"""A company's policy per group (hr.groups): one row per group, the default first,
at least one purpose, audited, another company's row not found."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.models import Role
from hr import groups
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose
from hr.people import HrError, HrNotFound
from hr.policy import allowed_purposes
from tests.conftest import NOW


@pytest.fixture
def company(make_company):
    return make_company(subscribed=False)


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company)


def save(company, group, *, leisure=True, business=True, actor=None) -> GroupPolicy:
    return groups.save_group_policy(
        company.id,
        group,
        leisure_allowed=leisure,
        business_allowed=business,
        actor_id=actor.id if actor else None,
        now=NOW,
    )


def entries(db) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_policies_list_the_default_first_then_groups_by_name(db, company, make_company):
    for group in ("契約社員", "Board", "", "正社員"):
        save(company, group)
    save(make_company(subscribed=False), "Board")
    db.session.commit()

    assert [row.employee_group for row in groups.group_policies(company.id)] == [
        DEFAULT_GROUP,
        "Board",
        "契約社員",
        "正社員",
    ]


def test_groups_in_use_are_the_active_peoples_distinct_groups(
    db, company, make_employee, make_user, make_company
):
    for group in ("正社員", "契約社員", "正社員", None, ""):
        make_employee(company=company, employee_group=group)
    make_user(Role.COMPANY_ADMIN, company=company, employee_group="役員")
    make_employee(company=company, employee_group="退職者", active=False)
    make_employee(company=make_company(subscribed=False), employee_group="他社")

    assert groups.groups_in_use(company.id) == sorted(["契約社員", "正社員", "役員"])


def test_a_policy_is_made_then_updated_in_place_and_audited(db, company, admin):
    row = save(company, " 契約社員 ", business=False, actor=admin)
    db.session.commit()
    assert (row.employee_group, row.leisure_allowed, row.business_allowed) == (
        "契約社員",
        True,
        False,
    )

    again = save(company, "契約社員", leisure=False, business=True, actor=admin)
    save(company, "契約社員", leisure=False, business=True, actor=admin)  # no change
    db.session.commit()

    assert again.id == row.id
    assert db.session.scalar(select(func.count()).select_from(GroupPolicy)) == 1
    created, updated = entries(db)
    assert (created.action, created.actor_id, created.object_type, created.object_id) == (
        "hr.group_policy.create",
        admin.id,
        "group_policy",
        row.id,
    )
    assert created.company_id == company.id
    assert created.after_values == {
        "employee_group": "契約社員",
        "leisure_allowed": True,
        "business_allowed": False,
    }
    assert updated.action == "hr.group_policy.update"
    assert updated.before_values == {
        "employee_group": "契約社員",
        "leisure_allowed": True,
        "business_allowed": False,
    }
    assert updated.after_values == {
        "employee_group": "契約社員",
        "leisure_allowed": False,
        "business_allowed": True,
    }


def test_an_empty_group_is_the_companys_default(db, company, make_employee):
    save(company, "   ", business=False)
    db.session.commit()
    [row] = groups.group_policies(company.id)
    assert row.employee_group == DEFAULT_GROUP
    person = make_employee(company=company, employee_group="正社員")
    assert allowed_purposes(person).purposes == (Purpose.LEISURE,)


def test_a_policy_allows_some_purpose(db, company):
    with pytest.raises(HrError) as refused:
        save(company, "正社員", leisure=False, business=False)
    assert (refused.value.code, refused.value.field) == ("no_purpose", "purposes")
    assert groups.group_policies(company.id) == []


def test_group_names_are_checked(db, company):
    save(company, "群" * 40)
    db.session.commit()
    for name, code in (("群" * 41, "too_long"), ("正社\x00員", "invalid_characters")):
        with pytest.raises(HrError) as refused:
            save(company, name)
        assert (refused.value.code, refused.value.field) == (code, "employee_group")
        db.session.rollback()
    assert [row.employee_group for row in groups.group_policies(company.id)] == ["群" * 40]


def test_a_policy_made_a_moment_ago_by_another_admin_is_updated(db, company, monkeypatch):
    existing = save(company, "正社員")
    db.session.commit()
    real_row = groups._row
    calls = []

    def first_misses(company_id, group):
        calls.append(group)
        return None if len(calls) == 1 else real_row(company_id, group)

    monkeypatch.setattr(groups, "_row", first_misses)
    row = save(company, "正社員", business=False)
    db.session.commit()
    assert row.id == existing.id and row.business_allowed is False
    assert [e.action for e in entries(db)] == [
        "hr.group_policy.create",
        "hr.group_policy.update",
    ]


def test_a_policy_is_deleted_audited_and_people_fall_back(db, company, admin, make_employee):
    save(company, "", business=False)
    row = save(company, "役員", leisure=False)
    db.session.commit()
    person = make_employee(company=company, employee_group="役員")
    assert allowed_purposes(person).purposes == (Purpose.BUSINESS,)

    groups.delete_group_policy(company.id, row.id, actor_id=admin.id, now=NOW)
    db.session.commit()

    assert allowed_purposes(person).purposes == (Purpose.LEISURE,)
    last = entries(db)[-1]
    assert (last.action, last.actor_id, last.object_id, last.company_id) == (
        "hr.group_policy.delete",
        admin.id,
        row.id,
        company.id,
    )
    assert last.before_values == {
        "employee_group": "役員",
        "leisure_allowed": False,
        "business_allowed": True,
    }


def test_another_companys_policy_is_not_found(db, company, make_company):
    theirs = save(make_company(subscribed=False), "正社員")
    db.session.commit()
    for policy_id in (theirs.id, 999_999, 0, 2**63):
        with pytest.raises(HrNotFound) as refused:
            groups.delete_group_policy(company.id, policy_id, actor_id=None, now=NOW)
        assert refused.value.code == "not_found"
    assert db.session.get(GroupPolicy, theirs.id) is not None
