"""Running Engawa in production: backups and their restore, and the checks that the
data's invariants hold (after a restore, after a surge).

Above every domain package (it reads their tables), below the consoles.
"""

from __future__ import annotations

from flask import Flask

from operations import cli


def init_app(app: Flask) -> None:
    cli.init_app(app)
