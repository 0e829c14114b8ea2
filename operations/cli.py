"""`flask --app wsgi backup …` and `flask --app wsgi check …`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registers the commands (written by the backup work)."""
