"""Which optional mail each person wants (every kind unless switched off)."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from notifications.catalog import BY_NAME
from notifications.models import MailOptOut


def wants_mail(user_id: int, kind: str) -> bool:
    """Whether ``kind`` goes to the person by mail: always for a kind that is not
    optional (legal or money facts), else unless they switched it off."""
    if not BY_NAME[kind].optional:
        return True
    return (
        db.session.scalar(
            select(MailOptOut.id).where(MailOptOut.user_id == user_id, MailOptOut.kind == kind)
        )
        is None
    )
