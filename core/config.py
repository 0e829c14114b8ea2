"""Configuration from environment variables, validated once at start-up.

Every setting has one source: the environment (or ``test_config`` in tests).
Secrets are never given defaults outside development.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.sansio.utils import host_is_trusted

from core.config_values import ConfigError, normalise_database_url
from core.config_values import as_bool as _bool
from core.config_values import as_int as _int
from core.ops_config import engine_options, operations_settings

__all__ = ["ConfigError", "engine_options", "load_config", "normalise_database_url"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
ENVIRONMENTS = ("development", "production", "testing")

log = logging.getLogger(__name__)


# The weakest password hashing production accepts: werkzeug's scrypt default
# (N=2**15, r=8, p=1), or PBKDF2-HMAC-SHA256/512 with OWASP's 600,000 iterations.
SCRYPT_MIN_N = 2**15
SCRYPT_MIN_R = 8
PBKDF2_MIN_ITERATIONS = 600_000
PBKDF2_HASHES = ("sha256", "sha512")


def _hash_method(env: Mapping[str, str], production: bool) -> str:
    """``scrypt[:N:r:p]`` or ``pbkdf2[:hash[:iterations]]``, well formed everywhere and
    at least as strong as werkzeug's defaults in production (tests use a fast one)."""
    method = env.get("PASSWORD_HASH_METHOD", "scrypt")
    name, *args = method.split(":")
    usage = (
        f"PASSWORD_HASH_METHOD must be scrypt[:N:r:p] or pbkdf2[:hash[:iterations]], got {method!r}"
    )
    if name == "scrypt":
        if args and (len(args) != 3 or not all(a.isdigit() for a in args)):
            raise ConfigError(usage)
        n, r, p = map(int, args) if args else (SCRYPT_MIN_N, SCRYPT_MIN_R, 1)
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise ConfigError(
                f"PASSWORD_HASH_METHOD: scrypt needs N a power of 2, r and p ≥ 1, got {method!r}"
            )
        weak = n < SCRYPT_MIN_N or r < SCRYPT_MIN_R
    elif name == "pbkdf2":
        if len(args) > 2 or (len(args) == 2 and not args[1].isdigit()):
            raise ConfigError(usage)
        hash_name = args[0] if args else "sha256"
        if hash_name not in hashlib.algorithms_available:
            raise ConfigError(f"PASSWORD_HASH_METHOD: unknown hash {hash_name!r}")
        iterations = int(args[1]) if len(args) == 2 else PBKDF2_MIN_ITERATIONS
        if iterations < 1:
            raise ConfigError(usage)
        weak = hash_name not in PBKDF2_HASHES or iterations < PBKDF2_MIN_ITERATIONS
    else:
        raise ConfigError(usage)
    if production and weak:
        raise ConfigError(
            f"PASSWORD_HASH_METHOD {method!r} is too weak for production: use scrypt "
            f"(N ≥ {SCRYPT_MIN_N}, r ≥ {SCRYPT_MIN_R}) or pbkdf2:sha256 with at least "
            f"{PBKDF2_MIN_ITERATIONS:,} iterations"
        )
    return method


def _base_url(env: Mapping[str, str], production: bool) -> str:
    """The one public address links are built from: ``scheme://host[:port]``, nothing more."""
    raw = env.get("BASE_URL", "").strip()
    if not raw:
        if production:
            raise ConfigError("BASE_URL must be set in production (e.g. https://engawa.example)")
        return "http://127.0.0.1:5000"
    usage = f"BASE_URL must look like https://engawa.example[:port], got {raw!r}"
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ConfigError(usage) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or raw.endswith(("?", "#"))
        or not host_is_trusted(parts.netloc)  # the characters a Host header may carry
        or not _HOST_NAME.fullmatch(parts.hostname)
        or parts.hostname.startswith(".")
    ):
        raise ConfigError(usage + " (a host name or IPv4 address; no path, query or user)")
    if production and parts.scheme != "https":
        raise ConfigError(f"BASE_URL must be https in production, got {raw!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


# A host name or IPv4 address (werkzeug cannot match an IPv6 literal against a list).
_HOST_NAME = re.compile(r"\.?[a-z0-9-]+(?:\.[a-z0-9-]+)*", re.IGNORECASE)


def _trusted_hosts(env: Mapping[str, str], base_url: str, production: bool) -> list[str]:
    """Host names requests may carry: BASE_URL's, ``TRUSTED_HOSTS`` (comma-separated,
    e.g. an internal health-check name; ``.example.org`` allows its subdomains), and
    outside production the loopback names ``make run`` and the test client use."""
    hosts = [urlsplit(base_url).hostname]
    for name in filter(None, (h.strip().lower() for h in env.get("TRUSTED_HOSTS", "").split(","))):
        if not _HOST_NAME.fullmatch(name):
            raise ConfigError(
                "TRUSTED_HOSTS must be comma-separated host names without scheme or port,"
                f" got {name!r}"
            )
        hosts.append(name)
    if not production:
        hosts += ["localhost", "127.0.0.1"]
    return list(dict.fromkeys(hosts))


def _proxy_fix(env: Mapping[str, str], production: bool) -> dict:
    """How many proxies in front of Engawa may set each X-Forwarded-* header (werkzeug
    ProxyFix). 0, the default, trusts none: the client's own headers are ignored.

    Production must say how many proxies set X-Forwarded-For (0 included): behind an
    unnamed proxy every visitor would share the proxy's address, and one client's
    failed sign-ins would throttle everybody.
    """
    if production and not env.get("PROXY_FIX_X_FOR"):
        raise ConfigError(
            "PROXY_FIX_X_FOR must be set in production: the number of proxies in front that"
            " set X-Forwarded-For (0 when clients connect directly)"
        )
    return {
        f"PROXY_FIX_X_{part}": _int(env, f"PROXY_FIX_X_{part}", 0)
        for part in ("FOR", "PROTO", "HOST", "PORT")
    }


def _development_secret_key(instance_dir: Path) -> str:
    """The key every development process shares, kept in ``instance/secret_key`` (0600).

    The first process to start writes it; the file appears whole (written aside,
    then linked into place), so a process starting at the same moment reads the
    same key and never half a one.
    """
    path = instance_dir / "secret_key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=instance_dir, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process was first: use its key
        finally:
            os.unlink(draft)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it (a new key is made) or set SECRET_KEY")
    return key


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
        # Handled Stripe event ids are kept this long (Stripe retries for 3 days).
        "WEBHOOK_EVENT_KEEP_DAYS": _int(env, "WEBHOOK_EVENT_KEEP_DAYS", 30, minimum=4),
    }


def _environment(env: Mapping[str, str]) -> tuple[str, bool]:
    """``ENGAWA_ENV`` and whether it is production; debug mode is refused there."""
    environment = env.get("ENGAWA_ENV", "development")
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"ENGAWA_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    production = environment == "production"
    if production and _bool(env, "FLASK_DEBUG", False):
        # The debugger runs any code a visitor types into an error page.
        raise ConfigError("FLASK_DEBUG must be off in production")
    return environment, production


def _secret_key(env: Mapping[str, str], production: bool, instance_dir: Path | None) -> str:
    """``SECRET_KEY``: required (32+ characters) in production, else the shared dev key."""
    secret_key = env.get("SECRET_KEY", "")
    if not secret_key:
        if production:
            raise ConfigError("SECRET_KEY must be set in production")
        # Development: one key for every process (web workers, scheduler, commands),
        # so a session signed by one is read by the others and survives restarts.
        secret_key = _development_secret_key(instance_dir or INSTANCE_DIR)
    elif production and len(secret_key) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters in production")
    return secret_key


def _database_url(env: Mapping[str, str], production: bool) -> str:
    """``DATABASE_URL``: required in production, else a SQLite file in ``instance/``."""
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        if production:
            raise ConfigError("DATABASE_URL must be set in production")
        database_url = f"sqlite:///{INSTANCE_DIR / 'engawa.db'}"
    database_url = normalise_database_url(database_url)
    if not database_url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql:// URL")
    return database_url


def _host_settings(env: Mapping[str, str], base_url: str, production: bool) -> dict:
    return {
        # The public address every link in a mail, calendar or API answer is built
        # from (core.urls.public_url); never the request's Host header.
        "BASE_URL": base_url,
        # Requests for any other host are refused (400) before any view runs.
        "TRUSTED_HOSTS": _trusted_hosts(env, base_url, production),
        **_proxy_fix(env, production),
    }


def _session_settings(env: Mapping[str, str], production: bool) -> dict:
    return {
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
        # Sign-in: the first wait after LOGIN_MAX_FAILURES, doubled per further failure up to
        # LOGIN_LOCKOUT_SECONDS; failed sign-ins per client IP before any password hash.
        "LOGIN_DELAY_SECONDS": _int(env, "LOGIN_DELAY_SECONDS", 30, minimum=1),
        "LOGIN_IP_MAX_ATTEMPTS": _int(env, "LOGIN_IP_MAX_ATTEMPTS", 20, minimum=1),
        "LOGIN_IP_WINDOW_SECONDS": _int(env, "LOGIN_IP_WINDOW_SECONDS", 600, minimum=1),
        # Server-side sessions end after this long unused, and this long after sign-in.
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 120, minimum=1),
        "SESSION_MAX_HOURS": _int(env, "SESSION_MAX_HOURS", 12, minimum=1),
        "PASSWORD_HASH_METHOD": _hash_method(env, production),
    }


def _booking_settings(env: Mapping[str, str]) -> dict:
    return {
        # The domain in calendar UIDs: stable, whatever host or proxy served the page.
        "CALENDAR_UID_DOMAIN": env.get("CALENDAR_UID_DOMAIN", "engawa.example"),
        "BOOKING_HORIZON_DAYS": _int(env, "BOOKING_HORIZON_DAYS", 180, minimum=1),
        "SEARCH_PAGE_SIZE": _int(env, "SEARCH_PAGE_SIZE", 20, minimum=1),
    }


def _calendar_settings(env: Mapping[str, str]) -> dict:
    return {
        # Calendar sync (calendars/sync.py). Private hosts are refused
        # unless explicitly allowed (tests and local development).
        "CALENDAR_SYNC_MINUTES": _int(env, "CALENDAR_SYNC_MINUTES", 15, minimum=1),
        "CALENDAR_ALLOW_PRIVATE_HOSTS": _bool(env, "CALENDAR_ALLOW_PRIVATE_HOSTS", False),
        # Outbound webhooks (notifications/webhooks.py): http and private/loopback hosts
        # only when allowed (tests, local development); the time one delivery may take.
        "WEBHOOK_ALLOW_PRIVATE_HOSTS": _bool(env, "WEBHOOK_ALLOW_PRIVATE_HOSTS", False),
        "WEBHOOK_TIMEOUT_SECONDS": _int(env, "WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1),
        # Single sign-on (identity/sso_oidc.py): identity providers on private or
        # loopback hosts, and over http, only when allowed (tests, local development).
        "SSO_ALLOW_PRIVATE_HOSTS": _bool(env, "SSO_ALLOW_PRIVATE_HOSTS", False),
        "CALENDAR_FETCH_TIMEOUT": _int(env, "CALENDAR_FETCH_TIMEOUT", 10, minimum=1),
        "CALENDAR_MAX_BYTES": _int(env, "CALENDAR_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
        "CALENDAR_IMPORT_DAYS": _int(env, "CALENDAR_IMPORT_DAYS", 730, minimum=30),
        "CALENDAR_SYNC_WORKERS": _int(env, "CALENDAR_SYNC_WORKERS", 8, minimum=1),
        # External feeds one operator organisation may import in all (a room: 10).
        "CALENDAR_MAX_FEEDS_PER_OPERATOR": _int(
            env, "CALENDAR_MAX_FEEDS_PER_OPERATOR", 200, minimum=1
        ),
    }


def _job_and_pricing_settings(env: Mapping[str, str]) -> dict:
    return {
        "JOB_RUN_KEEP_DAYS": _int(env, "JOB_RUN_KEEP_DAYS", 90, minimum=1),
        # Demand pricing (pricing/): nights priced ahead, how often the
        # scheduler re-prices around new bookings, how long price history is kept.
        "PRICING_HORIZON_DAYS": _int(env, "PRICING_HORIZON_DAYS", 365, minimum=30),
        "PRICING_REFRESH_SECONDS": _int(env, "PRICING_REFRESH_SECONDS", 5, minimum=1),
        "PRICE_HISTORY_KEEP_DAYS": _int(env, "PRICE_HISTORY_KEEP_DAYS", 400, minimum=1),
    }


def _photo_and_locale_settings(env: Mapping[str, str]) -> dict:
    return {
        # Facility photos (instance/photos): JPEG, PNG or WebP up to this size.
        "PHOTO_MAX_BYTES": _int(env, "PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=1024),
        "BABEL_DEFAULT_LOCALE": "ja",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Tokyo",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "translations"),
        "LANGUAGES": ("ja", "en"),
    }


# Map tiles: a Leaflet URL template such as https://tile.openstreetmap.org/{z}/{x}/{y}.png.
_TILE_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TILE_REQUIRED = {"z", "x", "y"}
_TILE_ALLOWED = _TILE_REQUIRED | {"s", "r"}  # {s}: a subdomain letter; {r}: "@2x" on retina


def map_tile_origin(url: str) -> str:
    """The origin a tile URL template loads images from, as a CSP source (``''`` without
    tiles): ``https://{s}.tile.example/…`` → ``https://*.tile.example``."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower().replace('{s}.', '*.', 1)}"


def _map_settings(env: Mapping[str, str], production: bool) -> dict:
    """``MAP_TILE_URL``: where the maps' background tiles come from; empty (the default)
    draws no tiles, only the outline of Japan served by Engawa itself."""
    url = env.get("MAP_TILE_URL", "").strip()
    if url:
        usage = (
            "MAP_TILE_URL must be an http(s) tile URL template with {z}, {x} and {y},"
            f" such as https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png; got {url!r}"
        )
        parts = urlsplit(url)
        host = (parts.hostname or "").removeprefix("{s}.")
        names = _TILE_PLACEHOLDER.findall(url)
        try:
            parts.port  # noqa: B018  (raises on a malformed port)
        except ValueError:
            raise ConfigError(usage) from None
        if (
            parts.scheme not in ("http", "https")
            or "@" in parts.netloc
            or not _HOST_NAME.fullmatch(host)
            or host.startswith(".")
            or not _TILE_REQUIRED <= set(names) <= _TILE_ALLOWED
            or "{" in parts.netloc.replace("{s}.", "", 1)
            or re.search(r"[\s\"'<>\\;,]", url)  # nothing that could leave the CSP source
            or parts.fragment
        ):
            raise ConfigError(usage)
        if production and parts.scheme != "https":
            raise ConfigError(f"MAP_TILE_URL must be https in production, got {url!r}")
    return {
        "MAP_TILE_URL": url,
        # Credit the tile provider asks for (e.g. "© OpenStreetMap contributors"), as text.
        "MAP_TILE_ATTRIBUTION": env.get("MAP_TILE_ATTRIBUTION", "").strip(),
    }


DEFAULT_MAIL_FROM = "no-reply@engawa.example"
# The sender address: local part @ a domain with at least one dot (no display name:
# the mail says "Engawa" itself).
_MAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_LOOPBACK_NAMES = ("localhost",)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() in _LOOPBACK_NAMES


def _smtp_host(env: Mapping[str, str]) -> str:
    host = env.get("SMTP_HOST", "").strip()
    if not host:
        return ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host) or host.startswith("."):
            raise ConfigError(
                "SMTP_HOST must be a host name or IP address such as smtp.example.com"
                f" (the port goes in SMTP_PORT), got {host!r}"
            ) from None
    return host


def _mail_settings(env: Mapping[str, str], production: bool) -> dict:
    """Where the outbox (accounts/mail.py) sends, as whom, and whether the development
    mailbox may show queued mail. Without ``SMTP_HOST`` mail stays in the outbox.

    ``SMTP_STARTTLS`` defaults to on when ``SMTP_USER`` is set, and then the port to
    587 (else 25). In production a password never crosses the network in clear
    (STARTTLS off with a login is refused unless the server is on this machine), and
    the development mailbox is refused: it shows anyone the one-time links in mail.
    """
    host = _smtp_host(env)
    user = env.get("SMTP_USER", "").strip()
    password = env.get("SMTP_PASSWORD", "")
    if password and not user:
        raise ConfigError("SMTP_PASSWORD is set but SMTP_USER is not")
    if user and not password:
        raise ConfigError("SMTP_USER is set but SMTP_PASSWORD is not")
    starttls = _bool(env, "SMTP_STARTTLS", bool(user))
    if production and user and not starttls and not (host and _is_loopback(host)):
        raise ConfigError(
            "SMTP_STARTTLS must be on in production when SMTP_USER is set"
            " (the password would cross the network in clear)"
        )
    port = _int(env, "SMTP_PORT", 587 if starttls else 25, minimum=1)
    if port > 65535:
        raise ConfigError(f"SMTP_PORT must be at most 65535, got {port}")
    ca_file = env.get("SMTP_CA_FILE", "").strip()
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"SMTP_CA_FILE must name a file of CA certificates, got {ca_file!r}")
    mail_from = env.get("MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM
    if len(mail_from) > 254 or not _MAIL_ADDRESS.fullmatch(mail_from):
        raise ConfigError(
            "MAIL_FROM must be a plain e-mail address such as no-reply@engawa.example"
            f" (no display name), got {mail_from!r}"
        )
    dev_mailbox = _bool(env, "DEV_MAILBOX", not production)
    if production and dev_mailbox:
        raise ConfigError(
            "DEV_MAILBOX must be off in production: it shows queued mail, one-time links"
            " included, in the browser"
        )
    return {
        "SMTP_HOST": host,
        "SMTP_PORT": port,
        "SMTP_USER": user,
        "SMTP_PASSWORD": password,
        "SMTP_STARTTLS": starttls,
        # CA certificates to trust for STARTTLS besides the system's (a private relay).
        "SMTP_CA_FILE": ca_file,
        "MAIL_FROM": mail_from,
        "DEV_MAILBOX": dev_mailbox,
    }


def load_config(env: Mapping[str, str] | None = None, instance_dir: Path | None = None) -> dict:
    """Build the Flask config from ``env`` (default: ``os.environ``); the development
    key file lives in ``instance_dir`` (default: the project's ``instance/``)."""
    env = os.environ if env is None else env
    environment, production = _environment(env)
    secret_key = _secret_key(env, production, instance_dir)
    database_url = _database_url(env, production)
    base_url = _base_url(env, production)
    # The groups are evaluated in this order, so the first invalid setting is the one
    # reported, and the keys keep this order.
    return {
        "ENGAWA_ENV": environment,
        **_host_settings(env, base_url, production),
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        **_session_settings(env, production),
        **_booking_settings(env),
        **_calendar_settings(env),
        **_job_and_pricing_settings(env),
        **_photo_and_locale_settings(env),
        **_map_settings(env, production),
        **_mail_settings(env, production),
        **_billing(env, production, secret_key),
        **operations_settings(env, production, database_url),
    }
