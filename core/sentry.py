"""Error reports to Sentry when ``SENTRY_DSN`` is set, with personal data taken out.

``scrub`` runs on every event before it leaves the process: no cookies, no
Authorization or Cookie header, no query string, no request body, no user but their
id, no client address, no command line; and any e-mail address, URL path or query (a calendar feed's
secret) or export feed token left in a message, an exception or extra data is replaced
(``core.logs.redact``). Local variables of stack frames are not sent at all: they hold
whatever the code was working on, names and addresses included.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sentry_sdk
from flask import Flask
from sentry_sdk.integrations.flask import FlaskIntegration

from core.logs import current_request_id, redact

# Request headers never sent (compared in lower case).
DROPPED_HEADERS = frozenset(
    {"authorization", "cookie", "set-cookie", "x-forwarded-for", "x-real-ip", "forwarded"}
)
DROPPED_REQUEST_KEYS = ("cookies", "data", "query_string", "env")
# A path segment that may be a secret: long and token-like, or an .ics feed name.
_SECRET_SEGMENT = re.compile(r"[A-Za-z0-9_-]{16,}(\.ics)?|[^/]+\.ics")


def init_app(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN") or ""
    if not dsn:
        return
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config.get("SENTRY_ENVIRONMENT") or None,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        send_client_reports=False,
        before_send=_before_send,
        before_send_transaction=_before_send,
        integrations=[FlaskIntegration()],
    )


def _before_send(event: dict, hint: dict | None) -> dict:
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return scrub(event, hint)


def request_url(url: str) -> str:
    """A request's URL without its query and with secret-looking path segments hidden
    (``/password/reset/<token>`` → ``/password/reset/[token]``)."""
    parts = urlsplit(url)
    path = "/".join(
        "[token]" if _SECRET_SEGMENT.fullmatch(segment) else segment
        for segment in parts.path.split("/")
    )
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def scrub(event: dict, hint: dict | None = None) -> dict:
    """The event with personal data and secrets taken out (a pure function of it)."""
    request = event.get("request")
    url = None
    if isinstance(request, dict):
        for key in DROPPED_REQUEST_KEYS:
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value
                for name, value in headers.items()
                if str(name).lower() not in DROPPED_HEADERS
            }
        if isinstance(request.get("url"), str):
            url = request_url(request["url"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    extra = event.get("extra")
    if isinstance(extra, dict):
        extra.pop("sys.argv", None)  # a command's arguments: names, addresses, passwords
    event = _redacted(event)
    if url is not None:
        event["request"]["url"] = url
    return event


def _redacted(value: Any) -> Any:
    """Every string in ``value`` (dicts, lists, tuples walked) through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value
