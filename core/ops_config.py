"""Settings for running Engawa on several machines: the database pool and read replica,
logs, metrics, error reports, shared rate limits and the scheduler's leader lease.

Read once by ``core.config.load_config``; every variable is listed with its meaning
in docs/OPERATIONS.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from core.config_values import ConfigError, as_bool, as_int, normalise_database_url

LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# A Flask-Limiter limit string: "50 per 5 seconds", "10/second;50/minute".
_LIMIT = re.compile(
    r"\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*(;\s*\d+\s*(/|per)\s*(\d+\s*)?"
    r"(second|minute|hour|day)s?\s*)*",
    re.IGNORECASE,
)


def _limit(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not _LIMIT.fullmatch(value):
        raise ConfigError(
            f"{name} must be a rate limit such as '50 per 5 seconds' or '10/second;50/minute',"
            f" got {value!r}"
        )
    return value


def _read_url(env: Mapping[str, str], database_url: str) -> str:
    """``DATABASE_READ_URL``: a PostgreSQL replica of ``DATABASE_URL``, or empty."""
    raw = env.get("DATABASE_READ_URL", "").strip()
    if not raw:
        return ""
    url = normalise_database_url(raw)
    if not url.startswith("postgresql+psycopg:") or not database_url.startswith(
        "postgresql+psycopg:"
    ):
        raise ConfigError(
            "DATABASE_READ_URL must be a postgresql:// URL, and DATABASE_URL PostgreSQL too"
        )
    return url


def _storage_url(env: Mapping[str, str]) -> str:
    url = env.get("RATELIMIT_STORAGE_URL", "").strip() or "memory://"
    if urlsplit(url).scheme not in ("memory", "redis", "rediss", "redis+sentinel"):
        raise ConfigError(
            "RATELIMIT_STORAGE_URL must be redis://host:port[/db] (or rediss://, or memory://),"
            f" got {url!r}"
        )
    return url


def operations_settings(env: Mapping[str, str], production: bool, database_url: str) -> dict:
    log_format = env.get("LOG_FORMAT", "").strip().lower() or ("json" if production else "text")
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be json or text, got {log_format!r}")
    log_level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    lease = as_int(env, "SCHEDULER_LEASE_SECONDS", 15, minimum=3)
    renew = as_int(env, "SCHEDULER_RENEW_SECONDS", 5, minimum=1)
    if renew * 2 > lease:
        raise ConfigError(
            "SCHEDULER_RENEW_SECONDS must be at most half of SCHEDULER_LEASE_SECONDS"
            f" ({renew} and {lease}): a leader must renew twice before its lease runs out"
        )
    metrics_token = env.get("METRICS_TOKEN", "")
    if metrics_token and len(metrics_token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters")
    return {
        # The connection pool of each process (PostgreSQL), checked before each use.
        "DB_POOL_SIZE": as_int(env, "DB_POOL_SIZE", 5, minimum=1),
        "DB_MAX_OVERFLOW": as_int(env, "DB_MAX_OVERFLOW", 5, minimum=0),
        "DB_POOL_TIMEOUT": as_int(env, "DB_POOL_TIMEOUT", 10, minimum=1),
        "DB_POOL_RECYCLE": as_int(env, "DB_POOL_RECYCLE", 1800, minimum=60),
        "DB_CONNECT_TIMEOUT": as_int(env, "DB_CONNECT_TIMEOUT", 5, minimum=1),
        # A streaming replica for read-only pages (core.replica); bypassed while it lags.
        "DATABASE_READ_URL": _read_url(env, database_url),
        "READ_MAX_LAG_SECONDS": as_int(env, "READ_MAX_LAG_SECONDS", 5, minimum=0),
        # Logs: one JSON line per request and per job run (core.logs), or plain text.
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": log_level,
        # /metrics answers loopback clients, and others bearing this token.
        "METRICS_TOKEN": metrics_token,
        # Errors reported to Sentry (personal data scrubbed) when set.
        "SENTRY_DSN": env.get("SENTRY_DSN", "").strip(),
        "SENTRY_ENVIRONMENT": env.get("SENTRY_ENVIRONMENT", "").strip()
        or ("production" if production else "development"),
        # Rate limits shared by every node (Flask-Limiter): Redis, or each process alone.
        "RATELIMIT_STORAGE_URL": _storage_url(env),
        "RATELIMIT_ENABLED": as_bool(env, "RATELIMIT_ENABLED", True),
        "API_RATE_LIMIT": _limit(env, "API_RATE_LIMIT", "50 per 5 seconds"),
        "BOOKING_RATE_LIMIT": _limit(env, "BOOKING_RATE_LIMIT", "20 per minute"),
        # The scheduler's leader lease (core.leader): held this long, renewed this often.
        "SCHEDULER_LEASE_SECONDS": lease,
        "SCHEDULER_RENEW_SECONDS": renew,
        # The scheduler process's own /metrics port on 127.0.0.1 (0: none).
        "SCHEDULER_METRICS_PORT": as_int(env, "SCHEDULER_METRICS_PORT", 0, minimum=0),
    }


def engine_options(config: Mapping) -> dict:
    """SQLAlchemy engine options for the configured database (primary and replica)."""
    url = config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:"):
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # hide_parameters: an SQL error's message never carries the values (names, addresses)
    # into logs or error reports.
    return {
        "hide_parameters": True,
        "pool_pre_ping": True,
        "pool_size": config.get("DB_POOL_SIZE", 5),
        "max_overflow": config.get("DB_MAX_OVERFLOW", 5),
        "pool_timeout": config.get("DB_POOL_TIMEOUT", 10),
        "pool_recycle": config.get("DB_POOL_RECYCLE", 1800),
        "connect_args": {"connect_timeout": config.get("DB_CONNECT_TIMEOUT", 5)},
    }
