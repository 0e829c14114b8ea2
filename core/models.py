"""Models of the platform itself (not of any one feature)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, TypeDecorator
from sqlalchemy.orm import Mapped, mapped_column

from core import job_summary
from core.db import UTCDateTime
from core.extensions import db


class SummaryText(TypeDecorator):
    """A job's summary: a ``JobSummary`` stored as JSON (shown in the reader's language),
    read back as one; plain text (older rows, "interrupted…") stays a plain ``str``."""

    impl = String(job_summary.MAX_STORED)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, job_summary.JobSummary):
            return value.stored()
        return None if value is None else value[: job_summary.MAX_STORED]

    def process_result_value(self, value, dialect):
        return job_summary.load(value) if value is not None else None


class JobRun(db.Model):
    """One run of a scheduled job: when, how it ended, and what it did."""

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10), default="running")
    summary: Mapped[str] = mapped_column(SummaryText, default="")

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
