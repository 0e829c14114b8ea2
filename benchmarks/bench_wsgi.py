"""WSGI entry for the booking benchmark: the production module, with the clock pinned.

gunicorn loads this instead of ``wsgi.py`` only because ``FIXED_NOW`` has no
environment variable (only tests and this benchmark pin the clock). The app itself
is ``wsgi.app``, configured from the environment as in production (``ENGAWA_ENV``,
``DATABASE_URL``, ``SECRET_KEY``); ``edge_now()`` reads ``FIXED_NOW`` per request.
"""

import os
from datetime import datetime

from wsgi import app

app.config["FIXED_NOW"] = datetime.fromisoformat(os.environ["ENGAWA_BENCH_FIXED_NOW"])
