"""The demo network (facilities, companies, people, bookings) and `seed-demo`."""

from __future__ import annotations

from flask import Flask

from demo import cli


def init_app(app: Flask) -> None:
    cli.init_app(app)
