"""The operator JSON API v1 contract: the exact keys and types of every answer, who may
call it (401, 403), bad input (400, nothing changed), and docs/openapi.yaml stating the
operator API's routes, errors and bounds as the code has them. SQLite and PostgreSQL
where a database answers (the ``app`` fixture)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from datetime import date

import pytest
import yaml
from sqlalchemy import func, select

from accounts.models import Role
from accounts.services import create_api_token, revoke_api_token
from availability import blocks, closing
from availability.models import Block, Occupancy
from billing import ledger
from booking import front_desk, operator_moves, services
from booking.models import BookingStatus
from consoles.operator import api
from core.db import MAX_ID
from core.errors import ApiError, RuleError
from tests.booking.test_openapi import SPEC, _param, _resolve
from tests.conftest import NOW, bearer, days
from tests.consoles.operator.register_world import reads
from tests.consoles.operator.test_operator_api import (
    API,
    House,
    book,
    booking_state,
    build_house,
    error_code,
    iso,
    period,
)

BOOKING = {
    "id": int,
    "unit_id": int,
    "check_in": date,
    "check_out": date,
    "guests": int,
    "status": str,
    "guest_name": str,
    "company": str,
    "total_price": int,
    "purpose": str,  # never the working days: the company's HR data
}
FIGURES = {
    "nights_available": int,
    "nights_sold": int,
    "occupancy": float,
    "room_revenue": int,
    "adr": int,
    "revpar": int,
}


def assert_shape(value: dict, shape: dict) -> None:
    """Exactly these keys, each of its type: integers never booleans or floats, dates as
    ISO ``YYYY-MM-DD``; a float field may be a whole number in JSON."""
    assert set(value) == set(shape), value
    for key, kind in shape.items():
        got = value[key]
        if kind is int:
            assert type(got) is int, (key, got)
        elif kind is float:
            assert type(got) in (int, float), (key, got)
        elif kind is date:
            assert date.fromisoformat(got).isoformat() == got, (key, got)
        else:
            assert type(got) is kind, (key, got)


@pytest.fixture
def house(db, make_user, make_company, make_facility, make_unit) -> House:
    return build_house(db, make_user, make_company, make_facility, make_unit)


@pytest.fixture
def neighbour(db, make_user, make_company, make_facility, make_unit) -> House:
    """Another operator organisation, with a house of its own."""
    names = {"company": "隣の会社", "guest": "隣 太郎", "facility": "隣の宿"}
    return build_house(db, make_user, make_company, make_facility, make_unit, **names)


# --- the shapes ----------------------------------------------------------------------------


def test_facilities_answer_the_contract(client, db, house, make_unit):
    off_sale = make_unit(facility=house.facility, name="103 物置", capacity=1, active=False)

    response = client.get(f"{API}/facilities", headers=house.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"facilities"}
    (facility,) = body["facilities"]
    assert_shape(facility, {"id": int, "name": str, "units": list})
    assert (facility["id"], facility["name"]) == (house.facility.id, "里山の宿")  # Japanese
    for unit in facility["units"]:
        assert_shape(unit, {"id": int, "name": str, "capacity": int})
    # Every room, the one off sale too (its stays still name it).
    assert [(u["id"], u["capacity"]) for u in facility["units"]] == [
        (house.room.id, 2),
        (house.other_room.id, 3),
        (off_sale.id, 1),
    ]


def test_bookings_answer_the_contract(client, db, house):
    stay = book(db, house.employee, house.room, 2, 4)

    response = client.get(f"{API}/bookings", query_string=period(0, 10), headers=house.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"bookings"}
    (row,) = body["bookings"]
    assert_shape(row, BOOKING)
    assert row["id"] == stay.id and row["status"] in {s.value for s in BookingStatus}


@pytest.mark.parametrize("action", ["move", "cancel", "check-in", "check-out", "no-show"])
def test_every_change_answers_one_booking_of_the_contract(client, db, house, action):
    stay = book(db, house.employee, house.room, 0, 2)
    if action == "check-out":
        client.post(f"{API}/bookings/{stay.id}/check-in", headers=house.headers)
    body = {
        "move": {"unit_id": house.other_room.id, "check_in": iso(days(0)), "check_out": "x"},
        "cancel": {"reason": "台風で休業"},
    }.get(action)
    if action == "move":
        body["check_out"] = iso(days(2))

    response = client.post(f"{API}/bookings/{stay.id}/{action}", json=body, headers=house.headers)

    assert response.status_code == 200, response.get_json()
    assert_shape(response.get_json(), BOOKING)
    assert (
        response.get_json()["status"]
        == {
            "move": "confirmed",
            "cancel": "cancelled",
            "check-in": "checked_in",
            "check-out": "checked_out",
            "no-show": "no_show",
        }[action]
    )


def test_kpis_answer_the_contract(client, db, house):
    book(db, house.employee, house.room, 1, 2)

    response = client.get(
        f"{API}/facilities/{house.facility.id}/kpis",
        query_string=period(0, 3),
        headers=house.headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert_shape(body, FIGURES)
    assert 0 <= body["occupancy"] <= 1
    assert body["occupancy"] == round(1 / 6, 4)


def test_closures_answer_the_contract(client, db, house):
    url = f"{API}/units/{house.room.id}/closures"

    closed = client.put(url, json={**period(3, 5), "reason": "private_use"}, headers=house.headers)
    reopened = client.delete(url, json=period(3, 5), headers=house.headers)

    assert closed.status_code == 200
    assert_shape(closed.get_json(), {"unit_id": int, "from": date, "to": date, "reason": str})
    assert reopened.status_code == 200
    assert_shape(reopened.get_json(), {"reopened_nights": int})


# --- who may call it -----------------------------------------------------------------------


def operator_routes(app, ids: dict[str, int] | None = None) -> list[tuple[str, str]]:
    """Every operator API route as (method, address), its ids taken from ``ids`` (by
    argument name) or, without them, an id that matches nothing."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("operator_api."):
            values = {name: (ids or {}).get(name, 999) for name in rule.arguments}
            path = rule.build(values, append_unknown=False)[1]
            routes += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return sorted(routes)


def test_the_walls_below_are_tried_on_every_route(app):
    assert len(operator_routes(app)) == 11  # a new route is tried by the tests below


def test_every_route_wants_a_bearer_token(app, client, db, house):
    _token, secret = create_api_token(house.operator, "t", NOW)
    revoked, revoked_secret = create_api_token(house.operator, "r", NOW)
    revoke_api_token(house.operator, revoked.id, NOW)
    db.session.commit()
    for headers in [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {secret}"},
        {"Authorization": "Bearer engawa_not-a-token"},
        {"Authorization": f"Bearer {revoked_secret}"},
    ]:
        for method, path in operator_routes(app):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (headers, method, path)
            assert error_code(response) == "unauthorized"


@pytest.mark.parametrize("role", [Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.PLATFORM_ADMIN])
def test_only_an_operators_token_is_let_in(app, client, db, make_user, house, role):
    headers = bearer(db, make_user(role))
    for method, path in operator_routes(app):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 403, (role, method, path)
        assert error_code(response) == "forbidden"
    # Even with the organisation's own ids.
    response = client.get(f"{API}/facilities/{house.facility.id}/kpis", headers=headers)
    assert response.status_code == 403


def test_another_organisations_ids_answer_404_on_every_route(app, client, db, house, neighbour):
    """Every route that takes an id, called by the neighbour with this organisation's ids:
    404 whether the request is otherwise good or bare, and nothing changes or is read."""
    stay = book(db, house.employee, house.room, 0, 3)
    before = (booking_state(db, stay.id), reads(db))
    ids = {"booking_id": stay.id, "facility_id": house.facility.id, "unit_id": house.room.id}
    good = {
        "query_string": period(0, 30),
        "json": {
            **period(0, 3),
            "unit_id": neighbour.room.id,  # a room of their own: still not their stay
            "check_in": iso(days(0)),
            "check_out": iso(days(3)),
            "reason": "maintenance",
        },
    }
    tried = set()
    for method, path in operator_routes(app, ids):
        if path in (f"{API}/facilities", f"{API}/bookings"):
            continue  # no id: the lists, which show only their own (test_operator_api.py)
        for kwargs in (good, {}):
            response = client.open(path, method=method, headers=neighbour.headers, **kwargs)
            assert response.status_code == 404, (method, path, kwargs, response.get_json())
            assert error_code(response) == "not_found"
        tried.add((method, path.removeprefix(API)))
    assert (booking_state(db, stay.id), reads(db)) == before
    register = ("GET", f"/facilities/{house.facility.id}/register")
    assert register in tried  # the guest register too
    assert len(tried) == len(operator_routes(app)) - 2


# --- bad input -----------------------------------------------------------------------------


def bad_requests(h: House, booking_id: int) -> list[tuple[str, str, dict, str]]:
    """(method, path, request, the code answered with 400) on the organisation's own ids."""
    kpis = f"/facilities/{h.facility.id}/kpis"
    move = f"/bookings/{booking_id}/move"
    cancel = f"/bookings/{booking_id}/cancel"
    closures = f"/units/{h.room.id}/closures"
    good_move = {"unit_id": h.other_room.id, "check_in": iso(days(2)), "check_out": iso(days(4))}
    closing_ = {**period(5, 6), "reason": "maintenance"}
    return [
        ("GET", kpis, {}, "missing_field"),
        ("GET", kpis, {"query_string": {"from": iso(days(1))}}, "missing_field"),
        ("GET", kpis, {"query_string": {"from": "2026-13-01", "to": "2027-01-01"}}, "invalid_date"),
        ("GET", kpis, {"query_string": {"from": "2026-W49-1", "to": "x"}}, "invalid_date"),
        ("GET", kpis, {"query_string": period(3, 3)}, "dates_order"),
        ("GET", kpis, {"query_string": period(3, 1)}, "dates_order"),
        ("GET", kpis, {"query_string": {"from": "0001-01-01", "to": "9999-12-31"}}, "out_of_range"),
        ("GET", kpis, {"query_string": period(0, 367)}, "out_of_range"),
        ("GET", "/bookings", {}, "missing_field"),
        ("GET", "/bookings", {"query_string": period(0, 367)}, "out_of_range"),
        (
            "GET",
            "/bookings",
            {"query_string": {"facility_id": "one", **period(0, 1)}},
            "invalid_number",
        ),
        (
            "GET",
            "/bookings",
            {"query_string": {"facility_id": "-1", **period(0, 1)}},
            "invalid_number",
        ),
        (
            "GET",
            "/bookings",
            {"query_string": {"facility_id": "0", **period(0, 1)}},
            "out_of_range",
        ),
        ("POST", move, {}, "malformed_json"),
        ("POST", move, {"data": "unit_id=1", "content_type": "text/plain"}, "malformed_json"),
        ("POST", move, {"data": "{not json", "content_type": "application/json"}, "malformed_json"),
        ("POST", move, {"json": [good_move]}, "malformed_json"),
        ("POST", move, {"json": {**good_move, "unit_id": None}}, "missing_field"),
        ("POST", move, {"json": {**good_move, "unit_id": str(h.other_room.id)}}, "invalid_number"),
        ("POST", move, {"json": {**good_move, "unit_id": True}}, "invalid_number"),
        ("POST", move, {"json": {**good_move, "unit_id": 1.5}}, "invalid_number"),
        ("POST", move, {"json": {**good_move, "unit_id": MAX_ID + 1}}, "out_of_range"),
        ("POST", move, {"json": {**good_move, "check_in": None}}, "missing_field"),
        ("POST", move, {"json": {**good_move, "check_in": 20261203}}, "invalid_date"),
        ("POST", move, {"json": {**good_move, "check_out": iso(days(2))}}, "dates_order"),
        ("POST", move, {"json": {**good_move, "check_out": iso(days(93))}}, "out_of_range"),
        ("POST", move, {"json": {**good_move, "expected_net": "0"}}, "invalid_number"),
        ("POST", move, {"json": {**good_move, "expected_net": 10**11}}, "out_of_range"),
        ("POST", cancel, {}, "malformed_json"),
        ("POST", cancel, {"json": {}}, "missing_field"),
        ("POST", cancel, {"json": {"reason": "   "}}, "missing_field"),
        ("POST", cancel, {"json": {"reason": 42}}, "invalid_text"),
        ("POST", cancel, {"json": {"reason": "長" * 301}}, "out_of_range"),
        ("PUT", closures, {"json": "maintenance"}, "malformed_json"),
        ("PUT", closures, {"json": {"reason": "maintenance"}}, "missing_field"),
        ("PUT", closures, {"json": {**closing_, "reason": None}}, "missing_field"),
        ("PUT", closures, {"json": {**closing_, "reason": "external"}}, "invalid_reason"),
        ("PUT", closures, {"json": {**closing_, "reason": ["maintenance"]}}, "invalid_reason"),
        ("PUT", closures, {"json": {**closing_, "to": iso(days(5))}}, "dates_order"),
        ("PUT", closures, {"json": {**closing_, **period(5, 372)}}, "out_of_range"),
        ("PUT", closures, {"json": {**closing_, "note": 7}}, "invalid_text"),
        ("PUT", closures, {"json": {**closing_, "note": "x" * 301}}, "out_of_range"),
        ("DELETE", closures, {}, "missing_field"),
        ("DELETE", closures, {"data": "[1]", "content_type": "application/json"}, "malformed_json"),
        ("DELETE", closures, {"json": {"from": iso(days(5))}}, "missing_field"),
        ("DELETE", closures, {"query_string": period(5, 5)}, "dates_order"),
        ("DELETE", closures, {"json": period(5, 372)}, "out_of_range"),
    ]


def test_bad_input_answers_400_with_a_clear_code_and_changes_nothing(client, db, house):
    stay = book(db, house.employee, house.room, 2, 4)
    before = booking_state(db, stay.id)
    for method, path, kwargs, code in bad_requests(house, stay.id):
        response = client.open(API + path, method=method, headers=house.headers, **kwargs)
        assert (response.status_code, error_code(response)) == (400, code), (method, path, kwargs)
    assert booking_state(db, stay.id) == before
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Block)) == 0


def test_fields_it_does_not_know_are_ignored(client, db, house):
    stay = book(db, house.employee, house.room, 2, 4)
    body = {
        "unit_id": house.other_room.id,
        "check_in": iso(days(2)),
        "check_out": iso(days(4)),
        "guests": "many",
        "total_price": 1,
    }

    response = client.post(f"{API}/bookings/{stay.id}/move", json=body, headers=house.headers)

    assert response.status_code == 200
    assert response.get_json()["guests"] == 1
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count()).select_from(Occupancy).where(Occupancy.booking_id == stay.id)
        )
        == 2
    )


def test_too_many_stays_ask_for_a_narrower_listing(client, db, house, monkeypatch):
    monkeypatch.setattr(api, "MAX_BOOKINGS", 1)
    book(db, house.employee, house.room, 2, 4)
    book(db, house.employee, house.other_room, 5, 6)

    one = client.get(f"{API}/bookings", query_string=period(0, 5), headers=house.headers)
    two = client.get(f"{API}/bookings", query_string=period(0, 10), headers=house.headers)

    assert one.status_code == 200 and len(one.get_json()["bookings"]) == 1
    assert (two.status_code, error_code(two)) == (400, "too_many")


# --- docs/openapi.yaml states the operator API -------------------------------------------


def _spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def _operator_operations(spec: dict):
    for path, operations in spec["paths"].items():
        if path.startswith(API + "/"):
            for method, operation in operations.items():
                yield path, method, operation


def _documented(spec: dict, path: str, method: str) -> set[tuple[int, str]]:
    answers = spec["paths"][path][method]["responses"]
    return {
        (int(status), code)
        for status, answer in answers.items()
        for code in _resolve(spec, answer).get("x-error-codes", [])
    }


def _all_documented(spec: dict) -> set[tuple[int, str]]:
    found = set()
    for path, method, _operation in _operator_operations(spec):
        found |= _documented(spec, path, method)
    return found


def _literal_api_errors() -> set[tuple[int, str]]:
    """Every ``ApiError(status, "code", …)`` written out in consoles/operator/api.py."""
    found = set()
    for node in ast.walk(ast.parse(inspect.getsource(api))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "ApiError"
            and all(isinstance(arg, ast.Constant) for arg in node.args[:2])
        ):
            found.add((node.args[0].value, node.args[1].value))
    return found


def _resolved(module, node: ast.expr):
    """What ``Name`` or ``package.Name`` in ``module``'s code refers to (None: neither)."""
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolved(module, node.value)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _raised(*sources) -> set[tuple[type, str | None]]:
    """``raise Cls(message, "code")`` in the functions or modules given: the class and
    its code (the class's own when none is written, None when it is computed)."""
    found = set()
    for source in sources:
        names = source if inspect.ismodule(source) else inspect.getmodule(source)
        tree = ast.parse(textwrap.dedent(inspect.getsource(source)))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            cls = _resolved(names, node.exc.func)
            if not (isinstance(cls, type) and issubclass(cls, RuleError)):
                continue
            code = node.exc.args[1] if len(node.exc.args) > 1 else None
            if code is None:
                found.add((cls, cls.code))
            else:
                found.add((cls, code.value if isinstance(code, ast.Constant) else None))
    return found


def _answers(raised: set[tuple[type, str | None]]) -> set[tuple[int, str]]:
    answered = set()
    for cls, code in raised:
        assert code is not None, cls  # a computed code: read it where it comes from
        answer: ApiError = api._answer_for(cls("message", code))
        answered.add((answer.status, answer.code))
    return answered


# The ledger's refusals, passed on by booking.services.billing_refusals.
CREDIT_CODES = {code for cls, code in _raised(ledger) if cls is ledger.CreditRefused}


def _service_answers() -> dict[tuple[str, str], set[tuple[int, str]]]:
    """What each endpoint's services can refuse with, as the API answers it; less what
    the API refuses first with a 400 of its own (noted beside each)."""
    move = _raised(operator_moves, front_desk.refuse_begun) | _raised(
        services.validate_stay_dates, services.check_monthly_cap
    )
    move |= {(services.BillingRefused, code) for code in CREDIT_CODES}
    move |= {(services.BookingConflict, "taken"), (services.BookingNotFound, "not_found")}
    move -= {(services.BookingError, "dates_order")}  # 400 dates_order first
    cancel = (_raised(front_desk.cancel_for_guest) | _raised(front_desk.refuse_begun)) - {
        (front_desk.FrontDeskError, "reason_required"),  # 400 missing_field first
        (front_desk.FrontDeskError, "reason_too_long"),  # 400 out_of_range first
    }
    already = (front_desk.FrontDeskError, api.ALREADY)  # answered 200: the stay as it is
    close = _raised(closing.close_facility_dates) | _raised(
        blocks._check_closing, blocks._refuse_booked
    )
    close -= {
        (blocks.BlockError, "order"),  # 400 dates_order first
        (blocks.BlockError, "dates_order"),  # the same
        (blocks.BlockError, "too_long"),  # 400 out_of_range first (the same bound)
        (blocks.BlockError, "reason"),  # 400 invalid_reason first
        (blocks.BlockError, "no_units"),  # one room, always
    }
    booking = API + "/bookings/{id}/"
    return {
        (booking + "move", "post"): _answers(move),
        (booking + "cancel", "post"): _answers(cancel),
        (booking + "check-in", "post"): _answers(_raised(front_desk.check_in) - {already}),
        (booking + "check-out", "post"): _answers(_raised(front_desk.check_out) - {already}),
        (booking + "no-show", "post"): _answers(_raised(front_desk.mark_no_show) - {already}),
        (API + "/units/{id}/closures", "put"): _answers(close),
        (API + "/units/{id}/closures", "delete"): _answers(
            _raised(blocks.reopen_dates) - {(blocks.BlockError, "dates_order")}  # 400 first
        ),
    }


def test_every_refusal_a_service_can_answer_is_documented_on_its_endpoint():
    spec = _spec()
    for (path, method), answers in _service_answers().items():
        missing = answers - _documented(spec, path, method)
        assert not missing, (method, path, missing)


def test_every_error_the_api_writes_is_documented_and_every_documented_one_exists():
    spec = _spec()
    documented = _all_documented(spec)
    assert _literal_api_errors() - documented == set()
    answerable = _literal_api_errors() | {
        (400, "invalid_characters"),  # core.input_guard, at every door
        (500, "internal_error"),  # core.errors, anywhere
        (503, "unavailable"),  # core.errors, while the database cannot be reached
        (429, "too_many_requests"),  # core.limits: the token's rate limit
    }
    for answers in _service_answers().values():
        answerable |= answers
    assert documented - answerable == set()


def test_the_error_schema_lists_every_operator_code():
    spec = _spec()
    code = spec["components"]["schemas"]["OperatorError"]["properties"]["error"]["properties"]
    assert sorted(code["code"]["enum"]) == sorted({c for _s, c in _all_documented(spec)})
    for path, method, operation in _operator_operations(spec):
        schemas = {
            str(_resolve(spec, answer)["content"]["application/json"]["schema"])
            for status, answer in operation["responses"].items()
            if int(status) >= 400
        }
        assert schemas <= {"{'$ref': '#/components/schemas/OperatorError'}"} | {
            "{'$ref': '#/components/schemas/Error'}"  # the shared 400, 401 and 500
        }, (method, path)


def test_the_answers_schemas_are_the_contract():
    schemas = _spec()["components"]["schemas"]
    assert set(schemas["OperatorBooking"]["required"]) == set(BOOKING)
    assert set(schemas["OperatorBooking"]["properties"]) == set(BOOKING)
    assert schemas["OperatorBooking"]["properties"]["status"]["enum"] == [
        s.value for s in BookingStatus
    ]
    assert set(schemas["OperatorFigures"]["required"]) == set(FIGURES)
    facility = schemas["OperatorFacility"]
    assert set(facility["required"]) == {"id", "name", "units"}
    assert set(facility["properties"]["units"]["items"]["required"]) == {"id", "name", "capacity"}


def test_the_bounds_the_spec_states_are_the_codes():
    spec = _spec()
    body = {
        path.rsplit("/", 1)[-1]: _resolve(
            spec,
            spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"],
        )["properties"]
        for path, method in [
            (API + "/bookings/{id}/move", "post"),
            (API + "/bookings/{id}/cancel", "post"),
            (API + "/units/{id}/closures", "put"),
        ]
    }
    move, cancel, closures = body["move"], body["cancel"], body["closures"]
    assert (move["unit_id"]["minimum"], move["unit_id"]["maximum"]) == (api.MIN_ID, MAX_ID)
    assert f"at most {api.MAX_STAY_NIGHTS} nights" in move["check_out"]["description"]
    assert (move["expected_net"]["minimum"], move["expected_net"]["maximum"]) == (
        -api.MAX_EXPECTED_NET,
        api.MAX_EXPECTED_NET,
    )
    assert cancel["reason"]["maxLength"] == api.MAX_CANCEL_REASON == front_desk.MAX_CANCEL_REASON
    assert closures["reason"]["enum"] == list(api.CLOSURE_REASONS)
    assert (
        closures["note"]["maxLength"] == api.MAX_CLOSURE_NOTE == Block.__table__.c.note.type.length
    )
    assert f"at most {api.MAX_CLOSURE_NIGHTS} nights" in closures["to"]["description"]
    for path in (API + "/bookings", API + "/facilities/{id}/kpis"):
        to = _param(spec, path, "get", "to")["description"]
        assert f"at most {api.MAX_PERIOD_NIGHTS} nights" in to, path
    facility_id = _param(spec, API + "/bookings", "get", "facility_id")["schema"]
    assert (facility_id["minimum"], facility_id["maximum"]) == (api.MIN_ID, MAX_ID)
    listing = spec["paths"][API + "/bookings"]["get"]["description"]
    assert f"At most {api.MAX_BOOKINGS} stays" in listing
    reopen = _param(spec, API + "/units/{id}/closures", "delete", "to")["description"]
    assert f"at most {api.MAX_CLOSURE_NIGHTS} nights" in reopen
