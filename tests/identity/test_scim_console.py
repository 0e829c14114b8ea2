"""The company admin's SCIM page (/company/scim) and `flask scim-token`."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from accounts.audit import AuditEntry
from accounts.models import Role, User
from identity import scim
from identity.models import ScimToken
from tests.conftest import NOW, PASSWORD, post_sign_in, signed_in

TOKEN = re.compile(r'data-testid="new-scim-token">(scim_[A-Za-z0-9_-]+)<')


@pytest.fixture
def make_admin(make_user, make_company):
    def make(**kw) -> User:
        return make_user(
            Role.COMPANY_ADMIN, company=kw.pop("company", None) or make_company(), **kw
        )

    return make


def english(browser):
    browser.get("/lang/en")
    return browser


def new_secret(response) -> str:
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def scim_status(app, secret: str) -> int:
    return (
        app.test_client()
        .get("/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"})
        .status_code
    )


def tokens_of(db, company_id: int) -> list[ScimToken]:
    return list(
        db.session.scalars(
            select(ScimToken).where(ScimToken.company_id == company_id).order_by(ScimToken.id)
        )
    )


def actions(db, company_id: int) -> list[tuple[str, str, int | None]]:
    return [
        (e.action, e.actor_kind, e.actor_id)
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.company_id == company_id).order_by(AuditEntry.id)
        )
    ]


# --- the page ---------------------------------------------------------------------------


def test_the_page_shows_the_base_url_and_no_token_at_first(app, make_admin):
    browser = english(signed_in(app, make_admin()))
    page = browser.get("/company/scim")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    base = app.config["BASE_URL"].rstrip("/") + "/scim/v2"
    assert f'data-testid="scim-base-url">{base}<' in html
    assert 'data-testid="scim-no-token"' in html
    assert 'href="/company/scim" aria-current="page"' in html  # the console's navigation


def test_create_shows_the_secret_once_and_only_its_hash_is_kept(app, db, make_admin):
    admin = make_admin()
    browser = english(signed_in(app, admin))

    created = browser.post("/company/scim/token")

    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = new_secret(created)
    (token,) = tokens_of(db, admin.company_id)
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.token_hash, token.prefix) and secret.startswith(token.prefix)
    assert (token.created_by_id, token.created_at, token.revoked_at) == (admin.id, NOW, None)
    assert scim_status(app, secret) == 200
    # Later visits show the prefix and when it was used, never the secret.
    again = browser.get("/company/scim").get_data(as_text=True)
    assert secret not in again and f"{token.prefix}…" in again
    assert 'data-testid="scim-token-state"' in again
    assert actions(db, admin.company_id)[0] == ("scim.token.create", "user", admin.id)


def test_rotating_revokes_the_old_token(app, db, make_admin):
    admin = make_admin()
    browser = signed_in(app, admin)
    first = new_secret(browser.post("/company/scim/token"))
    second = new_secret(browser.post("/company/scim/token"))

    assert first != second
    assert scim_status(app, first) == 401
    assert scim_status(app, second) == 200
    old, new = tokens_of(db, admin.company_id)
    assert (old.revoked_at, new.revoked_at) == (NOW, None)
    assert [a for a, _k, _i in actions(db, admin.company_id)] == [
        "scim.token.create",
        "scim.token.rotate",
    ]


def test_revoking_stops_provisioning(app, db, make_admin):
    admin = make_admin()
    browser = english(signed_in(app, admin))
    secret = new_secret(browser.post("/company/scim/token"))

    revoked = browser.post("/company/scim/token/revoke")

    assert revoked.status_code == 303 and revoked.location.endswith("/company/scim")
    assert scim_status(app, secret) == 401
    assert scim.live_token(admin.company_id) is None
    assert "scim-no-token" in browser.get("/company/scim").get_data(as_text=True)
    assert actions(db, admin.company_id)[-1] == ("scim.token.revoke", "user", admin.id)
    # Revoking when there is nothing to revoke changes nothing.
    assert browser.post("/company/scim/token/revoke").status_code == 303
    assert len(actions(db, admin.company_id)) == 2


def test_an_admin_sees_and_changes_only_their_own_companys_token(app, db, make_admin):
    mine, theirs = make_admin(), make_admin()
    _token, their_secret = scim.rotate_token(theirs.company_id, NOW, actor=theirs)
    db.session.commit()
    browser = signed_in(app, mine)

    assert "scim-no-token" in browser.get("/company/scim").get_data(as_text=True)
    browser.post("/company/scim/token/revoke")
    browser.post("/company/scim/token")

    assert scim_status(app, their_secret) == 200
    assert len(tokens_of(db, theirs.company_id)) == 1
    assert len(tokens_of(db, mine.company_id)) == 1


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.OPERATOR, Role.PLATFORM_ADMIN])
def test_only_company_admins_reach_the_page(app, db, make_user, role):
    user = make_user(role)
    browser = signed_in(app, user)
    assert browser.get("/company/scim").status_code == 403
    assert browser.post("/company/scim/token").status_code == 403
    assert browser.post("/company/scim/token/revoke").status_code == 403
    assert db.session.scalars(select(ScimToken)).all() == []


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for response in (client.get("/company/scim"), client.post("/company/scim/token")):
        assert response.status_code == 302 and "/login" in response.location


def test_the_forms_require_csrf(app, db, make_admin):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = make_admin()
    browser = app.test_client()
    login_page = browser.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    assert (
        post_sign_in(browser, admin.email, PASSWORD, data={"csrf_token": csrf}).status_code == 302
    )

    assert browser.post("/company/scim/token").status_code == 400
    assert browser.post("/company/scim/token/revoke").status_code == 400
    assert tokens_of(db, admin.company_id) == []

    page = browser.get("/company/scim").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert browser.post("/company/scim/token", data={"csrf_token": token}).status_code == 200
    assert len(tokens_of(db, admin.company_id)) == 1


# --- flask scim-token --------------------------------------------------------------------


def run(app, *args):
    return app.test_cli_runner().invoke(args=["scim-token", *args])


def test_the_command_prints_a_new_token_and_rotates(app, db, make_admin):
    admin = make_admin(email="boss@acme.example")

    first = run(app, "Boss@Acme.example")
    second = run(app, "boss@acme.example")

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    first_secret, second_secret = first.output.strip(), second.output.strip()
    assert first_secret.startswith("scim_") and "\n" not in first_secret
    assert scim_status(app, first_secret) == 401
    assert scim_status(app, second_secret) == 200
    tokens = tokens_of(db, admin.company_id)
    assert [t.created_by_id for t in tokens] == [admin.id, admin.id]
    assert actions(db, admin.company_id) == [
        ("scim.token.create", "cli", None),
        ("scim.token.rotate", "cli", None),
    ]


def test_the_command_refuses_anyone_but_an_active_company_admin(app, db, make_user, make_admin):
    employee = make_user(Role.EMPLOYEE)
    operator = make_user(Role.OPERATOR)
    inactive = make_admin(active=False)
    for email in ("nobody@acme.example", employee.email, operator.email, inactive.email):
        result = run(app, email)
        assert result.exit_code != 0
        assert "No active company admin" in result.output
    closed = make_admin()
    closed.company.active = False
    db.session.commit()
    assert "deactivated" in run(app, closed.email).output
    assert db.session.scalars(select(ScimToken)).all() == []
