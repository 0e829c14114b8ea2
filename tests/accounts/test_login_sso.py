"""The sign-in page and single sign-on: addresses of a company's SSO domains are sent to
its identity provider, a mandatory SSO refuses the passwords of that company's own
people (never anyone else's), and nothing tells whether an address has an account."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from accounts import services
from accounts.models import CompanySso, LoginThrottle, Role, SsoDomain
from tests.conftest import PASSWORD, post_sign_in


@pytest.fixture(autouse=True)
def english(client):
    client.get("/lang/en")


@pytest.fixture
def sso_company(db, make_company):
    def make(mandatory: bool = False, domain: str = "acme.example"):
        company = make_company()
        sso = CompanySso(
            company_id=company.id,
            issuer="https://idp.acme.example",
            client_id="engawa",
            client_secret="sealed",
            mandatory=mandatory,
            domains=[SsoDomain(domain=domain)],
        )
        db.session.add(sso)
        db.session.commit()
        return company

    return make


def sign_in(client, email: str, password: str = "", **kw):
    return client.post("/login", data={"email": email, "password": password}, **kw)


def test_an_empty_password_at_an_sso_domain_goes_to_the_company_sign_in(client, sso_company):
    company = sso_company()
    answer = sign_in(client, " Taro@ACME.example", query_string={"next": "/stays"})
    assert answer.status_code == 302
    target = urlsplit(answer.location)
    assert target.path == "/sso/start"
    assert parse_qs(target.query) == {
        "company": [str(company.id)],
        "login_hint": ["taro@acme.example"],
        "next": ["/stays"],
    }


def test_the_answer_is_the_same_with_or_without_an_account(client, sso_company, make_employee):
    company = sso_company(mandatory=True)
    make_employee(email="known@acme.example", company=company)
    known = sign_in(client, "known@acme.example")
    unknown = sign_in(client, "unknown@acme.example")
    assert known.status_code == unknown.status_code == 302
    assert known.location.replace("known", "X") == unknown.location.replace("unknown", "X")
    # A password is checked as anywhere else: a wrong one answers as any wrong one.
    known = sign_in(client, "known@acme.example", "not-the-password")
    unknown = sign_in(client, "unknown@acme.example", PASSWORD)
    assert known.status_code == unknown.status_code == 401
    known_page, unknown_page = known.get_data(as_text=True), unknown.get_data(as_text=True)
    assert known_page.replace("known@", "X@") == unknown_page.replace("unknown@", "X@")
    assert "E-mail or password is wrong." in known.get_data(as_text=True)


def test_a_wrong_password_at_a_mandatory_sso_domain_counts_as_a_failure(
    db, client, sso_company, make_employee
):
    company = sso_company(mandatory=True)
    user = make_employee(email="hanako@acme.example", company=company)
    assert sign_in(client, user.email, "not-the-password").status_code == 401
    key = services.throttle_key(user.email, "127.0.0.1")
    assert db.session.get(LoginThrottle, key).failures == 1
    # The right password (then refused: SSO only) forgets the failures, as everywhere.
    assert sign_in(client, user.email, PASSWORD).status_code == 403
    db.session.expire_all()
    assert db.session.get(LoginThrottle, key) is None


def test_a_mandatory_sso_refuses_even_the_right_password(client, sso_company, make_employee):
    company = sso_company(mandatory=True)
    user = make_employee(email="hanako@acme.example", company=company)
    refused = sign_in(client, user.email, PASSWORD)
    assert refused.status_code == 403
    html = refused.get_data(as_text=True)
    assert "password sign-in is turned off for this address" in html
    assert 'data-testid="sso-continue"' in html and f"company={company.id}" in html
    assert client.get("/account").status_code == 302  # not signed in


@pytest.mark.parametrize("who", ["operator", "platform_admin", "other_company"])
def test_a_mandatory_sso_leaves_people_outside_the_company_their_password(
    app, db, sso_company, make_company, make_user, who
):
    """An operator, a platform admin or another company's person whose address is at
    the domain is no person of the company that made SSO mandatory: their password
    signs them in (with their two-factor step, where their role has one)."""
    sso_company(mandatory=True)
    email = f"{who}@acme.example"
    if who == "operator":
        user = make_user(Role.OPERATOR, email=email, totp=True)
    elif who == "platform_admin":
        user = make_user(Role.PLATFORM_ADMIN, email=email, totp=True)
    else:
        user = make_user(Role.EMPLOYEE, email=email, company=make_company(name="Other"))
    browser = app.test_client()
    browser.get("/lang/en")
    answer = post_sign_in(browser, user.email)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert browser.get("/account").status_code == 200
    # Without a password, the address still goes to the domain's company sign-in.
    other = app.test_client()
    assert sign_in(other, user.email).location.startswith("/sso/start?")


def test_an_optional_sso_still_takes_a_password(client, sso_company, make_employee):
    company = sso_company(mandatory=False)
    user = make_employee(email="hanako@acme.example", company=company)
    assert sign_in(client, user.email, PASSWORD).status_code == 302
    assert client.get("/account").status_code == 200


def test_an_empty_password_elsewhere_is_asked_for(client, make_employee):
    user = make_employee()
    for email in (user.email, "nobody@example.com"):
        answer = sign_in(client, email)
        assert answer.status_code == 400
        assert "Enter your password." in answer.get_data(as_text=True)


def test_a_switched_off_sso_routes_nobody(db, client, sso_company, make_employee):
    company = sso_company(mandatory=True)
    sso = db.session.get(CompanySso, company.id)
    sso.enabled = False
    db.session.commit()
    user = make_employee(email="hanako@acme.example", company=company)
    assert sign_in(client, user.email).status_code == 400
    assert sign_in(client, user.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("state", ["locked", "inactive"])
def test_locked_and_deactivated_people_cannot_sign_in(db, client, make_user, state):
    user = make_user(Role.OPERATOR, totp=True)
    if state == "locked":
        user.locked_at = user.created_at
    else:
        user.active = False
    db.session.commit()
    answer = sign_in(client, user.email, PASSWORD)
    assert answer.status_code == 401
    assert client.get("/login/two-factor").location == "/login"
    assert client.get("/account").status_code == 302


def test_locking_ends_a_signed_in_session(db, client, make_employee, login):
    user = make_employee()
    login(user)
    assert client.get("/account").status_code == 200
    user.locked_at = user.created_at
    db.session.commit()
    assert client.get("/account").status_code == 302


def test_a_deactivated_company_signs_its_people_out(db, client, make_employee, login):
    """``accounts.services.may_sign_in`` at every step: a live session of a person whose
    company is deactivated opens nothing, and their password opens nothing either."""
    user = make_employee()
    login(user)
    assert client.get("/account").status_code == 200
    user.company.active = False
    db.session.commit()
    assert client.get("/account").status_code == 302
    assert sign_in(client, user.email, PASSWORD).status_code == 401
    assert client.get("/account").status_code == 302
