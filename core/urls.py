"""Links that leave the request: in mail, calendars and API answers.

Every absolute link Engawa hands out is built from the one configured public
address, ``BASE_URL`` (e.g. ``https://engawa.jp``), never from the request's
``Host`` or ``X-Forwarded-*`` headers: a link in a mail must point at Engawa
whoever asked for the mail to be sent. It works outside a request too (jobs,
commands).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` (a full ``blueprint.view`` name) at ``BASE_URL``."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
