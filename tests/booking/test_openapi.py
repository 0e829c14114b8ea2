"""docs/openapi.yaml describes the API that is actually served."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from core import create_app

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def _served_api_routes() -> set[tuple[str, str]]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            path = path.replace("{facility_id}", "{id}").replace("{booking_id}", "{id}")
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
