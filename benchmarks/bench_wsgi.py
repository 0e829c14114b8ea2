"""WSGI entry for the booking benchmark: the app as production builds it, with a pinned clock.

``FIXED_NOW`` has no environment variable (only tests and this benchmark pin the
clock), so gunicorn loads this module instead of ``wsgi.py``. Everything else comes
from the environment exactly as in production: ``ENGAWA_ENV``, ``DATABASE_URL``,
``SECRET_KEY``.
"""

import os
from datetime import datetime

from core import create_app

app = create_app({"FIXED_NOW": datetime.fromisoformat(os.environ["ENGAWA_BENCH_FIXED_NOW"])})
