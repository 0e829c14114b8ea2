"""Which optional mail each person wants (every kind unless switched off)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from accounts.models import User
from core.extensions import db
from notifications.catalog import BY_NAME, Kind, kinds_for_role
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


def opted_out(user_id: int) -> set[str]:
    """The optional kinds the person switched off."""
    return set(db.session.scalars(select(MailOptOut.kind).where(MailOptOut.user_id == user_id)))


def choices_for(role: str) -> tuple[list[Kind], list[Kind]]:
    """The kinds a person of ``role`` can receive: (optional ones, always sent ones)."""
    kinds = kinds_for_role(role)
    return [k for k in kinds if k.optional], [k for k in kinds if not k.optional]


def set_preferences(user_id: int, wanted: Iterable[str], now: datetime) -> set[str]:
    """Keep exactly the optional kinds of the person's role that are not in ``wanted``
    switched off; flushes. Kinds that are not optional (legal or money facts) and kinds
    the role does not receive are ignored, whatever the form said: a forged form can
    neither switch a required mail off nor store a stray row. Returns the kinds now off.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(user_id)
    optional, _required = choices_for(user.role)
    wanted = set(wanted)
    off = {kind.name for kind in optional if kind.name not in wanted}
    current = opted_out(user_id)
    stale = current - off
    if stale:
        db.session.execute(
            delete(MailOptOut).where(MailOptOut.user_id == user_id, MailOptOut.kind.in_(stale))
        )
    for kind in sorted(off - current):
        db.session.add(MailOptOut(user_id=user_id, kind=kind, created_at=now))
    db.session.flush()
    return off
