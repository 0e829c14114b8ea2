"""Models of the platform itself (not of any one feature)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, TypeDecorator, UniqueConstraint, text
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
    # The scheduled time this run is for (None for a run by hand). Unique per job: a
    # second scheduler that believes it leads cannot run the same fire time again.
    fire_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which process ran it ("host:pid"), for /admin/jobs and the logs.
    runner: Mapped[str] = mapped_column(String(80), default="", server_default=text("''"))

    __table_args__ = (
        CheckConstraint("outcome IN ('running', 'ok', 'failed')", name="outcome_known"),
        UniqueConstraint("job", "fire_time", name="uq_job_run_job_fire_time"),
        Index("ix_job_run_job_started_at", "job", "started_at"),
        Index("ix_job_run_started_at", "started_at"),
    )

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SchedulerLease(db.Model):
    """Who leads the scheduler processes: one row per lease name, renewed by its holder
    every few seconds (``core.leader``). A standby takes the lease once it has expired."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))  # a random id per process
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
