"""Settings come from the environment, are validated, and the factory has no side effects."""

from __future__ import annotations

import pytest

from core import create_app
from core.config import ConfigError, load_config, normalise_database_url


def test_production_requires_secrets():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"ENGAWA_ENV": "production", "DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_config({"ENGAWA_ENV": "production", "SECRET_KEY": "s" * 40})
    with pytest.raises(ConfigError, match="at least 32"):
        load_config(
            {"ENGAWA_ENV": "production", "SECRET_KEY": "short", "DATABASE_URL": "postgresql://x/y"}
        )


def test_production_cookies_are_secure_httponly_samesite():
    config = load_config(
        {
            "ENGAWA_ENV": "production",
            "SECRET_KEY": "s" * 40,
            "DATABASE_URL": "postgres://h/db",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "INVOICE_REGISTRATION_NUMBER": "T1234567890123",
        }
    )
    assert config["BILLING_BACKEND"] == "stripe"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://h/db"


def test_development_defaults_to_sqlite_under_instance():
    config = load_config({})
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SQLALCHEMY_DATABASE_URI"].endswith("instance/engawa.db")
    assert config["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENGAWA_ENV": "staging"}, "ENGAWA_ENV"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"LOGIN_MAX_FAILURES": "many"}, "LOGIN_MAX_FAILURES"),
        ({"LOGIN_MAX_FAILURES": "0"}, "at least 1"),
        ({"SESSION_COOKIE_SECURE": "perhaps"}, "SESSION_COOKIE_SECURE"),
    ],
)
def test_malformed_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_database_url_spellings():
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_factory_touches_no_database(tmp_path):
    target = tmp_path / "never-created.db"
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}", "SECRET_KEY": "x"})
    assert not target.exists()


PRODUCTION = {"ENGAWA_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "postgres://h/db"}


def test_production_never_falls_back_to_simulated_billing():
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY"):
        load_config(PRODUCTION)
    # A demo deployment may ask for the simulation explicitly.
    assert load_config({**PRODUCTION, "BILLING_BACKEND": "local"})["BILLING_BACKEND"] == "local"


def test_stripe_backend_needs_both_secrets_and_well_formed_settings():
    with pytest.raises(ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        load_config({"BILLING_BACKEND": "stripe", "STRIPE_SECRET_KEY": "sk_test_x"})
    with pytest.raises(ConfigError, match="BILLING_BACKEND"):
        load_config({"BILLING_BACKEND": "paypal"})
    with pytest.raises(ConfigError, match="STRIPE_PRICE_IDS"):
        load_config({"STRIPE_PRICE_IDS": "lite"})
    with pytest.raises(ConfigError, match="INVOICE_REGISTRATION_NUMBER"):
        load_config({"INVOICE_REGISTRATION_NUMBER": "1234567890123"})
    config = load_config(
        {
            "STRIPE_SECRET_KEY": "sk_test_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "STRIPE_PRICE_IDS": "lite=price_1, standard = price_2",
        }
    )
    assert config["BILLING_BACKEND"] == "stripe"
    assert config["STRIPE_PRICE_IDS"] == {"lite": "price_1", "standard": "price_2"}


def test_local_webhook_secret_follows_the_session_key():
    first = load_config({"SECRET_KEY": "a" * 40})["STRIPE_WEBHOOK_SECRET"]
    assert first == load_config({"SECRET_KEY": "a" * 40})["STRIPE_WEBHOOK_SECRET"]
    assert first != load_config({"SECRET_KEY": "b" * 40})["STRIPE_WEBHOOK_SECRET"]
    assert first.startswith("whsec_local_")
