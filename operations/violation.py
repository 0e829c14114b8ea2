"""What a broken invariant looks like, and the helpers the checks share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, cast, func
from sqlalchemy.orm import Session

from booking.models import CHARGED_STATUSES, LIVE_STATUSES, WAITING_STATUSES

CHARGED = tuple(str(s) for s in CHARGED_STATUSES)  # paid for: they hold their nights
# They hold their nights: paid for, or waiting for an approval or the employee's payment.
HOLDING = CHARGED + tuple(str(s) for s in WAITING_STATUSES)
LIVE = tuple(str(s) for s in LIVE_STATUSES)  # they owe the tax of the nights they keep


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which check, what it concerns, and what is wrong."""

    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


def days_between(session: Session, later, earlier):
    """Whole days from ``earlier`` to ``later`` (two date expressions), on either engine."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(later) - func.julianday(earlier), Integer)
    return later - earlier


def as_int(value) -> int:
    return int(value or 0)  # PostgreSQL sums BIGINT as numeric
