"""Request rate limits that every web node shares (Flask-Limiter): the JSON APIs and SCIM
per token, booking per employee.

The counters live in ``RATELIMIT_STORAGE_URL``: Redis, shared by every process on every
node, or ``memory://``, where each process counts alone (one machine, development,
tests). The sign-in, password and public-form limits are ``core.ratelimit``'s, counted
in the database; docs/RATE_LIMITS.md lists both kinds.

Each app gets a ``Limiter`` of its own (Flask-Limiter keeps its storage, strategy and
switches on the instance, so one instance shared by two apps in one process would count
both in whichever storage came last). The views do not name a limiter: they call the
hooks here (``api_request``, ``scim_request``) or wear
``booking_action``, and those run the current app's checks. An app whose factory did not
call ``init_app`` is not limited.

Strategy: moving window. "50 per 5 seconds" then means at most 50 requests in any 5
seconds: 10 a second sustained, a burst of 50 after a quiet spell, never the double
burst a fixed window lets through at its edge, and Retry-After is exact (when the
oldest counted request leaves the window). It keeps one timestamp per counted request,
at most the limit's amount per key (50 per token, 20 per employee): small. Refused
requests are not counted, so a client that keeps knocking is let in as soon as its
window has room.

When the storage fails (Redis down or unreachable) the limits fail open: the error is
logged once as a warning and each process counts in its own memory until Redis answers
again (checked with growing pauses); no request is refused or fails because of the
storage. Bookings must never stop because Redis did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter, RateLimitExceeded
from flask_login import current_user
from limits import parse_many

from core.config_values import ConfigError
from core.ratelimit import client_ip

EXTENSION = "engawa_limits"
STRATEGY = "moving-window"
DEFAULT_KEY_PREFIX = "engawa"
# A dead Redis costs a request at most this long before the process falls back to memory.
REDIS_TIMEOUT_SECONDS = 0.5
_UNSEEN = object()

P = ParamSpec("P")
R = TypeVar("R")


# --- keys: whom a limit counts --------------------------------------------------------


def client_key() -> str:
    """The client's network, as the configured proxies report it (``core.ratelimit``)."""
    return f"ip:{client_ip()}"


def token_key() -> str:
    """The request's bearer token by its hash, the SHA-256 stored for API tokens
    (``accounts.services.token_digest``): never the token itself."""
    _scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    return "token:" + hashlib.sha256(secret.strip().encode()).hexdigest()


def user_key() -> str:
    """The person acting: the API token's owner (``api_request``) or who is signed in."""
    user_id = g.get("limits_user_id")
    if user_id is None and current_user.is_authenticated:
        user_id = current_user.id
    return f"user:{user_id}" if user_id is not None else client_key()


# --- the checks of one app -------------------------------------------------------------


def _api_checkpoint() -> None:
    """Where a JSON API request is counted against its token's API_RATE_LIMIT."""


def _scim_checkpoint() -> None:
    """Where a SCIM request is counted against its token's API_RATE_LIMIT."""


def _booking_checkpoint() -> None:
    """Where a booking, change or cancellation is counted against BOOKING_RATE_LIMIT."""


@dataclass(frozen=True)
class Checks:
    """One app's limiter and its checks; each check counts the request and raises
    ``RateLimitExceeded`` (a 429) past its limit."""

    limiter: Limiter
    enabled: bool
    api: Callable[[], None]
    scim: Callable[[], None]
    booking: Callable[[], None]


def _checked_limit(config, name: str) -> str:
    """A limit string Flask-Limiter can use, each part at least 1 per at least 1 second."""
    value = config[name]
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 or item.get_expiry() < 1 for item in items):
        raise ConfigError(f"{name} must be a rate limit such as '50 per 5 seconds', got {value!r}")
    return value


def _storage_options(url: str) -> dict:
    if urlsplit(url).scheme in ("redis", "rediss"):
        return {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        }
    return {}


def _api_message() -> str:
    limit = current_app.config["API_RATE_LIMIT"]
    return f"Too many requests with this token (at most {limit}). Retry after Retry-After seconds."


def _booking_message() -> str:
    limit = current_app.config["BOOKING_RATE_LIMIT"]
    return (
        f"Too many bookings, changes and cancellations by this person (at most {limit})."
        " Retry after Retry-After seconds."
    )


def _remember_retry_after(response: Response) -> Response:
    """Runs just before Flask-Limiter writes its headers: what the answer said itself."""
    response.retry_after_before_limits = response.headers.get("Retry-After")
    return response


def _tidy_retry_after(response: Response) -> Response:
    """Runs just after: Flask-Limiter writes Retry-After on every answer it counted, and
    raises the answer's own to its window's end. Its value belongs on its 429s only (and
    never as 0 seconds); any other answer keeps what it said itself (a 503's own wait),
    or says nothing."""
    before = getattr(response, "retry_after_before_limits", _UNSEEN)
    if before is _UNSEEN:
        return response
    if response.status_code == 429:
        if response.headers.get("Retry-After") == "0":
            response.headers["Retry-After"] = "1"
    elif before is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = before
    return response


def init_app(app: Flask) -> None:
    """Give ``app`` its limiter, configured from ``core.ops_config``'s settings:
    ``RATELIMIT_STORAGE_URL``, ``RATELIMIT_ENABLED``, ``API_RATE_LIMIT``,
    ``BOOKING_RATE_LIMIT`` (and ``RATELIMIT_KEY_PREFIX`` from the app's config, default
    ``engawa``: tests sharing one Redis give their own). Connects to nothing: Redis is
    first asked on the first limited request."""
    if EXTENSION in app.extensions:
        raise RuntimeError("core.limits.init_app was called twice for this app")
    config = app.config
    api_limit = _checked_limit(config, "API_RATE_LIMIT")
    booking_limit = _checked_limit(config, "BOOKING_RATE_LIMIT")
    storage_url = config["RATELIMIT_STORAGE_URL"]
    # After-request functions run last registered first: these two around the limiter's.
    app.after_request(_tidy_retry_after)
    limiter = Limiter(
        client_key,
        storage_uri=storage_url,
        storage_options=_storage_options(storage_url),
        strategy=STRATEGY,
        headers_enabled=True,
        retry_after="delta-seconds",
        swallow_errors=True,  # fail open: a storage error is logged, never a 500
        in_memory_fallback_enabled=True,  # and counting goes on in memory meanwhile
        key_prefix=config.get("RATELIMIT_KEY_PREFIX") or DEFAULT_KEY_PREFIX,
        enabled=bool(config["RATELIMIT_ENABLED"]),
    )
    limiter.init_app(app)
    app.after_request(_remember_retry_after)
    app.extensions[EXTENSION] = Checks(
        limiter=limiter,
        enabled=limiter.enabled,
        api=limiter.shared_limit(
            api_limit, scope="api", key_func=token_key, error_message=_api_message
        )(_api_checkpoint),
        scim=limiter.shared_limit(
            api_limit, scope="scim", key_func=token_key, error_message=_api_message
        )(_scim_checkpoint),
        booking=limiter.shared_limit(
            booking_limit, scope="booking", key_func=user_key, error_message=_booking_message
        )(_booking_checkpoint),
    )


def checks() -> Checks | None:
    """The current app's checks, None when they are switched off or never set up."""
    found = current_app.extensions.get(EXTENSION)
    return found if found is not None and found.enabled else None


# --- the hooks the views call ------------------------------------------------------------


def api_request(user_id: int) -> None:
    """A JSON API request whose bearer token is good: count it against API_RATE_LIMIT
    for that token (429 past it), and name the token's owner for ``booking_action``."""
    g.limits_user_id = user_id
    found = checks()
    if found is not None:
        found.api()


def scim_request() -> None:
    """A SCIM request whose token is good: count it against API_RATE_LIMIT for that
    token, apart from the JSON API's counts (429 past it)."""
    found = checks()
    if found is not None:
        found.scim()


def booking_action(view: Callable[P, R]) -> Callable[P, R]:
    """For the views that book, change or cancel a stay: each call counts against the
    acting person's BOOKING_RATE_LIMIT, one budget for all of them, pages and API alike;
    past it the answer is 429 (the JSON error under /api/, the error page elsewhere)."""

    @wraps(view)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        found = checks()
        if found is not None:
            try:
                found.booking()
            except RateLimitExceeded as exc:
                exc.page_message = _l(
                    "You have booked, changed or cancelled many stays in a short time."
                    " Please wait a little and try again."
                )
                raise
        return view(*args, **kwargs)

    return limited


__all__ = [
    "Checks",
    "api_request",
    "booking_action",
    "checks",
    "client_key",
    "init_app",
    "scim_request",
    "token_key",
    "user_key",
]
