"""The one password rule: long enough, not common, not the address, not one key."""

from __future__ import annotations

import pytest
from flask_babel import force_locale

from accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    common_passwords,
    weak_password_reason,
)
from app import create_app

EMAIL = "hanako.sato@acme.example"


@pytest.fixture(scope="module")
def english():
    app = create_app({"TESTING": True, "SECRET_KEY": "passwords-test-key"})
    with app.test_request_context(), force_locale("en"):
        yield


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "at least"),
        ("x" * (MAX_PASSWORD_LENGTH + 1) + "y", "at most"),
        ("aaaaaaaaaaaa", "one character repeated"),
        (" " * 12, "one character repeated"),
        (" \t \t \t \t \t ", "one character repeated"),
        ("password1234", "most commonly used"),
        ("PASSWORD1234", "most commonly used"),  # case does not help
        ("1234567890", "most commonly used"),
        (EMAIL, "e-mail address"),
        (EMAIL.upper() + "!", "e-mail address"),
        ("my-hanako.sato-pass", "e-mail address"),
        ("bob@acme.example!", "e-mail address"),  # a short local part, the whole address
    ],
)
def test_weak_passwords_are_refused_with_the_reason(english, password, reason):
    email = "bob@acme.example" if password.startswith("bob@") else EMAIL
    message = weak_password_reason(password, email)
    assert message is not None and reason in str(message)


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "縁側で昼寝をする冬の午後", "bob-likes-tea-2026", "ab" * 100],
)
def test_good_passwords_pass(english, password):
    assert weak_password_reason(password, "bob@acme.example") is None


def test_the_shipped_list_holds_ten_thousand_common_passwords():
    common = common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "qwerty"} <= common
    assert "#1bitch" in common  # a password, not a comment
    assert all(p == p.strip() and not p.startswith("# ") for p in common)
    assert MIN_PASSWORD_LENGTH == 10
