"""Two-factor sign-in: enrolling, the code step, recovery codes, replay and guessing
refused, the roles that require it, and the secret kept encrypted."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from accounts import two_factor
from accounts.audit import AuditEntry
from accounts.models import RecoveryCode, Role, User
from tests.conftest import NOW, PASSWORD, TOTP_SECRET

CODE_STEP = "/login/two-factor"
ENROL_STEP = "/login/two-factor/enrol"


@pytest.fixture(autouse=True)
def english(client):
    client.get("/lang/en")


def password_step(client, user: User, password: str = PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})


def code_now(secret: str = TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).now()


def signed_in_as(client) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    return re.search(r"<dt>E-mail</dt><dd>([^<]+)</dd>", page.get_data(as_text=True))[1]


def reload(db, user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def enrol_from_account(client) -> tuple[str, list[str]]:
    """Enrol through the account page; (secret, recovery codes)."""
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page)[1]
    done = client.post("/account/two-factor", data={"code": code_now(secret)})
    assert done.status_code == 200, done.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    return secret, codes


def test_an_employee_enrols_from_the_account_page(db, client, make_employee, login):
    user = make_employee()
    login(user)
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    svg = re.search(r"<svg .*?</svg>", html, re.S)[0]
    assert 'class="qr-code"' in svg and 'role="img"' in svg
    assert "style" not in svg and "<script" not in svg  # the content policy forbids both
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html)[1]
    assert len(secret) == 32
    # Not on yet: a pending secret is stored, encrypted.
    stored = reload(db, user)
    assert stored.totp_enabled_at is None
    assert stored.totp_secret.startswith("fernet1:") and secret not in stored.totp_secret
    # A reload offers the same secret (the QR code already scanned stays good).
    assert f'data-secret="{secret}"' in client.get("/account/two-factor").get_data(as_text=True)

    wrong = client.post("/account/two-factor", data={"code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    assert reload(db, user).totp_enabled_at is None

    done = client.post("/account/two-factor", data={"code": code_now(secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert reload(db, user).totp_enabled_at == NOW
    rows = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(rows) == 10
    stored_hashes = " ".join(r.code_hash for r in rows)
    assert not any(code.replace("-", "") in stored_hashes for code in codes)
    entry = db.session.scalars(select(AuditEntry)).one()
    assert entry.action == "user.two_factor_on" and entry.actor_id == user.id
    settings = client.get("/account/two-factor").get_data(as_text=True)
    assert "10 recovery codes left." in settings


def test_the_secret_is_stored_encrypted_with_a_key_from_secret_key(app, db, make_employee):
    user = make_employee(totp=True)
    stored = reload(db, user).totp_secret
    assert TOTP_SECRET not in stored
    assert two_factor.open_secret(stored) == TOTP_SECRET
    app.config["SECRET_KEY"] = "another-secret-key"
    assert two_factor.open_secret(stored) is None
    assert two_factor.open_secret("JBSWY3DPEHPK3PXP") is None  # never read in clear


def test_an_enrolled_person_gives_a_code_after_the_password(db, client, make_employee):
    user = make_employee(totp=True)
    step = password_step(client, user)
    assert step.status_code == 303 and step.location == CODE_STEP
    assert signed_in_as(client) is None  # not signed in yet
    page = client.get(CODE_STEP)
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    wrong = client.post(CODE_STEP, data={"code": "123456"})
    assert wrong.status_code == 400 and signed_in_as(client) is None
    done = client.post(CODE_STEP, data={"code": code_now()})
    assert done.status_code == 302 and done.location == "/"
    assert signed_in_as(client) == user.email
    assert reload(db, user).last_login_at == NOW


def test_the_code_step_keeps_the_page_asked_for(client, make_employee):
    user = make_employee(totp=True)
    client.post("/login?next=/stays", data={"email": user.email, "password": PASSWORD})
    assert client.post(CODE_STEP, data={"code": code_now()}).location == "/stays"


def test_a_code_is_never_accepted_twice(db, client, app, make_employee):
    user = make_employee(totp=True)
    code = code_now()
    password_step(client, user)
    assert client.post(CODE_STEP, data={"code": code}).status_code == 302
    client.post("/logout")
    other = app.test_client()
    other.get("/lang/en")
    password_step(other, user)
    replay = other.post(CODE_STEP, data={"code": code})
    assert replay.status_code == 400 and signed_in_as(other) is None


def test_codes_of_the_next_and_previous_step_pass_older_ones_do_not(db, make_employee):
    user = make_employee(totp=True)
    at = datetime(2026, 5, 1, 9, 0, 10, tzinfo=UTC)
    totp = pyotp.TOTP(TOTP_SECRET)
    assert not two_factor.verify_totp(user, totp.at(at - timedelta(seconds=70)), at)
    assert two_factor.verify_totp(user, totp.at(at - timedelta(seconds=30)), at)
    assert two_factor.verify_totp(user, totp.at(at), at)
    # An earlier step than one accepted is refused, even inside the window.
    assert not two_factor.verify_totp(user, totp.at(at - timedelta(seconds=30)), at)
    assert two_factor.verify_totp(user, totp.at(at + timedelta(seconds=30)), at)
    assert reload(db, user).totp_last_step == int(at.timestamp()) // 30 + 1
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６", "1" * 1000, None):
        assert not two_factor.verify_totp(user, bad, at)


def test_a_recovery_code_signs_in_once(db, client, app, make_employee, login):
    user = make_employee()
    login(user)
    _secret, codes = enrol_from_account(client)
    client.post("/logout")
    password_step(client, user)
    done = client.post(CODE_STEP, data={"code": codes[0].upper().replace("-", " ")})
    assert done.status_code == 302
    assert "9 are left" in client.get("/").get_data(as_text=True)
    assert signed_in_as(client) == user.email
    client.post("/logout")
    password_step(client, user)
    assert client.post(CODE_STEP, data={"code": codes[0]}).status_code == 400
    assert client.post(CODE_STEP, data={"code": codes[1]}).status_code == 302


def test_wrong_codes_are_throttled_per_person(db, client, app, make_employee):
    user = make_employee(totp=True)
    password_step(client, user)
    for _ in range(5):
        assert client.post(CODE_STEP, data={"code": "000000"}).status_code == 400
    refused = client.post(CODE_STEP, data={"code": code_now()})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "Too many wrong codes" in refused.get_data(as_text=True)
    # From another browser too: the count is the person's.
    other = app.test_client()
    password_step(other, user)
    assert other.post(CODE_STEP, data={"code": code_now()}).status_code == 429
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=5)
    password_step(other, user)
    assert other.post(CODE_STEP, data={"code": code_now()}).status_code == 302


def test_a_pending_sign_in_expires_and_ends_with_the_password_or_a_lock(
    app, db, client, make_employee
):
    user = make_employee(totp=True)
    password_step(client, user)
    app.config["FIXED_NOW"] = NOW + timedelta(minutes=11)
    late = client.post(CODE_STEP, data={"code": code_now()})
    assert late.status_code == 302 and late.location == "/login"
    assert signed_in_as(client) is None
    app.config["FIXED_NOW"] = NOW
    assert client.get(CODE_STEP).location == "/login"  # forgotten, not revived

    password_step(client, user)
    row = reload(db, user)
    row.locked_at = NOW
    db.session.commit()
    assert client.post(CODE_STEP, data={"code": code_now()}).location == "/login"
    assert signed_in_as(client) is None

    row = reload(db, user)
    row.locked_at = None
    db.session.commit()
    password_step(client, user)
    row = reload(db, user)
    row.session_version += 1  # the password changed meanwhile
    db.session.commit()
    assert client.post(CODE_STEP, data={"code": code_now()}).location == "/login"


def test_the_steps_answer_nothing_without_a_password_first(client):
    assert client.get(CODE_STEP).location == "/login"
    assert client.post(CODE_STEP, data={"code": "123456"}).location == "/login"
    assert client.get(ENROL_STEP).location == "/login"


def test_a_forged_pending_state_is_refused(client, make_employee):
    user = make_employee(totp=True)
    for forged in ({"user": user.id}, "x", {"user": "1", "version": 1, "started": 0}):
        with client.session_transaction() as session:
            session["two_factor_pending"] = forged
        assert client.get(CODE_STEP).location == "/login"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_required_roles_enrol_at_their_next_sign_in(db, client, make_user, role):
    user = make_user(role)
    first = password_step(client, user)
    assert first.status_code == 302
    assert signed_in_as(client) == user.email
    assert reload(db, user).two_factor_prompted_at == NOW
    account = client.get("/account").get_data(as_text=True)
    assert "requires two-factor sign-in from your next sign-in" in account
    # Every page of theirs asks until they enrol (base.html), not only the account page.
    home = client.get(first.location).get_data(as_text=True)
    assert 'data-testid="two-factor-prompt"' in home
    client.post("/logout")

    second = password_step(client, user)
    assert second.status_code == 303 and second.location == ENROL_STEP
    assert signed_in_as(client) is None
    assert client.get(CODE_STEP).location == ENROL_STEP
    page = client.get(ENROL_STEP)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<svg " in html and "finish signing in" in html
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html)[1]
    assert client.post(ENROL_STEP, data={"code": "000000"}).status_code == 400
    assert signed_in_as(client) is None
    done = client.post(ENROL_STEP, data={"code": code_now(secret)})
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>", done.get_data(as_text=True))) == 10
    continue_to = re.search(r'href="([^"]+)" data-testid="continue"', done.get_data(as_text=True))[
        1
    ]
    assert continue_to != "/login"
    assert signed_in_as(client) == user.email
    client.post("/logout")

    third = password_step(client, user)
    assert third.location == CODE_STEP


def test_employees_may_turn_it_off_with_their_password(db, client, make_employee, login):
    user = make_employee(totp=True)
    login(user)
    wrong = client.post("/account/two-factor/off", data={"password": "not my password"})
    assert wrong.status_code == 400 and reload(db, user).totp_enabled_at is not None
    off = client.post("/account/two-factor/off", data={"password": PASSWORD})
    assert off.status_code == 303
    row = reload(db, user)
    assert (row.totp_secret, row.totp_enabled_at) == (None, None)
    assert db.session.scalars(select(RecoveryCode)).all() == []
    assert db.session.scalars(select(AuditEntry.action)).all() == ["user.two_factor_off"]
    client.post("/logout")
    assert password_step(client, user).status_code == 302  # the password alone again


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_required_roles_may_not_turn_it_off(db, client, make_user, login, role):
    user = make_user(role, totp=True)
    login(user)
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "cannot be turned off" in page and "/account/two-factor/off" not in page
    refused = client.post("/account/two-factor/off", data={"password": PASSWORD})
    assert refused.status_code == 403
    assert reload(db, user).totp_enabled_at is not None


def test_new_recovery_codes_need_a_current_code_and_replace_the_old(
    db, client, make_employee, login
):
    user = make_employee()
    login(user)
    secret, old_codes = enrol_from_account(client)
    wrong = client.post("/account/two-factor/recovery-codes", data={"code": "000000"})
    assert wrong.status_code == 400
    # The enrolling code's step is used: the next step's code proves the app again.
    next_code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    made = client.post("/account/two-factor/recovery-codes", data={"code": next_code})
    assert made.status_code == 200
    new_codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", made.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert not two_factor.use_recovery_code(reload(db, user), old_codes[0], NOW)
    assert two_factor.use_recovery_code(reload(db, user), new_codes[0], NOW)


def test_settings_pages_need_a_sign_in_and_an_enrolment(client, make_employee, login):
    assert client.get("/account/two-factor").status_code == 302
    user = make_employee()
    login(user)
    assert client.post("/account/two-factor/off", data={"password": PASSWORD}).status_code == 404
    assert client.post("/account/two-factor/recovery-codes", data={"code": "1"}).status_code == 404


def test_a_platform_admin_reset_forgets_the_authenticator(db, make_user):
    user = make_user(Role.OPERATOR, totp=True)
    two_factor.new_recovery_codes(user, NOW)
    two_factor.reset(user)
    db.session.commit()
    row = reload(db, user)
    assert (row.totp_secret, row.totp_enabled_at, row.totp_last_step) == (None, None, None)
    assert db.session.scalars(select(RecoveryCode)).all() == []
    # Prompted before: the next sign-in enrols again.
    assert two_factor.step_after_password(row, NOW) == two_factor.Step.ENROL


def test_an_employee_is_never_asked_to_enrol(client, make_employee, login):
    login(make_employee())
    assert 'data-testid="two-factor-prompt"' not in client.get("/").get_data(as_text=True)
