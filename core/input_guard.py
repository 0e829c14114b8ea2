"""Refuse control characters in whatever a request carries, before any view runs.

PostgreSQL cannot store a NUL in text (SQLite can), and no field of Engawa has a
use for the other C0 control characters, DEL, or a lone surrogate (which a JSON
``"\\ud800"`` escape can produce and UTF-8 cannot encode). So one hook refuses them
everywhere with a 400 — ``invalid_characters`` under ``/api/``, the error page in
the reader's language elsewhere — instead of each form learning it one by one.

The rule, the same for every form:

- values of form fields and JSON strings may hold tab, LF and CR (text areas
  keep their line breaks; a stray newline in a one-line field is harmless, and
  the form's own validators judge it);
- the address (path), query strings, field names, JSON keys and uploaded file
  names allow no control character at all; nothing sent there has a line break;
- header values allow tab only, as HTTP itself does.

A view whose body is larger than the application's limit (photo uploads) marks
itself with ``defer_body_check`` and calls ``check_body()`` once its own limit
applies; a body signed by a provider may be left to its view with ``trust_body``.
A JSON body that is not valid JSON is left to the view, which answers it as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

# C0 controls, DEL and the surrogate range; tab, LF and CR are let through separately.
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff"
TEXT_REFUSED = re.compile(f"[{_CONTROL}]")  # field values, JSON strings
NAME_REFUSED = re.compile(f"[{_CONTROL}\t\n\r]")  # paths, query strings, names, keys
HEADER_REFUSED = re.compile(f"[{_CONTROL}\n\r]")  # RFC 9110: a field value allows HTAB

_DEFER = "_input_guard_body"


class InvalidCharacters(BadRequest):
    """A request carrying a control character; ``where`` says in which part (for the API)."""

    api_code = "invalid_characters"
    page_message = _l(
        "The request contains characters that are not allowed (a NUL byte or another "
        "control character). Please remove them and try again."
    )

    def __init__(self, where: str):
        super().__init__(
            f"Control characters (such as NUL) are not allowed in {where}: remove them."
        )
        self.where = where


def defer_body_check(view: Callable) -> Callable:
    """Mark a view that reads its own body under a larger limit and calls ``check_body()``."""
    setattr(view, _DEFER, "view")
    return view


def trust_body(view: Callable) -> Callable:
    """Mark a view whose body is verified otherwise (a provider's signed payload)."""
    setattr(view, _DEFER, "trusted")
    return view


def _named(kind: str, name: str) -> str:
    """Where the characters are, naming the field only where its name is itself clean."""
    if len(name) <= 64 and not NAME_REFUSED.search(name):
        return f"{kind} '{name}'"
    return f"the name of a {kind}"


def _json_strings(value: Any) -> Iterator[tuple[str, str, bool]]:
    """(top-level key, string, is a key) for every string in a JSON document, without
    recursion: a document nested hundreds deep must not exhaust the stack here."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        top, item = stack.pop()
        if isinstance(item, str):
            yield top, item, False
        elif isinstance(item, dict):
            for key, child in item.items():
                where = top or str(key)
                yield where, str(key), True
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((top, child) for child in item)


def _check_url_and_headers() -> None:
    if NAME_REFUSED.search(request.path):
        raise InvalidCharacters("the address")
    for name, value in request.args.items(multi=True):
        if NAME_REFUSED.search(name) or NAME_REFUSED.search(value):
            raise InvalidCharacters(_named("query parameter", name))
    for name, value in request.headers.items():
        if HEADER_REFUSED.search(value):
            raise InvalidCharacters(_named("header", name))


def check_body() -> None:
    """Refuse control characters in the form fields, file names and JSON body."""
    for name, value in request.form.items(multi=True):
        if NAME_REFUSED.search(name) or TEXT_REFUSED.search(value):
            raise InvalidCharacters(_named("form field", name))
    for name, upload in request.files.items(multi=True):
        if NAME_REFUSED.search(name) or NAME_REFUSED.search(upload.filename or ""):
            raise InvalidCharacters(_named("file upload", name))
    if request.is_json:
        try:
            body = request.get_json(silent=True)  # invalid JSON: the view's business
        except RecursionError:
            return
        for where, text, is_key in _json_strings(body):
            if (NAME_REFUSED if is_key else TEXT_REFUSED).search(text):
                raise InvalidCharacters(_named("JSON field", where) if where else "the JSON body")


def guard_request() -> None:
    _check_url_and_headers()
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, _DEFER, None) is None:
        check_body()


def init_app(app) -> None:
    app.before_request(guard_request)
