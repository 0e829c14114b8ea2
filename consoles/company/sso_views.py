"""The company admin's single sign-on settings (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("company_sso", __name__, url_prefix="/company/sso")
