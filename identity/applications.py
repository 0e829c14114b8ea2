"""Sign-up applications (being written)."""

from __future__ import annotations

from datetime import datetime

from core.job_summary import NOTHING, JobSummary


def expire_applications(now: datetime) -> JobSummary:
    return NOTHING
