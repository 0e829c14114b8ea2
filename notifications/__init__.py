"""Telling people: each domain event (``accounts.events``) becomes mail through the
outbox, notices under the bell, and signed webhook deliveries to the organisations'
systems; with the reminders, the operators' daily digest and the feed watch that make
events of their own."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_babel import lazy_gettext as _l

from accounts.events import Event
from core import metrics
from core.scheduler import INTERVAL_ANCHOR, JobSpec, register_jobs
from notifications import (  # noqa: F401  (models: the tables)
    jobs,
    models,
    stay_jobs,
    views,
    webhooks,
)

# Both delivery jobs first dispatch new events, every 10 s and 5 s apart: a surge's
# events are turned into messages a few dozen at a time as they come, not all at
# once each minute (a 6-second burst that took the web workers' cores in the surge).
DELIVERY_EVERY = {"seconds": 10}
WEBHOOKS_OFFSET = timedelta(seconds=5)


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.context_processor(views.header_context)
    _register_gauges(app)
    register_jobs(
        app,
        JobSpec(
            "mail_outbox",
            jobs.mail_outbox,
            "interval",
            lambda config: DELIVERY_EVERY,
            _l("Turn new events into mail and notices, then send the mail that is due"),
            has_work=jobs.mail_work,
        ),
        JobSpec(
            "webhook_deliveries",
            jobs.webhook_deliveries,
            "interval",
            lambda config: {**DELIVERY_EVERY, "start_date": INTERVAL_ANCHOR + WEBHOOKS_OFFSET},
            _l("Turn new events into webhook deliveries, then send those that are due"),
            has_work=jobs.webhook_work,
        ),
        JobSpec(
            "prune_webhook_deliveries",
            webhooks.prune_deliveries,
            "cron",
            lambda config: {"hour": 4, "minute": 45},
            _l("Delete webhook deliveries delivered or given up more than 30 days ago"),
        ),
        JobSpec(
            "stay_notices",
            stay_jobs.stay_notices,
            "interval",
            lambda config: {"hours": 1},
            _l("Remind guests 3 days before check-in and thank them after their stay"),
        ),
        JobSpec(
            "operator_digest",
            stay_jobs.operator_digest,
            "cron",
            lambda config: {"hour": 7, "minute": 0},
            _l("Send operators the day's arrivals, departures and rooms to clean"),
        ),
        JobSpec(
            "feed_watch",
            stay_jobs.feed_watch,
            "interval",
            lambda config: {"minutes": 15},
            _l("Tell operators of calendar feeds failing or stale for more than 6 hours"),
        ),
    )


def _register_gauges(app: Flask) -> None:
    """What waits to be told, at each scrape of /metrics (each count on an index)."""
    metrics.register_database_gauge(
        app,
        "engawa_events_undispatched",
        "Domain events not yet turned into mail, notices and webhook deliveries",
        metrics.row_count(Event, Event.dispatched_at.is_(None)),
    )
    for status, help_ in (
        ("pending", "Webhook deliveries waiting to be sent or retried"),
        ("failed", "Webhook deliveries given up after the last attempt"),
    ):
        metrics.register_database_gauge(
            app,
            f"engawa_webhook_deliveries_{status}",
            help_,
            metrics.row_count(models.WebhookDelivery, models.WebhookDelivery.status == status),
        )
