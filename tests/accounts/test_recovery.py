"""Forgotten passwords: the reset mail through a real SMTP server, single-use links valid
an hour, every other session and token ending, and nothing told about an address."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from accounts import recovery
from accounts.audit import AuditEntry
from accounts.mail import OutgoingMail, deliver_outbox
from accounts.models import PasswordToken, Role
from tests.conftest import NOW, PASSWORD, bearer, signed_in
from tests.smtp import links_in, smtp_inbox  # noqa: F401 (a fixture)

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(autouse=True)
def english(client):
    """The test client reads pages in English (the messages checked are the msgids)."""
    client.get("/lang/en")


def ask_reset(client, email: str):
    return client.post("/password/forgot", data={"email": email})


def reset_link_from_mail(app, smtp_inbox, email: str) -> str:  # noqa: F811
    """Deliver the outbox to the SMTP server and read the newest link sent to ``email``."""
    summary = deliver_outbox(NOW)
    assert "sent" in str(summary)
    [*_, mail] = smtp_inbox.to(email)
    [link] = set(links_in(mail, "/password/reset/"))  # once per language
    return link


def choose(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    data = {"password": password, "password_confirm": password if confirm is None else confirm}
    return client.post(link, data=data)


def test_sign_in_page_links_to_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page


def test_forgot_page_has_the_contract_form(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/password/forgot")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="email"' in html and 'name="csrf_token"' in html
    # Without its token, a post is refused and queues nothing.
    assert client.post("/password/forgot", data={"email": "x@example.com"}).status_code == 400


def test_a_forgotten_password_is_reset_through_the_mailed_link(
    app,
    db,
    client,
    make_employee,
    smtp_inbox,  # noqa: F811
):
    user = make_employee(email="hanako@example.com")
    answer = ask_reset(client, "Hanako@Example.com ")
    assert answer.status_code == 303 and answer.location == "/password/forgot/sent"
    assert "If an account uses that address" in client.get(answer.location).get_data(as_text=True)
    stored = db.session.scalars(select(OutgoingMail)).one()
    link = reset_link_from_mail(app, smtp_inbox, "hanako@example.com")
    assert link not in stored.body  # the body was encrypted, and dropped once sent
    token = db.session.scalars(select(PasswordToken)).one()
    assert link.rsplit("/", 1)[1] not in token.token_hash  # only a hash is kept

    form = client.get(link)
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    for name in ('name="password"', 'name="password_confirm"'):
        assert name in html
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert form.headers["Cache-Control"] == "no-store"

    done = choose(client, link)
    assert done.status_code == 303 and done.location == "/login"
    assert done.headers["Referrer-Policy"] == "no-referrer"
    assert "Your new password is set" in client.get("/login").get_data(as_text=True)
    old = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    assert (
        client.post("/login", data={"email": user.email, "password": NEW_PASSWORD}).status_code
        == 302
    )
    entry = db.session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.actor_id, entry.object_id) == (
        "user.password_chosen",
        user.id,
        user.id,
    )
    assert entry.company_id == user.company_id


def test_a_link_works_once(app, db, client, make_employee, smtp_inbox):  # noqa: F811
    user = make_employee()
    ask_reset(client, user.email)
    link = reset_link_from_mail(app, smtp_inbox, user.email)
    assert choose(client, link).status_code == 303
    again = choose(client, link, "another good passphrase")
    assert again.status_code == 410
    page = client.get(link)
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This link no longer works" in html and 'href="/password/forgot"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert (
        client.post("/login", data={"email": user.email, "password": NEW_PASSWORD}).status_code
        == 302
    )


def test_a_link_expires_after_an_hour(app, db, client, make_employee):
    user = make_employee()
    _token, secret = recovery.issue(user, recovery.RESET, NOW)
    db.session.commit()
    link = recovery.link_path(recovery.RESET, secret)
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=59)
    assert client.get(link).status_code == 200
    app.config["FIXED_NOW"] = NOW + timedelta(hours=1)
    assert client.get(link).status_code == 410
    assert choose(client, link).status_code == 410


def test_a_new_password_ends_every_other_session_and_api_token(app, db, client, make_employee):
    user = make_employee()
    other_browser = signed_in(app, user)
    headers = bearer(db, user)
    assert other_browser.get("/account").status_code == 200
    assert client.get("/api/v1/bookings", headers=headers).status_code == 200
    _token, secret = recovery.issue(user, recovery.RESET, NOW)
    db.session.commit()
    assert choose(client, recovery.link_path(recovery.RESET, secret)).status_code == 303
    assert other_browser.get("/account").status_code == 302
    assert client.get("/api/v1/bookings", headers=headers).status_code == 401


def test_the_answer_never_tells_whether_an_address_has_an_account(
    app,
    db,
    client,
    make_employee,
    smtp_inbox,  # noqa: F811
):
    make_employee(email="known@example.com")
    known = ask_reset(client, "known@example.com")
    unknown = ask_reset(client, "unknown@example.com")
    assert known.status_code == unknown.status_code == 303
    assert known.location == unknown.location
    assert known.get_data() == unknown.get_data()
    deliver_outbox(NOW)
    assert [rcpts for rcpts, _mail in smtp_inbox.messages] == [["known@example.com"]]


@pytest.mark.parametrize("state", ["inactive", "locked"])
def test_no_mail_for_an_account_that_may_not_sign_in(db, client, make_employee, state):
    user = make_employee()
    if state == "inactive":
        user.active = False
    else:
        user.locked_at = NOW
    db.session.commit()
    assert ask_reset(client, user.email).status_code == 303
    assert db.session.scalars(select(OutgoingMail)).all() == []


def test_a_link_of_a_locked_account_stops_working(db, client, make_employee):
    user = make_employee()
    _token, secret = recovery.issue(user, recovery.RESET, NOW)
    user.locked_at = NOW
    db.session.commit()
    assert choose(client, recovery.link_path(recovery.RESET, secret)).status_code == 410


def test_requests_are_throttled_per_address_alike_for_known_and_unknown(
    app, db, client, make_employee
):
    make_employee(email="known@example.com")
    for email in ("known@example.com", "unknown@example.com"):
        for _ in range(3):
            assert ask_reset(client, email).status_code == 303
    known = ask_reset(client, "KNOWN@example.com")
    unknown = ask_reset(client, "unknown@example.com")
    assert known.status_code == unknown.status_code == 429
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
    strip = re.compile(r'name="csrf_token"[^>]*>|value="[^"]*"')
    assert strip.sub("", known.get_data(as_text=True)).replace("KNOWN", "known") == strip.sub(
        "", unknown.get_data(as_text=True)
    ).replace("unknown", "known")
    assert len(db.session.scalars(select(OutgoingMail)).all()) == 3  # none past the limit


def test_requests_are_throttled_per_network(app, db, client):
    for n in range(20):
        assert ask_reset(client, f"person{n}@example.com").status_code == 303
    refused = ask_reset(client, "one-more@example.com")
    assert refused.status_code == 429
    assert "Too many requests" in refused.get_data(as_text=True)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert ask_reset(other, "one-more@example.com").status_code == 303


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", "short", "at least 10 characters"),
        ("password123", "password123", "most commonly used"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The passwords differ"),
        ("", "", "Enter a new password"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused_and_change_nothing(
    db, client, make_employee, password, confirm, message
):
    user = make_employee()
    before = user.password_hash
    _token, secret = recovery.issue(user, recovery.RESET, NOW)
    db.session.commit()
    link = recovery.link_path(recovery.RESET, secret)
    refused = choose(client, link, password, confirm)
    assert refused.status_code == 400
    assert message in refused.get_data(as_text=True)
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    db.session.expire_all()
    assert user.password_hash == before
    assert db.session.scalars(select(PasswordToken)).one().used_at is None
    assert choose(client, link).status_code == 303  # the link still works


def test_a_password_containing_the_address_is_refused(db, client, make_employee):
    user = make_employee(email="yamada.taro@example.com")
    _token, secret = recovery.issue(user, recovery.RESET, NOW)
    db.session.commit()
    refused = choose(client, recovery.link_path(recovery.RESET, secret), "yamada.taro-2026!")
    assert refused.status_code == 400
    assert "must not contain your e-mail address" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "bad",
    ["x", "A" * 101, "%00", "..%2F..%2Fetc", "😀" * 10],
)
def test_bad_links_answer_a_clear_page(client, bad):
    for path in (f"/password/reset/{bad}", f"/password/set/{bad}"):
        page = client.get(path)
        assert page.status_code in (400, 404, 410), path
        if page.status_code == 410:
            assert 'href="/password/forgot"' in page.get_data(as_text=True)
        answer = client.post(path, data={"password": NEW_PASSWORD})
        assert answer.status_code in (400, 404, 410)


def test_a_reset_secret_does_not_open_the_set_page_nor_the_reverse(db, client, make_user):
    user = make_user(Role.COMPANY_ADMIN)
    _token, reset_secret = recovery.issue(user, recovery.RESET, NOW)
    _token, set_secret = recovery.issue(user, recovery.SET, NOW)
    db.session.commit()
    assert client.get(f"/password/set/{reset_secret}").status_code == 410
    assert client.get(f"/password/reset/{set_secret}").status_code == 410


def test_a_new_account_chooses_its_password_through_the_set_link(
    app,
    db,
    client,
    make_user,
    smtp_inbox,  # noqa: F811
):
    admin = make_user(Role.OPERATOR)
    admin.password_hash = recovery.unusable_password()
    path = recovery.send_set_password_link(admin, "さとやま運営", NOW)
    db.session.commit()
    deliver_outbox(NOW)
    [mail] = smtp_inbox.to(admin.email)
    assert set(links_in(mail, "/password/set/")) == {path}
    page = client.get(path)
    assert page.status_code == 200 and "Choose your password" in page.get_data(as_text=True)
    assert choose(client, path).status_code == 303
    assert (
        client.post("/login", data={"email": admin.email, "password": NEW_PASSWORD}).status_code
        == 302
    )
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.action == "user.password_chosen" and entry.operator_id == admin.operator_id
    # A week later the (used) link, or any set link, is refused.
    app.config["FIXED_NOW"] = NOW + timedelta(days=8)
    assert client.get(path).status_code == 410


def test_an_invalid_email_is_a_clear_error_and_queues_nothing(db, client):
    for bad in ("", "not-an-address", "a@b", "x" * 300 + "@example.com"):
        answer = ask_reset(client, bad)
        assert answer.status_code == 400, bad
    assert db.session.scalars(select(OutgoingMail)).all() == []
