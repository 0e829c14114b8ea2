"""Bad input on every door: a clear 4xx, never a 500, and nothing written.

The same kinds of junk (dates, ids, guests, bodies) are thrown at the search page,
the web booking flow (quote and book) and the JSON API. Each case names the
answers that fit it; a 500 or a redirect never does.

At the end, control characters are thrown at every route of the app (derived from its
URL map), on SQLite and on PostgreSQL: each answers the input guard's 400 and no table
changes.
"""

from __future__ import annotations

import inspect
import re
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from types import FunctionType

import pytest
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select

import app as factory
from accounts.services import create_api_token
from availability import closing
from availability.models import Occupancy
from booking import services
from booking.models import Booking
from tests.conftest import NOW, PASSWORD, days

INVALID = (400, 422)  # malformed, or well-formed but against a rule
BAD_ID = (400, 404, 422)
NOT_FOUND = (404,)
TAKEN = (409,)

UNIT = object()  # stands for the id of the world's bookable unit
MISSING = object()  # leaves the field out
HUGE = 99999999999999999999


def iso(n: int) -> str:
    return days(n).isoformat()


# The world's unit (capacity 2) is already booked for [20, 23) by somebody else.
STAY_IN, STAY_OUT = iso(10), iso(13)

# (check_in, check_out, expected, id): junk dates shared by every door.
DATE_CASES = [
    (iso(12), iso(10), INVALID, "reversed"),
    (iso(10), iso(10), INVALID, "equal"),
    (iso(-3), iso(-1), INVALID, "past"),
    (iso(-1), iso(2), INVALID, "starts-yesterday"),
    (iso(10), iso(5010), INVALID, "5000-nights"),
    ("9999-12-30", "9999-12-31", INVALID, "year-9999"),
    ("0001-01-01", "0001-01-03", INVALID, "year-0001"),
    ("0001-01-01", iso(10), INVALID, "since-year-0001"),
    ("2026/12/10", STAY_OUT, INVALID, "slashes"),
    ("tomorrow", STAY_OUT, INVALID, "word"),
    ("", STAY_OUT, INVALID, "empty"),
    ("2026-13-01", STAY_OUT, INVALID, "month-13"),
    ("2026-02-30", STAY_OUT, INVALID, "feb-30"),
    ("20261210", STAY_OUT, INVALID, "no-dashes"),
    ("2026-W50-4", STAY_OUT, INVALID, "iso-week-date"),
    (STAY_IN, "2026-12-13T00:00", INVALID, "datetime"),
]

# (guests, expected, id): the unit sleeps 2.
GUEST_CASES = [
    (999, INVALID, "999"),
    (0, INVALID, "zero"),
    (-1, INVALID, "negative"),
    ("abc", INVALID, "abc"),
    ("1.5", INVALID, "1.5"),
    ("1e9", INVALID, "1e9"),
    (HUGE, INVALID, "huge"),
    ("--2", INVALID, "double-minus"),
    ("\u00b2", INVALID, "superscript-two"),
]

# (unit_id, expected, id)
UNIT_ID_CASES = [
    ("abc", BAD_ID, "abc"),
    ("1.5", BAD_ID, "1.5"),
    ("-3", BAD_ID, "-3"),
    ("0", BAD_ID, "0"),
    ("1e9", BAD_ID, "1e9"),
    ("--1", BAD_ID, "double-minus"),
    ("\u00b2", BAD_ID, "superscript-two"),
    (HUGE, BAD_ID, "huge"),
    (999_999, NOT_FOUND, "unknown"),
]


def stay_params(check_in=STAY_IN, check_out=STAY_OUT, **extra) -> dict:
    return {"check_in": check_in, "check_out": check_out, **extra}


def date_params(extra: dict | None = None):
    return [
        pytest.param(stay_params(ci, co, **(extra or {})), expect, id=f"dates-{name}")
        for ci, co, expect, name in DATE_CASES
    ]


def guest_params(extra: dict | None = None):
    return [
        pytest.param(stay_params(guests=g, **(extra or {})), expect, id=f"guests-{name}")
        for g, expect, name in GUEST_CASES
    ]


def unit_id_params():
    return [
        pytest.param(stay_params(unit_id=uid, guests=1), expect, id=f"unit-{name}")
        for uid, expect, name in UNIT_ID_CASES
    ]


# --- the world and its checks -------------------------------------------------------


@dataclass
class World:
    web: FlaskClient  # signed in as the employee
    api: dict[str, str]  # bearer headers of the same employee
    unit_id: int
    facility_id: int

    def fill(self, params: dict) -> dict:
        """Put the real unit id in place of UNIT and drop MISSING fields."""
        return {
            key: self.unit_id if value is UNIT else value
            for key, value in params.items()
            if value is not MISSING
        }


@pytest.fixture
def world(db, client, login, make_employee, make_unit) -> World:
    unit = make_unit(capacity=2)
    services.book_stay(make_employee(), services.StayRequest(unit.id, days(20), days(23), 1), NOW)
    employee = make_employee()
    _token, secret = create_api_token(employee, "t", NOW)
    db.session.commit()
    login(employee)
    return World(client, {"Authorization": f"Bearer {secret}"}, unit.id, unit.facility_id)


def row_counts(db) -> tuple[int, int]:
    db.session.rollback()  # compare what is committed
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) for model in (Booking, Occupancy)
    )


@contextmanager
def nothing_written(db):
    before = row_counts(db)
    yield
    assert row_counts(db) == before


def assert_refused(response, expect):
    assert response.status_code in expect, (
        f"{response.status_code} not in {expect}: {response.get_data(as_text=True)[:300]}"
    )


def assert_api_error(response, expect):
    assert_refused(response, expect)
    body = response.get_json(silent=True)
    assert isinstance(body, dict) and set(body) == {"error"}, response.get_data(as_text=True)
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


# --- search page --------------------------------------------------------------------

SEARCH_PAGE_CASES = [
    *date_params(),
    *guest_params(),
    pytest.param({"check_in": STAY_IN}, INVALID, id="check-out-missing"),
    pytest.param(stay_params(place="p:99"), INVALID, id="place-unknown-prefecture"),
    pytest.param(stay_params(place="r:atlantis"), INVALID, id="place-unknown-region"),
    pytest.param(stay_params(place="13"), INVALID, id="place-bare-code"),
    pytest.param(stay_params(kind="hotel"), INVALID, id="kind-unknown"),
    pytest.param(stay_params(amenities="sauna"), INVALID, id="amenity-unknown"),
    pytest.param(stay_params(min_wifi="abc"), INVALID, id="wifi-junk"),
    pytest.param(stay_params(sort="random"), INVALID, id="sort-unknown"),
]


@pytest.mark.parametrize(("params", "expect"), SEARCH_PAGE_CASES)
def test_search_page(db, world, params, expect):
    with nothing_written(db):
        response = world.web.get("/", query_string=world.fill(params))
    assert_refused(response, expect)


@pytest.mark.parametrize(
    "page",
    ["abc", "0", "-1", "1.5", HUGE, "\u00b2", "\u0663"],
    ids=["abc", "zero", "negative", "1.5", "huge", "superscript-two", "arabic-indic-three"],
)
def test_search_page_junk_page_number_shows_a_page(db, world, page):
    """The page number is navigation, not a filter: junk falls back to a valid page."""
    with nothing_written(db):
        response = world.web.get("/", query_string=stay_params(page=page))
    assert response.status_code == 200


# --- web booking flow: the quote page and the booking form --------------------------

WEB_BOOKING_CASES = [
    *date_params({"unit_id": UNIT, "guests": 1}),
    *guest_params({"unit_id": UNIT}),
    *unit_id_params(),
    pytest.param(stay_params(unit_id=UNIT, guests=3), INVALID, id="guests-over-capacity"),
    pytest.param(stay_params(guests=1), INVALID, id="unit-missing"),
    pytest.param(
        {"unit_id": UNIT, "check_out": STAY_OUT, "guests": 1}, INVALID, id="check-in-missing"
    ),
    pytest.param(
        {"unit_id": UNIT, "check_in": STAY_IN, "guests": 1}, INVALID, id="check-out-missing"
    ),
    pytest.param({}, INVALID, id="everything-missing"),
]


@pytest.mark.parametrize(("params", "expect"), WEB_BOOKING_CASES)
def test_quote_page(db, world, params, expect):
    with nothing_written(db):
        response = world.web.get("/book", query_string=world.fill(params))
    assert_refused(response, expect)


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        *WEB_BOOKING_CASES,
        pytest.param(
            stay_params(iso(21), iso(24), unit_id=UNIT, guests=1), TAKEN, id="nights-taken"
        ),
    ],
)
def test_book_form(db, world, params, expect):
    with nothing_written(db):
        response = world.web.post("/book", data=world.fill(params))
    assert_refused(response, expect)


def test_book_form_sent_as_plain_text_is_refused(db, world):
    body = f"unit_id={world.unit_id}&check_in={STAY_IN}&check_out={STAY_OUT}&guests=1"
    with nothing_written(db):
        response = world.web.post("/book", data=body, content_type="text/plain")
    assert_refused(response, INVALID)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/facilities/{id}"),
        ("GET", "/stays/{id}"),
        ("GET", "/stays/{id}.ics"),
        ("POST", "/stays/{id}/cancel"),
        ("GET", "/api/v1/bookings/{id}"),
        ("DELETE", "/api/v1/bookings/{id}"),
    ],
    ids=["facility", "stay", "stay-ics", "cancel", "api-booking", "api-cancel"],
)
@pytest.mark.parametrize(
    "foreign_id", [999_999, 2**31, 2**63, HUGE], ids=["unknown", "2^31", "2^63", "huge"]
)
def test_ids_in_paths_that_match_nothing_are_not_found(db, world, method, path, foreign_id):
    headers = world.api if path.startswith("/api/") else {}
    with nothing_written(db):
        response = world.web.open(path.format(id=foreign_id), method=method, headers=headers)
    assert_refused(response, NOT_FOUND)


# --- API: search --------------------------------------------------------------------

API_SEARCH_CASES = [
    *date_params(),
    *guest_params(),
    pytest.param({"check_in": STAY_IN}, INVALID, id="check-out-missing"),
    pytest.param({"check_out": STAY_OUT}, INVALID, id="check-in-missing"),
    pytest.param({}, INVALID, id="everything-missing"),
    pytest.param(stay_params(prefecture="abc"), INVALID, id="prefecture-abc"),
    pytest.param(stay_params(prefecture=0), INVALID, id="prefecture-zero"),
    pytest.param(stay_params(prefecture=48), INVALID, id="prefecture-48"),
    pytest.param(stay_params(prefecture=HUGE), INVALID, id="prefecture-huge"),
    pytest.param(stay_params(prefecture="\u00b2"), INVALID, id="prefecture-superscript-two"),
    pytest.param(stay_params(prefecture="Tokyo"), INVALID, id="prefecture-name"),
    pytest.param(stay_params(region="atlantis"), INVALID, id="region-unknown"),
    pytest.param(stay_params(region="Kanto"), INVALID, id="region-capitalised"),
    pytest.param(stay_params(kind="hotel"), INVALID, id="kind-unknown"),
    pytest.param(stay_params(amenities="sauna"), INVALID, id="amenity-unknown"),
    pytest.param(stay_params(min_wifi_mbps="fast"), INVALID, id="wifi-junk"),
]


@pytest.mark.parametrize(("params", "expect"), API_SEARCH_CASES)
def test_api_search(db, world, params, expect):
    with nothing_written(db):
        response = world.web.get("/api/v1/facilities", query_string=params, headers=world.api)
    assert_api_error(response, expect)


# --- API: availability --------------------------------------------------------------

AVAILABILITY_ID_CASES = [
    pytest.param("abc", NOT_FOUND, id="abc"),
    pytest.param("1.5", NOT_FOUND, id="1.5"),
    pytest.param("-3", NOT_FOUND, id="-3"),
    pytest.param("1e9", NOT_FOUND, id="1e9"),
    pytest.param("0", NOT_FOUND, id="zero"),
    pytest.param(str(2**31), NOT_FOUND, id="2^31"),
    pytest.param(str(HUGE), NOT_FOUND, id="huge"),
    pytest.param("999999", NOT_FOUND, id="unknown"),
]


@pytest.mark.parametrize(("facility_id", "expect"), AVAILABILITY_ID_CASES)
def test_api_availability_facility_id(db, world, facility_id, expect):
    with nothing_written(db):
        response = world.web.get(
            f"/api/v1/facilities/{facility_id}/availability",
            query_string={"from": STAY_IN, "to": STAY_OUT},
            headers=world.api,
        )
    assert_api_error(response, expect)


def range_params(start, end):
    return {key: value for key, value in (("from", start), ("to", end)) if value is not MISSING}


AVAILABILITY_RANGE_CASES = [
    pytest.param(range_params(iso(12), iso(10)), INVALID, id="reversed"),
    pytest.param(range_params(iso(10), iso(10)), INVALID, id="equal"),
    pytest.param(range_params(iso(0), iso(367)), INVALID, id="367-nights"),
    pytest.param(range_params(iso(10), iso(5010)), INVALID, id="5000-nights"),
    pytest.param(range_params("0001-01-01", "9999-12-31"), INVALID, id="year-0001-to-9999"),
    pytest.param(range_params("9999-12-31", MISSING), INVALID, id="from-9999-12-31-alone"),
    pytest.param(range_params("9999-12-15", MISSING), INVALID, id="from-9999-12-15-alone"),
    pytest.param(range_params(MISSING, "0001-01-01"), INVALID, id="to-year-0001-alone"),
    *[
        pytest.param(range_params(bad, STAY_OUT), INVALID, id=f"from-{name}")
        for bad, name in [
            ("2026/12/10", "slashes"),
            ("tomorrow", "word"),
            ("2026-13-01", "month-13"),
            ("2026-02-30", "feb-30"),
            ("20261210", "no-dashes"),
            ("2026-W50-4", "iso-week-date"),
        ]
    ],
    pytest.param(range_params(STAY_IN, "2026-12-13T00:00"), INVALID, id="to-datetime"),
]


@pytest.mark.parametrize(("params", "expect"), AVAILABILITY_RANGE_CASES)
def test_api_availability_range(db, world, params, expect):
    with nothing_written(db):
        response = world.web.get(
            f"/api/v1/facilities/{world.facility_id}/availability",
            query_string=params,
            headers=world.api,
        )
    assert_api_error(response, expect)


# --- API: create booking ------------------------------------------------------------


def booking_body(params: dict) -> dict:
    return {"unit_id": UNIT, "check_in": STAY_IN, "check_out": STAY_OUT, "guests": 1, **params}


API_BOOKING_CASES = [
    *[
        pytest.param(booking_body({"check_in": ci, "check_out": co}), expect, id=f"dates-{name}")
        for ci, co, expect, name in DATE_CASES
    ],
    *[
        pytest.param(booking_body({"guests": g}), expect, id=f"guests-{name}")
        for g, expect, name in [*GUEST_CASES, (3, INVALID, "over-capacity")]
    ],
    *[
        pytest.param(booking_body({"unit_id": uid}), expect, id=f"unit-{name}")
        for uid, expect, name in [*UNIT_ID_CASES, (-3, INVALID, "negative-number")]
    ],
    pytest.param(booking_body({"unit_id": str(HUGE)}), BAD_ID, id="unit-huge-string"),
    pytest.param(booking_body({"unit_id": "x"}), INVALID, id="unit-x"),
    pytest.param(booking_body({"unit_id": 1.5}), INVALID, id="unit-float"),
    pytest.param(booking_body({"unit_id": True}), INVALID, id="unit-true"),
    pytest.param(booking_body({"unit_id": None}), INVALID, id="unit-null"),
    pytest.param(booking_body({"unit_id": [1]}), INVALID, id="unit-list"),
    pytest.param(booking_body({"unit_id": {"id": 1}}), INVALID, id="unit-object"),
    pytest.param(booking_body({"check_in": 20261210}), INVALID, id="check-in-number"),
    pytest.param(booking_body({"check_in": None}), INVALID, id="check-in-null"),
    pytest.param(booking_body({"check_in": [STAY_IN]}), INVALID, id="check-in-list"),
    pytest.param(booking_body({"check_out": False}), INVALID, id="check-out-false"),
    pytest.param(booking_body({"guests": True}), INVALID, id="guests-true"),
    pytest.param(booking_body({"guests": 1.0}), INVALID, id="guests-float"),
    pytest.param(booking_body({"guests": "many"}), INVALID, id="guests-word"),
    pytest.param(booking_body({"unit_id": MISSING}), INVALID, id="unit-missing"),
    pytest.param(booking_body({"check_in": MISSING}), INVALID, id="check-in-missing"),
    pytest.param(booking_body({"check_out": MISSING}), INVALID, id="check-out-missing"),
    pytest.param({}, INVALID, id="empty-object"),
    pytest.param(
        booking_body({"check_in": iso(21), "check_out": iso(24)}), TAKEN, id="nights-taken"
    ),
]


@pytest.mark.parametrize(("body", "expect"), API_BOOKING_CASES)
def test_api_create_booking(db, world, body, expect):
    with nothing_written(db):
        response = world.web.post("/api/v1/bookings", json=world.fill(body), headers=world.api)
    assert_api_error(response, expect)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("[]", "application/json"),
        ('"str"', "application/json"),
        ("null", "application/json"),
        ("123", "application/json"),
        ("", "application/json"),
        ('{"unit_id": 1,}', "application/json"),
        ('{"unit_id": NaN}', "application/json"),
        ('{"unit_id": 1e400}', "application/json"),
        ('{"unit_id": ' + "9" * 5000 + "}", "application/json"),
        (b'{"check_in": "\xff\xfe"}', "application/json"),
        ("[" * 5000 + "]" * 5000, "application/json"),
        ('{"unit_id": 1, "check_in": "2026-12-10", "check_out": "2026-12-13"}', "text/plain"),
        ("unit_id=1&check_in=2026-12-10&check_out=2026-12-13", "application/x-www-form-urlencoded"),
        ('{"unit_id": 1, "check_in": "2026-12-10", "check_out": "2026-12-13"}', None),
    ],
    ids=[
        "not-json",
        "array",
        "string",
        "null",
        "number",
        "empty",
        "trailing-comma",
        "nan",
        "1e400",
        "5000-digit-number",
        "invalid-utf8",
        "deep-nesting",
        "text-plain",
        "form-encoded",
        "no-content-type",
    ],
)
def test_api_create_booking_malformed_body(db, world, data, content_type):
    headers = {**world.api, **({"Content-Type": content_type} if content_type else {})}
    with nothing_written(db):
        response = world.web.post("/api/v1/bookings", data=data, headers=headers)
    assert_api_error(response, INVALID)


def test_api_create_booking_overlong_idempotency_key(db, world):
    headers = {**world.api, "Idempotency-Key": "k" * 65}
    with nothing_written(db):
        response = world.web.post(
            "/api/v1/bookings",
            json=world.fill(booking_body({})),
            headers=headers,
        )
    assert_api_error(response, INVALID)


def test_api_absurd_stay_is_refused_before_it_is_built(db, world):
    """A stay running to 9999-12-31 is ~2.9 million nights: refuse it by its length,
    without building a list of every night (a cheap way to tie up a worker)."""
    body = world.fill(booking_body({"check_out": "9999-12-31"}))
    with nothing_written(db):
        tracemalloc.start()
        try:
            response = world.web.post("/api/v1/bookings", json=body, headers=world.api)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert_api_error(response, INVALID)
    assert peak < 20 * 1024 * 1024, f"refusing the stay took {peak // 2**20} MiB"


# --- the baseline -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "fields", "status"),
    [
        ("GET", "/", stay_params(), 200),
        ("GET", "/book", stay_params(unit_id=UNIT, guests=1), 200),
        ("POST", "/book", stay_params(unit_id=UNIT, guests=1), 303),
        ("GET", "/api/v1/facilities", stay_params(), 200),
        ("GET", "/api/v1/facilities/{facility}/availability", range_params(STAY_IN, STAY_OUT), 200),
        ("POST", "/api/v1/bookings", booking_body({}), 201),
    ],
    ids=["search-page", "quote-page", "book-form", "api-search", "api-availability", "api-book"],
)
def test_the_valid_baseline_is_accepted(db, world, method, path, fields, status):
    """Each refusal above is down to its one bad field: without it, every door says yes."""
    url = path.format(facility=world.facility_id)
    fields = world.fill(fields)
    if path.startswith("/api/"):
        kwargs = {"headers": world.api, **({"json": fields} if method == "POST" else {})}
    else:
        kwargs = {"data": fields} if method == "POST" else {}
    if method == "GET":
        kwargs["query_string"] = fields

    response = world.web.open(url, method=method, **kwargs)

    assert response.status_code == status, response.get_data(as_text=True)[:300]


# --- control characters at every door ---------------------------------------------------
#
# A NUL byte in a text field gave a 500 on PostgreSQL (SQLite stores it). core.input_guard
# refuses control characters before any view runs; this sweep proves it for every route of
# the app, derived from ``app.url_map``, so a new form is covered without touching this
# file: every POST route gets a NUL (and another control character) in each field of the
# forms its view uses, and in an unlisted field; every route gets one in each query
# parameter its code names and in an unlisted one; routes taking JSON get one in each key
# they read; routes taking files get one in a file name; string path segments get one too.
# Each answer must be the guard's 400 (its message on pages, ``invalid_characters`` under
# /api/), and no table may change. Nothing is left out: a route whose body the guard
# leaves to its view (``trust_body``: a provider's signed payload) still has its query
# string and address swept, and says why through that marker.

# Every package the factory wires: a helper in any of them may read a field.
SWEEP_PACKAGES = tuple(package.__name__ for package in factory.PACKAGES)
NAME = re.compile(r"[a-z][a-z_]{1,40}", re.ASCII)
OTHER_CONTROLS = ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
GUARD_PAGE = "The request contains characters that are not allowed"
UNLISTED = "x_unlisted_field"


@dataclass
class Door:
    """What a view reads, found by walking its code and the project functions it calls."""

    fields: set[str]  # fields of the FlaskForm classes it (or a helper) builds
    names: set[str]  # identifier-like string constants: query parameters, JSON keys
    files: bool  # one of its forms takes a file
    json: bool  # it reads a JSON body


def _code_constants(code) -> Iterator[str]:
    for const in code.co_consts:
        if isinstance(const, str):
            yield const
        elif hasattr(const, "co_consts"):  # comprehensions, nested functions
            yield from _code_constants(const)


def _code_names(code) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            yield from _code_names(const)


def door_of(view, depth: int = 0, seen: set | None = None) -> Door:
    seen = set() if seen is None else seen
    door = Door(set(), set(), False, False)
    view = inspect.unwrap(view)
    if view in seen or depth > 3 or not hasattr(view, "__code__"):
        return door
    seen.add(view)
    door.names |= {c for c in _code_constants(view.__code__) if NAME.fullmatch(c)}
    door.json = "get_json" in set(_code_names(view.__code__))
    refs = inspect.getclosurevars(view)
    for value in [*refs.globals.values(), *refs.nonlocals.values()]:
        if isinstance(value, type) and issubclass(value, FlaskForm):
            fields = {name for name, kind in vars_of_form(value)}
            door.fields |= fields
            door.files |= any(issubclass(kind, FileField) for _name, kind in vars_of_form(value))
        elif isinstance(value, FunctionType) and value.__module__.startswith(SWEEP_PACKAGES):
            inner = door_of(value, depth + 1, seen)
            door.fields |= inner.fields
            door.names |= inner.names
            door.files |= inner.files
            door.json |= inner.json
    return door


def vars_of_form(form_class) -> list[tuple[str, type]]:
    return [
        (name, unbound.field_class)
        for name, unbound in inspect.getmembers(form_class)
        if hasattr(unbound, "field_class")
    ]


@dataclass
class Network:
    """One of everything, so each route is reached by somebody who may use it."""

    browsers: dict[str, FlaskClient]  # audience → a browser signed in (English pages)
    api: dict[str, str]
    ids: dict[str, int]


AUDIENCES = {  # the first path prefix that matches says who is signed in
    "/operator": "operator",
    "/company": "company_admin",
    "/billing/local": "company_admin",
    "/admin": "platform_admin",
    "/api/": "api",
    "/login": "anonymous",
    "/join": "anonymous",
    "/lang": "anonymous",
    "/billing/stripe": "anonymous",
}


def audience_of(rule: str) -> str:
    return next((who for prefix, who in AUDIENCES.items() if rule.startswith(prefix)), "employee")


@pytest.fixture
def network(app, db, make_user, make_facility, make_unit) -> Network:
    from accounts.models import Invitation, Role
    from calendars.models import CalendarConflict, CalendarExport, CalendarFeed
    from facilities.models import FacilityPhoto
    from pricing.models import PriceOverride
    from tests.conftest import bearer, plan_named, signed_in

    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator)
    unit = make_unit(facility=facility)
    admin = make_user(Role.COMPANY_ADMIN, locale="en")
    employee = make_user(Role.EMPLOYEE, company=admin.company, locale="en")
    platform = make_user(Role.PLATFORM_ADMIN, locale="en")
    stay = services.book_stay(employee, services.StayRequest(unit.id, days(5), days(7), 1), NOW)
    block = closing.close_facility_dates(
        operator, facility, unit.id, days(10), days(11), "maintenance", "", NOW
    )[0]
    feed = CalendarFeed(unit_id=unit.id, label="Airbnb", url="https://example.com/a.ics")
    db.session.add(feed)
    db.session.flush()
    rows = {
        "photo_id": FacilityPhoto(
            facility_id=facility.id,
            filename="0" * 32 + ".png",
            content_type="image/png",
            size=1,
            width=1,
            height=1,
        ),
        "override_id": PriceOverride(
            facility_id=facility.id, start_date=days(20), end_date=days(21), price=5000
        ),
        "export_id": CalendarExport(token="t" * 43, unit_id=unit.id),
        "conflict_id": CalendarConflict(
            feed_id=feed.id,
            unit_id=unit.id,
            booking_id=stay.id,
            event_key="e",
            event_start=days(5),
            event_end=days(7),
            first_night=days(5),
            nights=2,
            detected_at=NOW,
        ),
        "invitation_id": Invitation(
            company_id=admin.company_id,
            email="new@example.com",
            token_hash="h" * 64,
            expires_at=NOW + timedelta(days=7),
        ),
    }
    db.session.add_all(rows.values())
    token, _secret = create_api_token(employee, "t", NOW)
    db.session.commit()
    ids = {name: row.id for name, row in rows.items()} | {
        "facility_id": facility.id,
        "unit_id": unit.id,
        "booking_id": stay.id,
        "block_id": block.id,
        "feed_id": feed.id,
        "user_id": employee.id,
        "company_id": admin.company_id,
        "token_id": token.id,
        "plan_id": plan_named().id,
    }
    anonymous = app.test_client()
    anonymous.get("/lang/en")
    browsers = {
        "anonymous": anonymous,
        "operator": signed_in(app, operator),
        "company_admin": signed_in(app, admin),
        "platform_admin": signed_in(app, platform),
        "employee": signed_in(app, employee),
    }
    return Network(browsers, bearer(db, employee), ids)


def table_contents(db) -> dict[str, list]:
    """Every row of every table, bookkeeping columns (``last_*``) left out."""
    db.session.rollback()
    contents = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if not c.name.startswith("last_")]
        order = list(table.primary_key.columns) or columns
        contents[table.name] = [
            tuple(row) for row in db.session.execute(select(*columns).order_by(*order))
        ]
    return contents


@dataclass
class Probe:
    what: str  # for the failure report
    kwargs: dict


def url_of(rule, ids: dict[str, int], bad: str | None = None) -> str:
    """The rule's address with the network's ids; ``bad`` goes into each string segment."""
    values = {}
    for arg in rule.arguments:
        if rule._converters[arg].__class__.__name__ == "IntegerConverter":
            values[arg] = ids.get(arg, 999_999)  # an id the network has no row for
        else:
            values[arg] = f"x{bad}" if bad else "x"
    return rule.build(values, append_unknown=False)[1]


def probes(rule, method: str, door: Door, trusted_body: bool) -> Iterator[Probe]:
    names = sorted(door.names | door.fields | {UNLISTED})
    for name in names:  # query parameters: every route, every method
        yield Probe(f"query {name}", {"query_string": {name: "x\x00"}})
    if any(conv.__class__.__name__ != "IntegerConverter" for conv in rule._converters.values()):
        yield Probe("path segment", {"bad_path": "\x00"})
    if method not in ("POST", "PUT", "PATCH") or trusted_body:
        return
    for i, name in enumerate(sorted(door.fields | {UNLISTED, "csrf_token"})):
        other = OTHER_CONTROLS[i % len(OTHER_CONTROLS)]
        yield Probe(f"form {name} NUL", {"data": {name: "x\x00"}})
        yield Probe(f"form {name} {other!r}", {"data": {name: f"x{other}"}})
    yield Probe("form field name", {"data": {"x\x00": "1"}})
    if door.files:
        yield Probe(
            "file name",
            {
                "data": {"photo": (BytesIO(b"\x89PNG"), "a\x00.png")},
                "content_type": "multipart/form-data",
            },
        )
    if door.json:
        for name in sorted(door.names | {UNLISTED}):
            yield Probe(f"json {name}", {"json": {name: "x\x00"}})
        yield Probe("json nested", {"json": {"a": [{"b": "\x00"}]}})
        yield Probe("json key", {"json": {"k\x00": 1}})


def sweep_rules(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue  # files from disk, no view of ours
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def sweep(app, db, network: Network, audience: str) -> list[str]:
    from core.input_guard import _DEFER

    failures = []
    for rule, method in sweep_rules(app):
        if audience_of(rule.rule) != audience:
            continue
        view = app.view_functions[rule.endpoint]
        trusted = getattr(view, _DEFER, None) == "trusted"
        door = door_of(view)
        browser = network.browsers["anonymous" if audience == "api" else audience]
        headers = network.api if audience == "api" else {}
        before = table_contents(db)
        for probe in probes(rule, method, door, trusted):
            kwargs = dict(probe.kwargs)
            url = url_of(rule, network.ids, kwargs.pop("bad_path", None))
            response = browser.open(url, method=method, headers=headers, **kwargs)
            where = f"{method} {rule.rule} [{probe.what}]"
            if response.status_code != 400:
                failures.append(f"{where}: {response.status_code}")
            elif rule.rule.startswith("/api/"):
                body = response.get_json(silent=True) or {}
                if body.get("error", {}).get("code") != "invalid_characters":
                    failures.append(f"{where}: {response.get_data(as_text=True)[:200]}")
            elif GUARD_PAGE not in response.get_data(as_text=True):
                failures.append(f"{where}: 400 without the guard's message")
        if table_contents(db) != before:
            failures.append(f"{method} {rule.rule}: the database changed")
    return failures


def test_the_sweep_reaches_every_route(app):
    """Each route belongs to an audience, and the walk finds the forms of the known ones."""
    doors = {
        rule.endpoint: door_of(app.view_functions[rule.endpoint]) for rule, _m in sweep_rules(app)
    }
    assert {"email", "password"} <= doors["accounts.login"].fields
    assert {"name_ja", "description_ja", "address"} <= doors["operator.facility_new"].fields
    assert {"note", "first_night"} <= doors["operator.add_price_override"].fields
    assert (
        doors["operator.photo_upload"].files and "caption" in doors["operator.photo_upload"].fields
    )
    assert doors["api.create_booking"].json
    assert {"unit_id", "check_in", "guests"} <= doors["api.create_booking"].names
    assert {audience_of(rule.rule) for rule, _m in sweep_rules(app)} == {
        "operator",
        "company_admin",
        "platform_admin",
        "api",
        "anonymous",
        "employee",
    }


@pytest.mark.parametrize(
    "audience",
    ["anonymous", "employee", "api", "operator", "company_admin", "platform_admin"],
)
def test_control_characters_are_refused_at_every_door(app, db, network, audience):
    failures = sweep(app, db, network, audience)
    assert not failures, "\n".join(failures)


# Forms that would succeed but for one control character: refused, nothing written, and the
# same form without it goes through. On PostgreSQL each of these used to answer a 500.
FACILITY = {
    "name_ja": "白樺の宿",
    "name_en": "Birch Inn",
    "kind": "stay",
    "prefecture": "20",
    "municipality": "茅野市",
    "address": "北山 4035",
    "latitude": "36.1",
    "longitude": "138.3",
    "wifi_mbps": "100",
    "work_desks": "2",
    "check_in_time": "15:00",
    "check_out_time": "10:00",
    "min_nights": "1",
    "max_nights": "14",
    "description_ja": "静かな宿。\r\n二行目。",
    "description_en": "A quiet house.",
}
VALID_FORMS = [
    (
        "anonymous",
        "/login",
        lambda n: {"email": "{email}", "password": PASSWORD},
        ["email", "password"],
        302,
    ),
    (
        "operator",
        "/operator/facilities/new",
        lambda n: FACILITY,
        ["name_ja", "address", "description_ja"],
        303,
    ),
    (
        "operator",
        "/operator/facilities/{facility_id}/units/new",
        lambda n: {"name": f"20{n} 和室", "capacity": "2", "base_price": "9000"},
        ["name"],
        303,
    ),
    (
        "operator",
        "/operator/facilities/{facility_id}/close",
        lambda n: {
            "unit": "all",
            "first_night": iso(30 + n),
            "last_night": iso(30 + n),
            "reason": "maintenance",
            "note": "畳替え",
        },
        ["note"],
        303,
    ),
    (
        "operator",
        "/operator/facilities/{facility_id}/pricing/overrides",
        lambda n: {
            "unit": "all",
            "first_night": iso(40 + n),
            "last_night": iso(40 + n),
            "price": "7000",
            "note": "祭り",
        },
        ["note"],
        303,
    ),
]


@pytest.mark.parametrize(
    ("audience", "path", "form", "text_fields", "ok"),
    VALID_FORMS,
    ids=["login", "facility", "room", "close-dates", "price-override"],
)
def test_a_valid_form_with_one_control_character_changes_nothing(
    app, db, network, audience, path, form, text_fields, ok
):
    from accounts.models import User

    email = db.session.scalar(select(User.email).where(User.role == "employee"))
    if audience == "anonymous":
        browser = app.test_client()  # a fresh one: this test signs it in at the end
        browser.get("/lang/en")
    else:
        browser = network.browsers[audience]
    url = path.format(**network.ids)
    for n, field in enumerate(text_fields):
        data = {k: v.format(email=email) for k, v in form(n).items()}
        before = table_contents(db)
        for char in ("\x00", "\x1b"):
            bad = {**data, field: data[field][:2] + char + data[field][2:]}
            response = browser.post(url, data=bad)
            assert response.status_code == 400, (field, response.get_data(as_text=True)[:300])
            assert GUARD_PAGE in response.get_data(as_text=True)
        assert table_contents(db) == before, field
    response = browser.post(url, data={k: v.format(email=email) for k, v in form(9).items()})
    assert response.status_code == ok, response.get_data(as_text=True)[:500]


def test_a_photo_caption_or_file_name_with_a_control_character_changes_nothing(
    app, db, network, tmp_path
):
    from tests.facilities.test_services import image_bytes

    app.instance_path = str(tmp_path / "instance")
    url = f"/operator/facilities/{network.ids['facility_id']}/photos"
    before = table_contents(db)
    for name, caption in [("a.png", "冬\x00の外観"), ("a\x00.png", "冬の外観"), ("a.png", "\x7f")]:
        response = network.browsers["operator"].post(
            url,
            data={"photo": (BytesIO(image_bytes()), name), "caption": caption},
            content_type="multipart/form-data",
        )
        assert response.status_code == 400
        assert GUARD_PAGE in response.get_data(as_text=True)
    assert table_contents(db) == before
    assert not (tmp_path / "instance" / "photos").exists()


def test_an_idempotency_key_with_a_control_character_books_nothing(db, world):
    body = world.fill(booking_body({}))
    with nothing_written(db):
        response = world.web.post(
            "/api/v1/bookings", json=body, headers={**world.api, "Idempotency-Key": "k\x00"}
        )
    assert_api_error(response, INVALID)
    assert response.get_json()["error"]["code"] == "invalid_characters"
    ok = world.web.post(
        "/api/v1/bookings", json=body, headers={**world.api, "Idempotency-Key": "k"}
    )
    assert ok.status_code == 201


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "0000-00", "99999-01"])
def test_the_facility_calendar_shows_this_month_for_an_absurd_month(db, world, month):
    """The employee's month calendar navigates within 36 months; anything else is today's."""
    response = world.web.get(f"/facilities/{world.facility_id}", query_string={"month": month})
    assert response.status_code == 200
    assert "month=2027-01" in response.get_data(as_text=True)  # next: January 2027
