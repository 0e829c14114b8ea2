"""The public sign-up pages: a company applies, an operator registers (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("signup", __name__)
