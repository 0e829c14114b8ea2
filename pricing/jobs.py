"""Pricing's scheduled jobs: the edge that reads the settings and calls the engine."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from core.job_summary import JobSummary
from pricing import engine, refresh


def recompute_job(now: datetime) -> JobSummary:
    """The nightly job (03:00 Asia/Tokyo): every facility, the whole horizon."""
    return engine.recompute(now, horizon_days=current_app.config["PRICING_HORIZON_DAYS"]).summary()


def refresh_job(now: datetime) -> JobSummary:
    """Re-price the nights around new bookings, cancellations and blocks."""
    horizon = current_app.config["PRICING_HORIZON_DAYS"]
    return refresh.refresh_queued(now, horizon_days=horizon).summary()
