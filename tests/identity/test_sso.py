"""Single sign-on per company: the admin's settings page and the OpenID Connect round trip
against a real provider served on 127.0.0.1 (tests/identity/oidc_provider.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from sqlalchemy import func, select, update

from accounts import two_factor
from accounts.audit import AuditEntry
from accounts.membership import MemberError
from accounts.models import CompanySso, Role, SsoDomain, User
from core.urls import public_url
from identity import sso, sso_oidc
from tests.conftest import NOW, PASSWORD, TOTP_SECRET, post_sign_in, signed_in
from tests.identity.oidc_provider import OidcProvider

DOMAIN = "acme.example"
CLIENT_ID = "engawa-acme"
SECRET = "s3cret-Value-42"


@pytest.fixture(autouse=True)
def _allow_loopback_provider(app):
    app.config["SSO_ALLOW_PRIVATE_HOSTS"] = True
    sso_oidc.clear_cache()
    yield
    sso_oidc.clear_cache()


@pytest.fixture(autouse=True)
def _english(app):
    """Pages in English whatever browser asks (the texts below are the English ones)."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


@pytest.fixture
def provider(app):
    with OidcProvider(NOW) as running:
        running.register(CLIENT_ID, SECRET, public_url("sso.callback"))
        yield running


@pytest.fixture
def company(make_company):
    return make_company(name="Acme", email_domain=DOMAIN, email_domain_approved_at=NOW, seats=10)


@pytest.fixture
def admin(make_user, company):
    return make_user(Role.COMPANY_ADMIN, company=company, email=f"admin@{DOMAIN}")


def settings(issuer: str, **kw) -> sso.SsoSettings:
    values = {
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "domains": DOMAIN,
        "enabled": True,
        "mandatory": False,
    }
    return sso.SsoSettings(**{**values, **kw})


def configure(db, admin, issuer: str, **kw) -> CompanySso:
    saved = sso.save_settings(admin, admin.company_id, settings(issuer, **kw), NOW, allow_http=True)
    db.session.commit()
    return saved


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def round_trip(client, company_id: int, email: str, next_url: str = ""):
    """Start at /sso/start, let the provider answer (a real HTTP request), and come back
    to /sso/callback. Returns the callback's response and the callback path used."""
    query = {"company": company_id, "login_hint": email}
    if next_url:
        query["next"] = next_url
    started = client.get("/sso/start", query_string=query)
    assert started.status_code == 303, started.get_data(as_text=True)
    answer = requests.get(started.location, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    path = f"{back.path}?{back.query}"
    return client.get(path), path


def signed_in_as(client) -> bool:
    return client.get("/account").status_code == 200


# --- the settings page -----------------------------------------------------------------


def test_settings_page_is_for_company_admins_only(app, client, admin, make_employee, company):
    assert client.get("/company/sso/").status_code == 302  # to sign in
    employee = signed_in(app, make_employee(company=company))
    assert employee.get("/company/sso/").status_code == 403
    page = signed_in(app, admin).get("/company/sso/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "http://127.0.0.1:5000/sso/callback" in text  # the redirect URI to register


def test_saving_settings_encrypts_the_secret_and_audits_without_it(app, db, admin, provider):
    browser = signed_in(app, admin)
    form = {
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "domains": f"{DOMAIN}\ntokyo.{DOMAIN}",
        "enabled": "y",
    }
    response = browser.post("/company/sso/", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)

    saved = db.session.get(CompanySso, admin.company_id)
    assert saved.issuer == provider.issuer and saved.enabled and not saved.mandatory
    assert saved.client_secret.startswith("fernet1:") and SECRET not in saved.client_secret
    assert sso.client_secret_of(saved) == SECRET
    assert [d.domain for d in saved.domains] == [DOMAIN, f"tokyo.{DOMAIN}"]
    page = browser.get("/company/sso/").get_data(as_text=True)
    assert SECRET not in page and provider.issuer in page

    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sso.update"))
    assert entry.actor_id == admin.id and entry.company_id == admin.company_id
    assert entry.after_values["issuer"] == provider.issuer
    assert entry.after_values["client_secret_replaced"] is True
    assert SECRET not in (entry.after or "") and SECRET not in (entry.before or "")

    # Left empty, the secret stays; the change is audited with before and after.
    form.update(client_secret="", mandatory="y")
    assert browser.post("/company/sso/", data=form).status_code == 303
    db.session.expire_all()
    saved = db.session.get(CompanySso, admin.company_id)
    assert saved.mandatory and sso.client_secret_of(saved) == SECRET
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "sso.update").order_by(AuditEntry.id)
    ).all()
    assert len(entries) == 2
    assert entries[1].before_values == {"mandatory": False}
    assert entries[1].after_values == {"mandatory": True}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"issuer": "ftp://idp.example"}, "issuer URL"),
        ({"issuer": "https://user:pw@idp.example"}, "issuer URL"),
        ({"client_id": "two words"}, "client ID"),
        ({"domains": "gmail.com"}, "free e-mail"),
        ({"domains": "other.example"}, "not your company"),
        ({"domains": f"evil{DOMAIN}"}, "not your company"),
        ({"domains": "bad_domain!"}, "not a valid"),
        ({"client_secret": ""}, "Enter the client secret"),
        ({"enabled": "", "mandatory": "y"}, "Turn single sign-on on"),
    ],
)
def test_bad_settings_change_nothing(app, db, admin, change, message):
    form = {
        "issuer": "https://idp.example/tenant",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "domains": DOMAIN,
        "enabled": "y",
        **change,
    }
    form = {k: v for k, v in form.items() if v != ""}
    response = signed_in(app, admin).post("/company/sso/", data=form)
    assert response.status_code == 422, response.status_code
    assert message in response.get_data(as_text=True)
    assert count(db, CompanySso) == 0 and count(db, SsoDomain) == 0
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sso.update")) is None


def test_http_issuer_only_when_private_hosts_are_allowed(app, db, admin):
    app.config["SSO_ALLOW_PRIVATE_HOSTS"] = False
    form = {
        "issuer": "http://idp.example/tenant",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "domains": DOMAIN,
        "enabled": "y",
    }
    response = signed_in(app, admin).post("/company/sso/", data=form)
    assert response.status_code == 422 and "https://" in response.get_data(as_text=True)
    assert count(db, CompanySso) == 0


def test_domain_must_be_approved_first(db, make_company, make_user):
    pending = make_company(email_domain="pending.example")
    admin = make_user(Role.COMPANY_ADMIN, company=pending)
    with pytest.raises(sso.SsoError) as refused:
        sso.save_settings(
            admin,
            pending.id,
            settings("https://idp.example", domains="pending.example"),
            NOW,
            allow_http=False,
        )
    assert refused.value.code == "domain_not_approved"


def test_another_company_cannot_be_reached_nor_its_domains_taken(
    app, db, admin, company, make_company, make_user, provider
):
    configure(db, admin, provider.issuer)
    rival = make_company(email_domain="rival.example", email_domain_approved_at=NOW)
    rival_admin = make_user(Role.COMPANY_ADMIN, company=rival, email="boss@rival.example")
    browser = signed_in(app, rival_admin)
    page = browser.get("/company/sso/").get_data(as_text=True)
    assert provider.issuer not in page and CLIENT_ID not in page

    # A company id in the form is ignored: the admin's own company is the only one.
    form = {
        "issuer": "https://idp.rival.example",
        "client_id": "rival",
        "client_secret": "x",
        "domains": "rival.example",
        "enabled": "y",
        "company_id": str(company.id),
    }
    assert browser.post("/company/sso/", data=form).status_code == 303
    db.session.expire_all()
    assert db.session.get(CompanySso, company.id).issuer == provider.issuer
    assert db.session.get(CompanySso, rival.id).issuer == "https://idp.rival.example"

    # The service refuses another company's domain, and another company's admin.
    with pytest.raises(sso.SsoError) as taken:
        sso.save_settings(
            rival_admin,
            rival.id,
            settings("https://idp.rival.example", domains=DOMAIN),
            NOW,
            allow_http=False,
        )
    assert taken.value.code in ("domain_taken", "domains")
    with pytest.raises(MemberError) as forbidden:
        sso.save_settings(rival_admin, company.id, settings(provider.issuer), NOW, allow_http=True)
    assert forbidden.value.code == "forbidden"


# --- the round trip --------------------------------------------------------------------


def test_an_employee_signs_in_through_the_provider(
    app, db, admin, company, make_employee, provider
):
    configure(db, admin, provider.issuer)
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    provider.user["email"] = employee.email
    client = app.test_client()

    response, _path = round_trip(client, company.id, employee.email, next_url="/account")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.endswith("/account")
    assert signed_in_as(client)
    db.session.expire_all()
    assert db.session.get(User, employee.id).last_login_at == NOW
    # The provider was asked with the login hint, PKCE and a nonce, and paid a secret.
    (asked,) = provider.authorize_requests
    assert asked["login_hint"] == employee.email and asked["code_challenge_method"] == "S256"
    assert len(asked["nonce"]) >= 32 and len(asked["state"]) >= 32
    assert "POST /tenant/token" in provider.requests
    assert not provider.token_errors


def test_client_secret_post_works_too(app, db, admin, company, make_employee):
    with OidcProvider(NOW, auth_method="client_secret_post") as provider:
        provider.register(CLIENT_ID, SECRET, public_url("sso.callback"))
        configure(db, admin, provider.issuer)
        provider.user["email"] = admin.email
        client = app.test_client()
        response, _path = round_trip(client, company.id, admin.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        assert signed_in_as(client)


def test_first_sign_in_creates_an_employee_within_seats(app, db, admin, company, provider):
    configure(db, admin, provider.issuer)
    email = f"new.person@tokyo.{DOMAIN}"
    configure(db, admin, provider.issuer, domains=f"{DOMAIN} tokyo.{DOMAIN}", client_secret="")
    provider.user.update(email=email, name="新 太郎")
    client = app.test_client()
    response, _path = round_trip(client, company.id, email)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert signed_in_as(client)

    user = db.session.scalar(select(User).where(User.email == email))
    assert user.role == Role.EMPLOYEE and user.company_id == company.id
    assert user.provisioned_by == "sso" and user.name == "新 太郎"
    assert user.sso_subject == "sub-1"  # bound from its creation
    assert user.password_hash.startswith("!")  # no password signs in
    assert client.post("/logout").status_code in (302, 400)
    stranger = app.test_client()
    refused = stranger.post("/login", data={"email": email, "password": PASSWORD})
    assert refused.status_code in (302, 401, 403)
    assert not signed_in_as(stranger)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sso.user.create"))
    assert entry.object_id == user.id and entry.company_id == company.id
    assert entry.after_values["sso_subject"] == "sub-1"
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sso.user.bind")) is None


def test_first_sign_in_is_refused_when_seats_are_full(app, db, make_company, make_user, provider):
    full = make_company(email_domain=DOMAIN, email_domain_approved_at=NOW, seats=1)
    admin = make_user(Role.COMPANY_ADMIN, company=full, email=f"admin@{DOMAIN}")  # the one seat
    configure(db, admin, provider.issuer)
    provider.user["email"] = f"late@{DOMAIN}"
    users = count(db, User)
    client = app.test_client()
    response, _path = round_trip(client, full.id, f"late@{DOMAIN}")
    assert response.status_code == 403
    assert "ask your company admin to add seats" in response.get_data(as_text=True)
    assert count(db, User) == users and not signed_in_as(client)
    assert (
        db.session.scalar(select(AuditEntry).where(AuditEntry.action == "sso.user.create")) is None
    )


@pytest.mark.parametrize(
    ("knob", "reason"),
    [
        ({"audience": "someone-else"}, "id_token: InvalidClaimError"),
        ({"token_issuer": "https://evil.example"}, "id_token: InvalidClaimError"),
        ({"discovery_issuer": "https://evil.example"}, "discovery: issuer does not match"),
        ({"expired": True}, "id_token: ExpiredTokenError"),
        ({"nonce": "not-the-nonce"}, "id_token: InvalidClaimError"),
        ({"wrong_key": True}, "id_token: BadSignatureError"),
        ({"email_verified": False}, None),  # refused with its own message, nothing logged
    ],
    ids=["audience", "issuer", "discovery_issuer", "expired", "nonce", "signature", "unverified"],
)
def test_bad_id_tokens_are_refused_and_nothing_is_created(
    app, db, admin, company, provider, knob, reason, caplog
):
    configure(db, admin, provider.issuer)
    provider.knobs.update(knob)
    provider.user["email"] = f"newcomer@{DOMAIN}"
    users, entries = count(db, User), count(db, AuditEntry)
    client = app.test_client()
    if "discovery_issuer" in knob:  # refused before the browser is sent anywhere
        response = client.get("/sso/start", query_string={"company": company.id})
    else:
        response, _path = round_trip(client, company.id, f"newcomer@{DOMAIN}")
    assert response.status_code == (403 if reason is None else 502)
    text = response.get_data(as_text=True)
    assert 'data-testid="sso-error"' in text
    if reason is None:
        assert "has not verified your e-mail address" in text
    else:
        failures = [r.getMessage() for r in caplog.records if r.name == "identity.sso_oidc"]
        assert failures == [f"single sign-on failed: {reason}"]
    assert count(db, User) == users and count(db, AuditEntry) == entries
    assert not signed_in_as(client)


@pytest.mark.parametrize(
    "subject",
    [None, "", "x" * 256, 12345, "tab\there"],
    ids=["none", "empty", "long", "int", "ctl"],
)
def test_a_token_without_a_usable_subject_is_refused(
    app, db, admin, company, make_employee, provider, subject, caplog
):
    configure(db, admin, provider.issuer)
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    provider.user.update(email=employee.email, sub=subject)
    users, entries = count(db, User), count(db, AuditEntry)
    client = app.test_client()
    response, _path = round_trip(client, company.id, employee.email)
    assert response.status_code == 502 and not signed_in_as(client)
    assert 'data-testid="sso-error"' in response.get_data(as_text=True)
    failures = [r.getMessage() for r in caplog.records if r.name == "identity.sso_oidc"]
    assert len(failures) == 1 and failures[0].startswith("single sign-on failed: id_token: ")
    assert count(db, User) == users and count(db, AuditEntry) == entries
    db.session.expire_all()
    assert db.session.get(User, employee.id).sso_subject is None


def test_a_wrong_client_secret_is_refused(app, db, admin, company, provider, caplog):
    configure(db, admin, provider.issuer, client_secret="not-the-secret")
    provider.user["email"] = admin.email
    client = app.test_client()
    response, _path = round_trip(client, company.id, admin.email)
    assert response.status_code == 502 and not signed_in_as(client)
    assert provider.token_errors == ["invalid_client"]
    assert "token: provider error invalid_client" in caplog.text
    assert "not-the-secret" not in caplog.text


def test_a_replayed_or_forged_state_is_refused(app, db, admin, company, provider):
    configure(db, admin, provider.issuer)
    provider.user["email"] = admin.email
    client = app.test_client()
    response, path = round_trip(client, company.id, admin.email)
    assert response.status_code == 302
    client.post("/logout")

    # The same answer again, in the same browser and in another one.
    for browser in (client, app.test_client()):
        again = browser.get(path)
        assert again.status_code == 400
        assert "already used" in again.get_data(as_text=True)

    # A state this browser was not given.
    other = app.test_client()
    started = other.get("/sso/start", query_string={"company": company.id})
    assert started.status_code == 303
    code = parse_qs(urlsplit(path).query)["code"][0]
    forged = other.get("/sso/callback", query_string={"code": code, "state": "forged"})
    assert forged.status_code == 400 and not signed_in_as(other)


def test_the_provider_saying_no_is_a_clear_page(app, db, admin, company, provider):
    configure(db, admin, provider.issuer)
    client = app.test_client()
    started = client.get("/sso/start", query_string={"company": company.id})
    state = parse_qs(urlsplit(started.location).query)["state"][0]
    response = client.get("/sso/callback", query_string={"error": "access_denied", "state": state})
    assert response.status_code == 403
    assert "did not sign you in" in response.get_data(as_text=True)


def test_accounts_sso_may_not_sign_in(
    app, db, admin, company, make_company, make_user, make_employee, provider
):
    configure(db, admin, provider.issuer)
    # An address at the domain whose account is another company's (made before).
    other = make_company(name="Other")
    make_employee(company=other, email=f"moved@{DOMAIN}")
    locked = make_employee(company=company, email=f"locked@{DOMAIN}", locked_at=NOW)
    gone = make_employee(company=company, email=f"gone@{DOMAIN}", active=False)
    for email, words in (
        (f"moved@{DOMAIN}", "cannot sign in through"),
        (locked.email, "deactivated or locked"),
        (gone.email, "deactivated or locked"),
        ("someone@elsewhere.example", "not one your company signs in with"),
    ):
        provider.user["email"] = email
        client = app.test_client()
        response, _path = round_trip(client, company.id, email)
        assert response.status_code == 403, email
        assert words in response.get_data(as_text=True)
        assert not signed_in_as(client)


def test_deactivated_company_or_sso_off_is_refused(app, db, admin, company, provider):
    configure(db, admin, provider.issuer)
    provider.user["email"] = admin.email
    client = app.test_client()
    started = client.get("/sso/start", query_string={"company": company.id})
    assert started.status_code == 303
    answer = requests.get(started.location, allow_redirects=False, timeout=5)
    company.active = False
    company.deactivated_at = NOW
    db.session.commit()
    back = urlsplit(answer.headers["Location"])
    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 403 and not signed_in_as(client)
    assert client.get("/sso/start", query_string={"company": company.id}).status_code == 400

    company.active = True
    db.session.commit()
    configure(db, admin, provider.issuer, enabled=False, client_secret="")
    assert client.get("/sso/start", query_string={"company": company.id}).status_code == 400


@pytest.mark.parametrize(
    "raw", ["", "abc", "-1", "0", "99999", "2147483648", "999999999999", "1" * 40, "１２"]
)
def test_start_with_a_bad_company_is_a_clear_page(app, client, raw):
    response = client.get("/sso/start", query_string={"company": raw})
    assert response.status_code == 400
    assert 'data-testid="sso-error"' in response.get_data(as_text=True)


def test_private_addresses_are_refused_unless_allowed(app, db, admin, company, provider):
    configure(db, admin, provider.issuer)
    app.config["SSO_ALLOW_PRIVATE_HOSTS"] = False
    sso_oidc.clear_cache()
    seen = len(provider.requests)
    client = app.test_client()
    response = client.get("/sso/start", query_string={"company": company.id})
    assert response.status_code == 502
    assert len(provider.requests) == seen  # not even connected to


def test_mandatory_sso_refuses_password_sign_in(app, db, admin, company, make_employee, provider):
    employee = make_employee(company=company, email=f"taro@{DOMAIN}")
    configure(db, admin, provider.issuer, mandatory=True)
    client = app.test_client()
    response = client.post("/login", data={"email": employee.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "password sign-in is turned off" in response.get_data(as_text=True)
    assert not signed_in_as(client)
    # A wrong password is only a wrong password, as for an address nobody has.
    wrong = client.post("/login", data={"email": employee.email, "password": "wrong-one"})
    nobody = client.post("/login", data={"email": f"nobody@{DOMAIN}", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.get_data(as_text=True).replace("taro@", "X@") == nobody.get_data(
        as_text=True
    ).replace("nobody@", "X@")
    assert not signed_in_as(client)
    # With no password, the sign-in page sends the address to its company's provider.
    sent = client.post("/login", data={"email": employee.email, "password": ""})
    assert sent.status_code in (302, 303)
    assert sent.location.startswith("/sso/start?") and f"company={company.id}" in sent.location


def test_mandatory_sso_lets_an_operator_at_the_domain_sign_in_with_a_password(
    app, db, admin, company, make_user, provider
):
    configure(db, admin, provider.issuer, mandatory=True)
    operator = make_user(Role.OPERATOR, email=f"inn@{DOMAIN}", totp=True)
    client = app.test_client()
    answer = post_sign_in(client, operator.email)  # the password, then the code step
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert signed_in_as(client)


# --- two-factor after single sign-on ---------------------------------------------------


def test_an_enrolled_company_admin_gives_the_code_after_sso(app, db, admin, company, provider):
    two_factor.enrol_with_secret(admin, TOTP_SECRET, NOW)
    db.session.commit()
    configure(db, admin, provider.issuer)
    provider.user["email"] = admin.email
    client = app.test_client()

    response, _path = round_trip(client, company.id, admin.email, next_url="/company/sso/")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.location.endswith("/login/two-factor")
    assert not signed_in_as(client)  # not before the code
    db.session.expire_all()
    assert db.session.get(User, admin.id).last_login_at is None

    page = client.get("/login/two-factor")
    assert page.status_code == 200
    done = client.post("/login/two-factor", data={"code": pyotp.TOTP(TOTP_SECRET).now()})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert done.location.endswith("/company/sso/")  # the page asked for, kept
    assert signed_in_as(client)
    db.session.expire_all()
    assert db.session.get(User, admin.id).last_login_at == NOW


def test_a_company_admin_without_an_authenticator_enrols_after_sso(
    app, db, admin, company, provider
):
    """The same rules as after a password: the first sign-in completes and asks them
    to enrol; from the next one on, they enrol before it completes."""
    configure(db, admin, provider.issuer)
    provider.user["email"] = admin.email
    first = app.test_client()
    response, _path = round_trip(first, company.id, admin.email)
    assert response.status_code == 302 and signed_in_as(first)
    db.session.expire_all()
    assert db.session.get(User, admin.id).two_factor_prompted_at == NOW

    second = app.test_client()
    response, _path = round_trip(second, company.id, admin.email)
    assert response.status_code == 303
    assert response.location.endswith("/login/two-factor/enrol")
    assert not signed_in_as(second)
    assert second.get("/login/two-factor/enrol").status_code == 200


def test_an_employee_goes_straight_in_even_with_an_authenticator(
    app, db, admin, company, make_employee, provider
):
    """Their company's identity provider does the second factor for employees."""
    configure(db, admin, provider.issuer)
    employee = make_employee(company=company, email=f"jiro@{DOMAIN}", totp=True)
    provider.user["email"] = employee.email
    client = app.test_client()
    response, _path = round_trip(client, company.id, employee.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "/login/two-factor" not in response.location
    assert signed_in_as(client)


# --- binding accounts to the provider's subject ----------------------------------------


def bind_entries(db) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.action == "sso.user.bind")
    return list(db.session.scalars(query.order_by(AuditEntry.id)))


def test_an_existing_account_is_bound_at_its_first_sso_and_signs_in_again(
    app, db, admin, company, make_employee, provider
):
    configure(db, admin, provider.issuer)
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    provider.user.update(email=employee.email, sub="entra-oid-hanako")
    client = app.test_client()
    response, _path = round_trip(client, company.id, employee.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert signed_in_as(client)
    db.session.expire_all()
    assert db.session.get(User, employee.id).sso_subject == "entra-oid-hanako"
    (entry,) = bind_entries(db)
    assert entry.actor_id == employee.id and entry.company_id == company.id
    assert entry.object_type == "user" and entry.object_id == employee.id
    assert entry.after_values == {"sso_subject": "entra-oid-hanako"}

    # The same subject signs in again: nothing more to bind.
    again = app.test_client()
    response, _path = round_trip(again, company.id, employee.email)
    assert response.status_code == 302 and signed_in_as(again)
    assert len(bind_entries(db)) == 1


def test_a_subject_of_255_characters_is_kept_whole(
    app, db, admin, company, make_employee, provider
):
    configure(db, admin, provider.issuer)
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    subject = "ü" + "s" * 254  # characters, not bytes
    provider.user.update(email=employee.email, sub=subject)
    client = app.test_client()
    response, _path = round_trip(client, company.id, employee.email)
    assert response.status_code == 302 and signed_in_as(client)
    db.session.expire_all()
    assert db.session.get(User, employee.id).sso_subject == subject


@pytest.mark.parametrize("target", ["employee", "admin"])
def test_another_subject_with_a_bound_accounts_address_is_refused(
    app, db, admin, company, make_employee, provider, target, caplog
):
    """nOAuth: someone changes the e-mail of their own account at the provider to a
    colleague's (or the admin's). The address finds the account; the subject refuses."""
    configure(db, admin, provider.issuer)
    victim = admin if target == "admin" else make_employee(company=company, email=f"v@{DOMAIN}")
    victim.sso_subject = "the-real-one"
    db.session.commit()
    provider.user.update(email=victim.email, sub="the-attacker")
    users, entries = count(db, User), count(db, AuditEntry)
    client = app.test_client()
    response, _path = round_trip(client, company.id, victim.email)
    assert response.status_code == 403 and not signed_in_as(client)
    text = response.get_data(as_text=True)
    assert 'data-testid="sso-error"' in text
    assert "belongs to another person at your company's identity provider" in text
    db.session.expire_all()
    unchanged = db.session.get(User, victim.id)
    assert unchanged.sso_subject == "the-real-one" and unchanged.last_login_at is None
    assert count(db, User) == users and count(db, AuditEntry) == entries
    failures = [r.getMessage() for r in caplog.records if r.name == "identity.sso"]
    assert failures == ["single sign-on refused: subject_mismatch"]
    ours = " ".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert victim.email not in ours and "the-attacker" not in ours

    # The real one still signs in.
    provider.user["sub"] = "the-real-one"
    real = app.test_client()
    response, _path = round_trip(real, company.id, victim.email)
    assert response.status_code in (302, 303), response.get_data(as_text=True)


def test_a_subject_bound_to_another_account_is_refused(
    app, db, admin, company, make_employee, provider, caplog
):
    """The person's address changed at the provider: neither a new account nor another
    unbound one is theirs; their admin sorts it out."""
    configure(db, admin, provider.issuer)
    bound = make_employee(company=company, email=f"old.name@{DOMAIN}", sso_subject="sub-77")
    unbound = make_employee(company=company, email=f"someone@{DOMAIN}")
    users, entries = count(db, User), count(db, AuditEntry)
    for email in (f"new.name@{DOMAIN}", unbound.email):
        provider.user.update(email=email, sub="sub-77")
        client = app.test_client()
        response, _path = round_trip(client, company.id, email)
        assert response.status_code == 403, email
        text = response.get_data(as_text=True)
        assert "already signs in to another Engawa account" in text
        assert "ask your company admin" in text
        assert not signed_in_as(client)
    assert count(db, User) == users and count(db, AuditEntry) == entries
    db.session.expire_all()
    assert db.session.get(User, unbound.id).sso_subject is None
    assert db.session.get(User, bound.id).sso_subject == "sub-77"
    failures = [r.getMessage() for r in caplog.records if r.name == "identity.sso"]
    assert failures == ["single sign-on refused: subject_taken"] * 2
    assert "sub-77" not in " ".join(r.getMessage() for r in caplog.records)


def test_the_same_subject_in_another_company_is_another_person(
    app, db, admin, company, make_company, make_employee, provider
):
    """Subjects are unique per company (each company has its own provider)."""
    configure(db, admin, provider.issuer)
    other = make_company(name="Other")
    make_employee(company=other, email="x@other.example", sso_subject="sub-1")
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    provider.user.update(email=employee.email, sub="sub-1")
    client = app.test_client()
    response, _path = round_trip(client, company.id, employee.email)
    assert response.status_code == 302 and signed_in_as(client)
    db.session.expire_all()
    assert db.session.get(User, employee.id).sso_subject == "sub-1"


def test_the_unique_constraint_settles_a_bind_race(db, admin, company, make_employee, monkeypatch):
    """Two sign-ins at once: the check found the subject free, but another account was
    bound to it before this one's write. The constraint refuses; nothing is written."""
    configure(db, admin, "https://idp.example/tenant")
    make_employee(company=company, email=f"first@{DOMAIN}", sso_subject="sub-9")
    second = make_employee(company=company, email=f"second@{DOMAIN}")
    monkeypatch.setattr(sso, "_bound_elsewhere", lambda *args: False)
    entries = count(db, AuditEntry)

    for email in (second.email, f"newcomer@{DOMAIN}"):  # binding, and creating
        identity = sso.Identity(email=email, name="", subject="sub-9")
        with pytest.raises(sso.SsoError) as refused:
            sso.sign_in_user(company.id, identity, NOW)
        assert refused.value.code == "subject_taken"
        db.session.rollback()
    assert db.session.get(User, second.id).sso_subject is None
    assert db.session.scalar(select(User).where(User.email == f"newcomer@{DOMAIN}")) is None
    assert count(db, AuditEntry) == entries


def test_a_bind_that_lost_the_race_to_another_subject_is_refused(
    db, admin, company, make_employee, monkeypatch
):
    """Two first sign-ins of one account with different subjects: the one whose write
    finds the account already bound is refused, and the binding stays."""
    configure(db, admin, "https://idp.example/tenant")
    employee = make_employee(company=company, email=f"hanako@{DOMAIN}")
    real_bound_elsewhere = sso._bound_elsewhere

    def other_sign_in_binds_first(company_id, subject, user_id):
        db.session.execute(
            update(User).where(User.id == employee.id).values(sso_subject="the-first")
        )
        return real_bound_elsewhere(company_id, subject, user_id)

    monkeypatch.setattr(sso, "_bound_elsewhere", other_sign_in_binds_first)
    identity = sso.Identity(email=employee.email, name="", subject="the-second")
    with pytest.raises(sso.SsoError) as refused:
        sso.sign_in_user(company.id, identity, NOW)
    assert refused.value.code == "subject_mismatch"
    assert bind_entries(db) == []
