"""The company's audit log (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("company_audit", __name__, url_prefix="/company/audit")
