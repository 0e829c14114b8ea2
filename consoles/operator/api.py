"""Operator JSON API v1 (``/api/v1/operator``) for the operator's own systems: their
facilities and rooms, bookings, moves, cancellations, the front desk, figures and
closings. Bearer tokens of operator users only; another organisation's ids answer
404. The shapes are a contract (``docs/openapi.yaml``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("operator_api", __name__, url_prefix="/api/v1/operator")
