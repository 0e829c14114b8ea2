"""Error answers: JSON under /api/, pages elsewhere; never a stack trace to the user."""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from core import input_guard

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
