"""The company admin's pages of a group policy's approval, subsidy and companions, and
of the fiscal year: for the admin's own company only, every field saved and checked (an
approver of another company refused, never stored), each change audited, and the money
explained with an example stay."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Company, Role, User
from hr import groups
from hr.models import DEFAULT_GROUP, GroupPolicy
from tests.conftest import signed_in


@pytest.fixture
def world(make_company, make_user):
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    return {
        "acme": acme,
        "admin": make_user(Role.COMPANY_ADMIN, company=acme, name="総務 太郎", locale="en"),
        "boss": make_user(Role.EMPLOYEE, company=acme, name="部長 一郎"),
        "deputy": make_user(Role.EMPLOYEE, company=acme, name="課長 二郎"),
        "gone": make_user(Role.EMPLOYEE, company=acme, name="退職 三郎", active=False),
        "rival": make_user(Role.COMPANY_ADMIN, company=globex, locale="en"),
        "stranger": make_user(Role.EMPLOYEE, company=globex, name="他社 花子"),
    }


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def group_row(db, company_id: int, group: str) -> GroupPolicy:
    db.session.expire_all()
    return db.session.scalar(
        select(GroupPolicy).where(
            GroupPolicy.company_id == company_id, GroupPolicy.employee_group == group
        )
    )


def make_group(db, company, group="正社員") -> GroupPolicy:
    row = GroupPolicy(company_id=company.id, employee_group=group)
    db.session.add(row)
    db.session.commit()
    return row


def settings_data(**changes) -> dict:
    """A full settings form as a browser posts it (unticked boxes are left out)."""
    data = {
        "leisure_allowed": "y",
        "business_allowed": "y",
        "approval_over_nights": "",
        "approver": "",
        "deputy": "",
        "approval_hours": "48",
        "subsidy_kind": "full",
        "subsidy_yen": "",
        "subsidy_percent": "",
        "subsidy_max": "",
        "annual_cap": "",
        "companion_adult": "employee",
        "companion_adult_rate": "",
        "companion_child": "employee",
        "companion_child_rate": "",
        "companion_infant": "employee",
        "companion_infant_rate": "",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def policy_audit(db, company_id: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.company_id == company_id, AuditEntry.action.like("hr.%"))
            .order_by(AuditEntry.id)
        )
    )


# --- who may -------------------------------------------------------------------------------


def test_only_company_admins_reach_the_pages(app, db, world, make_user):
    row = make_group(db, world["acme"])
    pages = ("/company/groups/default/settings", f"/company/groups/{row.id}/settings")
    for person in (world["boss"], make_user(Role.OPERATOR), make_user(Role.PLATFORM_ADMIN)):
        browser = signed_in(app, person)
        for page in pages:
            assert browser.get(page).status_code == 403, (person.role, page)
            assert browser.post(page, data=settings_data()).status_code == 403
        assert (
            browser.post("/company/fiscal-year", data={"fiscal_year_start_month": "1"}).status_code
            == 403
        )
    anonymous = app.test_client().get(pages[0])
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    admin = signed_in(app, world["admin"])
    for page in pages:
        assert admin.get(page).status_code == 200, page
    assert group_row(db, world["acme"].id, "正社員").approval_hours == 48  # nothing changed
    assert db.session.get(Company, world["acme"].id).fiscal_year_start_month == 4


def test_another_companys_group_is_not_found(app, db, world):
    theirs = make_group(db, world["rival"].company, "出向者")
    admin = signed_in(app, world["admin"])
    page = f"/company/groups/{theirs.id}/settings"
    assert admin.get(page).status_code == 404
    posted = admin.post(page, data=settings_data(approval_all="y", subsidy_kind="none"))
    assert posted.status_code == 404
    assert admin.get("/company/groups/99999999999999/settings").status_code == 404
    row = group_row(db, world["rival"].company_id, "出向者")
    assert (row.approval_all, row.subsidy_kind) == (False, "full")
    assert policy_audit(db, world["rival"].company_id) == []


# --- the settings page ---------------------------------------------------------------------


def test_the_page_offers_the_active_people_and_explains_the_default(app, world):
    page = text(signed_in(app, world["admin"]).get("/company/groups/default/settings"))

    assert "Company default" in page and "Not set yet: saving this page sets it." in page
    approver = page[page.index('name="approver"') :]
    approver = approver[: approver.index("</select>")]
    options = re.findall(r'<option[^>]*value="(\d*)"', approver)
    expected = {str(world[name].id) for name in ("admin", "boss", "deputy")}
    assert options[0] == "" and set(options[1:]) == expected
    assert "Each employee's manager" in approver
    assert "他社 花子" not in page and "退職 三郎" not in page
    # Each choice explained in a line, and the example stay of the default (all paid).
    assert "Every night is paid from the stay credit" in page
    assert "the employee pays the rest of the price by card" in page
    assert "Each companion counts as one more person" in page
    example = page[page.index('data-testid="example"') :][:400]
    assert "Example: a 3-night stay at ¥12,000 a night (¥36,000 in all)" in example
    assert "the company pays ¥36,000, the employee ¥0" in example


def test_saving_every_setting_of_a_group(app, db, world):
    row = make_group(db, world["acme"])
    boss, deputy = world["boss"], world["deputy"]
    browser = signed_in(app, world["admin"])
    url = f"/company/groups/{row.id}/settings"

    saved = browser.post(
        url,
        data=settings_data(
            business_allowed=None,
            approval_business="y",
            approval_over_nights="5",
            approval_peak="y",
            approval_over_subsidy="y",
            approver=str(boss.id),
            deputy=str(deputy.id),
            approval_hours="72",
            subsidy_kind="percent",
            subsidy_percent="50",
            subsidy_max="4000",
            annual_cap="60000",
            companion_adult="subsidised",
            companion_child="rate",
            companion_child_rate="1500",
        ),
    )

    assert saved.status_code == 303 and saved.headers["Location"] == url
    stored = groups.settings_of(group_row(db, world["acme"].id, "正社員"))
    assert stored == groups.PolicySettings(
        leisure_allowed=True,
        business_allowed=False,
        approval_business=True,
        approval_over_nights=5,
        approval_peak=True,
        approval_over_subsidy=True,
        approver_id=boss.id,
        deputy_id=deputy.id,
        approval_hours=72,
        subsidy_kind="percent",
        subsidy_amount=50,
        subsidy_max=4_000,
        annual_cap=60_000,
        companion_adult="subsidised",
        companion_child="rate",
        companion_child_rate=1_500,
    )
    [entry] = policy_audit(db, world["acme"].id)
    assert entry.action == "hr.group_policy.update" and entry.actor_id == world["admin"].id
    assert entry.after_values["subsidy_kind"] == "percent"
    assert entry.after_values["approver_id"] == boss.id
    assert entry.before_values["approval_hours"] == 48

    page = text(browser.get(url))
    assert "The policy of the group 正社員 has been saved." in page
    assert "<h1>Policy of the group 正社員</h1>" in page
    # The form shows what is stored, and the example follows it.
    assert re.search(rf'<option selected value="{boss.id}">', page)
    assert 'value="72"' in page and 'value="4000"' in page and 'value="1500"' in page
    assert "The company pays 50% of each night's price, at most ¥4,000 per person a night" in page
    assert "At most ¥60,000 per employee in a fiscal year" in page
    assert "the company pays ¥12,000, the employee ¥24,000" in page
    assert "one adult and one child along: the company pays ¥22,500, the employee ¥13,500" in page


def test_saving_the_default_makes_its_row_and_the_groups_page_sums_it_up(app, db, world):
    browser = signed_in(app, world["admin"])
    saved = browser.post(
        "/company/groups/default/settings",
        data=settings_data(subsidy_kind="fixed", subsidy_yen="5000", approval_all="y"),
    )
    assert saved.status_code == 303
    assert saved.headers["Location"] == "/company/groups/default/settings"
    row = group_row(db, world["acme"].id, DEFAULT_GROUP)
    assert (row.subsidy_kind, row.subsidy_amount, row.approval_all) == ("fixed", 5_000, True)
    assert [e.action for e in policy_audit(db, world["acme"].id)] == ["hr.group_policy.create"]

    overview = text(browser.get("/company/groups"))
    default = overview[overview.index('data-testid="default-policy"') :]
    default = default[: default.index("</section>")]
    assert "Every stay needs approval" in default
    assert "The company pays ¥5,000 per person a night" in default
    assert 'href="/company/groups/default/settings"' in default


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"subsidy_kind": "percent", "subsidy_percent": "101"},
            "subsidy_percent",
            "between 0 and 100",
        ),
        (
            {"subsidy_kind": "percent"},
            "subsidy_percent",
            "Enter the amount for the subsidy chosen.",
        ),
        ({"subsidy_kind": "fixed", "subsidy_yen": "-1"}, "subsidy_yen", "between 0 and 1000000"),
        ({"subsidy_kind": "fixed", "subsidy_yen": "abc"}, "subsidy_yen", "Not a valid integer"),
        ({"subsidy_kind": "fixed"}, "subsidy_yen", "Enter the amount for the subsidy chosen."),
        ({"subsidy_kind": "half"}, "subsidy_kind", "Not a valid choice"),
        ({"subsidy_max": "1000001"}, "subsidy_max", "between 0 and 1000000"),
        ({"annual_cap": "-5"}, "annual_cap", "between 0 and 100000000"),
        ({"approval_hours": "0"}, "approval_hours", "between 1 and 336"),
        ({"approval_hours": "337"}, "approval_hours", "between 1 and 336"),
        ({"approval_hours": ""}, "approval_hours", "This field is required"),
        ({"approval_over_nights": "0"}, "approval_over_nights", "between 1 and 365"),
        ({"companion_child": "rate"}, "companion_child_rate", "Enter the company rate"),
        ({"companion_child": "free"}, "companion_child", "Not a valid choice"),
    ],
)
def test_a_bad_value_is_refused_beside_its_field_and_changes_nothing(
    app, db, world, changes, field, message
):
    browser = signed_in(app, world["admin"])

    refused = browser.post("/company/groups/default/settings", data=settings_data(**changes))

    assert refused.status_code == 400
    page = text(refused)
    assert "Please check the highlighted fields." in page
    errors = re.findall(
        r'<div class="field-errors" id="([\w-]+)-error">\s*<p class="field-error">([^<]*)', page
    )
    found = {fid: error for fid, error in errors}
    assert any(fid.startswith(field) and message in error for fid, error in found.items()), found
    assert group_row(db, world["acme"].id, DEFAULT_GROUP) is None
    assert policy_audit(db, world["acme"].id) == []


def test_an_approver_from_another_company_or_deactivated_is_refused(app, db, world):
    row = make_group(db, world["acme"])
    browser = signed_in(app, world["admin"])
    url = f"/company/groups/{row.id}/settings"
    for outsider in (world["stranger"], world["gone"], world["rival"]):
        for field in ("approver", "deputy"):
            refused = browser.post(url, data=settings_data(**{field: str(outsider.id)}))
            assert refused.status_code == 400, (outsider.name, field)
            assert "Not a valid choice" in text(refused)
    same = browser.post(
        url, data=settings_data(approver=str(world["boss"].id), deputy=str(world["boss"].id))
    )
    assert same.status_code == 400
    assert "The deputy must be someone other than the approver." in text(same)
    stored = group_row(db, world["acme"].id, "正社員")
    assert (stored.approver_id, stored.deputy_id) == (None, None)
    assert policy_audit(db, world["acme"].id) == []


def test_an_approver_deactivated_since_is_no_longer_offered(app, db, world):
    row = make_group(db, world["acme"])
    row.approver_id = world["boss"].id
    db.session.commit()
    world["boss"].active = False
    db.session.commit()

    page = text(signed_in(app, world["admin"]).get(f"/company/groups/{row.id}/settings"))

    assert 'data-testid="lost-approver"' in page
    assert f'value="{world["boss"].id}"' not in page


def test_a_refusal_of_the_service_is_shown_on_its_field(app, db, world, monkeypatch):
    """What the form cannot see alone (a person deactivated between the page and the
    save) is refused by ``hr.groups`` and shown beside the field."""
    row = make_group(db, world["acme"])
    browser = signed_in(app, world["admin"])
    real, boss_id, url = (
        groups.check_settings,
        world["boss"].id,
        f"/company/groups/{row.id}/settings",
    )

    def deactivated_meanwhile(company_id, settings):
        db.session.get(User, boss_id).active = False  # the request's session: rolled back
        db.session.flush()
        return real(company_id, settings)

    monkeypatch.setattr(groups, "check_settings", deactivated_meanwhile)
    refused = browser.post(url, data=settings_data(approver=str(boss_id)))

    assert refused.status_code == 422
    assert "Choose the approver among your company's active people." in text(refused)
    assert group_row(db, world["acme"].id, "正社員").approver_id is None
    assert db.session.get(User, boss_id).active  # the refusal rolled back everything


def test_the_settings_form_needs_the_csrf_token(app, db, world):
    browser = signed_in(app, world["admin"])
    app.config["WTF_CSRF_ENABLED"] = True
    refused = {
        "settings": browser.post(
            "/company/groups/default/settings", data=settings_data(approval_all="y")
        ),
        "fiscal year": browser.post("/company/fiscal-year", data={"fiscal_year_start_month": "1"}),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 400)
    assert group_row(db, world["acme"].id, DEFAULT_GROUP) is None
    assert db.session.get(Company, world["acme"].id).fiscal_year_start_month == 4


# --- the fiscal year -----------------------------------------------------------------------


def test_setting_the_fiscal_year(app, db, world):
    browser = signed_in(app, world["admin"])
    page = text(browser.get("/company/groups"))
    assert '<option selected value="4">April</option>' in page

    saved = browser.post("/company/fiscal-year", data={"fiscal_year_start_month": "1"})

    assert saved.status_code == 303 and saved.headers["Location"] == "/company/groups"
    db.session.expire_all()
    assert db.session.get(Company, world["acme"].id).fiscal_year_start_month == 1
    page = text(browser.get("/company/groups"))
    assert "The start of your fiscal year has been saved." in page
    assert '<option selected value="1">January</option>' in page
    [entry] = policy_audit(db, world["acme"].id)
    assert (entry.action, entry.after_values) == ("hr.fiscal_year", {"fiscal_year_start_month": 1})
    for bad in ("13", "0", "April", ""):
        refused = browser.post("/company/fiscal-year", data={"fiscal_year_start_month": bad})
        assert refused.status_code == 400, bad
    db.session.expire_all()
    assert db.session.get(Company, world["acme"].id).fiscal_year_start_month == 1
    assert db.session.get(Company, world["rival"].company_id).fiscal_year_start_month == 4
