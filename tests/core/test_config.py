"""Settings come from the environment, are validated, and the factory has no side effects."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from core import config as config_module
from core.config import ConfigError, load_config, normalise_database_url

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def instance_dir(tmp_path, monkeypatch):
    """Development settings without SECRET_KEY keep their key in instance/: a temporary one
    here, so these tests never write into the project's own instance/ folder."""
    folder = tmp_path / "instance"
    monkeypatch.setattr(config_module, "INSTANCE_DIR", folder)
    return folder


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
            "PROXY_FIX_X_FOR": "0",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRET": "whsec_x",
            "INVOICE_REGISTRATION_NUMBER": "T1234567890123",
            "BASE_URL": "https://engawa.example",
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


PRODUCTION = {
    "ENGAWA_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgres://h/db",
    "BASE_URL": "https://engawa.example",
    "PROXY_FIX_X_FOR": "1",
}


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


# --- the public address, trusted hosts and proxies ------------------------------------------


def test_production_needs_an_https_base_url():
    with pytest.raises(ConfigError, match="BASE_URL must be set in production"):
        load_config({**PRODUCTION, "BILLING_BACKEND": "local", "BASE_URL": ""})
    with pytest.raises(ConfigError, match="BASE_URL must be https in production"):
        load_config({**PRODUCTION, "BILLING_BACKEND": "local", "BASE_URL": "http://engawa.example"})


@pytest.mark.parametrize(
    "url",
    [
        "engawa.example",
        "ftp://engawa.example",
        "javascript:alert(1)",
        "https://",
        "https://engawa.example/engawa",
        "https://engawa.example/?next=/",
        "https://engawa.example?",
        "https://engawa.example/#top",
        "https://admin@engawa.example",
        "https://engawa.example:99999",
        "https://engawa.example:port",
        "https://engawa example",
        "https://engawa.example\\@evil.example",
        "http://[::1]:5000",  # werkzeug cannot trust an IPv6 literal host
        "https://.engawa.example",
    ],
)
def test_a_malformed_base_url_is_refused(url):
    with pytest.raises(ConfigError, match="BASE_URL"):
        load_config({"BASE_URL": url})


def test_base_url_is_normalised_and_its_host_trusted():
    config = load_config(
        {**PRODUCTION, "BILLING_BACKEND": "local", "BASE_URL": "https://Engawa.Example/"}
    )
    assert config["BASE_URL"] == "https://engawa.example"
    # Production trusts BASE_URL's host only (and TRUSTED_HOSTS): no loopback names.
    assert config["TRUSTED_HOSTS"] == ["engawa.example"]
    config = load_config(
        {
            **PRODUCTION,
            "BILLING_BACKEND": "local",
            "BASE_URL": "https://engawa.example:8443",
            "TRUSTED_HOSTS": " health.internal , .engawa.example,10.0.0.5",
        }
    )
    assert config["BASE_URL"] == "https://engawa.example:8443"
    assert config["TRUSTED_HOSTS"] == [
        "engawa.example",
        "health.internal",
        ".engawa.example",
        "10.0.0.5",
    ]


def test_development_serves_its_loopback_names_and_base_url_defaults_to_make_run():
    config = load_config({})
    assert config["BASE_URL"] == "http://127.0.0.1:5000"
    assert config["TRUSTED_HOSTS"] == ["127.0.0.1", "localhost"]
    config = load_config({"BASE_URL": "http://engawa.test:8000"})
    assert config["TRUSTED_HOSTS"] == ["engawa.test", "localhost", "127.0.0.1"]


@pytest.mark.parametrize(
    "entry", ["https://health.internal", "health.internal:8080", "*", "a b", "[::1]"]
)
def test_trusted_hosts_are_plain_host_names(entry):
    with pytest.raises(ConfigError, match="TRUSTED_HOSTS"):
        load_config({"TRUSTED_HOSTS": f"engawa.example,{entry}"})


def test_no_proxy_header_is_trusted_unless_configured():
    config = load_config({})
    assert [config[f"PROXY_FIX_X_{p}"] for p in ("FOR", "PROTO", "HOST", "PORT")] == [0, 0, 0, 0]
    config = load_config({"PROXY_FIX_X_FOR": "2", "PROXY_FIX_X_PROTO": "1"})
    assert (config["PROXY_FIX_X_FOR"], config["PROXY_FIX_X_PROTO"]) == (2, 1)
    with pytest.raises(ConfigError, match="PROXY_FIX_X_FOR"):
        load_config({"PROXY_FIX_X_FOR": "-1"})
    with pytest.raises(ConfigError, match="PROXY_FIX_X_HOST"):
        load_config({"PROXY_FIX_X_HOST": "yes"})


# --- production refuses debug and weak password hashing ---------------------------------------


@pytest.mark.parametrize("flag", ["1", "true", "on"])
def test_production_refuses_debug(flag):
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        load_config({**PRODUCTION, "BILLING_BACKEND": "local", "FLASK_DEBUG": flag})
    assert load_config({"FLASK_DEBUG": flag})["ENGAWA_ENV"] == "development"


def test_a_production_app_refuses_debug_mode_however_it_is_set(monkeypatch):
    for name, value in {**PRODUCTION, "BILLING_BACKEND": "local"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="Debug mode"):
        create_app({"DEBUG": True})
    assert create_app({"DEBUG": False}).config["ENGAWA_ENV"] == "production"


@pytest.mark.parametrize(
    "method",
    [
        "pbkdf2:sha256:1",
        "pbkdf2:sha256:599999",
        "pbkdf2:sha1",
        "pbkdf2:md5:1000000",
        "scrypt:16384:8:1",
        "scrypt:32768:4:1",
    ],
)
def test_production_refuses_weak_password_hashing(method):
    env = {**PRODUCTION, "BILLING_BACKEND": "local", "PASSWORD_HASH_METHOD": method}
    with pytest.raises(ConfigError, match="too weak for production"):
        load_config(env)
    # Development and tests may hash fast.
    assert load_config({"PASSWORD_HASH_METHOD": method})["PASSWORD_HASH_METHOD"] == method


@pytest.mark.parametrize(
    "method",
    ["scrypt", "scrypt:65536:8:1", "pbkdf2", "pbkdf2:sha256", "pbkdf2:sha512:600000"],
)
def test_production_accepts_werkzeug_strength_hashing(method):
    env = {**PRODUCTION, "BILLING_BACKEND": "local", "PASSWORD_HASH_METHOD": method}
    assert load_config(env)["PASSWORD_HASH_METHOD"] == method


@pytest.mark.parametrize(
    "method",
    [
        "bcrypt",
        "scrypt:1",
        "scrypt:a:b:c",
        "scrypt:1000:8:1",
        "pbkdf2:sha256:many",
        "pbkdf2:nohash",
    ],
)
def test_malformed_password_hashing_is_refused_everywhere(method):
    with pytest.raises(ConfigError, match="PASSWORD_HASH_METHOD"):
        load_config({"PASSWORD_HASH_METHOD": method})


def test_the_tests_fast_hash_still_works_in_testing():
    config = load_config({"ENGAWA_ENV": "testing", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    assert config["PASSWORD_HASH_METHOD"] == "pbkdf2:sha256:1000"


# --- one development key for every process ---------------------------------------------------


def test_development_keeps_one_key_in_the_instance_folder(instance_dir):
    first = load_config({})["SECRET_KEY"]
    key_file = instance_dir / "secret_key"
    assert key_file.read_text().strip() == first and len(first) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_config({})["SECRET_KEY"] == first  # the next process reads it
    assert load_config({"SECRET_KEY": "e" * 40})["SECRET_KEY"] == "e" * 40  # the env wins
    assert [p.name for p in instance_dir.iterdir()] == ["secret_key"]  # no drafts left


def test_a_key_written_by_make_run_before_is_read(instance_dir):
    instance_dir.mkdir()
    (instance_dir / "secret_key").write_text("k" * 64 + "\n")
    assert load_config({})["SECRET_KEY"] == "k" * 64


def test_processes_starting_together_share_one_key(tmp_path):
    """As gunicorn -w 4 starts its workers: each process loads the config at once."""
    folder = tmp_path / "instance"
    script = (
        "import sys; from pathlib import Path; from core.config import load_config; "
        "print(load_config({}, instance_dir=Path(sys.argv[1]))['SECRET_KEY'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    workers = [
        subprocess.Popen(  # noqa: S603  (our own interpreter and arguments)
            [sys.executable, "-c", script, str(folder)],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {w.communicate(timeout=60)[0].strip() for w in workers}
    assert all(w.returncode == 0 for w in workers)
    assert keys == {(folder / "secret_key").read_text().strip()}


def test_an_empty_key_file_is_named(instance_dir):
    instance_dir.mkdir()
    (instance_dir / "secret_key").write_text("\n")
    with pytest.raises(ConfigError, match="secret_key is empty"):
        load_config({})


def test_test_apps_never_write_the_instance_folder(instance_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "given"}).secret_key == "given"
    assert create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True}).secret_key
    assert not instance_dir.exists()


def test_production_must_say_how_many_proxies_set_x_forwarded_for():
    """Behind an unnamed proxy every visitor would share its address, and one client's
    failed sign-ins would throttle everybody."""
    unnamed = {k: v for k, v in PRODUCTION.items() if k != "PROXY_FIX_X_FOR"}
    with pytest.raises(ConfigError, match="PROXY_FIX_X_FOR must be set in production"):
        load_config({**unnamed, "BILLING_BACKEND": "local"})
    direct = load_config({**unnamed, "BILLING_BACKEND": "local", "PROXY_FIX_X_FOR": "0"})
    assert direct["PROXY_FIX_X_FOR"] == 0
