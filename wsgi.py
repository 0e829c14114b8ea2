"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import gc

from app import create_app

app = create_app()
# Start-up objects never become garbage: keep them out of the cyclic collector's
# full passes, which otherwise cost ~100 ms now and then (docs/PERFORMANCE.md).
gc.freeze()
