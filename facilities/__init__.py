"""The catalogue: operator organisations' facilities, their bookable units and photos,
the regions they are in. Nothing here knows who holds a night or what it costs."""

from __future__ import annotations

from flask import Flask

from facilities import (
    models,  # noqa: F401  (the catalogue's tables, for every app)
    workspace,  # noqa: F401  (workspace units)
)
from facilities.cli import photos_cli


def init_app(app: Flask) -> None:
    """The catalogue has no pages of its own: the consoles and booking show it. Its one
    command makes photos' missing resized copies (``flask photos make-copies``)."""
    app.cli.add_command(photos_cli)
