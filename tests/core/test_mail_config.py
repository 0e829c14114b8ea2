"""The outbox's settings come from the environment (core.config ``_mail_settings``):
where mail is sent, as whom, and whether the development mailbox may show it."""

from __future__ import annotations

import pytest

from app import create_app
from core import config as config_module
from core.config import ConfigError, load_config

SECRET = "s" * 40
PRODUCTION = {
    "ENGAWA_ENV": "production",
    "SECRET_KEY": SECRET,
    "DATABASE_URL": "postgresql://h/db",
    "PROXY_FIX_X_FOR": "0",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "INVOICE_REGISTRATION_NUMBER": "T1234567890123",
    "BASE_URL": "https://engawa.example",
}


@pytest.fixture(autouse=True)
def instance_dir(tmp_path, monkeypatch):
    """Development settings keep their key in a temporary instance/ folder."""
    monkeypatch.setattr(config_module, "INSTANCE_DIR", tmp_path / "instance")


def development(**env: str) -> dict:
    return load_config({"SECRET_KEY": SECRET, **env})


def production(**env: str) -> dict:
    return load_config({**PRODUCTION, **env})


def test_without_settings_mail_stays_in_the_outbox_and_the_dev_mailbox_shows_it():
    config = development()
    assert config["SMTP_HOST"] == ""
    assert (config["SMTP_PORT"], config["SMTP_STARTTLS"]) == (25, False)
    assert (config["SMTP_USER"], config["SMTP_PASSWORD"]) == ("", "")
    assert config["MAIL_FROM"] == "no-reply@engawa.example"
    assert config["DEV_MAILBOX"] is True
    # Production: no development mailbox unless asked for (and it cannot be: see below).
    assert production()["DEV_MAILBOX"] is False


def test_a_relay_with_a_login_gets_starttls_and_port_587_by_default():
    config = development(
        SMTP_HOST="smtp.example.com", SMTP_USER="engawa", SMTP_PASSWORD="app password"
    )
    assert config["SMTP_HOST"] == "smtp.example.com"
    assert (config["SMTP_STARTTLS"], config["SMTP_PORT"]) == (True, 587)
    assert (config["SMTP_USER"], config["SMTP_PASSWORD"]) == ("engawa", "app password")
    # Each default gives way to a setting of its own.
    config = development(SMTP_HOST="smtp.example.com", SMTP_STARTTLS="true", SMTP_PORT="2525")
    assert (config["SMTP_STARTTLS"], config["SMTP_PORT"]) == (True, 2525)
    config = development(SMTP_HOST="127.0.0.1", SMTP_USER="u", SMTP_PASSWORD="p", SMTP_STARTTLS="0")
    assert (config["SMTP_STARTTLS"], config["SMTP_PORT"]) == (False, 25)


def test_the_app_reads_the_mail_settings_from_the_environment(monkeypatch, tmp_path):
    """The bug this group fixes: nothing read SMTP_* from the environment before."""
    for name, value in {
        "SMTP_HOST": "mail.example.jp",
        "SMTP_USER": "engawa",
        "SMTP_PASSWORD": "pw",
        "MAIL_FROM": "info@engawa.example",
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["SMTP_HOST"] == "mail.example.jp"
    assert (app.config["SMTP_PORT"], app.config["SMTP_STARTTLS"]) == (587, True)
    assert app.config["MAIL_FROM"] == "info@engawa.example"


@pytest.mark.parametrize(
    "mail_from",
    [
        "no-reply",
        "Engawa <no-reply@engawa.example>",
        "no-reply@localhost",
        "no reply@engawa.example",
        "no-reply@@engawa.example",
        "no-reply@engawa.example\nBcc: x@evil.example",
        "@engawa.example",
    ],
)
def test_a_sender_that_is_not_a_plain_address_is_refused(mail_from):
    with pytest.raises(ConfigError, match="MAIL_FROM"):
        development(MAIL_FROM=mail_from)


def test_a_plain_sender_address_is_taken_as_it_is():
    assert (
        development(MAIL_FROM=" info+mail@engawa.co.jp ")["MAIL_FROM"] == "info+mail@engawa.co.jp"
    )


@pytest.mark.parametrize("value", ["1", "true", "yes", "on"])
def test_the_development_mailbox_is_refused_in_production(value):
    with pytest.raises(ConfigError, match="DEV_MAILBOX must be off in production"):
        production(DEV_MAILBOX=value)
    assert production(DEV_MAILBOX="0")["DEV_MAILBOX"] is False
    assert development(DEV_MAILBOX="0")["DEV_MAILBOX"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMTP_HOST": "smtp.example.com:587"}, "SMTP_HOST must be a host name"),
        ({"SMTP_HOST": "smtp://smtp.example.com"}, "SMTP_HOST must be a host name"),
        ({"SMTP_HOST": "h", "SMTP_PORT": "smtp"}, "SMTP_PORT must be an integer"),
        ({"SMTP_HOST": "h", "SMTP_PORT": "0"}, "SMTP_PORT must be at least 1"),
        ({"SMTP_HOST": "h", "SMTP_PORT": "70000"}, "SMTP_PORT must be at most 65535"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS must be a boolean"),
        ({"SMTP_PASSWORD": "pw"}, "SMTP_PASSWORD is set but SMTP_USER is not"),
        ({"SMTP_USER": "engawa"}, "SMTP_USER is set but SMTP_PASSWORD is not"),
        ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE must name a file"),
        ({"DEV_MAILBOX": "sometimes"}, "DEV_MAILBOX must be a boolean"),
    ],
)
def test_malformed_mail_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        development(**env)


def test_an_error_never_shows_the_password():
    with pytest.raises(ConfigError) as refused:
        development(SMTP_HOST="bad host", SMTP_USER="u", SMTP_PASSWORD="hunter2-secret")
    assert "hunter2-secret" not in str(refused.value)


def test_production_sends_a_password_only_over_starttls():
    relay = {"SMTP_HOST": "smtp.example.com", "SMTP_USER": "u", "SMTP_PASSWORD": "p"}
    with pytest.raises(ConfigError, match="SMTP_STARTTLS must be on in production"):
        production(**relay, SMTP_STARTTLS="false")
    assert production(**relay)["SMTP_STARTTLS"] is True
    # A relay on this machine (a local Postfix) may take the login in clear.
    local = production(**{**relay, "SMTP_HOST": "127.0.0.1"}, SMTP_STARTTLS="false")
    assert (local["SMTP_STARTTLS"], local["SMTP_PORT"]) == (False, 25)
    # Without a login there is no password to protect.
    assert production(SMTP_HOST="smtp.example.com")["SMTP_STARTTLS"] is False


def test_a_ca_file_that_exists_is_kept(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert development(SMTP_CA_FILE=str(ca))["SMTP_CA_FILE"] == str(ca)
