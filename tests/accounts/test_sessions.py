"""Server-side sessions: sign-out ends a copied cookie, idle and absolute expiry, the
account page's list of sessions, password change and deactivation, the prune job."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_login.utils import encode_cookie
from sqlalchemy import func, select

from accounts import sessions
from accounts.models import LoginThrottle, Role, User, UserSession
from core.scheduler import registered_jobs
from identity import members
from tests.conftest import DEFAULTS, NOW, PASSWORD, signed_in

IDLE = timedelta(minutes=DEFAULTS["SESSION_IDLE_MINUTES"])
LIFETIME = timedelta(hours=DEFAULTS["SESSION_MAX_HOURS"])
NEW_PASSWORD = "a fresh passphrase 42"


def english(app):
    """A browser reading English (the msgids), so assertions do not follow translations."""
    browser = app.test_client()
    browser.get("/lang/en")
    return browser


def cookie_of(browser) -> str:
    return browser.get_cookie("session").value


def browser_with(app, cookie: str):
    """Another browser holding a copy of someone's session cookie."""
    browser = app.test_client()
    browser.set_cookie("session", cookie)
    return browser


def at(app, moment) -> None:
    app.config["FIXED_NOW"] = moment


def signed_out(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def records_of(db, user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
        )
    )


# --- sign-out ends the session -------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_opens_nothing_afterwards(
    app, db, client, make_employee, login
):
    user = make_employee()
    login(user)
    copied = cookie_of(client)
    assert browser_with(app, copied).get("/stays").status_code == 200  # the copy works now
    assert client.post("/logout").status_code == 302

    replayed = browser_with(app, copied)
    assert signed_out(replayed.get("/stays"))
    assert signed_out(replayed.get("/account"))
    assert replayed.get("/login").status_code == 200  # the sign-in page, not a redirect
    [record] = records_of(db, user)
    assert record.ended_at == NOW


def test_only_a_hash_of_the_session_secret_is_stored(app, db, client, make_employee, login):
    user = make_employee()
    login(user)
    with app.test_request_context():
        secret = app.session_interface.get_signing_serializer(app).loads(cookie_of(client))[
            sessions.SESSION_KEY
        ]
    [record] = records_of(db, user)
    assert len(secret) >= 40 and secret not in record.token_hash and len(record.token_hash) == 64
    assert (record.created_at, record.last_seen_at, record.expires_at) == (NOW, NOW, NOW + LIFETIME)


def test_a_remember_me_cookie_cannot_bring_an_ended_session_back(
    app, db, client, make_employee, login
):
    """Remember-me is never issued; one forged with the secret key still opens nothing,
    because only a live session record signs a browser in."""
    user = make_employee()
    login(user)
    client.post("/logout")
    with app.test_request_context():
        remember = encode_cookie(user.get_id())
    client.set_cookie("remember_token", remember)
    assert signed_out(client.get("/stays"))
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)
    assert signed_out(fresh.get("/stays"))


def test_a_signed_in_user_id_without_a_session_record_opens_nothing(app, make_employee):
    """A cookie made before server-side sessions (or with the secret key alone)."""
    user = make_employee()
    with app.test_request_context():
        forged = app.session_interface.get_signing_serializer(app).dumps(
            {"_user_id": user.get_id(), "_fresh": True}
        )
    assert signed_out(browser_with(app, forged).get("/stays"))


# --- idle and absolute expiry --------------------------------------------------------------


def test_a_session_idle_too_long_ends(app, client, make_employee, login):
    login(make_employee())
    at(app, NOW + IDLE - timedelta(minutes=1))
    assert client.get("/stays").status_code == 200  # in use: the idle clock starts again
    at(app, NOW + 2 * IDLE - timedelta(minutes=2))
    assert client.get("/stays").status_code == 200
    at(app, NOW + 3 * IDLE)  # more than the idle time since the last request
    assert signed_out(client.get("/stays"))


def test_a_session_in_constant_use_ends_after_its_lifetime(app, client, make_employee, login):
    user = make_employee()
    login(user)
    moment = NOW
    while moment + timedelta(hours=1) < NOW + LIFETIME:
        moment += timedelta(hours=1)
        at(app, moment)
        assert client.get("/stays").status_code == 200
    at(app, NOW + LIFETIME)
    assert signed_out(client.get("/stays"))
    login(user)  # signing in again opens a new session
    assert client.get("/stays").status_code == 200


def test_idle_and_lifetime_follow_the_config(app, client, make_employee, login):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    login(make_employee())
    at(app, NOW + timedelta(minutes=4))
    assert client.get("/stays").status_code == 200
    at(app, NOW + timedelta(minutes=10))
    assert signed_out(client.get("/stays"))


def test_last_seen_is_written_at_most_once_a_minute(app, db, client, make_employee, login):
    user = make_employee()
    login(user)
    at(app, NOW + timedelta(seconds=30))
    client.get("/stays")
    assert records_of(db, user)[0].last_seen_at == NOW  # no write for this request
    at(app, NOW + timedelta(seconds=61))
    client.get("/stays")
    assert records_of(db, user)[0].last_seen_at == NOW + timedelta(seconds=61)


# --- the account page ----------------------------------------------------------------------


def test_the_account_page_lists_live_sessions_and_marks_this_one(app, db, make_employee):
    user = make_employee()
    laptop = english(app)
    laptop.post(
        "/login",
        data={"email": user.email, "password": PASSWORD},
        headers={
            "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
        },
    )
    at(app, NOW + timedelta(minutes=5))
    phone = signed_in(app, user)
    at(app, NOW + timedelta(minutes=9))
    page = laptop.get("/account").get_data(as_text=True)
    mine, other = records_of(db, user)
    assert "Safari · macOS" in page and "Unknown device" in page
    assert "This session" in page and "2026/12/01 12:05" in page  # Tokyo time of sign-in
    this_row = re.search(rf'data-testid="session-{mine.id}">(.*?)</tr>', page, re.S).group(1)
    other_row = re.search(rf'data-testid="session-{other.id}">(.*?)</tr>', page, re.S).group(1)
    assert "This session" in this_row and "/end" not in this_row
    assert f"/account/sessions/{other.id}/end" in other_row
    assert phone.get("/stays").status_code == 200


def test_ending_another_session_from_the_account_page(app, db, make_employee):
    user = make_employee()
    laptop, phone = signed_in(app, user), signed_in(app, user)
    _mine, other = records_of(db, user)
    response = laptop.post(f"/account/sessions/{other.id}/end")
    assert response.status_code == 303
    assert signed_out(phone.get("/stays"))
    assert laptop.get("/stays").status_code == 200
    assert f"session-{other.id}" not in laptop.get("/account").get_data(as_text=True)
    # Ending it again: it is no longer there.
    assert laptop.post(f"/account/sessions/{other.id}/end").status_code == 404


def test_a_foreign_or_the_current_session_cannot_be_ended_there(app, db, make_employee):
    user, stranger = make_employee(), make_employee()
    mine = signed_in(app, user)
    theirs = signed_in(app, stranger)
    [current] = records_of(db, user)
    [foreign] = records_of(db, stranger)
    assert mine.post(f"/account/sessions/{foreign.id}/end").status_code == 404
    assert mine.post(f"/account/sessions/{current.id}/end").status_code == 404
    assert mine.post("/account/sessions/99999999999999999999/end").status_code == 404
    assert theirs.get("/stays").status_code == 200
    assert mine.get("/stays").status_code == 200
    assert records_of(db, stranger)[0].ended_at is None


def test_ending_all_other_sessions(app, db, make_employee):
    user, colleague = make_employee(), make_employee()
    browsers = [signed_in(app, user) for _ in range(3)]
    colleagues = signed_in(app, colleague)
    assert browsers[0].post("/account/sessions/end-others").status_code == 303
    assert browsers[0].get("/stays").status_code == 200
    assert all(signed_out(b.get("/stays")) for b in browsers[1:])
    assert colleagues.get("/stays").status_code == 200


def test_session_forms_require_csrf(app, db, make_employee):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make_employee()
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    browser.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    other = app.test_client()
    page = other.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    other.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    _mine, second = records_of(db, user)
    assert browser.post(f"/account/sessions/{second.id}/end").status_code == 400
    assert browser.post("/account/sessions/end-others").status_code == 400
    assert other.get("/stays").status_code == 200


# --- password change and deactivation ------------------------------------------------------


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app, db, make_employee):
    user = make_employee()
    here, elsewhere = signed_in(app, user), signed_in(app, user)
    copied = cookie_of(elsewhere)
    response = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert here.get("/stays").status_code == 200
    assert signed_out(elsewhere.get("/stays"))
    assert signed_out(browser_with(app, copied).get("/stays"))
    current, other = records_of(db, user)
    assert current.ended_at is None and other.ended_at == NOW


def test_deactivation_ends_the_members_sessions(app, db, make_user, make_employee):
    admin = make_user(Role.COMPANY_ADMIN)
    member = make_employee(company=admin.company)
    browser = signed_in(app, member)
    copied = cookie_of(browser)
    members.deactivate(admin.company_id, member.id, NOW, actor_id=admin.id)
    db.session.commit()
    assert signed_out(browser.get("/stays"))
    assert signed_out(browser_with(app, copied).get("/stays"))
    # Reactivated, the old sessions stay ended: the member signs in again.
    members.reactivate(admin.company_id, member.id)
    db.session.commit()
    assert signed_out(browser.get("/stays"))
    assert signed_in(app, member).get("/stays").status_code == 200


def test_end_sessions_ends_all_or_all_but_one(app, db, make_employee):
    user, other = make_employee(), make_employee()
    for _ in range(3):
        signed_in(app, user)
    signed_in(app, other)
    keep = records_of(db, user)[0]
    assert sessions.end_sessions(user.id, NOW, except_id=keep.id) == 2
    db.session.commit()
    assert [r.ended_at for r in records_of(db, user)] == [None, NOW, NOW]
    assert sessions.end_sessions(user.id, NOW) == 1
    db.session.commit()
    assert records_of(db, other)[0].ended_at is None


def test_joining_by_invitation_signs_in_with_a_session_record(app, db, make_user):
    admin = make_user(Role.COMPANY_ADMIN)
    _invitation, secret = members.invite(admin.company_id, "new@example.com", admin, NOW, 14)
    db.session.commit()
    newcomer = app.test_client()
    joined = newcomer.post(
        f"/join/{secret}",
        data={"name": "新入 社員", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert joined.status_code == 303
    assert newcomer.get("/stays").status_code == 200
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    [record] = records_of(db, user)
    assert record.ended_at is None
    newcomer.post("/logout")
    assert records_of(db, user)[0].ended_at == NOW


# --- pruning -------------------------------------------------------------------------------


def test_the_prune_job_forgets_ended_expired_and_idle_sessions(app, db, make_employee):
    user = make_employee()
    for _ in range(4):
        signed_in(app, user)
    ended, expired, idle, live = records_of(db, user)
    ended.ended_at = NOW
    expired.expires_at = NOW + timedelta(hours=1)
    idle.last_seen_at = NOW + timedelta(hours=1) - IDLE - timedelta(seconds=1)
    live.last_seen_at = NOW + timedelta(hours=1) - timedelta(minutes=5)
    db.session.add(LoginThrottle(key="old", failures=3, last_failed_at=NOW - timedelta(days=2)))
    db.session.add(LoginThrottle(key="recent", failures=3, last_failed_at=NOW - timedelta(hours=2)))
    db.session.commit()
    message = sessions.prune(NOW + timedelta(hours=1))
    assert "3 ended or expired sessions" in message and "1 old sign-in throttles" in message
    assert [r.id for r in records_of(db, user)] == [live.id]
    assert db.session.scalars(select(LoginThrottle.key)).all() == ["recent"]


def test_the_prune_job_is_scheduled(app, db):
    spec = registered_jobs(app)["prune_sign_ins"]
    assert spec.func.__name__ == "prune"
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    assert "0 ended or expired sessions" in spec.func(NOW)


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge · Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
            " (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
            "Chrome · iPhone",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            "Firefox · Linux",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
            " Chrome/126.0 Mobile Safari/537.36",
            "Chrome · Android",
        ),
        ("curl/8.5.0", ""),
        ("", ""),
    ],
)
def test_device_summary(agent, summary):
    assert sessions.device_summary(agent) == summary
