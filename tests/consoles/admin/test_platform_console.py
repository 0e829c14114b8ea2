"""The Engawa team's console: the overview, companies, operator organisations, people
and the audit log; every page for platform admins only, every action CSRF-protected
and audited."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import audit
from accounts.audit import AuditEntry
from accounts.mail import OutgoingMail
from accounts.models import Company, OperatorOrg, Role, User
from billing import ledger
from booking.models import Booking
from core.models import JobRun
from identity import orgs
from tests.conftest import NOW, PASSWORD, plan_named, post_sign_in, signed_in


@pytest.fixture
def root(make_user):
    return make_user(Role.PLATFORM_ADMIN, email="root@engawa.example")


@pytest.fixture
def admin_browser(app, root):
    browser = signed_in(app, root)
    browser.get("/lang/en")
    return browser


def actions(db) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def ids_in(page: str, attribute: str) -> list[int]:
    return [int(n) for n in re.findall(rf'data-{attribute}-id="(\d+)"', page)]


PAGES = [
    "/admin/",
    "/admin/companies",
    "/admin/companies/new",
    "/admin/operators",
    "/admin/operators/new",
    "/admin/users",
    "/admin/audit",
    "/admin/jobs",
    "/admin/calendars",
    "/admin/domains",
    "/admin/plans",
]


def test_every_page_opens_for_the_engawa_team_only(
    app, db, admin_browser, make_user, make_company, make_facility
):
    company = make_company()
    facility = make_facility(reviewed_at=None)
    employee = make_user(Role.EMPLOYEE, company=company)
    pages = PAGES + [
        f"/admin/companies/{company.id}",
        f"/admin/companies/{company.id}/deactivate",
        f"/admin/companies/{company.id}/reactivate",
        f"/admin/operators/{facility.operator_id}",
        f"/admin/operators/{facility.operator_id}/suspend",
        f"/admin/operators/{facility.operator_id}/unsuspend",
        f"/admin/facilities/{facility.id}/unreview",
        f"/admin/users/{employee.id}",
        f"/admin/users/{employee.id}/lock",
        f"/admin/users/{employee.id}/two-factor-reset",
    ]
    for path in pages:
        response = admin_browser.get(path)
        assert response.status_code == 200, path
        assert 'class="admin-nav"' in response.get_data(as_text=True), path
    others = [
        make_user(Role.EMPLOYEE),
        make_user(Role.COMPANY_ADMIN),
        make_user(Role.OPERATOR),
    ]
    for person in others:
        browser = signed_in(app, person)
        for path in pages:
            assert browser.get(path).status_code == 403, (person.role, path)
    anonymous = app.test_client()
    assert anonymous.get("/admin/companies").status_code == 302


def test_unknown_ids_answer_404(admin_browser):
    for path in (
        "/admin/companies/999",
        "/admin/companies/999/deactivate",
        "/admin/operators/999",
        "/admin/operators/999/suspend",
        "/admin/facilities/999/unreview",
        "/admin/users/999",
        "/admin/users/999/lock",
        "/admin/companies/99999999999",
    ):
        assert admin_browser.get(path).status_code == 404, path
    for path in (
        "/admin/companies/999/deactivate",
        "/admin/companies/999/reactivate",
        "/admin/operators/999/suspend",
        "/admin/operators/999/unsuspend",
        "/admin/facilities/999/review",
        "/admin/facilities/999/unreview",
        "/admin/users/999/lock",
        "/admin/users/999/unlock",
        "/admin/users/999/password-reset",
        "/admin/users/999/two-factor-reset",
    ):
        assert admin_browser.post(path).status_code == 404, path
    assert admin_browser.post("/admin/users/1/delete").status_code in (404, 405)


# --- The overview ------------------------------------------------------------------------


def test_the_overview_counts_the_network(
    db, admin_browser, make_company, make_user, make_facility, make_unit
):
    plan_named("standard")
    acme = make_company(seats=10)  # standard: ¥8,000 a seat
    make_company(seats=5, status="canceled")  # ended: no seats, no revenue
    make_user(Role.COMPANY_ADMIN, company=acme)
    make_user(Role.EMPLOYEE, company=acme)
    make_facility()
    make_facility(reviewed_at=None)
    unit = make_unit()
    employee = make_user(Role.EMPLOYEE, company=acme)
    for created, status in (
        (NOW, "confirmed"),
        (NOW - timedelta(days=3), "confirmed"),  # 28 November: last month in Tokyo
        (NOW, "cancelled"),
    ):
        db.session.add(
            Booking(
                user_id=employee.id, company_id=acme.id, unit_id=unit.id,
                check_in=NOW.date() + timedelta(days=10), check_out=NOW.date() + timedelta(days=11),
                guests=1, status=status, total_price=11000, created_at=created,
            )
        )  # fmt: skip
    db.session.add_all(
        [
            JobRun(job="mail_outbox", started_at=NOW - timedelta(hours=2), outcome="failed"),
            JobRun(job="mail_outbox", started_at=NOW - timedelta(hours=1), outcome="ok"),
            JobRun(job="calendar_sync", started_at=NOW - timedelta(hours=1), outcome="failed"),
        ]
    )
    db.session.commit()
    page = admin_browser.get("/admin/").get_data(as_text=True)

    def figure(name: str) -> str:
        block = re.search(rf'data-figure="{name}">(.*?)</div>', page, re.DOTALL).group(1)
        return re.sub(r"<[^>]+>", "", block.split("<dd>", 1)[1]).strip()

    assert figure("companies").startswith("2")
    assert figure("seats") == "3 / 10"
    assert figure("mrr").startswith("¥80,000")
    assert figure("facilities").startswith("2")  # the unit's facility and the reviewed one
    assert "1 waiting for review" in figure("facilities")
    assert figure("bookings") == "1"
    assert "December 2026" in page
    jobs = re.search(r'data-testid="jobs-failing">(.*?)</section>', page, re.DOTALL).group(1)
    assert "calendar_sync" in jobs
    assert "mail_outbox" not in jobs  # its last run succeeded
    assert figure("jobs") == "1"


# --- Companies ------------------------------------------------------------------------------


def test_companies_are_searched_filtered_and_paged(db, admin_browser, make_company):
    acme = make_company(name="Acme 株式会社", corporate_number="1234567890123")
    make_company(name="Globex")
    inactive = make_company(name="Acme Trading", active=False)
    page = admin_browser.get("/admin/companies?q=acme").get_data(as_text=True)
    assert set(ids_in(page, "company")) == {acme.id, inactive.id}
    page = admin_browser.get("/admin/companies?q=ACME&state=active").get_data(as_text=True)
    assert ids_in(page, "company") == [acme.id]
    page = admin_browser.get("/admin/companies?q=1234567").get_data(as_text=True)
    assert ids_in(page, "company") == [acme.id]
    page = admin_browser.get("/admin/companies?q=%25").get_data(as_text=True)
    assert ids_in(page, "company") == []  # a wildcard is a character
    assert "No company matches." in page
    for n in range(52):
        make_company(name=f"Paged {n:02d}", subscribed=False)
    first = admin_browser.get("/admin/companies?q=paged").get_data(as_text=True)
    assert len(ids_in(first, "company")) == 50 and "1 / 2" in first
    assert "q=paged&amp;page=2" in first
    second = admin_browser.get("/admin/companies?q=paged&page=2").get_data(as_text=True)
    assert len(ids_in(second, "company")) == 2
    beyond = admin_browser.get("/admin/companies?q=paged&page=99").get_data(as_text=True)
    assert ids_in(beyond, "company") == ids_in(second, "company")
    assert admin_browser.get("/admin/companies?page=abc").status_code == 200


def test_the_company_list_shows_plan_seats_status_and_credit(
    db, admin_browser, make_company, make_user
):
    company = make_company(name="Initech", seats=20, credit=150_000)
    make_user(Role.COMPANY_ADMIN, company=company)
    page = admin_browser.get("/admin/companies").get_data(as_text=True)
    row = re.search(rf'<tr data-company-id="{company.id}">.*?</tr>', page, re.DOTALL).group(0)
    assert "Standard" in row and "1 / 20" in row and "Active" in row and "150,000" in row
    detail = admin_browser.get(f"/admin/companies/{company.id}").get_data(as_text=True)
    assert "Initech" in detail and "1 / 20" in detail


def test_a_company_is_added_and_its_link_shown_once(app, db, admin_browser, root):
    plan_named("standard")
    db.session.commit()
    response = admin_browser.post(
        "/admin/companies/new",
        data={"name": "Hooli", "admin_email": "gavin@hooli.example", "plan": "standard",
              "seats": "30"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    link = re.search(r'data-testid="set-link">([^<]+)<', page).group(1)
    assert link.startswith("http") and "/password/set/" in link
    company = db.session.scalar(select(Company).where(Company.name == "Hooli"))
    assert ledger.account_of(company.id).subscription.seats == 30
    assert actions(db) == ["company.create", "company.subscribe"]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "company.create"))
    assert (entry.actor_id, entry.actor_kind) == (root.id, "user")
    assert "/password/set/" not in admin_browser.get(f"/admin/companies/{company.id}").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "admin_email": "a@b.example"}, "This field is required."),
        ({"name": "Co", "admin_email": "not an address"}, "valid e-mail address"),
        ({"name": "Co", "admin_email": "a@b.example", "plan": "standard"}, "number of seats"),
        ({"name": "Co", "admin_email": "a@b.example", "seats": "3"}, "choose a plan"),
        ({"name": "Co", "admin_email": "a@b.example", "plan": "gold", "seats": "3"}, "Not a valid"),
        ({"name": "Co", "admin_email": "root@engawa.example"}, "already has an Engawa account"),
    ],
)
def test_a_bad_company_form_makes_nothing(db, admin_browser, data, message):
    plan_named("standard")
    db.session.commit()
    response = admin_browser.post("/admin/companies/new", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Company)) == 0
    assert actions(db) == []


def test_deactivating_a_company_asks_then_signs_its_people_out(
    app, db, admin_browser, make_company, make_user
):
    company = make_company(name="Umbrella")
    employee = make_user(Role.EMPLOYEE, company=company)
    browser = signed_in(app, employee)
    assert browser.get("/").status_code == 200
    confirm = admin_browser.get(f"/admin/companies/{company.id}/deactivate").get_data(as_text=True)
    assert "signed out everywhere" in confirm and "bookings" in confirm
    response = admin_browser.post(f"/admin/companies/{company.id}/deactivate")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/companies/{company.id}"
    db.session.expire_all()
    assert db.session.get(Company, company.id).active is False
    assert browser.get("/").status_code == 302  # signed out
    login = app.test_client().post("/login", data={"email": employee.email, "password": PASSWORD})
    assert login.status_code != 302
    admin_browser.post(f"/admin/companies/{company.id}/reactivate")
    db.session.expire_all()
    assert db.session.get(Company, company.id).active is True
    assert actions(db) == ["company.deactivate", "company.reactivate"]


# --- Operator organisations ----------------------------------------------------------------


def test_operators_are_searched_and_shown_with_their_facilities(
    db, admin_browser, make_operator, make_facility
):
    satoyama = make_operator(name="Satoyama Works")
    make_operator(name="Umi Lodge", suspended_at=NOW)
    listed = make_facility(operator=satoyama)
    waiting = make_facility(operator=satoyama, reviewed_at=None)
    page = admin_browser.get("/admin/operators?q=satoyama").get_data(as_text=True)
    assert ids_in(page, "operator") == [satoyama.id]
    row = re.search(rf'<tr data-operator-id="{satoyama.id}">.*?</tr>', page, re.DOTALL).group(0)
    assert "1 / 2" in row
    page = admin_browser.get("/admin/operators?state=suspended").get_data(as_text=True)
    assert satoyama.id not in ids_in(page, "operator") and len(ids_in(page, "operator")) == 1
    detail = admin_browser.get(f"/admin/operators/{satoyama.id}").get_data(as_text=True)
    assert f'data-facility-id="{listed.id}" data-listed="yes" data-reviewed="yes"' in detail
    assert f'data-facility-id="{waiting.id}" data-listed="no" data-reviewed="no"' in detail


def test_an_operator_is_added_suspended_and_its_facility_reviewed(db, admin_browser, make_facility):
    response = admin_browser.post(
        "/admin/operators/new",
        data={"name": "軽井沢町", "kind": "municipality", "admin_email": "desk@karuizawa.example"},
    )
    assert response.status_code == 200
    assert "/password/set/" in response.get_data(as_text=True)
    org = db.session.scalar(select(OperatorOrg).where(OperatorOrg.name == "軽井沢町"))
    assert org.kind == "municipality"
    facility = make_facility(operator=org, reviewed_at=None)
    response = admin_browser.post(f"/admin/facilities/{facility.id}/review")
    assert response.headers["Location"] == f"/admin/operators/{org.id}"
    db.session.expire_all()
    assert db.session.get(type(facility), facility.id).reviewed_at == NOW
    confirm = admin_browser.get(f"/admin/operators/{org.id}/suspend").get_data(as_text=True)
    assert "1 listed facility leaves search" in confirm
    admin_browser.post(f"/admin/operators/{org.id}/suspend")
    db.session.expire_all()
    assert db.session.get(OperatorOrg, org.id).suspended_at == NOW
    admin_browser.post(f"/admin/operators/{org.id}/unsuspend")
    admin_browser.post(f"/admin/facilities/{facility.id}/unreview")
    db.session.expire_all()
    assert db.session.get(type(facility), facility.id).reviewed_at is None
    assert actions(db) == [
        "operator.create",
        "facility.review",
        "operator.suspend",
        "operator.unsuspend",
        "facility.unreview",
    ]
    bad_kind = {"name": "X", "kind": "guild", "admin_email": "x@y.example"}
    bad = admin_browser.post("/admin/operators/new", data=bad_kind)
    assert bad.status_code == 400


# --- People ------------------------------------------------------------------------------------


def test_people_are_searched_across_the_network(
    db, admin_browser, make_user, make_company, make_operator
):
    acme = make_company(name="Acme")
    hanako = make_user(Role.EMPLOYEE, company=acme, email="hanako@acme.example", name="山田 花子")
    boss = make_user(Role.COMPANY_ADMIN, company=acme, email="boss@acme.example")
    ops = make_user(Role.OPERATOR, email="hanako@inn.example", locked_at=NOW)
    page = admin_browser.get("/admin/users?q=hanako").get_data(as_text=True)
    assert set(ids_in(page, "user")) == {hanako.id, ops.id}
    page = admin_browser.get("/admin/users?q=山田").get_data(as_text=True)
    assert ids_in(page, "user") == [hanako.id]
    page = admin_browser.get("/admin/users?role=company_admin&q=acme").get_data(as_text=True)
    assert ids_in(page, "user") == [boss.id]
    page = admin_browser.get("/admin/users?state=locked").get_data(as_text=True)
    assert ids_in(page, "user") == [ops.id]
    page = admin_browser.get(f"/admin/users?company={acme.id}").get_data(as_text=True)
    assert set(ids_in(page, "user")) == {hanako.id, boss.id}
    row = re.search(rf'<tr data-user-id="{hanako.id}">.*?</tr>', page, re.DOTALL).group(0)
    assert "Employee" in row and "Acme" in row and "Never" in row


def test_lock_unlock_reset_and_two_factor_are_audited(app, db, admin_browser, make_user):
    person = make_user(Role.EMPLOYEE, totp=True)
    browser = signed_in(app, person)
    confirm = admin_browser.get(f"/admin/users/{person.id}/lock").get_data(as_text=True)
    assert "signed out everywhere" in confirm
    response = admin_browser.post(f"/admin/users/{person.id}/lock")
    assert (
        response.status_code == 303 and response.headers["Location"] == f"/admin/users/{person.id}"
    )
    assert browser.get("/").status_code == 302
    page = admin_browser.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert "is locked" in page
    response = admin_browser.post(f"/admin/users/{person.id}/password-reset", follow_redirects=True)
    assert "locked: unlock it first" in response.get_data(as_text=True)
    admin_browser.post(f"/admin/users/{person.id}/unlock")
    admin_browser.post(f"/admin/users/{person.id}/password-reset")
    assert db.session.scalar(select(OutgoingMail.to_address)) == person.email
    admin_browser.post(f"/admin/users/{person.id}/two-factor-reset")
    db.session.expire_all()
    person = db.session.get(User, person.id)
    assert (person.locked_at, person.totp_enabled_at, person.two_factor_prompted_at) == (
        None,
        None,
        NOW,
    )
    assert actions(db) == [
        "user.lock",
        "user.unlock",
        "user.password_reset",
        "user.two_factor_reset",
    ]


def test_nobody_locks_themself(db, admin_browser, root):
    response = admin_browser.post(f"/admin/users/{root.id}/lock", follow_redirects=True)
    assert "cannot lock your own account" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, root.id).locked_at is None
    assert actions(db) == []


def test_every_action_needs_the_csrf_token(app, db, root, make_company, make_facility, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert post_sign_in(browser, root.email, data={"csrf_token": token}).status_code == 302
    company = make_company()
    facility = make_facility(reviewed_at=None)
    person = make_user(Role.EMPLOYEE, company=company)
    for path in (
        f"/admin/companies/{company.id}/deactivate",
        f"/admin/companies/{company.id}/reactivate",
        f"/admin/operators/{facility.operator_id}/suspend",
        f"/admin/operators/{facility.operator_id}/unsuspend",
        f"/admin/facilities/{facility.id}/review",
        f"/admin/facilities/{facility.id}/unreview",
        f"/admin/users/{person.id}/lock",
        f"/admin/users/{person.id}/unlock",
        f"/admin/users/{person.id}/password-reset",
        f"/admin/users/{person.id}/two-factor-reset",
    ):
        assert browser.post(path).status_code == 400, path
    response = browser.post(
        "/admin/companies/new", data={"name": "X", "admin_email": "x@y.example"}
    )
    assert response.status_code == 400
    response = browser.post(
        "/admin/operators/new", data={"name": "X", "admin_email": "x@y.example"}
    )
    assert response.status_code == 400
    assert actions(db) == []
    assert db.session.scalar(select(func.count()).select_from(Company)) == 1
    page = browser.get(f"/admin/companies/{company.id}/deactivate").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.post(f"/admin/companies/{company.id}/deactivate", data={"csrf_token": token})
    assert response.status_code == 303
    assert actions(db) == ["company.deactivate"]


# --- The audit log -----------------------------------------------------------------------------


def test_the_audit_log_filters_and_pages(db, admin_browser, root, make_company, make_operator):
    acme = make_company(name="Acme")
    org = make_operator()
    for n in range(55):
        audit.record(
            "company.policy",
            NOW - timedelta(minutes=n),
            actor=root,
            object_type="company",
            object_id=acme.id,
            company_id=acme.id,
            before={"max_nights_per_stay": n},
            after={"max_nights_per_stay": n + 1},
        )
    audit.record("operator.suspend", NOW - timedelta(days=40), actor_kind="cli",
                 object_type="operator", object_id=org.id, operator_id=org.id)  # fmt: skip
    db.session.commit()
    page = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert "56 entries" in page and len(ids_in(page, "entry")) == 50 and "1 / 2" in page
    assert "max_nights_per_stay</span>: 0 → 1" in page
    assert root.email in page
    page = admin_browser.get("/admin/audit?action=operator.").get_data(as_text=True)
    assert "1 entry" in page and "Command line" in page
    page = admin_browser.get(f"/admin/audit?operator={org.id}").get_data(as_text=True)
    assert "1 entry" in page
    page = admin_browser.get(f"/admin/audit?company={acme.id}&page=2").get_data(as_text=True)
    assert len(ids_in(page, "entry")) == 5
    page = admin_browser.get("/admin/audit?type=operator").get_data(as_text=True)
    assert "1 entry" in page
    page = admin_browser.get("/admin/audit?since=2026-10-22&until=2026-10-22").get_data(
        as_text=True
    )
    assert "1 entry" in page  # 40 days before 1 December, in Japan's calendar
    page = admin_browser.get("/admin/audit?since=2026-12-02").get_data(as_text=True)
    assert "0 entries" in page and "No entries." in page
    junk_values = ("since=2026-13-01", "until=9999-12-31", "since=0001-01-01", "until=0001-01-01")
    for junk in (*junk_values, "company=abc", "page=-1", "action=%25"):
        assert admin_browser.get(f"/admin/audit?{junk}").status_code == 200, junk


def test_orgs_made_on_the_console_and_the_cli_show_in_the_log(app, db, admin_browser):
    orgs.create_operator("Op", "op@op.example", NOW, actor_kind="cli")
    db.session.commit()
    page = admin_browser.get("/admin/audit").get_data(as_text=True)
    assert "Operator organisation created" in page and "Command line" in page


def test_the_create_form_names_each_plan_s_fee_per_seat(db, admin_browser):
    """Money is never a surprise: choosing a plan for a new company says what a seat costs."""
    plan = plan_named("standard")
    db.session.commit()
    page = admin_browser.get("/admin/companies/new").get_data(as_text=True)
    assert f"{plan.name}: ¥{plan.fee_per_seat:,} (tax incl.) a seat a month" in page
    assert "billed the fee of the plan for every seat each month" in page


def test_a_person_is_unbound_from_single_sign_on(db, admin_browser, make_employee):
    """Their provider account was re-created: the next single sign-on binds the new one."""
    person = make_employee(sso_subject="idp-subject-1")
    page = admin_browser.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert "Bound to an account at the company" in page and 'data-testid="sso-unbind"' in page

    response = admin_browser.post(f"/admin/users/{person.id}/sso-unbind")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, person.id).sso_subject is None
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.sso_unbind")
    ).one()
    assert entry.object_id == person.id and entry.company_id == person.company_id
    assert "idp-subject-1" not in (entry.before or "") + (entry.after or "")
    page = admin_browser.get(f"/admin/users/{person.id}").get_data(as_text=True)
    assert "Not bound" in page and 'data-testid="sso-unbind"' not in page
    assert admin_browser.post("/admin/users/999999/sso-unbind").status_code == 404
