"""The platform admin reviews sign-up applications (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin_applications", __name__, url_prefix="/admin/applications")
