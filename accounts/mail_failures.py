"""What the Engawa team reads of the outbox: the mail given up after the last attempt
(``/admin/jobs``), each address masked and no text kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from accounts.mail import OutgoingMail
from core.extensions import db


def masked_address(address: str) -> str:
    """``taro@example.com`` → ``t***@example.com``: enough to tell mails apart on a page
    without showing who they were for."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


@dataclass(frozen=True)
class FailedMail:
    """A mail given up, as /admin/jobs shows it: the address masked, no text."""

    id: int
    queued_at: datetime
    kind: str | None
    to_masked: str
    attempts: int
    last_error: str | None
    failed_at: datetime


def failed_mail(limit: int = 50) -> list[FailedMail]:
    """The mail given up after the last attempt, most recently given up first."""
    rows = db.session.execute(
        select(
            OutgoingMail.id,
            OutgoingMail.created_at,
            OutgoingMail.kind,
            OutgoingMail.to_address,
            OutgoingMail.attempts,
            OutgoingMail.last_error,
            OutgoingMail.failed_at,
        )
        .where(OutgoingMail.failed_at.is_not(None))
        .order_by(OutgoingMail.failed_at.desc(), OutgoingMail.id.desc())
        .limit(limit)
    )
    return [
        FailedMail(id_, created, kind, masked_address(to), attempts, error, failed)
        for id_, created, kind, to, attempts, error, failed in rows
    ]
