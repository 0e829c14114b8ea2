"""SCIM 2.0: the Users resource for a company's directory (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
