"""Rate limits every web node shares (core.limits, Flask-Limiter): the JSON APIs and SCIM
per token, booking per employee; counted together by
apps on one Redis, apart with memory://, and never stopping anyone while Redis is down.

Each test builds its own apps with ``create_app`` on the test's database, with windows of
an hour: nothing here depends on how fast the requests run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import uuid

import pytest
import redis
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from accounts.models import Role
from app import create_app
from booking.models import Booking
from core import limits
from core.config import ConfigError
from core.extensions import db as _db
from core.ops_config import operations_settings
from identity import scim
from tests.conftest import (
    NOW,
    RequestIsolatedClient,
    app_config,
    bearer,
    days,
    signed_in,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 3  # "3 per hour": API_RATE_LIMIT and BOOKING_RATE_LIMIT of these tests
BOOKINGS = "/api/v1/bookings"
BOOKING_REFUSED = (
    "You have booked, changed or cancelled many stays in a short time."
    " Please wait a little and try again."
)


@pytest.fixture
def limited(app):
    """``make(**config)``: an app of its own on the test's database, limits switched on,
    ``LIMIT`` per hour unless told otherwise. Its connections end with the test."""
    made = []

    def make(**config):
        settings = {
            "RATELIMIT_ENABLED": True,
            "API_RATE_LIMIT": f"{LIMIT} per hour",
            "BOOKING_RATE_LIMIT": f"{LIMIT} per hour",
            **config,
        }
        web = create_app(app_config(app.config["SQLALCHEMY_DATABASE_URI"], **settings))
        web.test_client_class = RequestIsolatedClient
        made.append(web)
        return web

    yield make
    for web in made:
        with web.app_context():
            _db.engine.dispose()


@pytest.fixture
def shared_redis():
    """The Redis at ``REDIS_URL`` and a key prefix of this test's own; its keys are
    removed afterwards. Skipped without Redis, failed instead under CI=true."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis at {REDIS_URL} is not reachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    prefix = f"engawa-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    yield client, prefix
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def statuses(client, times: int, path: str = BOOKINGS, **kw) -> list[int]:
    return [client.get(path, **kw).status_code for _ in range(times)]


def assert_api_refusal(response) -> dict:
    """429 in the API's error shape, with a Retry-After within the hour window."""
    assert response.status_code == 429, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert error["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    return error


def bookings_of(user) -> int:
    _db.session.rollback()
    return _db.session.scalar(
        select(func.count()).select_from(Booking).where(Booking.user_id == user.id)
    )


def said(web, page: str, message: str) -> str:
    """``message`` in the language ``page`` is written in (its ``<html lang>``)."""
    language = re.search(r'<html lang="([a-z]+)"', page)[1]
    with web.test_request_context(), force_locale(language):
        return gettext(message)


def book_form(unit_id: int, check_in: int, check_out: int) -> dict:
    return {
        "unit_id": unit_id,
        "check_in": days(check_in).isoformat(),
        "check_out": days(check_out).isoformat(),
        "guests": 1,
    }


# --- the JSON APIs per token -------------------------------------------------------------


def test_a_token_past_its_limit_gets_429_json_and_another_token_carries_on(
    db, limited, make_employee
):
    web = limited()
    employee = make_employee()
    first, second = bearer(db, employee), bearer(db, employee)
    client = web.test_client()

    served = client.get(BOOKINGS, headers=first)
    assert served.status_code == 200
    assert served.headers["X-RateLimit-Limit"] == str(LIMIT)
    assert served.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    assert "Retry-After" not in served.headers  # said only when it means something
    assert statuses(client, LIMIT - 1, headers=first) == [200] * (LIMIT - 1)

    error = assert_api_refusal(client.get(BOOKINGS, headers=first))
    assert f"at most {LIMIT} per hour" in error["message"]
    assert_api_refusal(client.get(f"{BOOKINGS}/1", headers=first))  # every route, one count
    # The same person's other token, and a new client with it, have their own count.
    assert statuses(web.test_client(), LIMIT, headers=second) == [200] * LIMIT


def test_the_operator_api_is_limited_per_token_too(db, limited, make_user, unit):
    web = limited()
    operator = make_user(Role.OPERATOR, operator=unit.facility.operator)
    token = bearer(db, operator)
    client = web.test_client()

    path = "/api/v1/operator/facilities"
    assert statuses(client, LIMIT, path, headers=token) == [200] * LIMIT
    assert_api_refusal(client.get(path, headers=token))


def test_a_scim_token_is_limited_and_answered_in_scims_shape(db, limited, make_company, make_user):
    web = limited()
    company = make_company(email_domain="acme.example", email_domain_approved_at=NOW)
    admin = make_user(Role.COMPANY_ADMIN, company=company)
    _token, secret = scim.rotate_token(company.id, NOW, actor=admin)
    db.session.commit()
    client = web.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    assert statuses(client, LIMIT, "/scim/v2/Users", headers=headers) == [200] * LIMIT
    refused = client.get("/scim/v2/Users", headers=headers)
    assert refused.status_code == 429
    assert refused.headers["Content-Type"].startswith("application/scim+json")
    assert refused.get_json()["status"] == "429"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


# --- booking per employee ------------------------------------------------------------------


def test_an_employee_past_the_booking_limit_is_refused_and_another_books_on(
    db, limited, make_employee, make_unit
):
    web = limited()
    room = make_unit(capacity=2)
    busy, other = make_employee(), make_employee()
    browser = signed_in(web, busy)

    assert browser.post("/book", data=book_form(room.id, 10, 12)).status_code == 303
    [first] = db.session.scalars(select(Booking).where(Booking.user_id == busy.id))
    assert browser.post(f"/stays/{first.id}/cancel").status_code == 303
    assert browser.post("/book", data=book_form(room.id, 20, 22)).status_code == 303

    refused = browser.post("/book", data=book_form(room.id, 30, 32))
    assert refused.status_code == 429
    assert "text/html" in refused.headers["Content-Type"]
    page = refused.get_data(as_text=True)
    assert said(web, page, BOOKING_REFUSED) in page  # the error page, in the page's language
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert bookings_of(busy) == 2  # the refused one booked nothing

    # One budget for pages and API alike: the API books nothing for this person either,
    # while reading is not a booking and goes on.
    token = bearer(db, busy)
    api = web.test_client()
    body = book_form(room.id, 40, 42)
    error = assert_api_refusal(api.post(BOOKINGS, json=body, headers=token))
    assert "bookings, changes and cancellations" in error["message"]
    assert api.get(BOOKINGS, headers=token).status_code == 200
    assert bookings_of(busy) == 2

    # Another employee is not held back by the first one's count.
    assert signed_in(web, other).post("/book", data=book_form(room.id, 30, 32)).status_code == 303
    assert bookings_of(other) == 1


def test_the_apis_bookings_changes_and_cancellations_share_the_booking_limit(
    db, limited, make_employee, make_unit
):
    web = limited(API_RATE_LIMIT="100 per hour")
    room = make_unit(capacity=2)
    token = bearer(db, make_employee())
    client = web.test_client()

    created = client.post(BOOKINGS, json=book_form(room.id, 10, 12), headers=token)
    assert created.status_code == 201
    stay = created.get_json()["id"]
    changed = client.patch(f"{BOOKINGS}/{stay}", json={"guests": 2}, headers=token)
    assert changed.status_code == 200
    assert client.delete(f"{BOOKINGS}/{stay}", headers=token).status_code == 204
    assert_api_refusal(client.post(BOOKINGS, json=book_form(room.id, 20, 22), headers=token))


def test_an_answer_of_a_counted_request_keeps_its_own_retry_after(limited):
    """A counted request answered 503 "try again in 5 s" (the database restarting) says
    5 s, not the end of the limit's window; a 200 says nothing."""
    web = limited()
    answers = iter([("busy", 503, {"Retry-After": "5"}), ("done", 200)])

    @limits.booking_action
    def counted():
        return next(answers)

    web.add_url_rule("/api/v1/test-counted", "test_counted", counted, methods=["POST"])
    client = web.test_client()

    busy = client.post("/api/v1/test-counted")
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "5")
    assert busy.headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
    assert "Retry-After" not in client.post("/api/v1/test-counted").headers


# --- where the counts live ----------------------------------------------------------------


def test_two_apps_on_one_redis_share_each_tokens_count(
    db, limited, make_employee, shared_redis, caplog
):
    store, prefix = shared_redis
    settings = {"RATELIMIT_STORAGE_URL": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    node_a, node_b = limited(**settings), limited(**settings)
    token = bearer(db, make_employee())
    secret = token["Authorization"].split()[1]
    a, b = node_a.test_client(), node_b.test_client()

    caplog.set_level(logging.INFO)
    assert statuses(a, 2, headers=token) + statuses(b, 1, headers=token) == [200] * LIMIT
    assert_api_refusal(a.get(BOOKINGS, headers=token))
    assert_api_refusal(b.get(BOOKINGS, headers=token))  # the other node knows it too

    keys = [key.decode() for key in store.scan_iter(match=f"*{prefix}*")]
    assert keys, "the count is in Redis"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert all(digest in key and secret not in key for key in keys)  # the hash, never the token
    assert secret not in caplog.text


def test_with_memory_storage_each_app_counts_alone(db, limited, make_employee):
    node_a, node_b = limited(), limited()  # memory://, the default
    token = bearer(db, make_employee())
    a, b = node_a.test_client(), node_b.test_client()

    assert statuses(a, LIMIT, headers=token) == [200] * LIMIT
    assert_api_refusal(a.get(BOOKINGS, headers=token))
    assert statuses(b, LIMIT, headers=token) == [200] * LIMIT


def test_with_redis_down_bookings_go_on_and_each_process_counts_alone(
    db, limited, make_employee, make_unit, caplog
):
    web = limited(RATELIMIT_STORAGE_URL=f"redis://127.0.0.1:{closed_port()}/0")
    room = make_unit()
    token = bearer(db, make_employee())
    client = web.test_client()

    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        created = client.post(BOOKINGS, json=book_form(room.id, 10, 12), headers=token)
    assert created.status_code == 201  # the booking is made: the limits fail open
    assert "unreachable" in caplog.text
    assert statuses(client, LIMIT - 1, headers=token) == [200] * (LIMIT - 1)
    # Meanwhile the process counts in its own memory, so a flood is still held back.
    assert_api_refusal(client.get(BOOKINGS, headers=token))


# --- switches and settings -----------------------------------------------------------------


def test_switched_off_nothing_is_limited_and_redis_is_never_asked(
    db, limited, make_employee, caplog
):
    web = limited(
        RATELIMIT_ENABLED=False, RATELIMIT_STORAGE_URL=f"redis://127.0.0.1:{closed_port()}/0"
    )
    token = bearer(db, make_employee())
    client = web.test_client()

    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        answers = [client.get(BOOKINGS, headers=token) for _ in range(LIMIT * 3)]
    assert [a.status_code for a in answers] == [200] * LIMIT * 3
    assert "X-RateLimit-Limit" not in answers[-1].headers
    assert "unreachable" not in caplog.text


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("API_RATE_LIMIT", "lots", "API_RATE_LIMIT must be a rate limit"),
        ("BOOKING_RATE_LIMIT", "20 per fortnight", "BOOKING_RATE_LIMIT must be a rate limit"),
        ("RATELIMIT_STORAGE_URL", "mysql://127.0.0.1/limits", "RATELIMIT_STORAGE_URL must be"),
        ("RATELIMIT_ENABLED", "maybe", "RATELIMIT_ENABLED"),
    ],
)
def test_bad_settings_are_refused_at_start(name, value, problem):
    with pytest.raises(ConfigError, match=problem):
        operations_settings({name: value}, production=False, database_url="sqlite://")


@pytest.mark.parametrize("value", ["0 per minute", "50 per 5 seconds;0 per hour"])
def test_a_limit_that_lets_nothing_through_is_refused_by_the_factory(tmp_path, value):
    url = f"sqlite:///{tmp_path / 'never-opened.db'}"
    with pytest.raises(ConfigError, match="API_RATE_LIMIT must be a rate limit"):
        create_app(app_config(url, API_RATE_LIMIT=value))
    defaults = operations_settings({}, production=False, database_url="sqlite://")
    assert defaults["API_RATE_LIMIT"] == "50 per 5 seconds"
    assert defaults["BOOKING_RATE_LIMIT"] == "20 per minute"
    assert defaults["RATELIMIT_STORAGE_URL"] == "memory://"
    assert defaults["RATELIMIT_ENABLED"] is True
