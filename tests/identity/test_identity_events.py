"""Identity news, recorded as domain events: someone could not join a company because its
paid seats are all taken (``seats.full``: once per company and Japan day, whichever way
they came — an invitation or join link, a first single sign-on, a directory's SCIM
provisioning), and a sign-up application waiting for the Engawa team
(``application.submitted``: once its contact confirmed the address, not on the form).

Every path is driven as a person or a system drives it: the join page, the OpenID Connect
round trip against a provider on 127.0.0.1, SCIM over HTTP to the served app, the
public sign-up pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts.events import APPLICATION_SUBMITTED, SEATS_FULL, Event
from accounts.models import Company, Role, User
from core.extensions import db as _db
from core.urls import public_url
from identity import scim, sso_oidc
from identity.models import Application, ApplicationStatus
from tests.conftest import NOW, LoopbackServer
from tests.consoles.company.test_members import english, invite, join
from tests.identity.oidc_provider import OidcProvider
from tests.identity.test_scim import ScimClient, okta_user
from tests.identity.test_signup_views import COMPANY, OPERATOR, confirm_path, visitor
from tests.identity.test_sso import CLIENT_ID, DOMAIN, SECRET, configure, round_trip

# --- helpers ------------------------------------------------------------------------------


def events(type_: str) -> list[Event]:
    _db.session.commit()
    return list(_db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def user_ids(company_id: int) -> set[int]:
    _db.session.commit()
    return set(_db.session.scalars(select(User.id).where(User.company_id == company_id)))


@pytest.fixture
def full_company(make_company, make_user):
    """A company of two paid seats at DOMAIN, its admin in one of them."""

    def make(seats: int = 2) -> tuple[Company, User]:
        company = make_company(email_domain=DOMAIN, email_domain_approved_at=NOW, seats=seats)
        admin = make_user(Role.COMPANY_ADMIN, company=company, email=f"admin@{DOMAIN}")
        return company, admin

    return make


@pytest.fixture
def provider(app):
    app.config["SSO_ALLOW_PRIVATE_HOSTS"] = True
    sso_oidc.clear_cache()
    with OidcProvider(NOW) as running:
        running.register(CLIENT_ID, SECRET, public_url("sso.callback"))
        yield running
    sso_oidc.clear_cache()


@pytest.fixture
def served(app) -> Iterator[str]:
    with LoopbackServer.wsgi(app, name="scim-server", join_timeout=60) as server:
        yield server.url


@pytest.fixture
def scim_client(db, served):
    clients: list[ScimClient] = []

    def make(company_id: int, admin: User) -> ScimClient:
        _token, secret = scim.rotate_token(company_id, NOW, actor=admin)
        db.session.commit()
        clients.append(ScimClient(served, secret))
        return clients[-1]

    yield make
    for client in clients:
        client.http.close()


# --- seats full: joining by invitation or join link --------------------------------------------


def test_refused_joins_are_news_once_per_company_and_japan_day(app, db, full_company):
    company, admin = full_company(seats=2)
    first = invite(db, admin, "first@example.com")
    second = invite(db, admin, "second@example.com")
    third = invite(db, admin, "third@example.com")  # all made while one seat was free

    assert join(english(app), first).status_code == 303  # the last seat: no news
    assert events(SEATS_FULL) == []

    refused = join(english(app), second)
    assert refused.status_code == 409
    assert "All seats of" in refused.get_data(as_text=True)
    [event] = events(SEATS_FULL)
    assert event.company_id == company.id and event.facts == {}
    assert event.dedupe_key == f"seats_full:{company.id}:2026-12-01"  # NOW is noon in Tokyo
    assert event.created_at == NOW
    assert (event.user_id, event.operator_id, event.subject_type) == (None, None, None)

    # Turned away again, and somebody else: the same day, the same news.
    assert join(english(app), second).status_code == 409
    assert join(english(app), third).status_code == 409
    assert len(events(SEATS_FULL)) == 1

    # 23:59 in Tokyo is still the same day; midnight in Tokyo is the next one.
    app.config["FIXED_NOW"] = NOW + timedelta(hours=11, minutes=59)
    assert join(english(app), third).status_code == 409
    assert len(events(SEATS_FULL)) == 1
    app.config["FIXED_NOW"] = NOW + timedelta(hours=12)
    assert join(english(app), third).status_code == 409
    days = [e.dedupe_key for e in events(SEATS_FULL)]
    assert days == [f"seats_full:{company.id}:2026-12-01", f"seats_full:{company.id}:2026-12-02"]
    assert len(user_ids(company.id)) == 2  # the admin and the first: nobody else got in


def test_each_company_hears_of_its_own_refusals(
    app, db, full_company, make_company, make_user, make_employee
):
    company, admin = full_company(seats=2)
    other = make_company(seats=2)
    other_admin = make_user(Role.COMPANY_ADMIN, company=other)
    links = [invite(db, admin, "a@example.com"), invite(db, other_admin, "b@example.com")]
    make_employee(company=company)  # each company's last seat taken meanwhile
    make_employee(company=other)
    for link in links:
        assert join(english(app), link).status_code == 409
    assert sorted(e.company_id for e in events(SEATS_FULL)) == sorted([company.id, other.id])


def test_a_join_refused_for_another_reason_is_no_seats_news(app, db, full_company):
    company, admin = full_company(seats=5)
    secret = invite(db, admin, "weak@example.com")
    weak = join(english(app), secret, password="password")
    assert weak.status_code == 400
    unknown = join(english(app), "not-a-real-link-" + "x" * 30)
    assert unknown.status_code == 404
    assert join(english(app), secret).status_code == 303
    assert events(SEATS_FULL) == []


# --- seats full: a first single sign-on -------------------------------------------------------


def test_a_first_sign_in_refused_for_seats_is_news_once(app, db, full_company, provider):
    app.config["BABEL_DEFAULT_LOCALE"] = "en"  # the page in English (the msgids)
    company, admin = full_company(seats=1)
    configure(db, admin, provider.issuer)
    provider.user["email"] = f"late@{DOMAIN}"

    for _attempt in range(2):
        response, _path = round_trip(app.test_client(), company.id, f"late@{DOMAIN}")
        assert response.status_code == 403
        assert "ask your company admin to add seats" in response.get_data(as_text=True)
    [event] = events(SEATS_FULL)
    assert event.company_id == company.id
    assert event.dedupe_key == f"seats_full:{company.id}:2026-12-01"
    assert user_ids(company.id) == {admin.id}


def test_a_first_sign_in_inside_the_seats_is_no_news(app, db, full_company, provider):
    company, admin = full_company(seats=2)
    configure(db, admin, provider.issuer)
    provider.user["email"] = f"new@{DOMAIN}"
    response, _path = round_trip(app.test_client(), company.id, f"new@{DOMAIN}")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert len(user_ids(company.id)) == 2
    # A sign-in refused for another reason (another company's domain) is no seats news.
    provider.user["email"] = "someone@elsewhere.example"
    refused, _path = round_trip(app.test_client(), company.id, "someone@elsewhere.example")
    assert refused.status_code == 403
    assert events(SEATS_FULL) == []


# --- seats full: SCIM provisioning ------------------------------------------------------------


def test_scim_refusals_for_seats_are_news_once_whatever_the_path(
    app, db, full_company, scim_client, make_employee
):
    company, admin = full_company(seats=2)
    link = invite(db, admin, "x@example.com")
    make_employee(company=company)  # the last seat taken
    client = scim_client(company.id, admin)

    refused = client.create(okta_user(f"one.more@{DOMAIN}"))
    assert refused.status_code == 409, refused.text
    [event] = events(SEATS_FULL)
    assert event.company_id == company.id

    # An inactive person takes no seat; making them active is refused for the seats too.
    inactive = client.create(okta_user(f"later@{DOMAIN}", active=False))
    assert inactive.status_code == 201, inactive.text
    patched = client.patch(inactive.json()["id"], {"op": "replace", "value": {"active": True}})
    assert patched.status_code == 409
    # And the same day by invitation: still the one piece of news.
    assert join(english(app), link).status_code == 409
    assert len(events(SEATS_FULL)) == 1


def test_scim_errors_other_than_seats_are_no_news(app, db, full_company, scim_client):
    company, admin = full_company(seats=5)
    client = scim_client(company.id, admin)
    assert client.create(okta_user(f"hanako@{DOMAIN}")).status_code == 201
    assert client.create(okta_user(f"hanako@{DOMAIN}")).status_code == 409  # taken
    assert client.create(okta_user("someone@elsewhere.example")).status_code == 400
    assert client.create({"schemas": ["nonsense"]}).status_code == 400
    assert events(SEATS_FULL) == []


# --- an application submitted ---------------------------------------------------------------


@pytest.mark.parametrize(("form", "kind"), [(COMPANY, "company"), (OPERATOR, "operator")])
def test_an_application_is_news_for_the_team_once_confirmed(app, db, form, kind):
    browser = visitor(app)
    assert browser.post(f"/signup/{kind}", data=form).status_code == 303
    application = db.session.scalar(select(Application))
    assert application.status == ApplicationStatus.UNCONFIRMED
    assert events(APPLICATION_SUBMITTED) == []  # anybody may type an address into the form

    path = confirm_path(db, form["contact_email"])
    assert browser.get(path).status_code == 200
    [event] = events(APPLICATION_SUBMITTED)
    assert (event.subject_type, event.subject_id) == ("application", application.id)
    assert event.facts == {"kind": kind}
    assert (event.company_id, event.operator_id, event.user_id) == (None, None, None)
    assert event.created_at == NOW

    assert browser.get(path).status_code == 200  # a second click
    assert len(events(APPLICATION_SUBMITTED)) == 1


def test_an_unconfirmed_bad_or_late_application_is_no_news(app, db):
    browser = visitor(app)
    bad = dict(COMPANY, corporate_number="1234567890123")
    assert browser.post("/signup/company", data=bad).status_code == 400
    assert browser.post("/signup/company", data=COMPANY).status_code == 303
    path = confirm_path(db, COMPANY["contact_email"])
    assert browser.get(path + "x").status_code == 404  # a link mistyped

    app.config["FIXED_NOW"] = NOW + timedelta(days=3)  # past the 48 hours to confirm
    assert browser.get(path).status_code == 410
    assert db.session.scalar(select(Application)).confirmed_at is None
    assert events(APPLICATION_SUBMITTED) == []
