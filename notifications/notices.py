"""In-app notices: the bell of operators, company admins and the Engawa team."""

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
