"""Outbound webhooks (being written)."""

from __future__ import annotations

from datetime import datetime

from accounts.events import Event
from core.job_summary import NOTHING, JobSummary


def queue_deliveries(event: Event, now: datetime) -> int:
    return 0


def deliver_webhooks(now: datetime) -> JobSummary:
    return NOTHING


def webhooks_pending() -> bool:
    return False
