"""The bell's notices, mail preferences and the development mailbox (being written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("notifications", __name__)
