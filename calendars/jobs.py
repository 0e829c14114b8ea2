"""The calendar sync job: import every due external feed (registered in calendars.init_app)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import current_app

from calendars import sync as calendar_sync
from calendars.models import CalendarFeed
from core import metrics
from core.extensions import db
from core.job_summary import N_, JobSummary, joined, summary

log = logging.getLogger(__name__)


def sync_calendars(
    now: datetime,
    *,
    unit_id: int | None = None,
    progress: Callable[[calendar_sync.SyncOutcome], None] | None = None,
    fetcher=calendar_sync.fetch,
) -> JobSummary:
    """Import every active external feed that is not backing off (or every feed of
    one unit). Returns a short summary.

    Each feed is its own transaction: a feed that fails (even unexpectedly)
    rolls back alone, keeps its blocks, and has the failure recorded (and is
    left alone for a while: ``calendar_sync.backoff_delay``).
    Re-running with unchanged feeds changes nothing but the sync timestamps.
    """
    settings = calendar_sync.FetchSettings.from_config(current_app.config)
    # Plain values only: holding 1,000 feed objects would make every commit
    # expire them all (the session's identity map keeps what is referenced).
    targets, backing_off = calendar_sync.due_targets(now, unit_id)
    db.session.commit()  # no transaction stays open while we wait for the network
    counts = {"changed": 0, "unchanged": 0, "failed": 0}
    conflicts = 0
    workers = current_app.config["CALENDAR_SYNC_WORKERS"]
    for target, result in calendar_sync.fetch_all(targets, settings, workers, fetcher):
        outcome = _apply_one(target.feed_id, result, now, settings)
        counts[outcome.status] += 1
        metrics.FEED_SYNCS.labels(outcome=outcome.status).inc()
        conflicts += outcome.conflicts
        if progress is not None:
            progress(outcome)
    synced = summary(
        N_("%(feeds)d feeds: %(changed)d changed, %(unchanged)d unchanged, %(failed)d failed"),
        feeds=len(targets),
        **counts,
    )
    open_conflicts = summary(N_("%(n)d open conflicts"), n=conflicts)
    waiting = (
        summary(N_("%(n)d backing off after failures"), n=backing_off) if backing_off else None
    )
    return joined(synced, open_conflicts, waiting)


def _apply_one(feed_id: int, result, now: datetime, settings) -> calendar_sync.SyncOutcome:
    try:
        feed = db.session.get(CalendarFeed, feed_id)
        if feed is None:  # removed by its operator while we were fetching
            db.session.rollback()
            return calendar_sync.SyncOutcome(feed_id, "failed", error="feed removed")
        outcome = calendar_sync.apply_result(feed, result, now, settings)
        db.session.commit()
        return outcome
    except Exception as exc:
        db.session.rollback()
        # The feed id and the error class only: a message or traceback could carry
        # the feed URL's secret token or an event's summary (personal data).
        log.error("calendar feed %s: sync failed (%s)", feed_id, type(exc).__name__)
        feed = db.session.get(CalendarFeed, feed_id)
        if feed is None:
            return calendar_sync.SyncOutcome(feed_id, "failed", error="feed removed")
        outcome = calendar_sync.record_failure(feed, "internal error while importing", now)
        db.session.commit()
        return outcome
