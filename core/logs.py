"""Logs: one line per request (JSON in production) and a request id on every line.

``configure`` sends every logger's records to stderr, as JSON objects (``LOG_FORMAT=json``,
the production default: python-json-logger) or as readable text. Each request gets an
id, taken from the proxy's ``X-Request-ID`` when it looks like one, else made here; it
is returned in the answer's ``X-Request-ID`` and attached to every record logged while
the request runs (``RequestIdFilter``). At its end the request is counted
(``core.metrics``) and logged once: method, endpoint and route pattern, status,
duration and the signed-in user's id, never the path itself (it may carry a secret
token), a query string, an e-mail or a name. Job runs log their own line with extra
fields (``core.scheduler``); extra fields appear as keys of the JSON object.

As a last guard, the handler's output has e-mail addresses and URLs' paths replaced
(``redact``): no line should carry them, and one that did by mistake loses them here.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import inspect

from core import metrics
from core.errors import _route_of_request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "engawa_request_id", default=None
)
_STARTED = "engawa.request_started"
# Probes answered 200 are counted but logged only at DEBUG: a load balancer asks every
# few seconds, and a line each time would bury the requests people make.
QUIET_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "health.metrics"})

request_log = logging.getLogger("engawa.request")

# --- Redaction ------------------------------------------------------------------------

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Everything after the host of a URL: feed addresses carry their secret there.
URL = re.compile(r"\b((?:https?|webcal)://[^/\s\"'<>\\?#]+)[/?#][^\s\"'<>\\]*", re.IGNORECASE)
# Engawa's own export feeds: /calendars/<token>.ics.
EXPORT_FEED = re.compile(r"/calendars/[^/\s\"'<>\\]+\.ics")


def redact(text: str) -> str:
    """``text`` with e-mail addresses, URLs' paths and queries, and export feed tokens
    replaced."""
    text = EMAIL.sub("[email]", text)
    text = URL.sub(r"\1/[redacted]", text)
    return EXPORT_FEED.sub("/calendars/[token].ics", text)


# --- Formatting -----------------------------------------------------------------------


def current_request_id() -> str | None:
    """The id of the request being answered (None outside a request)."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Gives every record ``request_id``: the current request's, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonLines(JsonFormatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message,
    request_id and any ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class TextLines(logging.Formatter):
    """A readable line: time, level, logger, [request id] and the message."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            defaults={"request_id": "-"},
        )

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (as ``logging.lastResort`` does),
    so a replaced stderr (a test's capture) is never written to after it closed."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def make_handler(log_format: str, stream=None) -> logging.Handler:
    """The handler ``configure`` installs: JSON or text lines, with the request id."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    handler.addFilter(RequestIdFilter())
    handler.engawa = True  # type: ignore[attr-defined]  (ours, replaced by a later configure)
    return handler


def configure(log_format: str, level: str, stream=None) -> logging.Handler:
    """Send the records of every logger at ``level`` and above to stderr (or ``stream``)
    through one handler of ours, replacing the one an earlier call installed."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "engawa", False)]:
        root.removeHandler(old)
    handler = make_handler(log_format, stream)
    root.addHandler(handler)
    root.setLevel(level)
    # werkzeug's development server logs each request with its raw path and query (a
    # feed's token included); the request line above replaces it. Its warnings stay.
    logging.getLogger("werkzeug").setLevel(
        logging.WARNING if log_format == "json" else logging.NOTSET
    )
    return handler


# --- The request ----------------------------------------------------------------------


def _incoming_request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _start() -> None:
    request.environ[_STARTED] = time.perf_counter()
    _request_id.set(_incoming_request_id())


def _signed_in_user_id() -> int | None:
    """The id of the user Flask-Login loaded for this request, if it loaded one (never
    loading one here: that would reach the database for every probe and static file)."""
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    state = inspect(user, raiseerr=False)  # the identity needs no query, even if expired
    if state is not None and state.identity:
        return state.identity[0]
    return None


def _finish(response):
    started = request.environ.get(_STARTED)
    seconds = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint if request.url_rule is not None else metrics.UNMATCHED
    metrics.observe_request(endpoint, request.method, response.status_code, seconds)
    request_id = _request_id.get() or _incoming_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    route = _route_of_request()
    quiet = endpoint in QUIET_ENDPOINTS and response.status_code == 200
    request_log.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %s %.1f ms",
        request.method,
        route,
        response.status_code,
        seconds * 1000,
        extra={
            "method": request.method,
            "endpoint": endpoint,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": _signed_in_user_id(),
        },
    )
    return response


def _end(_exc: BaseException | None) -> None:
    _request_id.set(None)


def init_app(app: Flask) -> None:
    """Configure the logs (not under tests: pytest captures them itself) and give every
    request an id, a count and one line. Call after ``core.web``: the id is set before
    anything else runs, a refused host included."""
    if not app.testing:
        configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.teardown_request(_end)
