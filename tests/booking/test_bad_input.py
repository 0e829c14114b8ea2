"""Bad input on every door: a clear 4xx, never a 500, and nothing written.

The same kinds of junk (dates, ids, guests, bodies) are thrown at the search page,
the web booking flow (quote and book) and the JSON API. Each case names the
answers that fit it; a 500 or a redirect never does.
"""

from __future__ import annotations

import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.services import create_api_token
from booking import services
from booking.models import Booking, Occupancy
from tests.conftest import NOW, days

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
    services.book_stay(make_employee(), unit.id, days(20), days(23), 1, NOW)
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
