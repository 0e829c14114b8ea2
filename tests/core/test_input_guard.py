"""Control characters are refused centrally, before any view runs (core.input_guard).

What each part of a request may carry: values of form fields and JSON strings keep
tab, LF and CR (text areas); addresses, query strings, field names, JSON keys and
file names take no control character at all; headers take tab only. The sweep of
every form of the app lives in tests/booking/test_bad_input.py.
"""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from accounts.models import Role, User
from core.input_guard import InvalidCharacters
from facilities.models import FacilityPhoto
from tests.conftest import PASSWORD, bearer
from tests.facilities.test_services import image_bytes

REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
LINE_BREAKS = ["\t", "\n", "\r", "\r\n"]
MESSAGE_EN = "The request contains characters that are not allowed"


def page_message(app, locale: str) -> str:
    with app.test_request_context(), force_locale(locale):
        return str(InvalidCharacters.page_message)


def assert_refused_page(response):
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    assert MESSAGE_EN in response.get_data(as_text=True)


def assert_refused_api(response, where: str | None = None):
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    error = response.get_json()["error"]
    assert error["code"] == "invalid_characters"
    assert "not allowed" in error["message"]
    if where:
        assert where in error["message"]


@pytest.fixture
def english(client):
    """An anonymous reader who chose English."""
    client.get("/lang/en")
    return client


def users(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(User))


# --- forms ----------------------------------------------------------------------------------


def test_a_control_character_in_the_sign_in_form_is_refused(db, english, make_employee):
    user = make_employee()
    for field in ("email", "password", "next"):
        for char in REFUSED:
            form = {"email": user.email, "password": PASSWORD, "next": "/stays"}
            form[field] = form[field] + char
            assert_refused_page(english.post("/login", data=form))
    # Signed in by none of them.
    assert english.get("/stays").status_code == 302


@pytest.mark.parametrize("char", LINE_BREAKS, ids=["tab", "lf", "cr", "crlf"])
def test_tab_and_line_breaks_in_form_values_reach_the_form(english, make_employee, char):
    """A text area keeps its line breaks: the form, not the guard, judges the value."""
    user = make_employee()
    response = english.post("/login", data={"email": user.email, "password": f"x{char}y"})
    assert response.status_code in (200, 401)  # the sign-in form's own answer: wrong password
    assert MESSAGE_EN not in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["e\x00mail", "a\nb", "x\ty"], ids=["nul", "lf", "tab"])
def test_a_control_character_in_a_field_name_is_refused(english, name):
    assert_refused_page(english.post("/login", data={name: "x"}))


def test_the_page_speaks_the_readers_language(app, client, make_employee):
    user = make_employee()
    japanese = client.post("/login", data={"email": f"{user.email}\x00", "password": "x"})
    assert japanese.status_code == 400
    page = japanese.get_data(as_text=True)
    assert '<html lang="ja">' in page and page_message(app, "ja") in page

    client.get("/lang/en")
    english = client.post("/login", data={"email": f"{user.email}\x00", "password": "x"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert page_message(app, "en") in english.get_data(as_text=True)


# --- query strings, addresses, headers ------------------------------------------------------


def test_a_control_character_in_a_query_string_is_refused(english):
    for char in [*REFUSED, "\t", "\n", "\r"]:
        assert_refused_page(english.get("/login", query_string={"next": f"/stays{char}"}))
        assert_refused_page(english.get("/login", query_string={f"n{char}": "x"}))


def test_a_control_character_in_the_address_is_refused(english):
    for path in ["/join/ab%00cd", "/lang/e%01n", "/calendars/x%00.ics", "/photos/a%0A.jpg", "/%00"]:
        assert_refused_page(english.get(path))


def test_a_control_character_in_a_header_is_refused_but_a_tab_is_not(english):
    assert_refused_page(english.get("/login", headers={"User-Agent": "agent\x00"}))
    assert_refused_page(english.get("/login", headers={"X-Anything": "\x1b[31m"}))
    assert english.get("/login", headers={"User-Agent": "a\tb"}).status_code == 200


def test_text_without_control_characters_passes(english):
    """Japanese, emoji, C1 controls' neighbours and the replacement character are text."""
    response = english.get("/login", query_string={"next": "/stays?q=白樺の宿 🌲 \u00a0\ufffd"})
    assert response.status_code == 200


# --- the JSON API ---------------------------------------------------------------------------


@pytest.fixture
def api(db, make_employee):
    return bearer(db, make_employee())


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"unit_id": 1, "check_in": "2026-12-10\x00"}, "'check_in'"),
        ({"unit_id": 1, "note": {"deep": ["ok", "bad\x07"]}}, "'note'"),
        ({"unit_id": 1, "check_in": "\ud800"}, "'check_in'"),  # a lone surrogate
        ({"unit_id": 1, "k\x00": 1}, "the name of a JSON field"),
        ({"unit_id": 1, "nested": {"k\ny": 1}}, "'nested'"),
        (["\x00"], "the JSON body"),
        ("\x7f", "the JSON body"),
    ],
    ids=["value", "nested-value", "lone-surrogate", "key", "nested-key", "array", "string"],
)
def test_a_control_character_in_a_json_body_is_refused(client, api, body, where):
    response = client.post("/api/v1/bookings", json=body, headers=api)
    assert_refused_api(response, where)


def test_line_breaks_in_json_values_reach_the_api(client, api):
    response = client.post("/api/v1/bookings", json={"unit_id": "1\n"}, headers=api)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] != "invalid_characters"


def test_json_escapes_are_judged_after_decoding(client, api):
    raw = '{"unit_id": 1, "check_in": "2026-12-10\\u0000"}'
    response = client.post(
        "/api/v1/bookings", data=raw, headers={**api, "Content-Type": "application/json"}
    )
    assert_refused_api(response, "'check_in'")


@pytest.mark.parametrize(
    "raw", ["{not json", "[" * 5000 + "]" * 5000, '{"a": "\x00'], ids=["broken", "deep", "cut"]
)
def test_a_body_that_is_not_json_stays_the_apis_business(client, api, raw):
    response = client.post(
        "/api/v1/bookings", data=raw, headers={**api, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_json"


def test_the_api_refuses_query_strings_and_addresses_in_json(client, api):
    assert_refused_api(
        client.get("/api/v1/facilities", query_string={"kind": "stay\x00"}, headers=api),
        "query parameter 'kind'",
    )
    assert_refused_api(client.get("/api/v1/bookings/1%00", headers=api), "the address")


def test_the_guard_answers_before_authentication(client):
    """Nothing reaches a view: not even the token check, so nothing is looked up."""
    assert_refused_api(client.post("/api/v1/bookings", json={"x": "\x00"}))


# --- uploads --------------------------------------------------------------------------------


@pytest.fixture
def operator_browser(app, tmp_path, make_user, make_facility):
    app.instance_path = str(tmp_path / "instance")
    operator = make_user(Role.OPERATOR, locale="en")
    facility = make_facility(operator=operator.operator)
    browser = app.test_client()
    assert browser.post("/login", data={"email": operator.email, "password": PASSWORD}).status_code
    return browser, facility, Path(app.instance_path) / "photos"


def photos(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(FacilityPhoto))


@pytest.mark.parametrize(
    ("name", "caption"),
    [("a\x00.png", "外観"), ("a\n.png", "外観"), ("a.png", "外観\x00"), ("a.png", "\x1b[2J")],
    ids=["nul-in-file-name", "lf-in-file-name", "nul-in-caption", "escape-in-caption"],
)
def test_a_photo_upload_with_control_characters_is_refused(db, operator_browser, name, caption):
    browser, facility, folder = operator_browser
    response = browser.post(
        f"/operator/facilities/{facility.id}/photos",
        data={"photo": (BytesIO(image_bytes()), name), "caption": caption},
        content_type="multipart/form-data",
    )
    assert_refused_page(response)
    assert photos(db) == 0
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_photo_larger_than_the_form_limit_still_uploads(app, db, operator_browser):
    """The guard leaves the photo body to its view, which reads it under the photo limit
    (5 MB), not the 1 MB limit of every other form."""
    browser, facility, folder = operator_browser
    data = image_bytes("PNG", (8, 8))
    data += b"\0" * (2 * 1024 * 1024)  # Pillow ignores bytes after IEND
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]

    # A body built by hand: the test client spools a big one to a temporary file that it
    # never closes.
    boundary = "engawa-test-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="caption"\r\n\r\nline one\nline two\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="photo"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = browser.post(
        f"/operator/facilities/{facility.id}/photos",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert response.status_code == 303
    assert photos(db) == 1
    # The original as sent (its resized WebP copies lie beside it).
    assert [p.read_bytes() for p in folder.iterdir() if p.suffix != ".webp"] == [data]


def test_the_english_message_names_no_field_to_people(app):
    """People read one sentence; where exactly is for the API's developers."""
    assert not re.search(r"'\w+'", page_message(app, "en"))
