"""A company's people: invitations, joining, domain joining, deactivation, tenant walls."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from accounts import join_domains as domains
from accounts import mail
from accounts.mail import OutgoingMail
from accounts.models import ApiToken, Invitation, Role, User
from billing import ledger
from billing.services import BillingError, seats_used
from booking import services as booking
from booking.models import Booking
from identity import members
from tests.conftest import FAST_HASH, NOW, PASSWORD, TODAY, bearer, days, signed_in

NEW_PASSWORD = "a long new password"
INVALID = "This invitation link is invalid or has expired."


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def make_admin(make_user, make_company):
    def make(seats: int = 1000, email: str | None = None, **kw):
        company = kw.pop("company", None) or make_company(seats=seats)
        extra = {"email": email} if email else {}
        return make_user(Role.COMPANY_ADMIN, company=company, **extra, **kw)

    return make


def invite(db, admin: User, email: str, now=NOW) -> str:
    _invitation, secret = members.invite(admin.company_id, email, admin, now, 14)
    db.session.commit()
    return secret


def english(app):
    """A browser that reads English (the msgids), so assertions do not follow translations."""
    browser = app.test_client()
    browser.get("/lang/en")
    return browser


def join(browser, secret: str, name: str = "新入 社員", password: str = NEW_PASSWORD):
    return browser.post(
        f"/join/{secret}", data={"name": name, "password": password, "confirm": password}
    )


def user_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def link_path(text: str) -> str:
    link = re.search(r"https?://\S+/join/[A-Za-z0-9_-]+", text).group(0)
    return urlsplit(link).path


def mail_to(db, address: str) -> str:
    """The (decrypted) body of the one mail queued for ``address``."""
    queued = db.session.scalars(select(OutgoingMail).where(OutgoingMail.to_address == address))
    return mail.body_of(queued.one())


def enable_domain(db, admin: User, domain: str, reviewer: User) -> None:
    """The company admin asks for ``domain`` and the platform admin approves it."""
    domains.set_email_domain(admin.company_id, domain, admin, NOW)
    domains.review_email_domain(admin.company_id, domain, True, reviewer, NOW)
    db.session.commit()


@pytest.fixture
def platform_admin(make_user):
    return make_user(Role.PLATFORM_ADMIN)


# --- invite and accept -----------------------------------------------------------------


def test_invite_accept_and_sign_in(app, db, make_admin):
    admin = make_admin()
    browser = signed_in(app, admin)
    response = browser.post("/company/employees/invite", data={"email": " New@Example.com "})
    assert response.status_code == 303
    assert response.headers["Location"] == "/company/employees"
    # The one-time link went into the outbox, to the normalised address, at BASE_URL.
    body = mail_to(db, "new@example.com")
    shown = re.search(r"https?://\S+/join/[A-Za-z0-9_-]+", body).group(0)
    assert shown.startswith(app.config["BASE_URL"] + "/join/")
    invitation = db.session.scalars(select(Invitation)).one()
    secret = urlsplit(shown).path.rsplit("/", 1)[1]
    assert secret not in invitation.token_hash and len(invitation.token_hash) == 64
    assert invitation.expires_at == NOW + timedelta(days=app.config["INVITATION_DAYS"])
    # The admin never sees the link: only the address, in the pending list.
    page = browser.get("/company/employees").get_data(as_text=True)
    assert "new@example.com" in page and secret not in page

    newcomer = english(app)
    form = newcomer.get(urlsplit(shown).path)
    assert form.status_code == 200
    assert "new@example.com" in form.get_data(as_text=True)
    assert admin.company.name in form.get_data(as_text=True)
    joined = join(newcomer, secret)
    assert joined.status_code == 303 and joined.headers["Location"] == "/"
    assert "Welcome to Engawa" in newcomer.get("/").get_data(as_text=True)
    assert newcomer.get("/stays").status_code == 200  # signed in at once

    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert (user.role, user.company_id, user.active, user.name) == (
        Role.EMPLOYEE,
        admin.company_id,
        True,
        "新入 社員",
    )
    assert user.books_stays
    db.session.refresh(invitation)
    assert invitation.used_at == NOW
    # A fresh browser signs in with the chosen password.
    fresh = app.test_client()
    signin = fresh.post("/login", data={"email": "new@example.com", "password": NEW_PASSWORD})
    assert signin.status_code == 302


def test_a_link_works_once(app, db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "once@example.com")
    assert join(english(app), secret).status_code == 303
    count = user_count(db)
    second = english(app)
    page = second.get(f"/join/{secret}")
    assert page.status_code == 404 and INVALID in page.get_data(as_text=True)
    assert join(second, secret, name="Someone else").status_code == 404
    assert user_count(db) == count


def test_an_expired_link_is_refused(app, db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "late@example.com")
    expires = NOW + timedelta(days=14)
    assert members.invitation_for(secret, expires - timedelta(seconds=1)) is not None
    assert members.invitation_for(secret, expires) is None
    app.config["FIXED_NOW"] = expires + timedelta(minutes=1)
    count = user_count(db)
    browser = english(app)
    assert browser.get(f"/join/{secret}").status_code == 404
    response = join(browser, secret)
    assert response.status_code == 404 and INVALID in response.get_data(as_text=True)
    assert user_count(db) == count


def test_unknown_and_junk_tokens_are_refused(app, make_admin):
    make_admin()
    browser = english(app)
    for token in ("nope", "x" * 500):
        assert browser.get(f"/join/{token}").status_code == 404
    # A NUL byte is refused before the view (400, by the central input check) or here.
    assert browser.get("/join/%00").status_code in (400, 404)


def test_a_revoked_invitation_no_longer_works(app, db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "revoked@example.com")
    invitation = db.session.scalars(select(Invitation)).one()
    browser = signed_in(app, admin)
    response = browser.post(f"/company/invitations/{invitation.id}/revoke")
    assert response.status_code == 303
    db.session.refresh(invitation)
    assert invitation.revoked_at == NOW
    assert join(english(app), secret).status_code == 404
    assert members.pending_invitations(admin.company_id, NOW) == []


def test_inviting_again_revokes_the_earlier_link(app, db, make_admin):
    admin = make_admin()
    first = invite(db, admin, "twice@example.com")
    second = invite(db, admin, "TWICE@example.com")
    assert members.invitation_for(first, NOW) is None
    assert members.invitation_for(second, NOW) is not None
    assert len(members.pending_invitations(admin.company_id, NOW)) == 1
    assert join(english(app), first).status_code == 404
    assert join(english(app), second).status_code == 303


@pytest.mark.parametrize("email", ["not-an-address", "a@b", "a b@example.com", "@example.com"])
def test_a_malformed_address_is_refused(db, make_admin, email):
    admin = make_admin()
    with pytest.raises(members.MemberError) as refused:
        members.invite(admin.company_id, email, admin, NOW, 14)
    assert refused.value.code == "invalid_email"


def test_the_invite_form_answers_the_same_whether_or_not_the_address_has_an_account(
    app, db, make_admin, make_employee
):
    admin = make_admin()
    elsewhere = make_employee(email="taken@example.com")
    browser = signed_in(app, admin)
    browser.get("/lang/en")

    def invite_page(email: str) -> tuple[int, str | None, str]:
        response = browser.post("/company/employees/invite", data={"email": email})
        page = browser.get("/company/employees").get_data(as_text=True)
        page = re.sub(r"invitation(-id=\"|s/)\d+", "ID", page.replace(email, "EMAIL"))
        page = re.sub(r'name="csrf_token"[^>]*>', "", page)
        return response.status_code, response.headers.get("Location"), page

    taken = invite_page("taken@example.com")
    first = db.session.scalars(select(Invitation)).one()
    assert first.email == "taken@example.com" and first.revoked_at is None  # listed as pending
    members.revoke_invitation(admin.company_id, first.id, NOW)
    db.session.commit()
    fresh = invite_page("fresh@example.com")
    # Same status, same redirect, the same page (flash, pending list) but for the address.
    assert taken == fresh
    assert taken[:2] == (303, "/company/employees")
    assert "EMAIL" in taken[2] and "already has" not in taken[2]
    assert elsewhere.company.name not in taken[2]
    # The account owner gets a notice without any link; the new address gets its link.
    notice = mail_to(db, "taken@example.com")
    assert "already" in notice and "/join/" not in notice
    assert "/join/" in mail_to(db, "fresh@example.com")
    # The notice's invitation can never make an account, nor move the existing one.
    db.session.expire_all()
    assert db.session.get(User, elsewhere.id).company_id == elsewhere.company_id


def test_a_member_of_the_same_company_is_refused_with_a_clear_reason(app, db, make_admin):
    admin = make_admin()
    with pytest.raises(members.MemberError) as refused:
        members.invite(admin.company_id, admin.email.upper(), admin, NOW, 14)
    assert refused.value.code == "already_member"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_only_the_companys_admin_may_invite_through_the_service(db, make_admin, make_employee):
    admin = make_admin()
    employee = make_employee(company=admin.company)
    other_admin = make_admin()
    for actor in (employee, other_admin):
        with pytest.raises(members.MemberError) as refused:
            members.invite(admin.company_id, "x@example.com", actor, NOW, 14)
        assert refused.value.code == "forbidden"


# --- seats --------------------------------------------------------------------------------


def test_full_seats_refuse_an_invitation(app, db, make_admin, make_employee):
    admin = make_admin(seats=2)
    make_employee(company=admin.company)  # the admin and this one: 2 of 2
    with pytest.raises(BillingError) as refused:
        members.invite(admin.company_id, "third@example.com", admin, NOW, 14)
    assert refused.value.code == "seats_full"
    db.session.rollback()
    browser = signed_in(app, admin)
    response = browser.post("/company/employees/invite", data={"email": "third@example.com"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 0


def test_full_seats_refuse_the_acceptance_and_make_nobody(app, db, make_admin):
    admin = make_admin(seats=2)
    first = invite(db, admin, "first@example.com")
    second = invite(db, admin, "second@example.com")  # both made while one seat was free
    assert join(english(app), first).status_code == 303
    count = user_count(db)
    browser = english(app)
    response = join(browser, second)
    assert response.status_code == 409
    assert "All seats of" in response.get_data(as_text=True)
    assert user_count(db) == count
    assert members.invitation_for(second, NOW) is not None  # usable once a seat is added
    assert browser.get("/stays").status_code == 302  # not signed in


def test_seat_page_shows_paid_and_used(app, db, make_admin, make_employee):
    admin = make_admin(seats=5)
    make_employee(company=admin.company)
    page = signed_in(app, admin).get("/company/employees").get_data(as_text=True)
    assert 'data-testid="seats-paid">5<' in page
    assert 'data-testid="seats-used">2<' in page


# --- deactivation ---------------------------------------------------------------------------


def balance(company_id: int) -> int:
    return ledger.account_of(company_id).credit_balance


def test_deactivation_ends_sessions_tokens_and_future_stays(
    app, db, make_admin, make_employee, make_unit
):
    admin = make_admin()
    employee = make_employee(company=admin.company)
    company_id = admin.company_id
    before = balance(company_id)
    future = booking.book_stay(
        employee, booking.StayRequest(make_unit().id, days(20), days(23), 1), NOW
    )
    begun = booking.book_stay(employee, booking.StayRequest(make_unit().id, TODAY, days(2), 1), NOW)
    db.session.commit()
    future_id, begun_id, begun_price = future.id, begun.id, begun.total_price
    assert balance(company_id) == before - future.total_price - begun_price
    session = signed_in(app, employee)
    headers = bearer(db, employee)
    assert session.get("/stays").status_code == 200
    assert session.get("/api/v1/bookings", headers=headers).status_code == 200

    response = signed_in(app, admin).post(f"/company/employees/{employee.id}/deactivate")
    assert response.status_code == 303

    db.session.expire_all()
    assert not db.session.get(User, employee.id).active
    next_page = session.get("/stays")
    assert next_page.status_code == 302 and next_page.headers["Location"].startswith("/login")
    assert session.get("/api/v1/bookings", headers=headers).status_code == 401
    assert all(t.revoked_at == NOW for t in db.session.scalars(select(ApiToken)))
    assert db.session.get(Booking, future_id).status == "cancelled"
    assert db.session.get(Booking, begun_id).status == "confirmed"
    # The cancelled stay's credit is back in full; the begun stay stays paid.
    assert balance(company_id) == before - begun_price
    assert seats_used(company_id) == 1
    # The password no longer signs in.
    fresh = app.test_client()
    assert (
        fresh.post("/login", data={"email": employee.email, "password": PASSWORD}).status_code
        == 401
    )


def test_deactivate_service_returns_the_stays_cancelled_and_is_idempotent(
    db, make_admin, make_employee, make_unit
):
    admin = make_admin()
    employee = make_employee(company=admin.company)
    booking.book_stay(employee, booking.StayRequest(make_unit().id, days(20), days(23), 1), NOW)
    booking.book_stay(employee, booking.StayRequest(make_unit().id, days(30), days(31), 1), NOW)
    db.session.commit()
    assert members.deactivate(admin.company_id, employee.id, NOW, actor_id=admin.id) == 2
    db.session.commit()
    assert members.deactivate(admin.company_id, employee.id, NOW, actor_id=admin.id) == 0


def test_reactivation_needs_a_free_seat_and_a_new_sign_in(app, db, make_admin, make_employee):
    admin = make_admin(seats=2)
    employee = make_employee(company=admin.company)
    old_session = signed_in(app, employee)
    members.deactivate(admin.company_id, employee.id, NOW, actor_id=admin.id)
    db.session.commit()
    taker = make_employee(company=admin.company)  # the freed seat is taken by someone else
    browser = signed_in(app, admin)
    assert browser.post(f"/company/employees/{employee.id}/reactivate").status_code == 303
    db.session.expire_all()
    assert not db.session.get(User, employee.id).active

    members.deactivate(admin.company_id, taker.id, NOW, actor_id=admin.id)
    db.session.commit()
    assert browser.post(f"/company/employees/{employee.id}/reactivate").status_code == 303
    db.session.expire_all()
    assert db.session.get(User, employee.id).active
    assert old_session.get("/stays").status_code == 302  # the old session stays ended
    assert signed_in(app, employee).get("/stays").status_code == 200


def test_an_admin_cannot_deactivate_themself_or_the_last_admin(app, db, make_admin):
    admin = make_admin()
    browser = signed_in(app, admin)
    browser.get("/lang/en")
    response = browser.post(f"/company/employees/{admin.id}/deactivate")
    assert response.status_code == 303
    assert "You cannot deactivate yourself." in browser.get("/company/employees").get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(User, admin.id).active
    with pytest.raises(members.MemberError) as refused:
        members.deactivate(admin.company_id, admin.id, NOW)
    assert refused.value.code == "last_admin"


def test_another_admin_may_be_deactivated(db, make_admin):
    admin = make_admin()
    second = make_admin(company=admin.company)
    members.deactivate(admin.company_id, second.id, NOW, actor_id=admin.id)
    db.session.commit()
    assert not db.session.get(User, second.id).active


# --- tenant walls and roles -----------------------------------------------------------------


def test_foreign_ids_answer_404_and_change_nothing(app, db, make_admin, make_employee):
    admin = make_admin()
    other_admin = make_admin()
    stranger = make_employee(company=other_admin.company)
    secret = invite(db, other_admin, "theirs@example.com")
    invitation_id = db.session.scalar(select(Invitation.id))
    stranger_id = stranger.id
    browser = signed_in(app, admin)
    for path in (
        f"/company/employees/{stranger_id}/deactivate",
        f"/company/employees/{stranger_id}/reactivate",
        f"/company/invitations/{invitation_id}/revoke",
        "/company/employees/999999/deactivate",
        f"/company/employees/{2**40}/deactivate",
        f"/company/invitations/{2**40}/revoke",
    ):
        assert browser.post(path).status_code == 404, path
    db.session.expire_all()
    assert db.session.get(User, stranger_id).active
    assert members.invitation_for(secret, NOW) is not None
    page = browser.get("/company/employees").get_data(as_text=True)
    assert stranger.email not in page and "theirs@example.com" not in page


ADMIN_DOORS = [
    ("GET", "/company/employees"),
    ("POST", "/company/employees/invite"),
    ("POST", "/company/employees/domain"),
    ("POST", "/company/employees/{id}/deactivate"),
    ("POST", "/company/employees/{id}/reactivate"),
    ("POST", "/company/invitations/1/revoke"),
]


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.OPERATOR, Role.PLATFORM_ADMIN])
def test_only_company_admins_manage_people(app, db, make_user, make_admin, role):
    admin = make_admin()
    invite(db, admin, "pending@example.com")
    colleague = make_user(role, company=admin.company) if role == Role.EMPLOYEE else make_user(role)
    browser = signed_in(app, colleague)
    for method, path in ADMIN_DOORS:
        response = browser.open(
            path.format(id=admin.id), method=method, data={"email": "x@example.com"}
        )
        assert response.status_code == 403, (method, path)
    db.session.expire_all()
    assert db.session.get(User, admin.id).active
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 1


def test_signed_out_visitors_are_sent_to_sign_in(client, make_admin):
    admin = make_admin()
    for method, path in ADMIN_DOORS:
        response = client.open(path.format(id=admin.id), method=method)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def _csrf(browser, path: str) -> str:
    page = browser.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_every_form_requires_csrf(app, db, make_admin, make_employee):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = make_admin(email="boss@acme.example")
    employee = make_employee(company=admin.company)
    secret = invite(db, admin, "csrf@example.com")
    invitation_id = db.session.scalar(select(Invitation.id))
    browser = app.test_client()
    login = {"email": admin.email, "password": PASSWORD, "csrf_token": _csrf(browser, "/login")}
    assert browser.post("/login", data=login).status_code == 302
    refused = [
        browser.post("/company/employees/invite", data={"email": "y@example.com"}),
        browser.post("/company/employees/domain", data={"domain": "acme.example"}),
        browser.post(f"/company/employees/{employee.id}/deactivate"),
        browser.post(f"/company/employees/{employee.id}/reactivate"),
        browser.post(f"/company/invitations/{invitation_id}/revoke"),
        app.test_client().post(
            f"/join/{secret}", data={"name": "x", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        ),
        app.test_client().post("/join", data={"email": "z@acme.example"}),
    ]
    assert [r.status_code for r in refused] == [400] * len(refused)
    db.session.expire_all()
    assert db.session.get(User, employee.id).active
    assert db.session.get(User, admin.id).company.email_domain is None
    assert members.invitation_for(secret, NOW) is not None
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 1
    # With the page's token the same action goes through.
    token = _csrf(browser, "/company/employees")
    response = browser.post(
        f"/company/employees/{employee.id}/deactivate", data={"csrf_token": token}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert not db.session.get(User, employee.id).active


# --- joining with a company e-mail address ---------------------------------------------


def test_domain_join_for_the_verified_domain_only(app, db, make_admin, platform_admin):
    admin = make_admin(email="boss@acme.example")
    browser = signed_in(app, admin)
    assert browser.post(
        "/company/employees/domain", data={"domain": "@ACME.example"}
    ).status_code == (303)
    db.session.expire_all()
    company = db.session.get(User, admin.id).company
    assert (company.email_domain, company.email_domain_state) == ("acme.example", "pending")

    def ask(email: str):
        visitor = english(app)
        response = visitor.post("/join", data={"email": email})
        return response, visitor.get(response.headers["Location"])

    # Until the platform admin approves the domain, the same answer and no link.
    waiting, waiting_page = ask("hanako@acme.example")
    assert waiting.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(OutgoingMail)) == 0
    domains.review_email_domain(admin.company_id, "acme.example", True, platform_admin, NOW)
    db.session.commit()

    known, known_page = ask("Hanako@Acme.Example")
    assert known_page.get_data() == waiting_page.get_data()
    unknown, unknown_page = ask("hanako@elsewhere.example")
    existing, existing_page = ask("boss@acme.example")
    subdomain, subdomain_page = ask("x@mail.acme.example")
    for response, page in ((unknown, unknown_page), (existing, existing_page)):
        assert response.status_code == known.status_code == 303
        assert response.headers["Location"] == known.headers["Location"]
        assert page.get_data() == known_page.get_data()
    assert subdomain_page.get_data() == known_page.get_data()
    assert "If your company has enabled joining" in known_page.get_data(as_text=True)

    body = mail_to(db, "hanako@acme.example")
    invitation = db.session.scalars(select(Invitation)).one()
    assert (invitation.kind, invitation.company_id, invitation.invited_by_id) == (
        "domain",
        admin.company_id,
        None,
    )
    newcomer = english(app)
    assert join(newcomer, link_path(body).rsplit("/", 1)[1]).status_code == 303
    user = db.session.scalar(select(User).where(User.email == "hanako@acme.example"))
    assert user.company_id == admin.company_id and user.role == Role.EMPLOYEE


def test_domain_join_is_not_resent_within_minutes(db, make_admin, platform_admin):
    admin = make_admin(email="boss@acme.example")
    enable_domain(db, admin, "acme.example", platform_admin)
    assert members.request_domain_join("a@acme.example", NOW, 14) is not None
    assert members.request_domain_join("a@acme.example", NOW + timedelta(minutes=1), 14) is None
    later = NOW + timedelta(minutes=members.DOMAIN_JOIN_RESEND_MINUTES + 1)
    _invitation, secret = members.request_domain_join("a@acme.example", later, 14)
    assert members.invitation_for(secret, later) is not None
    assert len(members.pending_invitations(admin.company_id, later)) == 1  # the older one revoked


def test_domain_join_needs_an_enabled_domain_and_an_active_company(db, make_admin, platform_admin):
    admin = make_admin(email="boss@acme.example")
    assert members.request_domain_join("a@acme.example", NOW, 14) is None  # not enabled
    enable_domain(db, admin, "acme.example", platform_admin)
    assert members.request_domain_join("b@acme.example", NOW, 14) is not None
    admin.company.active = False
    db.session.commit()
    assert members.request_domain_join("a@acme.example", NOW, 14) is None


@pytest.mark.parametrize(
    ("admin_email", "domain", "code"),
    [
        ("boss@acme.example", "other.example", "not_your_domain"),
        ("boss@mail.acme.example", "acme.example", "not_your_domain"),
        ("boss@acme.example", "acme", "invalid_domain"),
        ("boss@acme.example", "acme..example", "invalid_domain"),
        ("boss@gmail.com", "gmail.com", "free_mail"),
        ("boss@ocn.ne.jp", "ocn.ne.jp", "free_mail"),
        ("boss@biglobe.ne.jp", "biglobe.ne.jp", "free_mail"),
        ("boss@ab.so-net.ne.jp", "ab.so-net.ne.jp", "free_mail"),
        ("boss@abc.plala.or.jp", "abc.plala.or.jp", "free_mail"),
        ("boss@ybb.ne.jp", "ybb.ne.jp", "free_mail"),
        ("boss@jcom.home.ne.jp", "jcom.home.ne.jp", "free_mail"),
        ("boss@qq.com", "qq.com", "free_mail"),
    ],
)
def test_an_admin_may_only_enable_their_own_domain(db, make_admin, admin_email, domain, code):
    admin = make_admin(email=admin_email)
    with pytest.raises(members.MemberError) as refused:
        domains.set_email_domain(admin.company_id, domain, admin)
    assert refused.value.code == code


def test_the_domain_page_refuses_a_foreign_domain_and_clears(app, db, make_admin):
    admin = make_admin(email="boss@acme.example")
    browser = signed_in(app, admin)
    browser.get("/lang/en")
    response = browser.post("/company/employees/domain", data={"domain": "other.example"})
    assert response.status_code == 400
    assert "your own e-mail address" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).company.email_domain is None
    browser.post("/company/employees/domain", data={"domain": "acme.example"})
    browser.post("/company/employees/domain", data={"domain": ""})
    db.session.expire_all()
    assert db.session.get(User, admin.id).company.email_domain is None


def test_a_domain_belongs_to_one_company(db, make_admin):
    first = make_admin(email="a@acme.example")
    second = make_admin(email="b@acme.example")
    domains.set_email_domain(first.company_id, "acme.example", first)
    db.session.commit()
    with pytest.raises(members.MemberError) as refused:  # held while waiting for approval
        domains.set_email_domain(second.company_id, "ACME.example", second)
    assert refused.value.code == "domain_taken"


def test_free_mail_domains_match_their_subdomains_only():
    for domain in ("ocn.ne.jp", "xyz.ocn.ne.jp", "a.b.biglobe.ne.jp", "GMAIL.COM", "ezweb.ne.jp"):
        assert members.is_free_mail_domain(domain), domain
    for domain in ("acme.co.jp", "ne.jp", "notocn.ne.jp", "gmail.com.acme.example", "jp"):
        assert not members.is_free_mail_domain(domain), domain


# --- the service's own checks ---------------------------------------------------------------


def test_accept_checks_name_and_password(db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "rules@example.com")
    with pytest.raises(members.MemberError) as short:
        members.accept(secret, "Name", "short", NOW, FAST_HASH)
    assert short.value.code == "weak_password"
    with pytest.raises(members.MemberError) as blank:
        members.accept(secret, "   ", NEW_PASSWORD, NOW, FAST_HASH)
    assert blank.value.code == "name"
    with pytest.raises(members.InvitationInvalid):
        members.accept("unknown", "Name", NEW_PASSWORD, NOW, FAST_HASH)
    user = members.accept(secret, "  Name   Here ", NEW_PASSWORD, NOW, FAST_HASH)
    assert user.name == "Name Here"


def test_accept_refuses_an_address_that_got_an_account_meanwhile(db, make_admin, make_employee):
    admin = make_admin()
    secret = invite(db, admin, "meanwhile@example.com")
    make_employee(email="meanwhile@example.com")  # joined another company in between
    with pytest.raises(members.MemberError) as refused:
        members.accept(secret, "Name", NEW_PASSWORD, NOW, FAST_HASH)
    assert refused.value.code == "taken"


def test_join_form_mismatched_passwords(app, db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "typo@example.com")
    browser = english(app)
    response = browser.post(
        f"/join/{secret}",
        data={"name": "X", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"},
    )
    assert response.status_code == 400
    assert "The passwords differ." in response.get_data(as_text=True)
    assert members.invitation_for(secret, NOW) is not None


# --- races: the last seat and the same link, accepted at the same moment ---------------------


def _accept_together(app, db, secrets_: list[str]) -> list[str]:
    """Accept each link in its own thread and session, all at once; returns the outcomes."""
    db.session.commit()
    db.session.close()  # on SQLite an open transaction would hold the write lock
    barrier = threading.Barrier(len(secrets_), timeout=20)
    outcomes: list[str] = [""] * len(secrets_)

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                members.accept(secrets_[i], f"Racer {i}", NEW_PASSWORD, NOW, FAST_HASH)
                db.session.commit()
                outcomes[i] = "joined"
            except (members.MemberError, BillingError) as exc:
                db.session.rollback()
                outcomes[i] = exc.code
            except Exception as exc:  # recorded, so the main thread sees it
                barrier.abort()
                outcomes[i] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(secrets_))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def test_racing_for_the_last_seats_fills_them_and_no_more(app, db, make_admin):
    admin = make_admin(seats=3)  # the admin and two free seats
    company_id = admin.company_id
    secrets_ = [invite(db, admin, f"racer{i}@example.com") for i in range(6)]
    outcomes = _accept_together(app, db, secrets_)
    assert sorted(outcomes) == ["joined"] * 2 + ["seats_full"] * 4
    assert seats_used(company_id) == 3


def test_racing_with_one_link_makes_one_account(app, db, make_admin):
    admin = make_admin()
    secret = invite(db, admin, "shared@example.com")
    outcomes = _accept_together(app, db, [secret] * 5)
    assert sorted(outcomes) == ["invalid_invitation"] * 4 + ["joined"]
    assert (
        db.session.scalar(
            select(func.count()).select_from(User).where(User.email == "shared@example.com")
        )
        == 1
    )


def test_turning_domain_joining_off_ends_the_links_already_sent(db, make_admin, platform_admin):
    admin = make_admin(email="boss@acme.example")
    enable_domain(db, admin, "acme.example", platform_admin)
    _invitation, secret = members.request_domain_join("a@acme.example", NOW, 14)
    db.session.commit()
    domains.set_email_domain(admin.company_id, "", admin, NOW + timedelta(minutes=1))
    db.session.commit()
    assert members.invitation_for(secret, NOW + timedelta(minutes=2)) is None
