"""Jobs that make events of their own (being written)."""

from __future__ import annotations

from datetime import datetime

from core.job_summary import NOTHING, JobSummary


def stay_notices(now: datetime) -> JobSummary:
    return NOTHING


def operator_digest(now: datetime) -> JobSummary:
    return NOTHING


def feed_watch(now: datetime) -> JobSummary:
    return NOTHING
