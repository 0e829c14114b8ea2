"""Configuration from environment variables, validated once at start-up.

Every setting has one source: the environment (or ``test_config`` in tests).
Secrets are never given defaults outside development.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
ENVIRONMENTS = ("development", "production", "testing")

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def normalise_database_url(url: str) -> str:
    """Accept the common spellings and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _hash_method(env: Mapping[str, str]) -> str:
    method = env.get("PASSWORD_HASH_METHOD", "scrypt")
    if method.split(":")[0] not in ("scrypt", "pbkdf2"):
        raise ConfigError(f"PASSWORD_HASH_METHOD must be scrypt or pbkdf2[:...], got {method!r}")
    return method


def _billing(env: Mapping[str, str], production: bool, secret_key: str) -> dict:
    """Stripe when its keys are set (or asked for), else the local simulation."""
    stripe_key = env.get("STRIPE_SECRET_KEY", "")
    if production and not stripe_key and not env.get("BILLING_BACKEND"):
        # Never fall back to the simulation in production by a missing key: with it,
        # any company admin could "pay" on the test-mode pages.
        raise ConfigError(
            "Production needs STRIPE_SECRET_KEY (or BILLING_BACKEND=local for a demo deployment)"
        )
    backend = env.get("BILLING_BACKEND", "") or ("stripe" if stripe_key else "local")
    if backend not in ("local", "stripe"):
        raise ConfigError(f"BILLING_BACKEND must be local or stripe, got {backend!r}")
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET", "")
    if backend == "stripe" and not (stripe_key and webhook_secret):
        raise ConfigError(
            "BILLING_BACKEND=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"
        )
    if not webhook_secret:
        # The local backend signs its own events; derived from SECRET_KEY, so it
        # survives restarts wherever the session key does.
        digest = hashlib.sha256(b"engawa-local-webhook:" + secret_key.encode()).hexdigest()
        webhook_secret = "whsec_local_" + digest[:32]
    prices = {}
    for pair in filter(None, (p.strip() for p in env.get("STRIPE_PRICE_IDS", "").split(","))):
        code, sep, price = pair.partition("=")
        if not sep or not code.strip() or not price.strip():
            raise ConfigError("STRIPE_PRICE_IDS must look like lite=price_123,standard=price_456")
        prices[code.strip()] = price.strip()
    registration = env.get("INVOICE_REGISTRATION_NUMBER", "" if production else "T1234567890123")
    if registration and not (
        len(registration) == 14 and registration[0] == "T" and registration[1:].isdigit()
    ):
        raise ConfigError("INVOICE_REGISTRATION_NUMBER must be T followed by 13 digits")
    return {
        "BILLING_BACKEND": backend,
        "STRIPE_SECRET_KEY": stripe_key,
        "STRIPE_WEBHOOK_SECRET": webhook_secret,
        # Tests point the real SDK at a Stripe-compatible server on 127.0.0.1.
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", ""),
        "STRIPE_PRICE_IDS": prices,
        "BILLING_GRACE_DAYS": _int(env, "BILLING_GRACE_DAYS", 7),
        "INVOICE_DAYS_UNTIL_DUE": _int(env, "INVOICE_DAYS_UNTIL_DUE", 30, minimum=1),
        # 適格請求書発行事業者登録番号, printed on invoices and the invoices page.
        "INVOICE_REGISTRATION_NUMBER": registration,
        "PLATFORM_BILLING_NAME": env.get("PLATFORM_BILLING_NAME", "Engawa株式会社"),
        "INVITATION_DAYS": _int(env, "INVITATION_DAYS", 14, minimum=1),
    }


def engine_options(database_url: str) -> dict:
    if database_url.startswith("sqlite:"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def load_config(env: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    environment = env.get("ENGAWA_ENV", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"ENGAWA_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    production = environment == "production"

    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY must be set in production")
        # Development without a key: sessions last until the process restarts.
        # `make run` writes a persistent key to instance/secret_key instead.
        secret_key = secrets.token_hex(32)
    elif production and len(secret_key) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters in production")

    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        if production:
            raise ConfigError("DATABASE_URL must be set in production")
        database_url = f"sqlite:///{INSTANCE_DIR / 'engawa.db'}"
    database_url = normalise_database_url(database_url)
    if not database_url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql:// URL")

    return {
        "ENGAWA_ENV": environment,
        # The public address every link in a mail, calendar or API answer is built
        # from (core.urls.public_url); never the request's Host header.
        "BASE_URL": env.get("BASE_URL", "").rstrip("/") or "http://127.0.0.1:5000",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAX_CONTENT_LENGTH": 1024 * 1024,  # forms and JSON; photo uploads raise it per request
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", production),
        "WTF_CSRF_TIME_LIMIT": None if not production else 8 * 3600,
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5, minimum=1),
        "LOGIN_LOCKOUT_SECONDS": _int(env, "LOGIN_LOCKOUT_SECONDS", 900, minimum=1),
        "PASSWORD_HASH_METHOD": _hash_method(env),
        # The domain in calendar UIDs: stable, whatever host or proxy served the page.
        "CALENDAR_UID_DOMAIN": env.get("CALENDAR_UID_DOMAIN", "engawa.example"),
        "BOOKING_HORIZON_DAYS": _int(env, "BOOKING_HORIZON_DAYS", 180, minimum=1),
        "SEARCH_PAGE_SIZE": _int(env, "SEARCH_PAGE_SIZE", 20, minimum=1),
        # Calendar sync (facilities/calendar_sync.py). Private hosts are refused
        # unless explicitly allowed (tests and local development).
        "CALENDAR_SYNC_MINUTES": _int(env, "CALENDAR_SYNC_MINUTES", 15, minimum=1),
        "CALENDAR_ALLOW_PRIVATE_HOSTS": _bool(env, "CALENDAR_ALLOW_PRIVATE_HOSTS", False),
        "CALENDAR_FETCH_TIMEOUT": _int(env, "CALENDAR_FETCH_TIMEOUT", 10, minimum=1),
        "CALENDAR_MAX_BYTES": _int(env, "CALENDAR_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
        "CALENDAR_IMPORT_DAYS": _int(env, "CALENDAR_IMPORT_DAYS", 730, minimum=30),
        "CALENDAR_SYNC_WORKERS": _int(env, "CALENDAR_SYNC_WORKERS", 8, minimum=1),
        "JOB_RUN_KEEP_DAYS": _int(env, "JOB_RUN_KEEP_DAYS", 90, minimum=1),
        # Demand pricing (facilities/pricing): nights priced ahead, how often the
        # scheduler re-prices around new bookings, how long price history is kept.
        "PRICING_HORIZON_DAYS": _int(env, "PRICING_HORIZON_DAYS", 365, minimum=30),
        "PRICING_REFRESH_SECONDS": _int(env, "PRICING_REFRESH_SECONDS", 5, minimum=1),
        "PRICE_HISTORY_KEEP_DAYS": _int(env, "PRICE_HISTORY_KEEP_DAYS", 400, minimum=1),
        # Facility photos (instance/photos): JPEG, PNG or WebP up to this size.
        "PHOTO_MAX_BYTES": _int(env, "PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "LANGUAGES": ("ja", "en"),
        **_billing(env, production, secret_key),
    }
