"""A test-only WSGI module for tests/core/test_graceful.py: the Engawa app on a SQLite
file, with two routes of its own for watching gunicorn stop.

``/slow`` writes ``SLOW_WSGI_STARTED`` (a path) when it begins, then holds the request
until the file ``SLOW_WSGI_RELEASE`` exists (at most 20 s), so the test decides when it
ends instead of guessing how long anything takes. ``/ready`` answers at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app import create_app

app = create_app(
    {
        "SQLALCHEMY_DATABASE_URI": os.environ["SLOW_WSGI_DATABASE_URL"],
        "SECRET_KEY": "slow-wsgi-" + "k" * 32,
    }
)


def _slow():
    Path(os.environ["SLOW_WSGI_STARTED"]).write_text(str(os.getpid()))
    release = Path(os.environ["SLOW_WSGI_RELEASE"])
    deadline = time.monotonic() + 20
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return "slow request finished"


def _ready():
    return "ready"


app.add_url_rule("/slow", "test_slow", _slow)
app.add_url_rule("/ready", "test_ready", _ready)
