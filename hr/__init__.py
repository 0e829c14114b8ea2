"""The company's HR rules for its workation programme: what a stay is for (休暇型 or
業務型) and which groups of employees may take which (``models.GroupPolicy``), read by
booking through ``policy``. Employees' HR facts (number, department, group, manager)
live on ``accounts.models.User``; ``people`` sets them one at a time, ``people_import``
from a CSV file."""

from __future__ import annotations

from flask import Flask

from hr import models  # noqa: F401  (the tables)


def init_app(app: Flask) -> None:
    """Nothing to wire yet: the pages that set these rules are the company console's."""
