"""A group policy's approval, subsidy and companion settings and the company's fiscal
year (hr.groups): each setting saved and read back, what a kind of subsidy does not use
stored empty, every refusal naming its setting and changing nothing (an approver of
another company never accepted), each change audited with what changed, and the words
and example stay the pages show."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts.audit import AuditEntry
from accounts.models import Company, Role
from hr import groups
from hr.groups import PolicySettings
from hr.models import DEFAULT_GROUP, CompanionCategory, GroupPolicy
from hr.people import HrError, HrNotFound
from hr.subsidy import Companions
from tests.conftest import NOW

EVERYTHING = PolicySettings(
    leisure_allowed=True,
    business_allowed=False,
    approval_all=False,
    approval_business=True,
    approval_over_nights=5,
    approval_peak=True,
    approval_over_subsidy=True,
    approver_id=None,  # set per test: a person of the company
    deputy_id=None,
    approval_hours=72,
    subsidy_kind="percent",
    subsidy_amount=50,
    subsidy_max=4_000,
    annual_cap=60_000,
    companion_adult="subsidised",
    companion_adult_rate=0,
    companion_child="rate",
    companion_child_rate=1_500,
    companion_infant="employee",
    companion_infant_rate=0,
)


@pytest.fixture
def company(make_company):
    return make_company(subscribed=False)


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company)


@pytest.fixture
def people(make_employee, company):
    return make_employee(company=company), make_employee(company=company)


def save(company, settings, group="正社員", actor=None) -> GroupPolicy:
    return groups.save_policy_settings(
        company.id, group, settings, actor_id=actor.id if actor else None, now=NOW
    )


def audit_entries(db) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def policy_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(GroupPolicy))


def test_every_setting_is_saved_and_read_back(db, company, admin, people):
    approver, deputy = people
    wanted = replace(EVERYTHING, approver_id=approver.id, deputy_id=deputy.id)

    row = save(company, wanted, actor=admin)
    db.session.commit()

    db.session.expire_all()
    assert groups.settings_of(db.session.get(GroupPolicy, row.id)) == wanted
    assert groups.settings_of(None) == groups.DEFAULTS


def test_a_new_row_is_audited_with_what_differs_from_the_defaults(db, company, admin, people):
    approver, _deputy = people
    row = save(
        company, replace(groups.DEFAULTS, approver_id=approver.id, annual_cap=0), actor=admin
    )
    db.session.commit()

    [created] = audit_entries(db)
    assert (created.action, created.object_id, created.company_id, created.actor_id) == (
        "hr.group_policy.create",
        row.id,
        company.id,
        admin.id,
    )
    assert created.after_values == {
        "employee_group": "正社員",
        "leisure_allowed": True,
        "business_allowed": True,
        "approver_id": approver.id,
        "annual_cap": 0,
    }


def test_an_update_records_only_what_changed_and_nothing_when_nothing_did(
    db, company, admin, people
):
    approver, deputy = people
    first = replace(EVERYTHING, approver_id=approver.id)
    save(company, first, actor=admin)
    db.session.commit()

    save(company, replace(first, approval_hours=24, deputy_id=deputy.id), actor=admin)
    save(company, replace(first, approval_hours=24, deputy_id=deputy.id), actor=admin)
    db.session.commit()

    entries = audit_entries(db)
    assert [e.action for e in entries] == ["hr.group_policy.create", "hr.group_policy.update"]
    assert entries[1].before_values == {
        "employee_group": "正社員",
        "approval_hours": 72,
        "deputy_id": None,
    }
    assert entries[1].after_values == {
        "employee_group": "正社員",
        "approval_hours": 24,
        "deputy_id": deputy.id,
    }


def test_saving_the_purposes_alone_keeps_the_money_settings(db, company, admin):
    save(company, EVERYTHING, group=DEFAULT_GROUP, actor=admin)
    db.session.commit()

    groups.save_group_policy(
        company.id,
        DEFAULT_GROUP,
        leisure_allowed=False,
        business_allowed=True,
        actor_id=admin.id,
        now=NOW,
    )
    db.session.commit()

    db.session.expire_all()
    [row] = groups.group_policies(company.id)
    assert groups.settings_of(row) == replace(
        EVERYTHING, leisure_allowed=False, business_allowed=True
    )


@pytest.mark.parametrize(
    ("changes", "stored"),
    [
        # A fixed amount has no maximum.
        (
            {"subsidy_kind": "fixed", "subsidy_amount": 3_000, "subsidy_max": 9_000},
            {"subsidy_kind": "fixed", "subsidy_amount": 3_000, "subsidy_max": None},
        ),
        # All: no amount, but a yearly cap is kept.
        (
            {"subsidy_kind": "full", "subsidy_amount": 30, "annual_cap": 90_000},
            {
                "subsidy_kind": "full",
                "subsidy_amount": 0,
                "subsidy_max": None,
                "annual_cap": 90_000,
            },
        ),
        # Nothing: no amount, no maximum, no cap.
        (
            {"subsidy_kind": "none", "subsidy_amount": 30},
            {"subsidy_kind": "none", "subsidy_amount": 0, "subsidy_max": None, "annual_cap": None},
        ),
        # A companion rate only under the rate rule.
        (
            {"companion_adult": "employee", "companion_adult_rate": 2_000},
            {"companion_adult": "employee", "companion_adult_rate": 0},
        ),
    ],
)
def test_what_a_choice_does_not_use_is_stored_empty(db, company, changes, stored):
    row = save(company, replace(EVERYTHING, **changes))
    db.session.commit()

    settings = groups.settings_of(row)
    assert {name: getattr(settings, name) for name in stored} == stored


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"leisure_allowed": False, "business_allowed": False}, "no_purpose", "purposes"),
        ({"approval_over_nights": 0}, "approval_over_nights", "approval_over_nights"),
        ({"approval_over_nights": 366}, "approval_over_nights", "approval_over_nights"),
        ({"approval_hours": 0}, "approval_hours", "approval_hours"),
        ({"approval_hours": 337}, "approval_hours", "approval_hours"),
        ({"approval_hours": True}, "approval_hours", "approval_hours"),
        ({"approver_id": 999_999}, "approver_unknown", "approver_id"),
        ({"approver_id": 0}, "approver_unknown", "approver_id"),
        ({"approver_id": 2**63}, "approver_unknown", "approver_id"),
        ({"deputy_id": 999_999}, "deputy_unknown", "deputy_id"),
        ({"subsidy_kind": "half"}, "subsidy_kind", "subsidy_kind"),
        ({"subsidy_amount": 101}, "percent_range", "subsidy_amount"),
        ({"subsidy_amount": -1}, "percent_range", "subsidy_amount"),
        ({"subsidy_max": -1}, "amount_range", "subsidy_max"),
        ({"subsidy_max": 1_000_001}, "amount_range", "subsidy_max"),
        ({"subsidy_kind": "fixed", "subsidy_amount": -5}, "amount_range", "subsidy_amount"),
        (
            {"subsidy_kind": "fixed", "subsidy_amount": 1_000_001},
            "amount_range",
            "subsidy_amount",
        ),
        ({"annual_cap": -1}, "amount_range", "annual_cap"),
        ({"annual_cap": 100_000_001}, "amount_range", "annual_cap"),
        ({"companion_child": "free"}, "companion_rule", "companion_child"),
        ({"companion_child_rate": -1}, "amount_range", "companion_child_rate"),
        ({"companion_child_rate": 1_000_001}, "amount_range", "companion_child_rate"),
    ],
)
def test_each_setting_is_checked_and_a_refusal_changes_nothing(
    db, company, admin, changes, code, field
):
    with pytest.raises(HrError) as refused:
        save(company, replace(EVERYTHING, **changes), actor=admin)
    db.session.rollback()

    assert (refused.value.code, refused.value.field) == (code, field)
    assert policy_count(db) == 0
    assert audit_entries(db) == []


def test_an_approver_or_deputy_must_be_an_active_person_of_the_company(
    db, company, make_company, make_employee, make_user, people
):
    approver, _deputy = people
    stranger = make_employee(company=make_company(subscribed=False))
    gone = make_employee(company=company, active=False)
    operator = make_user(Role.OPERATOR)
    for outsider in (stranger, gone, operator):
        for name, code in (("approver_id", "approver_unknown"), ("deputy_id", "deputy_unknown")):
            with pytest.raises(HrError) as refused:
                save(company, replace(EVERYTHING, **{name: outsider.id}))
            db.session.rollback()
            assert refused.value.code == code, (outsider.email, name)
    with pytest.raises(HrError) as same:
        save(company, replace(EVERYTHING, approver_id=approver.id, deputy_id=approver.id))
    db.session.rollback()
    assert (same.value.code, same.value.field) == ("deputy_same", "deputy_id")
    assert policy_count(db) == 0
    # A company admin may be named too.
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    row = save(company, replace(EVERYTHING, approver_id=admin.id, deputy_id=approver.id))
    db.session.commit()
    assert (row.approver_id, row.deputy_id) == (admin.id, approver.id)


def test_approver_candidates_are_the_companys_active_people(
    db, company, make_company, make_employee, make_user
):
    kept = [make_employee(company=company, name=name) for name in ("佐藤", "青木")]
    kept.append(make_user(Role.COMPANY_ADMIN, company=company, name="管理"))
    make_employee(company=company, active=False)
    make_employee(company=make_company(subscribed=False))

    candidates = groups.approver_candidates(company.id)

    assert {person.id for person in candidates} == {person.id for person in kept}


def test_the_fiscal_year_start_is_set_audited_and_checked(db, company, admin):
    assert company.fiscal_year_start_month == groups.DEFAULT_FISCAL_YEAR_START

    groups.set_fiscal_year_start(company.id, 1, actor_id=admin.id, now=NOW)
    groups.set_fiscal_year_start(company.id, 1, actor_id=admin.id, now=NOW)  # no change
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Company, company.id).fiscal_year_start_month == 1
    [entry] = audit_entries(db)
    assert (entry.action, entry.object_type, entry.object_id, entry.company_id) == (
        "hr.fiscal_year",
        "company",
        company.id,
        company.id,
    )
    assert (entry.before_values, entry.after_values) == (
        {"fiscal_year_start_month": 4},
        {"fiscal_year_start_month": 1},
    )
    for month in (0, 13, -4, True):
        with pytest.raises(HrError) as refused:
            groups.set_fiscal_year_start(company.id, month, actor_id=admin.id, now=NOW)
        assert refused.value.field == "fiscal_year_start_month"
    with pytest.raises(HrNotFound):
        groups.set_fiscal_year_start(999_999, 4, actor_id=None, now=NOW)
    db.session.rollback()
    assert db.session.get(Company, company.id).fiscal_year_start_month == 1


@pytest.mark.parametrize(
    ("changes", "company_part", "with_companions"),
    [
        # The company pays all: ¥36,000, companions or not.
        ({"subsidy_kind": "full", "annual_cap": None}, 36_000, 36_000),
        # ¥3,000 per person-night; the adult is subsidised, the child brings ¥1,500.
        ({"subsidy_kind": "fixed", "subsidy_amount": 3_000, "annual_cap": None}, 9_000, 22_500),
        # 50% of ¥12,000 is ¥6,000, at most ¥4,000 per person-night (¥8,000 for two
        # persons, so the ¥6,000 stands), and the child's ¥1,500.
        ({"annual_cap": None}, 12_000, 22_500),
        # The yearly cap bounds the stay's company part.
        ({"annual_cap": 10_000}, 10_000, 10_000),
        ({"subsidy_kind": "none"}, 0, 0),
    ],
)
def test_the_example_stay_splits_by_the_policy(db, changes, company_part, with_companions):
    settings = replace(EVERYTHING, **changes)

    alone = groups.example_split(settings)
    along = groups.example_split(settings, Companions(adults=1, children=1))

    assert (alone.nights, alone.price, alone.split.total) == (3, 12_000, 36_000)
    assert (alone.split.company, alone.split.employee) == (company_part, 36_000 - company_part)
    assert along.split.company == with_companions
    assert along.split.company + along.split.employee == 36_000
    assert db.session.scalar(select(func.count()).select_from(GroupPolicy)) == 0  # never added


def test_a_policy_in_words(app):
    with app.test_request_context(), force_locale("en"):
        assert str(groups.subsidy_words(None)) == "The company pays the whole price of every night."
        fixed = replace(EVERYTHING, subsidy_kind="fixed", subsidy_amount=3_000)
        assert "¥3,000 per person a night" in str(groups.subsidy_words(fixed))
        assert "50% of each night's price, at most ¥4,000 per person a night" in str(
            groups.subsidy_words(EVERYTHING)
        )
        assert "50% of each night's price;" in str(
            groups.subsidy_words(replace(EVERYTHING, subsidy_max=None))
        )
        assert "the employee pays every night" in str(
            groups.subsidy_words(replace(EVERYTHING, subsidy_kind="none"))
        )
        assert "¥60,000 per employee in a fiscal year" in str(groups.cap_words(EVERYTHING))
        assert groups.cap_words(replace(EVERYTHING, annual_cap=None)) is None
        words = {c: str(groups.companion_words(EVERYTHING, c)) for c in CompanionCategory}
        assert words == {
            CompanionCategory.ADULT: "Subsidised like the employee",
            CompanionCategory.CHILD: "The company pays ¥1,500 a night each",
            CompanionCategory.INFANT: "Paid by the employee",
        }
        assert groups.companions_matter(EVERYTHING)
        assert not groups.companions_matter(replace(EVERYTHING, subsidy_kind="full"))
