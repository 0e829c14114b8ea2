"""Events → mail, notices and webhook deliveries (being written)."""

from __future__ import annotations

from datetime import datetime

from core.job_summary import NOTHING, JobSummary


def dispatch_events(now: datetime) -> JobSummary:
    return NOTHING


def events_pending() -> bool:
    return False
