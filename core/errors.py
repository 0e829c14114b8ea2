"""Error answers: JSON under /api/, pages elsewhere; never a stack trace to the user."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from core import input_guard
from core.extensions import db, login_manager

log = logging.getLogger(__name__)


class RuleError(Exception):
    """A business rule refused an action. ``code`` is stable; the message is for people
    (often a lazy translation, rendered in the reader's language)."""

    code = "invalid"

    def __init__(self, message, code: str | None = None):
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _api_body(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _route_of_request() -> str:
    """The request's route for the log: its pattern (``/password/reset/<token>``), never
    the path itself, which may carry a one-time secret; without a matched route, the
    path's first segment only."""
    rule = request.url_rule
    if rule is not None:
        return rule.rule
    first, _sep, rest = request.path.lstrip("/").partition("/")
    return "/" + first + ("/..." if rest else "")


# -- the database cannot be reached -------------------------------------------------

# How long a client should wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5
# SQLite's result codes for "busy or unreachable now". sqlite3 reports nearly every
# failure, a missing table included, as OperationalError: only these are an outage.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
)
# PostgreSQL's SQLSTATE classes for a server that cannot serve now: 08 connection
# exception, 53 insufficient resources (too many connections, disk full), 57P operator
# intervention (shutdown, crash, starting up). A deadlock or serialization failure (40)
# or a statement timeout (57014) is not an outage.
_PG_UNAVAILABLE = ("08", "53", "57P")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached or used just now (a
    restart, a failover, a dropped connection, a full pool), rather than a refusal or a
    bug: those stay 500s (constraint errors are IntegrityError and are never this)."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # the pool: a connection that failed its check, or none free in time
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection break and dropped the pool's others
    orig = exc.orig
    if isinstance(orig, psycopg.InterfaceError):
        return True
    if isinstance(orig, psycopg.OperationalError):
        # No SQLSTATE: the server never answered (refused, closed, timed out).
        return orig.sqlstate is None or orig.sqlstate.startswith(_PG_UNAVAILABLE)
    if isinstance(orig, sqlite3.OperationalError):
        return (getattr(orig, "sqlite_errorname", "") or "").startswith(_SQLITE_UNAVAILABLE)
    return False


def _exception_names(exc: BaseException) -> str:
    """For the log: the classes and the SQLSTATE, never the message (it may hold the
    server's address, a user name or the statement's values)."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return type(exc).__name__
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    inner = type(orig).__name__ + (f", {code}" if code else "")
    return f"{type(exc).__name__} ({inner})"


def _end_broken_transaction() -> None:
    """Roll the request's session back now, so nothing of it is committed later and the
    broken connection goes back to the pool, which replaces it (invalidated, or found
    dead by the pre-ping): the next request starts on a fresh connection. The session
    itself is removed when the request ends (Flask-SQLAlchemy's teardown)."""
    try:
        db.session.rollback()
    except sa_exc.SQLAlchemyError:
        pass  # the connection is gone either way; the teardown closes what is left


def _as_signed_out_visitor() -> None:
    """The rest of this request sees a signed-out visitor: loading who is signed in (for
    the language, the header, the unread notices) would ask the database that just
    failed. The browser's sign-in cookie is left as it is."""
    # flask_login keeps the request's user here; an anonymous one needs no query.
    g._login_user = login_manager.anonymous_user()


def _unavailable_page(message: str) -> str:
    try:
        return render_template("error.html", status=503, message=message)
    except Exception:  # the page needed something else that is down: plain words then
        log.warning("error page could not be drawn during a database outage", exc_info=True)
        return f"<!doctype html><title>503</title><p>{escape(message)}</p>"


def init_app(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _api_body(exc.status, exc.code, exc.message)

    input_guard.init_app(app)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # An exception may carry its own stable API code and message for people
        # (``api_code``, ``page_message``: core.input_guard's refusals do).
        if _wants_json():
            code = getattr(exc, "api_code", None) or (exc.name or "error").lower().replace(" ", "_")
            body, status = _api_body(exc.code or 500, code, exc.description or exc.name)
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            return body, status, headers
        messages = {
            400: _("The request could not be understood. Please go back and try again."),
            403: _("You do not have access to this page."),
            404: _("The page you were looking for does not exist."),
            405: _("That action is not allowed here."),
            429: _("Too many requests. Please wait a moment."),
        }
        message = getattr(exc, "page_message", None) or messages.get(
            exc.code, _("Something went wrong.")
        )
        page = render_template("error.html", status=exc.code, message=message)
        # Keep what the exception says about the answer (Retry-After, Allow, …).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return page, exc.code, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, _route_of_request())
        if _wants_json():
            return _api_body(500, "internal_error", "Something went wrong on our side.")
        return render_template(
            "error.html", status=500, message=_("Something went wrong on our side.")
        ), 500

    def database_outage(exc: Exception):
        """503 with Retry-After while the database is unreachable: JSON under /api/, the
        error page elsewhere. Anything else of these classes is an unexpected error."""
        if not database_unavailable(exc):
            return unexpected(exc)
        _end_broken_transaction()
        log.error(
            "database unavailable on %s %s: %s",
            request.method,
            _route_of_request(),
            _exception_names(exc),
        )
        _as_signed_out_visitor()
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if _wants_json():
            body, status = _api_body(
                503,
                "unavailable",
                "The service is briefly unavailable. Try again after Retry-After seconds.",
            )
            return body, status, headers
        if request.method in ("GET", "HEAD"):
            message = _("Engawa is briefly unavailable. Please try again in a few seconds.")
        else:
            message = _(
                "Engawa is briefly unavailable, and what you sent may not have been saved."
                " Please check in a few seconds before trying again."
            )
        return _unavailable_page(message), 503, headers

    for outage in (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.register_error_handler(outage, database_outage)
