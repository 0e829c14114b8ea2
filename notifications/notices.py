"""In-app notices: the bell of operators, company admins and the Engawa team.

The dispatcher (``notifications.dispatch``) writes one ``Notice`` per person for each
kind with ``notice=True`` in ``notifications.catalog`` (``add_notice``). A notice keeps
no text: ``notice_text`` makes it at display time, in the reader's language, from its
kind and its ``params`` (a JSON object). A param that is missing makes the text fall
back to the kind's label, so an old or odd row never breaks the bell.

The params each notice kind reads (ISO dates "2025-04-01", instants
"2025-04-01T03:00:00+00:00", yen as int; never a person's name or address):

- ``operator_booking_created``, ``operator_booking_cancelled``,
  ``operator_booking_changed``: {"booking": the booking's id (its booking
  number), "facility": the facility's name (Japanese), "facility_en": its English
  name (may be "" — then the Japanese one is shown), "check_in": ISO date,
  "check_out": ISO date}
- ``calendar_conflict``: {"unit": the room's name, "facility", "facility_en",
  "first_night": ISO date, "nights": n}
- ``feed_failing``: {"feed": the feed's label, "unit", "facility", "facility_en",
  "since": ISO instant of the last success or of the feed's creation}
- ``invoice_issued``: {"number": the invoice number, "total": yen}
- ``payment_failed``: {"grace_until": ISO instant}
- ``seats_full``: {}
- ``credit_low``: {"balance": yen, "grant": yen}
- ``refusals_many``: {"count": n}
- ``application_submitted``: {"name": the organisation's name, "kind": "company" |
  "operator"}

``link`` is a path inside Engawa (the booking's, the calendars' page, the invoice's,
the application's); the notices list links each notice there after marking it read.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from accounts.events import Event
from core.extensions import db
from notifications.models import Notice


def add_notice(
    user_id: int, kind: str, event: Event, params: dict[str, Any], link: str | None, now: datetime
) -> Notice | None:
    """One notice of ``event`` for one person (flushes); None if they have it already."""
    if db.session.scalar(
        select(Notice.id).where(Notice.user_id == user_id, Notice.event_id == event.id)
    ):
        return None
    notice = Notice(
        user_id=user_id,
        event_id=event.id,
        kind=kind,
        created_at=now,
        params=json.dumps(params, sort_keys=True, default=str),
        link=link,
    )
    db.session.add(notice)
    db.session.flush()
    return notice
