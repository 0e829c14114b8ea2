"""Who holds each night: one occupancy row per unit and night, claimed by a booking
or a block (closed nights), and the queue of nights whose demand changed."""

from __future__ import annotations

from flask import Flask

from availability import (
    models,  # noqa: F401  (occupancy, blocks, the changed-nights queue)
    workspace,  # noqa: F401  (slot holds and workspace blocks)
)


def init_app(app: Flask) -> None:
    """Availability has no pages, commands or jobs: the packages above act through it."""
