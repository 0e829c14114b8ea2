"""The company admin's SCIM token (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("company_scim", __name__, url_prefix="/company/scim")
