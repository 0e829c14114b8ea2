"""Models of the platform itself (not of any one feature)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime
from core.extensions import db


class JobRun(db.Model):
    """One run of a scheduled job: when, how it ended, and what it did."""

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10), default="running")
    summary: Mapped[str] = mapped_column(String(500), default="")

    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'ok', 'failed')", name="outcome_known"),
        Index("ix_job_run_job_started_at", "job", "started_at"),
        Index("ix_job_run_started_at", "started_at"),
    )

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
