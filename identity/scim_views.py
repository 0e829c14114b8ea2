"""SCIM 2.0 (RFC 7644) for a company's directory: ``/scim/v2/Users`` and the discovery
documents.

A bearer token only, never a cookie (so no CSRF token: nothing to forge). JSON in
and out as ``application/scim+json`` (``application/json`` is read too). Every
refusal, a wrong token, a bad body, an unknown address or a wrong method included,
answers in SCIM's error shape. The token is looked up first: a valid one is never
refused by the limit on wrong tokens, since identity providers provision all their
customers from shared addresses and one tenant's wrong token must not stop everyone
else's provisioning. Requests with a wrong or missing token are counted per client
address, and past the limit only those are refused (429). Telling a right guess from
a wrong one is harmless: tokens are 256-bit random.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from flask_babel import force_locale
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from core import limits, ratelimit
from core.db import edge_now
from core.extensions import csrf, db
from core.ratelimit import Limit
from identity import members, scim
from identity.scim_input import read_filter, read_paging, read_patch, read_user
from identity.scim_schema import (
    ScimError,
    all_schemas,
    error_json,
    list_json,
    schema_of,
    service_provider_config,
    user_json,
    user_location,
    user_resource_type,
)

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)  # bearer tokens only, never cookies

log = logging.getLogger(__name__)

SCIM_JSON = "application/scim+json"
BODY_TYPES = (SCIM_JSON, "application/json")
BAD_TOKENS_PER_IP = Limit("scim-bad-token-ip", 20, 3600)
WWW_AUTHENTICATE = 'Bearer realm="Engawa SCIM"'


def _answer(body: dict[str, Any], status: int = 200, headers: dict | None = None) -> Response:
    return current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=SCIM_JSON, headers=headers
    )


def _company_id() -> int:
    return g.scim_company_id


# --- Authentication and errors ---------------------------------------------------------


@bp.before_request
def _authenticate():
    now = edge_now()
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    company_id = scim.company_for_token(secret, now) if scheme.lower() == "bearer" else None
    if company_id is None:
        client = ratelimit.client_ip()
        wait = ratelimit.peek(BAD_TOKENS_PER_IP, client, now)
        if wait:
            raise ScimError(
                429,
                "Too many requests with a wrong token from this address. Try again later.",
                headers={"Retry-After": str(wait)},
            )
        ratelimit.hit(BAD_TOKENS_PER_IP, client, now)
        db.session.commit()
        raise ScimError(
            401,
            "A valid SCIM bearer token is required.",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if db.session.dirty:  # last_used_at moved on: recorded before the request's work
        db.session.commit()
    limits.scim_request()  # API_RATE_LIMIT per token: 429 past it, identity providers retry
    g.scim_company_id = company_id


def _under_scim(path: str) -> bool:
    return path == bp.url_prefix or path.startswith(f"{bp.url_prefix}/")


@bp.before_app_request
def _routing_errors():
    """An unknown address or a wrong method under /scim/v2 answers in SCIM's shape too
    (Flask raises these before any blueprint is chosen, so its handlers never see them)."""
    refused = request.routing_exception
    if isinstance(refused, NotFound | MethodNotAllowed) and _under_scim(request.path):
        return _http_error(refused)
    return None


@bp.errorhandler(ScimError)
def _scim_error(exc: ScimError):
    db.session.rollback()
    if exc.status == 409 and exc.detail == scim.SEATS_FULL:
        # A person the directory provisions could not join: the admins hear of it, once a day.
        members.record_seats_full(_company_id(), edge_now())
        db.session.commit()
    return _answer(exc.as_json(), exc.status, exc.headers)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    db.session.rollback()
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    scim_type = "invalidSyntax" if status == 400 else None
    return _answer(error_json(status, _detail_of(exc), scim_type), status, headers)


def _detail_of(exc: HTTPException) -> str:
    """What a refusal says, in English as SCIM's details are: the message for people an
    exception may carry (``core.input_guard``'s refusals do), else its description."""
    message = getattr(exc, "page_message", None)
    if message is None:
        return exc.description or exc.name
    with force_locale("en"):
        return str(message)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    log.error("SCIM request failed: %s", type(exc).__name__)  # the class only: no personal data
    db.session.rollback()
    return _answer(error_json(500, "Something went wrong on our side."), 500)


def _body() -> Any:
    if request.mimetype not in BODY_TYPES:
        raise ScimError(415, f"Send the body as {SCIM_JSON}.")
    try:
        return json.loads(request.get_data(cache=True), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ScimError(400, "The body is not valid JSON.", "invalidSyntax") from None


def _no_constant(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON


def _user_answer(user, status: int = 200, headers: dict | None = None) -> Response:
    modified = scim.last_modified([user]).get(user.id)
    return _answer(user_json(user, modified), status, headers)


# --- Users ------------------------------------------------------------------------------


@bp.get("/Users")
def users():
    where = read_filter(request.args.get("filter"))
    start, count = read_paging(request.args.get("startIndex"), request.args.get("count"))
    total, page = scim.list_users(_company_id(), where, start, count)
    modified = scim.last_modified(page)
    resources = [user_json(user, modified.get(user.id)) for user in page]
    return _answer(list_json(resources, total, start))


@bp.post("/Users")
def create_user():
    changes = read_user(_body())
    user = scim.create_user(_company_id(), changes, edge_now())
    db.session.commit()
    return _user_answer(user, 201, {"Location": user_location(user.id)})


@bp.get("/Users/<user_id>")
def user(user_id: str):
    return _user_answer(scim.user_of(_company_id(), user_id))


@bp.put("/Users/<user_id>")
def replace_user(user_id: str):
    changes = read_user(_body())
    user = scim.update_user(_company_id(), user_id, changes, edge_now())
    db.session.commit()
    return _user_answer(user)


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str):
    changes = read_patch(_body())
    user = scim.update_user(_company_id(), user_id, changes, edge_now())
    db.session.commit()
    return _user_answer(user)


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str):
    scim.delete_user(_company_id(), user_id, edge_now())
    db.session.commit()
    return Response(status=204)


# --- Discovery --------------------------------------------------------------------------


@bp.get("/ServiceProviderConfig", endpoint="service_provider_config")
def service_provider_config_view():
    return _answer(service_provider_config())


@bp.get("/ResourceTypes")
def resource_types():
    return _answer(list_json([user_resource_type()], 1, 1))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str):
    if name != "User":
        raise ScimError(404, "No such resource type.")
    return _answer(user_resource_type())


@bp.get("/Schemas")
def schemas():
    resources = all_schemas()
    return _answer(list_json(resources, len(resources), 1))


@bp.get("/Schemas/<schema_id>")
def schema(schema_id: str):
    found = schema_of(schema_id)
    if found is None:
        raise ScimError(404, "No such schema.")
    return _answer(found)
