"""docs/openapi.yaml describes the API that is actually served."""

from __future__ import annotations

import ast
import inspect
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from app import create_app
from availability import slots
from availability import workspace as workspace_slots
from billing import ledger, refunds
from booking import (
    api,
    approval_api,
    cancellation,
    changes,
    programme_api,
    register_api,
    search,
    services,
    workspace,
    workspace_api,
    workspace_change,
)
from booking.models import Booking, BookingStatus
from consoles.operator import region_api
from core import errors, input_guard
from core.dates import MAX_SEARCH_NIGHTS
from core.db import MAX_ID
from core.errors import ApiError
from facilities.regions import REGIONS_BY_SLUG

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def _served_api_routes() -> set[tuple[str, str]]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for name in ("{facility_id}", "{booking_id}", "{unit_id}"):
                path = path.replace(name, "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    return routes


def test_every_served_route_is_documented_and_nothing_else():
    spec = yaml.safe_load(SPEC.read_text())
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert documented == _served_api_routes()


def test_contract_fields_are_required_in_the_schemas():
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    assert {"id", "name", "prefecture", "units"} <= set(schemas["FacilityResult"]["required"])
    assert {"id", "status", "unit_id", "check_in", "check_out", "total_price", "nights"} <= set(
        schemas["Booking"]["required"]
    )


def test_company_contract_fields_are_required():
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    assert set(schemas["Company"]["required"]) == {
        "id",
        "name",
        "plan",
        "seats",
        "seats_used",
        "subscription_status",
        "credit_balance",
    }


# --- bounds: the spec states the code's constants ----------------------------------------


def _spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def _resolve(spec: dict, node: dict) -> dict:
    """Follow a ``$ref`` (``#/components/...``) to the node it names."""
    while "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _param(spec: dict, path: str, method: str, name: str) -> dict:
    for param in spec["paths"][path][method]["parameters"]:
        param = _resolve(spec, param)
        if param["name"] == name:
            return param
    raise AssertionError(f"{method} {path} documents no parameter {name!r}")


def _bounds(schema: dict) -> dict:
    return {k: schema[k] for k in ("minimum", "maximum", "default", "maxLength") if k in schema}


def _body_schema(spec: dict) -> dict:
    body = spec["paths"]["/api/v1/bookings"]["post"]["requestBody"]
    return _resolve(spec, body["content"]["application/json"]["schema"])["properties"]


def test_the_search_parameters_state_the_bounds_the_code_enforces():
    spec = _spec()

    def schema(name: str) -> dict:
        return _param(spec, "/api/v1/facilities", "get", name)["schema"]

    assert _bounds(schema("guests")) == {
        "minimum": api.MIN_GUESTS,
        "maximum": services.MAX_GUESTS,
        "default": api.DEFAULT_GUESTS,
    }
    assert _bounds(schema("prefecture")) == {
        "minimum": api.MIN_PREFECTURE,
        "maximum": api.MAX_PREFECTURE,
    }
    assert _bounds(schema("min_wifi_mbps")) == {
        "minimum": api.MIN_WIFI_MBPS,
        "maximum": api.MAX_WIFI_MBPS,
        "default": api.MIN_WIFI_MBPS,
    }
    assert schema("region")["enum"] == list(REGIONS_BY_SLUG)
    assert schema("kind")["enum"] == list(api.KINDS)
    assert schema("amenities")["items"]["enum"] == list(search.AMENITIES)
    assert schema("sort")["enum"] == list(search.SORTS)
    assert schema("sort")["default"] == api.DEFAULT_SORT
    stay_limit = f"at most {MAX_SEARCH_NIGHTS} nights"
    assert stay_limit in _param(spec, "/api/v1/facilities", "get", "check_out")["description"]


def test_the_booking_body_states_the_bounds_the_code_enforces():
    spec = _spec()
    body = _body_schema(spec)

    assert _bounds(body["unit_id"]) == {"minimum": api.MIN_ID, "maximum": MAX_ID}
    assert _bounds(body["guests"]) == {
        "minimum": api.MIN_GUESTS,
        "maximum": services.MAX_GUESTS,
        "default": api.DEFAULT_GUESTS,
    }
    assert _bounds(body["expected_total"]) == {
        "minimum": api.MIN_EXPECTED_TOTAL,
        "maximum": api.MAX_EXPECTED_TOTAL,
    }
    assert f"at most {MAX_SEARCH_NIGHTS} nights" in body["check_out"]["description"]
    key = _param(spec, "/api/v1/bookings", "post", "Idempotency-Key")["schema"]
    assert _bounds(key) == {"maxLength": api.MAX_IDEMPOTENCY_KEY}
    # The key is stored with the booking: the column must hold the longest one allowed.
    assert Booking.__table__.c.request_key.type.length == api.MAX_IDEMPOTENCY_KEY


def test_ids_in_paths_and_availability_ranges_state_the_codes_bounds():
    spec = _spec()
    for path, method in [
        ("/api/v1/facilities/{id}/availability", "get"),
        ("/api/v1/bookings/{id}", "get"),
        ("/api/v1/bookings/{id}", "delete"),
        ("/api/v1/bookings/{id}", "patch"),
    ]:
        assert _bounds(_param(spec, path, method, "id")["schema"]) == {
            "minimum": api.MIN_ID,
            "maximum": MAX_ID,
        }, (method, path)
    to = _param(spec, "/api/v1/facilities/{id}/availability", "get", "to")["description"]
    assert f"from + {api.DEFAULT_AVAILABILITY_NIGHTS} nights" in to
    assert f"at most {api.MAX_AVAILABILITY_NIGHTS} nights" in to
    horizon = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"}).config[
        "BOOKING_HORIZON_DAYS"
    ]
    assert f"`BOOKING_HORIZON_DAYS` (default {horizon})" in spec["info"]["description"]
    assert f"at most {MAX_SEARCH_NIGHTS} nights" in spec["info"]["description"]


def test_the_change_body_states_the_bounds_the_code_enforces():
    spec = _spec()
    body = spec["paths"]["/api/v1/bookings/{id}"]["patch"]["requestBody"]
    fields = _resolve(spec, body["content"]["application/json"]["schema"])["properties"]
    assert _bounds(fields["unit_id"]) == {"minimum": api.MIN_ID, "maximum": MAX_ID}
    assert _bounds(fields["guests"]) == {"minimum": api.MIN_GUESTS, "maximum": services.MAX_GUESTS}
    assert _bounds(fields["expected_difference"]) == {
        "minimum": -api.MAX_EXPECTED_TOTAL,
        "maximum": api.MAX_EXPECTED_TOTAL,
    }
    assert f"at most {MAX_SEARCH_NIGHTS} nights" in fields["check_out"]["description"]


def test_the_booking_carries_its_cancellation_terms():
    schemas = _spec()["components"]["schemas"]
    booking = schemas["Booking"]
    assert {"cancellation_policy", "refund_if_cancelled_now"} <= set(booking["required"])
    policy = schemas["CancellationPolicy"]
    assert set(policy["required"]) == {"free_until", "bands"}
    band = policy["properties"]["bands"]["items"]
    assert set(band["required"]) == {"from", "refund_percent"}
    # The shape the ledger gives is the shape documented.
    example = refunds.cancellation_policy(date(2027, 1, 10), date(2026, 12, 1)).as_json()
    assert set(example) == set(policy["required"])
    assert all(set(b) == set(band["required"]) for b in example["bands"])


def test_enums_of_answers_are_the_codes_values():
    schemas = _spec()["components"]["schemas"]
    assert schemas["Booking"]["properties"]["status"]["enum"] == [s.value for s in BookingStatus]


# --- error codes: every (status, code) the API can answer, read from the code -------------


def _tree(module) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def _literal_errors(module, *callables: str) -> set[tuple[int, str]]:
    """``ApiError(400, "code", …)``-style calls with a literal status and code."""
    found = set()
    for node in ast.walk(_tree(module)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in callables
            and len(node.args) >= 2
            and all(isinstance(arg, ast.Constant) for arg in node.args[:2])
        ):
            found.add((node.args[0].value, node.args[1].value))
    return found


def _raised_rule_errors(module, base: type) -> set[tuple[type, str | None]]:
    """``raise Cls(message, code)`` sites in ``module`` for subclasses of ``base``: the
    class and its code (the class's own when none is given, None when computed)."""
    found = set()
    for node in ast.walk(_tree(module)):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        cls = getattr(module, func.id, None) if isinstance(func, ast.Name) else None
        if not (isinstance(cls, type) and issubclass(cls, base)):
            continue
        code_arg = node.exc.args[1] if len(node.exc.args) > 1 else None
        for keyword in node.exc.keywords:
            if keyword.arg == "code":
                code_arg = keyword.value
        if code_arg is None:
            found.add((cls, cls.code))
        elif isinstance(code_arg, ast.Constant):
            found.add((cls, code_arg.value))
        else:
            found.add((cls, None))
    return found


def _as_api_answer(cls: type, code: str) -> tuple[int, str]:
    with pytest.raises(ApiError) as answered:
        api._raise_booking_error(cls("message", code))
    return answered.value.status, answered.value.code


def _answerable_errors() -> set[tuple[int, str]]:
    answers = _literal_errors(errors, "_api_body")
    for module in (api, approval_api, register_api, workspace_api, programme_api, region_api):
        answers |= _literal_errors(module, "ApiError")
    credit_codes = {code for _cls, code in _raised_rule_errors(ledger, ledger.CreditRefused)}
    raised = _raised_rule_errors(services, services.BookingError)
    raised |= _raised_rule_errors(changes, services.BookingError)
    raised |= _raised_rule_errors(cancellation, services.BookingError)
    for cls, code in raised:
        # A computed code is the ledger's refusal passed on (BillingRefused(exc.code)).
        for each in [code] if code is not None else sorted(credit_codes):
            answers.add(_as_api_answer(cls, each))
    answers |= _workspace_answers(credit_codes)
    answers.add((input_guard.InvalidCharacters.code, input_guard.InvalidCharacters.api_code))
    # Every call passes the token's rate limit (core.limits; the code core.errors gives 429).
    answers.add((429, "too_many_requests"))
    # A PATCH to the stay it already is answers 200 with the booking (booking/api.py).
    answers.discard((422, "unchanged"))
    return answers


def _workspace_answers(credit_codes: set[str]) -> set[tuple[int, str]]:
    """What booking/workspace_api.py answers for the refusals of the slot rules, the
    workspace booking rules, a taken time and the company's credit."""
    raised = _raised_rule_errors(slots, slots.SlotError)
    raised |= _raised_rule_errors(workspace_slots, workspace_slots.SlotTaken)
    raised |= _raised_rule_errors(workspace, services.BookingError)
    raised |= _raised_rule_errors(workspace_change, services.BookingError)
    raised |= {(ledger.CreditRefused, code) for code in credit_codes}
    answers = set()
    for cls, code in raised:
        with pytest.raises(ApiError) as answered:
            workspace_api._raise_workspace_error(cls("message", code))
        answers.add((answered.value.status, answered.value.code))
    # The API books one time per request: a series' refusals never reach it.
    answers -= {(422, "series_too_long"), (422, "overlap")}
    # The workspace never checks the employee's yen cap (a cap of its own, in hours).
    answers.discard((402, "employee_cap"))
    return answers


OPERATOR_PATHS = "/api/v1/operator/"  # tests/consoles/operator/test_operator_api_contract.py


def _documented_errors(spec: dict) -> dict[tuple[int, str], list[str]]:
    """The booking API's documented errors (the operator API's are checked beside it)."""
    documented: dict[tuple[int, str], list[str]] = {}
    for path, operations in spec["paths"].items():
        if path.startswith(OPERATOR_PATHS):
            continue
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                for code in _resolve(spec, answer).get("x-error-codes", []):
                    documented.setdefault((int(status), code), []).append(f"{method} {path}")
    return documented


def test_the_derivation_finds_the_codes_it_should():
    # Guards the reading of the source itself: if these vanish, the parser broke.
    answerable = _answerable_errors()
    assert {
        (400, "out_of_range"),
        (409, "taken"),
        (409, "price_changed"),
        (422, "idempotency_mismatch"),
        (402, "employee_cap"),
        (400, "invalid_characters"),
        (401, "unauthorized"),
    } <= answerable


def test_every_error_the_api_can_answer_is_documented_and_nothing_else():
    assert set(_documented_errors(_spec())) == _answerable_errors()


def test_the_error_schema_lists_every_code():
    spec = _spec()
    code = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert sorted(code["enum"]) == sorted({code for _status, code in _answerable_errors()})


def test_every_error_answer_names_its_codes_and_every_operation_the_common_ones():
    spec = _spec()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = {int(s): _resolve(spec, a) for s, a in operation["responses"].items()}
            for status, answer in answers.items():
                if status >= 400:
                    assert answer.get("x-error-codes"), (method, path, status)
            # Every request passes the bearer check and the control-character guard.
            assert "unauthorized" in answers[401]["x-error-codes"], (method, path)
            assert "invalid_characters" in answers[400]["x-error-codes"], (method, path)
            assert "internal_error" in answers[500]["x-error-codes"], (method, path)
