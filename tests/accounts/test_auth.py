"""Sign-in, sign-out, throttling, passwords, CSRF, API tokens, language switch."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from accounts.models import ApiToken, User
from tests.conftest import NOW, PASSWORD


def test_sign_in_and_out(client, make_employee, login):
    user = make_employee(email="hanako@example.com")
    assert client.get("/stays").status_code == 302  # not signed in yet
    login(user)
    assert client.get("/stays").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/stays").headers["Location"].startswith("/login")


def test_email_is_case_insensitive(client, make_employee):
    make_employee(email="hanako@example.com")
    response = client.post("/login", data={"email": "  Hanako@Example.COM ", "password": PASSWORD})
    assert response.status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_employee):
    user = make_employee()
    response = client.post("/login", data={"email": user.email, "password": "nope"})
    assert response.status_code == 401
    assert client.get("/stays").status_code == 302


def test_passwords_are_hashed(db, make_employee):
    user = make_employee()
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert PASSWORD not in stored and stored.startswith("pbkdf2:")


def test_sign_in_is_throttled_after_repeated_failures(app, client, make_employee):
    user = make_employee()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"email": user.email, "password": "guess"})
    # Locked: even the right password is refused for now.
    locked = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429
    # Unknown addresses are throttled the same way, so locking reveals nothing.
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"email": "nobody@example.com", "password": "guess"})
    assert (
        client.post("/login", data={"email": "nobody@example.com", "password": "x"}).status_code
        == 429
    )
    # After the lockout the right password works again.
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=app.config["LOGIN_LOCKOUT_SECONDS"] + 1)
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    )


def test_next_parameter_cannot_leave_the_site(client, make_employee):
    user = make_employee()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            f"/login?next={target}", data={"email": user.email, "password": PASSWORD}
        )
        assert "evil" not in response.headers["Location"] or response.headers[
            "Location"
        ].startswith("/")
        client.post("/logout")
    response = client.post("/login?next=/stays", data={"email": user.email, "password": PASSWORD})
    assert response.headers["Location"] == "/stays"


def test_password_change_signs_out_other_sessions(app, make_employee, login, client):
    user = make_employee()
    login(user)
    other = app.test_client()
    other.post("/login", data={"email": user.email, "password": PASSWORD})
    assert other.get("/stays").status_code == 200

    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "confirm": "a new long password",
        },
    )
    assert response.status_code == 302
    assert client.get("/stays").status_code == 200  # this session carries on
    assert other.get("/stays").status_code == 302  # the other one is signed out
    fresh = app.test_client()
    assert (
        fresh.post(
            "/login", data={"email": user.email, "password": "a new long password"}
        ).status_code
        == 302
    )


def test_password_change_rules(client, make_employee, login):
    login(make_employee())
    cases = [
        (
            {
                "current_password": "wrong",
                "new_password": "long enough pw",
                "confirm": "long enough pw",
            }
        ),
        ({"current_password": PASSWORD, "new_password": "short", "confirm": "short"}),
        (
            {
                "current_password": PASSWORD,
                "new_password": "long enough pw",
                "confirm": "different!!",
            }
        ),
    ]
    for data in cases:
        assert client.post("/account/password", data=data).status_code == 400


def test_forms_require_a_csrf_token(app, make_employee):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make_employee()
    client = app.test_client()
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 400
    )
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    # Signed in, a cancel or sign-out without the token is still refused.
    assert client.post("/logout").status_code == 400
    assert client.get("/stays").status_code == 200


def test_session_cookie_is_httponly_and_samesite(client, make_employee):
    user = make_employee()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_api_tokens_are_created_shown_once_and_revoked(db, client, make_employee, login):
    user = make_employee()
    login(user)
    client.post("/account/tokens", data={"name": "社内システム"})
    page = client.get("/account").get_data(as_text=True)
    secret = re.search(r'data-testid="new-token">([^<]+)<', page).group(1)
    assert (
        client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    assert secret not in client.get("/account").get_data(as_text=True)  # shown once
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.token_hash != secret and secret not in token.token_hash
    client.post(f"/account/tokens/{token.id}/revoke")
    assert (
        client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )


def test_a_foreign_token_cannot_be_revoked(db, client, make_employee, login):
    owner, other = make_employee(), make_employee()
    from accounts.services import create_api_token

    token, _secret = create_api_token(owner, "mine", NOW)
    db.session.commit()
    login(other)
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None


def test_api_token_cli_prints_a_working_token(app, client, make_employee):
    user = make_employee(email="cli@example.com")
    result = app.test_cli_runner().invoke(args=["api-token", "cli@example.com"])
    secret = result.output.strip()
    assert result.exit_code == 0 and secret.startswith("eng_")
    assert (
        client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    unknown = app.test_cli_runner().invoke(args=["api-token", "nobody@example.com"])
    assert unknown.exit_code != 0 and "No user" in unknown.output
    assert user.id


def test_language_switch(client, make_employee, login):
    login(make_employee())
    client.get("/lang/en")
    assert "My stays" in client.get("/stays").get_data(as_text=True)
    client.get("/lang/ja")
    assert client.get("/lang/xx").status_code == 404
