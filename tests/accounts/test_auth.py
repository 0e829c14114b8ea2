"""Sign-in, sign-out, throttling, passwords, CSRF, API tokens, language switch."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from accounts import services
from accounts.models import ApiToken, User
from accounts.services import create_api_token, user_for_token
from tests.conftest import FAST_HASH, NOW, PASSWORD, days


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
    assert "メールアドレスまたはパスワードが正しくありません。" in response.get_data(as_text=True)
    assert client.get("/stays").status_code == 302


def test_passwords_are_hashed(db, make_employee):
    user = make_employee()
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert PASSWORD not in stored and stored.startswith("pbkdf2:")


def test_sign_in_is_throttled_after_repeated_failures(app, client, make_employee):
    """More in test_throttle.py (per IP, growing delays)."""
    user = make_employee()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"email": user.email, "password": "guess"})
    # Waiting: even the right password is refused for now.
    locked = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # Unknown addresses are throttled the same way, so throttling reveals nothing.
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"email": "nobody@example.com", "password": "guess"})
    assert (
        client.post("/login", data={"email": "nobody@example.com", "password": "x"}).status_code
        == 429
    )
    # After the wait (never longer than LOGIN_LOCKOUT_SECONDS) the right password works.
    app.config["FIXED_NOW"] = NOW + timedelta(seconds=app.config["LOGIN_LOCKOUT_SECONDS"])
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 302
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\\/evil.example",
        "/\tevil",
        "javascript:alert(1)",
    ],
)
def test_next_parameter_cannot_leave_the_site(client, make_employee, target):
    user = make_employee()
    response = client.post(
        "/login", query_string={"next": target}, data={"email": user.email, "password": PASSWORD}
    )
    if "\t" in target:  # a control character: refused before any view (core.input_guard)
        assert response.status_code == 400
        assert client.get("/lang/en", query_string={"next": target}).status_code == 400
        return
    assert response.headers["Location"] == "/"
    client.post("/logout")
    assert client.get("/lang/en", query_string={"next": target}).headers["Location"] == "/"


def test_next_parameter_keeps_a_local_path(client, make_employee):
    user = make_employee()
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


def test_guessing_the_current_password_is_limited_per_account(client, make_employee, login):
    """Each try runs the password hash: a stolen session cannot guess at will."""
    from accounts.views import PASSWORD_CHANGE_LIMIT

    login(make_employee())
    guess = {"current_password": "wrong", "new_password": "x1y2z3w4v5u6", "confirm": "x1y2z3w4v5u6"}
    codes = [
        client.post("/account/password", data=guess).status_code
        for _ in range(PASSWORD_CHANGE_LIMIT.count + 2)
    ]
    assert codes == [400] * PASSWORD_CHANGE_LIMIT.count + [429, 429]
    assert int(client.post("/account/password", data=guess).headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short", "The password must be at least 10 characters."),
        ("1234567890", "This password is one of the most commonly used. Please choose another."),
        ("Password123", "This password is one of the most commonly used. Please choose another."),
        ("aaaaaaaaaaaa", "The password must not be one character repeated."),
        ("hanako.yamada@example.com", "The password must not contain your e-mail address."),
        ("my hanako.yamada pw", "The password must not contain your e-mail address."),
    ],
)
def test_a_weak_new_password_is_refused_with_the_reason(
    db, client, make_employee, login, new, reason
):
    user = make_employee(email="hanako.yamada@example.com")
    login(user)
    client.get("/lang/en")
    before = user.password_hash
    response = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": new, "confirm": new},
    )
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.password_hash == before


def test_the_password_service_refuses_a_weak_password_too(db, make_employee):
    """Whatever the form lets through, the service checks the same rule."""
    user = make_employee()
    with pytest.raises(services.WeakPassword) as refused:
        services.change_password(user, PASSWORD, "qwertyuiop", FAST_HASH)
    with force_locale("en"):  # the reason is a lazy translation, read in English here
        assert "most commonly used" in str(refused.value.reason)
    services.change_password(user, PASSWORD, "a good new passphrase", FAST_HASH)


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
    created = client.post("/account/tokens", data={"name": "社内システム"})
    assert created.headers["Cache-Control"] == "no-store"
    secret = re.search(r'data-testid="new-token">([^<]+)<', created.get_data(as_text=True)).group(1)
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


@pytest.mark.parametrize(
    ("choice", "days"), [("30", 30), ("90", 90), ("365", 365), ("never", None)]
)
def test_an_api_token_may_be_given_an_expiry(db, client, make_employee, login, choice, days):
    user = make_employee()
    login(user)
    client.post("/account/tokens", data={"name": "nightly export", "expires_in": choice})
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.expires_at == (NOW + timedelta(days=days) if days else None)


def test_an_expired_api_token_is_refused(app, db, client, make_employee, login):
    user = make_employee()
    login(user)
    created = client.post("/account/tokens", data={"name": "script", "expires_in": "30"})
    secret = re.search(r'data-testid="new-token">([^<]+)<', created.get_data(as_text=True)).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    app.config["FIXED_NOW"] = NOW + timedelta(days=30) - timedelta(seconds=1)
    assert client.get("/api/v1/bookings", headers=headers).status_code == 200
    app.config["FIXED_NOW"] = NOW + timedelta(days=30)
    assert client.get("/api/v1/bookings", headers=headers).status_code == 401
    assert user_for_token(secret, NOW + timedelta(days=31)) is None
    # The token that never expires still works years later.
    _token, forever = create_api_token(user, "forever", NOW)
    db.session.commit()
    assert user_for_token(forever, NOW + timedelta(days=3650)).id == user.id


def test_an_unknown_expiry_choice_makes_no_token(db, client, make_employee, login):
    user = make_employee()
    login(user)
    client.post("/account/tokens", data={"name": "x", "expires_in": "36500"})
    assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)) is None


def test_the_account_page_shows_when_each_token_was_used_and_expires(
    app, db, client, make_employee, login
):
    user = make_employee()
    used, used_secret = create_api_token(user, "used", NOW - timedelta(days=2), valid_days=90)
    expired, _s = create_api_token(user, "expired", NOW - timedelta(days=40), valid_days=30)
    never, _s = create_api_token(user, "never", NOW)
    db.session.commit()
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1, minutes=5)
    client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {used_secret}"})
    login(user)
    client.get("/lang/en")
    page = client.get("/account").get_data(as_text=True)

    def row(token):
        return re.search(rf'data-testid="token-{token.id}">(.*?)</tr>', page, re.S).group(1)

    assert "2026/12/01 13:05" in row(used)  # last used, Tokyo time
    assert "2027/02/27 12:00" in row(used)  # expires: 90 days after creation
    assert "Expired" in row(expired) and "never used" in row(expired)
    assert "never" in row(never) and "Expired" not in row(never)


def test_a_foreign_token_cannot_be_revoked(db, client, make_employee, login):
    owner, other = make_employee(), make_employee()
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
    # The token is the user's: their (empty) booking list, not somebody else's.
    assert user_for_token(secret, NOW).id == user.id
    unknown = app.test_cli_runner().invoke(args=["api-token", "nobody@example.com"])
    assert unknown.exit_code != 0 and "No user" in unknown.output


def test_language_switch(client, make_employee, login):
    login(make_employee())
    client.get("/lang/en")
    assert "My stays" in client.get("/stays").get_data(as_text=True)
    client.get("/lang/ja")
    back = client.get("/stays").get_data(as_text=True)
    assert "マイ予約" in back and "My stays" not in back
    assert client.get("/lang/xx").status_code == 404


def test_the_api_ignores_the_session_cookie(client, make_employee, login):
    """The API is exempt from CSRF because it never accepts cookies: only bearer tokens."""
    login(make_employee())
    assert client.get("/stays").status_code == 200
    assert client.get("/api/v1/bookings").status_code == 401
    assert client.post("/api/v1/bookings", json={"unit_id": 1}).status_code == 401


def _csrf_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_every_state_changing_form_requires_csrf(app, db, make_employee, make_unit):
    from booking import services

    app.config["WTF_CSRF_ENABLED"] = True
    user = make_employee()
    booking = services.book_stay(
        user, services.StayRequest(make_unit().id, days(20), days(22), 1), NOW
    )
    token, _secret = create_api_token(user, "t", NOW)
    db.session.commit()
    client = app.test_client()
    client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "csrf_token": _csrf_token(client, "/login"),
        },
    )
    stay = {"unit_id": booking.unit_id, "check_in": days(30), "check_out": days(31), "guests": 1}
    refused = [
        client.post("/book", data=stay),
        client.post(f"/stays/{booking.id}/cancel"),
        client.post(f"/stays/{booking.id}/change", data=stay),
        client.post("/account/tokens", data={"name": "x"}),
        client.post(f"/account/tokens/{token.id}/revoke"),
        client.post("/account/password", data={"current_password": PASSWORD}),
        client.post("/logout"),
    ]
    assert [r.status_code for r in refused] == [400] * 7
    db.session.refresh(booking)
    assert booking.status == "confirmed"
    # With the cancel page's token, the same cancel goes through.
    csrf = _csrf_token(client, f"/stays/{booking.id}/cancel")
    assert client.post(f"/stays/{booking.id}/cancel", data={"csrf_token": csrf}).status_code == 303


def test_language_chosen_before_sign_in_is_kept_and_remembered(app, client, make_employee, db):
    user = make_employee()
    client.get("/lang/en")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert "My stays" in client.get("/stays").get_data(as_text=True)
    db.session.refresh(user)
    assert user.locale == "en"
    fresh = app.test_client()  # a new browser: the account remembers English
    fresh.post("/login", data={"email": user.email, "password": PASSWORD})
    assert "My stays" in fresh.get("/stays").get_data(as_text=True)
