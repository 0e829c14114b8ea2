"""Single sign-on: the OpenID Connect round trip (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sso", __name__)
