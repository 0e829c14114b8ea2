"""Sign-up applications: applying, confirming, expiry, and the Engawa team's decision,
including two platform admins approving one application at the same moment."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from accounts import mail
from accounts.audit import AuditEntry
from accounts.mail import OutgoingMail
from accounts.models import Company, OperatorOrg, PasswordToken, Role, User
from accounts.services import token_digest
from billing.models import BillingAccount
from facilities.geo import PREFECTURE_CENTRES
from facilities.models import Facility
from identity import application_review as review
from identity import applications
from identity.applications import (
    AlreadyDecided,
    ApplicationError,
    ApplicationNotFound,
    FirstFacility,
    LinkExpired,
    LinkUnknown,
)
from identity.models import Application, ApplicationStatus
from tests.conftest import NOW

TOYOTA = "1180301018771"  # トヨタ自動車株式会社
NTA = "7000012050002"  # 国税庁
BAD_CHECK_DIGIT = "2180301018771"
CONFIRM_LINK = re.compile(r"https?://\S+/signup/confirm/([\w-]+)")


def apply_company(email: str = "soumu@kaisha.example", number: str = TOYOTA, now=NOW, **kw):
    values = {
        "org_name": "株式会社テスト",
        "corporate_number": number,
        "billing_address": "東京都千代田区丸の内1-1-1",
        "contact_name": "総務 花子",
        "contact_email": email,
        "expected_seats": 120,
    }
    values.update(kw)
    return applications.apply_company(*values.values(), now, locale="ja")


def first_facility(**kw) -> FirstFacility:
    values = {
        "name": "里山の宿",
        "kind": "stay",
        "postal_code": "389-0102",
        "prefecture": 20,
        "municipality": "北佐久郡軽井沢町",
        "address": "軽井沢1-2-3",
        "licence_number": "長野県指令 5佐保第123号",
        "office_note": "",
    }
    values.update(kw)
    return FirstFacility(**values)


def apply_operator(email: str = "info@satoyama.example", facility=None, kind="municipality"):
    return applications.apply_operator(
        "里山町観光協会", kind, "山田 太郎", email, facility or first_facility(), NOW, locale="en"
    )


def mails_to(db, email: str) -> list[OutgoingMail]:
    return list(
        db.session.scalars(
            select(OutgoingMail).where(OutgoingMail.to_address == email).order_by(OutgoingMail.id)
        )
    )


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def root(make_user):
    return make_user(Role.PLATFORM_ADMIN, email="root@engawa.example")


def pending_company(db, **kw) -> Application:
    application, secret = apply_company(**kw)
    applications.confirm(secret, NOW)
    db.session.commit()
    return application


# --- Corporate numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (TOYOTA, TOYOTA),
        (NTA, NTA),
        ("5-8356-7825-6246", "5835678256246"),
        ("１１８０３０１０１８７７１", TOYOTA),  # full-width, as Japanese input types it
        (" 1180 3010 1877 1 ", TOYOTA),
    ],
)
def test_valid_corporate_numbers_are_kept_as_13_digits(raw, expected):
    assert applications.normalise_corporate_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [BAD_CHECK_DIGIT, "2-8356-7825-6246", "118030101877", "11803010187710", "118030101877X", ""],
)
def test_a_corporate_number_with_a_wrong_check_digit_or_length_is_refused(raw):
    with pytest.raises(ApplicationError) as refused:
        applications.normalise_corporate_number(raw)
    assert refused.value.code == "corporate_number"


# --- Applying -----------------------------------------------------------------------------


def test_a_company_application_stores_a_hash_and_mails_the_link(app, db):
    application, secret = apply_company()
    db.session.commit()
    assert application.status == ApplicationStatus.UNCONFIRMED
    assert application.corporate_number == TOYOTA
    assert application.confirm_token_hash == token_digest(secret)
    assert secret not in json.dumps(application.detail_values)
    assert application.detail_values == {
        "billing_address": "東京都千代田区丸の内1-1-1",
        "expected_seats": 120,
    }
    assert application.expires_at == NOW + timedelta(hours=48)
    [queued] = mails_to(db, "soumu@kaisha.example")
    body = mail.body_of(queued)
    assert CONFIRM_LINK.search(body).group(1) == secret
    assert secret not in queued.body  # stored encrypted
    assert queued.expires_at == application.expires_at


def test_an_operator_application_keeps_its_first_facility_in_details(app, db):
    application, _secret = apply_operator()
    db.session.commit()
    assert application.locale == "en"
    assert application.corporate_number is None
    assert application.detail_values == {
        "operator_kind": "municipality",
        "facility_name": "里山の宿",
        "facility_kind": "stay",
        "postal_code": "3890102",
        "prefecture": 20,
        "municipality": "北佐久郡軽井沢町",
        "address": "軽井沢1-2-3",
        "licence_number": "長野県指令 5佐保第123号",
        "office_note": "",
    }


def test_a_satellite_office_gives_a_note_instead_of_a_licence(app, db):
    office = first_facility(kind="office", licence_number="", office_note="Desks for 10")
    application, _secret = apply_operator(facility=office)
    assert application.detail_values["office_note"] == "Desks for 10"
    with pytest.raises(ApplicationError) as refused:
        apply_operator("b@satoyama.example", first_facility(kind="office", office_note=""))
    assert refused.value.code == "office_note"
    with pytest.raises(ApplicationError) as refused:
        apply_operator("c@satoyama.example", first_facility(kind="both", licence_number=" "))
    assert refused.value.code == "licence_number"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"org_name": "  "}, "org_name"),
        ({"org_name": "x" * 201}, "org_name"),
        ({"number": BAD_CHECK_DIGIT}, "corporate_number"),
        ({"billing_address": ""}, "billing_address"),
        ({"expected_seats": 0}, "expected_seats"),
        ({"expected_seats": 100_001}, "expected_seats"),
        ({"contact_name": ""}, "contact_name"),
        ({"email": "not-an-address"}, "contact_email"),
    ],
)
def test_bad_company_input_is_refused_and_writes_nothing(app, db, change, field):
    with pytest.raises(ApplicationError) as refused:
        apply_company(**change)
    assert refused.value.code == field
    db.session.rollback()
    assert count(db, Application) == 0
    assert count(db, OutgoingMail) == 0


@pytest.mark.parametrize(
    "facility, kind, field",
    [
        (first_facility(postal_code="12-345"), "company", "postal_code"),
        (first_facility(prefecture=48), "company", "prefecture"),
        (first_facility(kind="castle"), "company", "facility_kind"),
        (first_facility(name=""), "company", "facility_name"),
        (first_facility(), "guild", "operator_kind"),
    ],
)
def test_bad_operator_input_is_refused(app, db, facility, kind, field):
    with pytest.raises(ApplicationError) as refused:
        apply_operator(facility=facility, kind=kind)
    assert refused.value.code == field


def test_an_address_with_an_account_gets_a_notice_not_an_application(app, db, make_user):
    make_user(Role.EMPLOYEE, email="taken@kaisha.example")
    assert apply_company(email="Taken@Kaisha.example") == (None, None)
    db.session.commit()
    assert count(db, Application) == 0
    [notice] = mails_to(db, "taken@kaisha.example")
    body = mail.body_of(notice)
    assert "already has an Engawa account" in body
    assert "/signup/confirm/" not in body


def test_an_address_with_an_application_under_review_gets_a_notice(app, db):
    pending_company(db)
    assert apply_company(number=NTA) == (None, None)
    db.session.commit()
    assert count(db, Application) == 1
    notice = mails_to(db, "soumu@kaisha.example")[-1]
    assert "already waiting" in mail.body_of(notice)


def test_applying_again_before_confirming_replaces_the_earlier_link(app, db):
    first, first_secret = apply_company()
    second, second_secret = apply_company()
    db.session.commit()
    assert first.status == ApplicationStatus.EXPIRED
    with pytest.raises(LinkExpired):
        applications.confirm(first_secret, NOW)
    assert applications.confirm(second_secret, NOW).status == ApplicationStatus.PENDING


# --- Confirming ---------------------------------------------------------------------------


def test_confirming_makes_it_pending_for_30_days_and_a_second_click_changes_nothing(app, db):
    application, secret = apply_company()
    later = NOW + timedelta(hours=47)
    confirmed = applications.confirm(secret, later)
    db.session.commit()
    assert confirmed.id == application.id
    assert confirmed.status == ApplicationStatus.PENDING
    assert confirmed.confirmed_at == later
    assert confirmed.expires_at == later + timedelta(days=30)
    again = applications.confirm(secret, later + timedelta(hours=5))
    assert again.confirmed_at == later
    assert again.expires_at == later + timedelta(days=30)


def test_a_link_opened_after_48_hours_is_expired(app, db):
    application, secret = apply_company()
    db.session.commit()
    with pytest.raises(LinkExpired):
        applications.confirm(secret, NOW + timedelta(hours=48))
    db.session.rollback()
    assert db.session.get(Application, application.id).status == ApplicationStatus.UNCONFIRMED


@pytest.mark.parametrize("secret", ["", "x", "a" * 101, None])
def test_an_unknown_link_is_refused(app, db, secret):
    apply_company()
    with pytest.raises(LinkUnknown):
        applications.confirm(secret, NOW)


# --- Expiry -------------------------------------------------------------------------------


def test_the_job_expires_unconfirmed_and_undecided_applications(app, db):
    stale, _secret = apply_company(email="a@kaisha.example")
    waiting = pending_company(db, email="b@kaisha.example", number=NTA)
    fresh, _secret = apply_company(email="c@kaisha.example", now=NOW + timedelta(days=30))
    db.session.commit()
    result = applications.expire_applications(NOW + timedelta(days=30, minutes=1))
    assert str(result) == "1 unconfirmed and 1 undecided applications expired"
    assert db.session.get(Application, stale.id).status == ApplicationStatus.EXPIRED
    assert db.session.get(Application, waiting.id).status == ApplicationStatus.EXPIRED
    assert db.session.get(Application, fresh.id).status == ApplicationStatus.UNCONFIRMED
    assert "has lapsed" in mail.body_of(mails_to(db, "b@kaisha.example")[-1])
    assert applications.expire_applications(NOW + timedelta(days=30, minutes=2)) == ""


def test_the_job_leaves_what_is_not_due(app, db):
    pending_company(db)
    apply_company(email="x@kaisha.example", number=NTA)
    db.session.commit()
    assert applications.expire_applications(NOW + timedelta(hours=47)) == ""
    statuses = set(db.session.scalars(select(Application.status)))
    assert statuses == {ApplicationStatus.PENDING, ApplicationStatus.UNCONFIRMED}


# --- Approving ----------------------------------------------------------------------------


def test_approving_a_company_creates_it_its_billing_account_and_its_admin(app, db, root):
    application = pending_company(db)
    review.approve(application.id, root, NOW)
    db.session.commit()
    assert application.status == ApplicationStatus.APPROVED
    assert application.decided_by_id == root.id
    company = db.session.get(Company, application.company_id)
    assert (company.name, company.corporate_number) == ("株式会社テスト", TOYOTA)
    account = db.session.get(BillingAccount, company.id)
    assert account.billing_name == "株式会社テスト"
    assert account.billing_address == "東京都千代田区丸の内1-1-1"
    assert account.billing_email == "soumu@kaisha.example"
    admin = db.session.scalar(select(User).where(User.email == "soumu@kaisha.example"))
    assert (admin.role, admin.company_id, admin.name) == (
        Role.COMPANY_ADMIN,
        company.id,
        "総務 花子",
    )
    assert admin.password_hash.startswith("!")  # no password until they choose one
    [link] = db.session.scalars(select(PasswordToken).where(PasswordToken.user_id == admin.id))
    assert link.purpose == "set"
    assert "/password/set/" in mail.body_of(mails_to(db, admin.email)[-1])
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"application.approve", "company.create"} <= actions
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "application.approve"))
    assert (entry.actor_id, entry.object_id, entry.company_id) == (
        root.id,
        application.id,
        company.id,
    )


def test_approving_an_operator_creates_it_its_operator_and_an_unlisted_facility(app, db, root):
    application, secret = apply_operator()
    applications.confirm(secret, NOW)
    review.approve(application.id, root, NOW)
    db.session.commit()
    org = db.session.get(OperatorOrg, application.operator_id)
    assert (org.name, org.kind) == ("里山町観光協会", "municipality")
    operator = db.session.scalar(select(User).where(User.operator_id == org.id))
    assert (operator.role, operator.email, operator.locale) == (
        Role.OPERATOR,
        "info@satoyama.example",
        "en",
    )
    [facility] = db.session.scalars(select(Facility).where(Facility.operator_id == org.id))
    assert facility.name_ja == "里山の宿"
    assert (facility.prefecture, facility.postal_code) == (20, "3890102")
    assert (facility.latitude, facility.longitude) == tuple(PREFECTURE_CENTRES[20])
    assert facility.reviewed_at is None
    assert not facility.listed
    assert facility.units == []


def test_approval_fails_cleanly_when_the_address_now_has_an_account(app, db, root, make_user):
    application = pending_company(db)
    make_user(Role.EMPLOYEE, email="soumu@kaisha.example")
    with pytest.raises(ApplicationError) as refused:
        review.approve(application.id, root, NOW)
    assert refused.value.code == "email_taken"
    db.session.rollback()
    assert count(db, Company) == 1  # the employee's own
    assert db.session.get(Application, application.id).status == ApplicationStatus.PENDING


def test_approval_fails_cleanly_when_the_corporate_number_is_taken(app, db, root, make_company):
    application = pending_company(db)
    make_company(corporate_number=TOYOTA)
    assert review.conflicts(application) == ["corporate_number_taken"]
    with pytest.raises(ApplicationError) as refused:
        review.approve(application.id, root, NOW)
    assert refused.value.code == "corporate_number_taken"
    db.session.rollback()
    assert count(db, Company) == 1
    assert count(db, User) == 1  # root


def test_only_a_pending_application_can_be_decided(app, db, root):
    unconfirmed, _secret = apply_company()
    db.session.commit()
    with pytest.raises(AlreadyDecided):
        review.approve(unconfirmed.id, root, NOW)
    application = pending_company(db, email="b@kaisha.example", number=NTA)
    review.approve(application.id, root, NOW)
    db.session.commit()
    with pytest.raises(AlreadyDecided):
        review.approve(application.id, root, NOW)
    with pytest.raises(AlreadyDecided):
        review.reject(application.id, root, "no", NOW)
    with pytest.raises(ApplicationNotFound):
        review.approve(999_999, root, NOW)
    with pytest.raises(ApplicationNotFound):
        review.approve(2**40, root, NOW)


def test_an_application_past_its_decision_window_cannot_be_approved(app, db, root):
    application = pending_company(db)
    with pytest.raises(AlreadyDecided):
        review.approve(application.id, root, NOW + timedelta(days=30))


def test_only_a_platform_admin_decides(app, db, make_user):
    application = pending_company(db)
    for role in (Role.COMPANY_ADMIN, Role.OPERATOR, Role.EMPLOYEE):
        with pytest.raises(ApplicationError) as refused:
            review.approve(application.id, make_user(role), NOW)
        assert refused.value.code == "forbidden"


# --- Rejecting ----------------------------------------------------------------------------


def test_rejecting_needs_a_reason_and_mails_it(app, db, root):
    application = pending_company(db)
    for blank in ("", "   ", "x" * 2001):
        with pytest.raises(ApplicationError) as refused:
            review.reject(application.id, root, blank, NOW)
        assert refused.value.code == "reason"
    review.reject(application.id, root, "法人番号が会社名と一致しません。", NOW)
    db.session.commit()
    assert application.status == ApplicationStatus.REJECTED
    assert application.reason == "法人番号が会社名と一致しません。"
    body = mail.body_of(mails_to(db, "soumu@kaisha.example")[-1])
    assert "法人番号が会社名と一致しません。" in body
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "application.reject"))
    assert (entry.actor_id, entry.object_id) == (root.id, application.id)
    assert count(db, Company) == 0


# --- Two platform admins at once --------------------------------------------------------


def test_two_admins_approving_at_once_create_one_company(app, db, make_user):
    """Two real threads, each with its own session, approve the same application at the
    same moment: one company is created, the other admin is told it is decided."""
    admins = [make_user(Role.PLATFORM_ADMIN).id for _ in range(2)]
    application_id = pending_company(db).id
    db.session.remove()  # on SQLite an open transaction would hold the write lock
    barrier = threading.Barrier(2, timeout=20)
    outcomes: list = [None, None]

    def approve(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()  # nothing read before: each racer starts at once
                actor = db.session.get(User, admins[i])
                review.approve(application_id, actor, NOW)
                db.session.commit()
                outcomes[i] = "approved"
            except AlreadyDecided:
                db.session.rollback()
                outcomes[i] = "decided"
            except Exception as exc:  # recorded for the assertion below
                barrier.abort()
                outcomes[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["approved", "decided"]
    assert count(db, Company) == 1
    assert (
        db.session.scalar(
            select(func.count()).select_from(User).where(User.role == Role.COMPANY_ADMIN)
        )
        == 1
    )
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "application.approve")
        )
        == 1
    )
