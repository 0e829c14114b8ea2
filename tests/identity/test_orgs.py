"""Organisations made by the platform admin or a script, and what the platform admin
does to them and to people: the services and `flask orgs …`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from accounts import recovery
from accounts.audit import AuditEntry
from accounts.mail import OutgoingMail, body_of
from accounts.models import (
    ApiToken,
    Company,
    OperatorOrg,
    RecoveryCode,
    Role,
    User,
    UserSession,
)
from accounts.services import ThrottlePolicy, authenticate, create_api_token, user_for_token
from accounts.sessions import SessionPolicy, start
from billing import ledger
from billing.models import BillingAccount
from billing.services import is_live
from billing.settings import BillingSettings
from booking.models import Booking
from facilities.models import Facility
from identity import orgs, people
from tests.conftest import FAST_HASH, NOW, PASSWORD, plan_named

POLICY = ThrottlePolicy(max_failures=5, first_delay_seconds=1, max_delay_seconds=60)


def settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def entries(db, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def signs_in(user: User) -> bool:
    return authenticate(user.email, PASSWORD, NOW, POLICY, FAST_HASH) is not None


def live_sessions(db, user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    )


def with_session_and_token(db, user: User) -> str:
    start(user, NOW, "test", SessionPolicy.from_config(current_app.config))
    _token, secret = create_api_token(user, "t", NOW)
    db.session.commit()
    return secret


# --- Creating organisations --------------------------------------------------------------


def test_a_company_is_made_with_its_admin_and_a_set_link(db):
    created = orgs.create_company("  Initech   株式会社 ", "Boss@Initech.example", NOW)
    db.session.commit()
    company = db.session.get(Company, created.org_id)
    assert (company.name, company.active, company.created_at) == ("Initech 株式会社", True, NOW)
    account = db.session.get(BillingAccount, company.id)
    assert account.billing_name == "Initech 株式会社"
    admin = db.session.get(User, created.admin_id)
    assert (admin.email, admin.role, admin.company_id) == (
        "boss@initech.example",
        Role.COMPANY_ADMIN,
        company.id,
    )
    assert admin.name == "boss"  # no name given: the address's local part
    assert created.link_path.startswith("/password/set/")
    secret = created.link_path.removeprefix("/password/set/")
    token = recovery.token_for(secret, recovery.SET, NOW)
    assert token is not None and token.user_id == admin.id
    assert recovery.token_for(secret, recovery.SET, NOW + timedelta(days=8)) is None
    assert not signs_in(admin)  # no password until they choose one
    mail = db.session.scalar(select(OutgoingMail))
    assert mail.to_address == "boss@initech.example"
    assert created.link_path in body_of(mail)
    (entry,) = entries(db)
    assert (entry.action, entry.actor_kind, entry.object_id, entry.company_id) == (
        "company.create",
        "system",
        company.id,
        company.id,
    )
    assert entry.after_values == {"name": "Initech 株式会社", "admin_id": admin.id}


def test_a_company_with_a_plan_is_subscribed_by_invoice(db):
    plan_named("standard")
    db.session.commit()
    created = orgs.create_company(
        "Globex", "cfo@globex.example", NOW, plan_code="standard", seats=25, settings=settings()
    )
    db.session.commit()
    assert created.subscribed and created.billing_error is None
    account = ledger.account_of(created.org_id)
    assert is_live(account.subscription)
    assert (account.subscription.seats, account.subscription.plan.code) == (25, "standard")
    assert account.subscription.collection_method == "send_invoice"
    assert [e.action for e in entries(db)] == ["company.create", "company.subscribe"]
    assert entries(db, "company.subscribe")[0].after_values == {
        "method": "invoice",
        "plan": "standard",
        "seats": 25,
    }


@pytest.mark.parametrize(
    ("name", "email", "plan", "seats", "code"),
    [
        ("", "a@b.example", None, None, "name"),
        ("   ", "a@b.example", None, None, "name"),
        ("x" * 201, "a@b.example", None, None, "name"),
        ("Co", "not-an-address", None, None, "invalid_email"),
        ("Co", "", None, None, "invalid_email"),
        ("Co", "a@b.example", "platinum", 5, "plan"),
        ("Co", "a@b.example", "standard", 0, "seats"),
        ("Co", "a@b.example", "standard", -3, "seats"),
        ("Co", "a@b.example", "standard", None, "seats"),
        ("Co", "a@b.example", None, 4, "plan"),
    ],
)
def test_bad_company_requests_make_nothing(db, name, email, plan, seats, code):
    plan_named("standard")
    db.session.commit()
    with pytest.raises(orgs.OrgError) as refused:
        orgs.create_company(name, email, NOW, plan_code=plan, seats=seats, settings=settings())
    assert refused.value.code == code
    db.session.rollback()
    assert (count(db, Company), count(db, User), count(db, AuditEntry)) == (0, 0, 0)


def test_an_address_with_an_account_is_refused(db, make_employee):
    employee = make_employee(email="taken@acme.example")
    companies = count(db, Company)
    with pytest.raises(orgs.OrgError) as refused:
        orgs.create_company("New Co", " TAKEN@acme.example", NOW)
    assert refused.value.code == "taken"
    db.session.rollback()
    assert count(db, Company) == companies
    with pytest.raises(orgs.OrgError):
        orgs.create_operator("New Op", employee.email, NOW)


def test_an_operator_is_made_with_its_first_operator(db, make_user):
    root = make_user(Role.PLATFORM_ADMIN)
    created = orgs.create_operator(
        "軽井沢町", "desk@karuizawa.example", NOW, kind="municipality", actor=root,
        admin_name="観光課",
    )  # fmt: skip
    db.session.commit()
    org = db.session.get(OperatorOrg, created.org_id)
    assert (org.name, org.kind, org.suspended_at) == ("軽井沢町", "municipality", None)
    admin = db.session.get(User, created.admin_id)
    assert (admin.role, admin.operator_id, admin.name) == (Role.OPERATOR, org.id, "観光課")
    secret = created.link_path.removeprefix("/password/set/")
    assert recovery.token_for(secret, recovery.SET, NOW).user_id == admin.id
    (entry,) = entries(db)
    assert (entry.action, entry.actor_id, entry.actor_kind, entry.operator_id) == (
        "operator.create",
        root.id,
        "user",
        org.id,
    )
    with pytest.raises(orgs.OrgError) as refused:
        orgs.create_operator("Op", "x@y.example", NOW, kind="guild")
    assert refused.value.code == "kind"


# --- Deactivating, suspending, reviewing ---------------------------------------------------


def test_a_deactivated_company_signs_nobody_in_and_keeps_its_bookings(
    db, make_company, make_user, make_employee
):
    root = make_user(Role.PLATFORM_ADMIN)
    company = make_company()
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    employee = make_employee(company=company)
    bystander = make_employee()
    secret = with_session_and_token(db, employee)
    bystander_secret = with_session_and_token(db, bystander)
    bookings = count(db, Booking)
    orgs.set_company_active(company.id, False, NOW, actor=root)
    db.session.commit()
    db.session.expire_all()
    assert (company.active, company.deactivated_at) == (False, NOW)
    assert not signs_in(admin) and not signs_in(employee)
    assert signs_in(bystander)
    assert live_sessions(db, employee) == 0 and live_sessions(db, bystander) == 1
    assert user_for_token(secret, NOW) is None
    assert user_for_token(bystander_secret, NOW) is not None
    assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == employee.id))
    assert employee.active  # the people are kept as they were
    assert count(db, Booking) == bookings
    (entry,) = entries(db, "company.deactivate")
    assert (entry.actor_id, entry.company_id, entry.before_values, entry.after_values) == (
        root.id,
        company.id,
        {"active": True},
        {"active": False},
    )
    orgs.set_company_active(company.id, False, NOW, actor=root)  # again: nothing more
    orgs.set_company_active(company.id, True, NOW, actor=root)
    db.session.commit()
    db.session.expire_all()
    assert company.active and company.deactivated_at is None
    assert signs_in(employee)
    assert [e.action for e in entries(db)] == ["company.deactivate", "company.reactivate"]


def test_unknown_ids_are_not_found(db):
    for call in (
        lambda: orgs.set_company_active(999, False, NOW),
        lambda: orgs.set_company_active(2**40, True, NOW),
        lambda: orgs.set_operator_suspended(999, True, NOW),
        lambda: orgs.set_operator_suspended(999, False, NOW),
        lambda: orgs.set_facility_reviewed(999, True, NOW),
        lambda: people.lock(999, NOW),
        lambda: people.unlock(999, NOW),
        lambda: people.send_password_reset(999, NOW),
        lambda: people.reset_two_factor(-1, NOW),
    ):
        with pytest.raises(orgs.OrgNotFound):
            call()
    assert count(db, AuditEntry) == 0


def test_a_suspended_operator_leaves_search_and_comes_back(db, make_facility, make_operator):
    org = make_operator()
    facility = make_facility(operator=org)
    listed = select(Facility.id).where(Facility.listed)
    assert facility.id in db.session.scalars(listed).all()
    orgs.set_operator_suspended(org.id, True, NOW)
    db.session.commit()
    assert facility.id not in db.session.scalars(listed).all()
    orgs.set_operator_suspended(org.id, False, NOW)
    db.session.commit()
    assert facility.id in db.session.scalars(listed).all()
    assert [(e.action, e.operator_id) for e in entries(db)] == [
        ("operator.suspend", org.id),
        ("operator.unsuspend", org.id),
    ]


def test_a_facility_is_listed_once_reviewed(db, make_facility):
    facility = make_facility(reviewed_at=None)
    listed = select(Facility.id).where(Facility.listed)
    assert facility.id not in db.session.scalars(listed).all()
    orgs.set_facility_reviewed(facility.id, True, NOW)
    db.session.commit()
    assert facility.reviewed_at == NOW
    assert facility.id in db.session.scalars(listed).all()
    orgs.set_facility_reviewed(facility.id, True, NOW)  # already: no second entry
    orgs.set_facility_reviewed(facility.id, False, NOW)
    db.session.commit()
    assert facility.id not in db.session.scalars(listed).all()
    assert [(e.action, e.object_id, e.operator_id) for e in entries(db)] == [
        ("facility.review", facility.id, facility.operator_id),
        ("facility.unreview", facility.id, facility.operator_id),
    ]


# --- People ----------------------------------------------------------------------------------


def test_a_locked_person_cannot_sign_in_until_unlocked(db, make_user, make_employee):
    root = make_user(Role.PLATFORM_ADMIN)
    employee = make_employee()
    secret = with_session_and_token(db, employee)
    people.lock(employee.id, NOW, actor=root)
    db.session.commit()
    assert employee.locked_at == NOW
    assert not signs_in(employee)
    assert live_sessions(db, employee) == 0 and user_for_token(secret, NOW) is None
    with pytest.raises(orgs.OrgError) as refused:
        people.send_password_reset(employee.id, NOW, actor=root)
    assert refused.value.code == "locked"
    db.session.rollback()
    people.unlock(employee.id, NOW, actor=root)
    db.session.commit()
    assert signs_in(employee)
    assert [(e.action, e.company_id, e.object_id) for e in entries(db)] == [
        ("user.lock", employee.company_id, employee.id),
        ("user.unlock", employee.company_id, employee.id),
    ]
    with pytest.raises(orgs.OrgError) as refused:
        people.lock(root.id, NOW, actor=root)
    assert refused.value.code == "self"


def test_a_password_reset_is_mailed(db, make_user):
    root = make_user(Role.PLATFORM_ADMIN)
    operator = make_user(Role.OPERATOR)
    people.send_password_reset(operator.id, NOW, actor=root)
    db.session.commit()
    mail = db.session.scalar(select(OutgoingMail))
    assert mail.to_address == operator.email and "/password/reset/" in body_of(mail)
    (entry,) = entries(db)
    assert (entry.action, entry.operator_id, entry.company_id) == (
        "user.password_reset",
        operator.operator_id,
        None,
    )


def test_two_factor_is_reset_after_a_lost_authenticator(db, make_user):
    root = make_user(Role.PLATFORM_ADMIN)
    admin = make_user(
        Role.COMPANY_ADMIN,
        totp_secret="sealed",
        totp_enabled_at=NOW - timedelta(days=3),
        totp_last_step=123,
    )
    db.session.add_all(
        [RecoveryCode(user_id=admin.id, code_hash=f"{n:064d}", created_at=NOW) for n in range(3)]
    )
    with_session_and_token(db, admin)
    later = NOW + timedelta(hours=1)
    people.reset_two_factor(admin.id, later, actor=root)
    db.session.commit()
    db.session.expire_all()
    assert (admin.totp_secret, admin.totp_enabled_at, admin.totp_last_step) == (None, None, None)
    assert admin.two_factor_prompted_at == later
    assert count(db, RecoveryCode) == 0
    assert live_sessions(db, admin) == 0
    assert signs_in(admin)  # the password still works; enrolment follows
    (entry,) = entries(db)
    assert (entry.action, entry.before_values, entry.after_values) == (
        "user.two_factor_reset",
        {"two_factor": True},
        {"two_factor": False},
    )
    assert "sealed" not in (entry.before or "") + (entry.after or "")


# --- The command line ------------------------------------------------------------------------


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["orgs", *args])


def test_cli_creates_a_company_and_prints_one_line_with_the_link(app, db):
    result = run(app, "create-company", "Hooli", "--admin", "gavin@hooli.example")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    path = lines[0].rsplit(" ", 1)[1]
    assert path.startswith("/password/set/")
    token = recovery.token_for(path.removeprefix("/password/set/"), recovery.SET, NOW)
    admin = db.session.scalar(select(User).where(User.email == "gavin@hooli.example"))
    assert token.user_id == admin.id and admin.company.name == "Hooli"
    assert f"(id {admin.company_id})" in lines[0]
    (entry,) = entries(db)
    assert (entry.action, entry.actor_id, entry.actor_kind) == ("company.create", None, "cli")


def test_cli_subscribes_with_a_plan(app, db):
    plan_named("standard")
    db.session.commit()
    result = run(
        app, "create-company", "Pied Piper", "--admin", "richard@pp.example",
        "--plan", "standard", "--seats", "12",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "/password/set/" in result.output
    admin = db.session.scalar(select(User).where(User.email == "richard@pp.example"))
    subscription = ledger.account_of(admin.company_id).subscription
    assert is_live(subscription) and subscription.seats == 12


def test_cli_creates_an_operator(app, db):
    result = run(app, "create-operator", "Satoyama Works", "--admin", "ops@satoyama.example",
                 "--kind", "association")  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    path = line.rsplit(" ", 1)[1]
    assert path.startswith("/password/set/")
    org = db.session.scalar(select(OperatorOrg).where(OperatorOrg.name == "Satoyama Works"))
    assert org.kind == "association"
    token = recovery.token_for(path.removeprefix("/password/set/"), recovery.SET, NOW)
    assert token.user.operator_id == org.id


@pytest.mark.parametrize(
    "args",
    [
        ["create-company", "", "--admin", "a@b.example"],
        ["create-company", "Co", "--admin", "nope"],
        ["create-company", "Co", "--admin", "a@b.example", "--plan", "gold", "--seats", "3"],
        ["create-company", "Co", "--admin", "a@b.example", "--plan", "standard", "--seats", "0"],
        ["create-company", "Co", "--admin", "a@b.example", "--plan", "standard"],
        ["create-company", "Co"],
        ["create-operator", "Op", "--admin", "a@b.example", "--kind", "guild"],
        ["create-operator", "Op", "--admin", "bad address"],
    ],
)
def test_cli_refuses_bad_input_and_makes_nothing(app, db, args):
    plan_named("standard")
    db.session.commit()
    result = run(app, *args)
    assert result.exit_code != 0
    assert "/password/" not in result.output
    assert (count(db, Company), count(db, OperatorOrg), count(db, User)) == (0, 0, 0)


def test_cli_refuses_an_address_that_has_an_account(app, db, make_employee):
    employee = make_employee()
    result = run(app, "create-operator", "Op", "--admin", employee.email)
    assert result.exit_code == 1
    assert "already has an Engawa account" in result.output
    assert count(db, OperatorOrg) == 0
