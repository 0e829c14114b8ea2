"""The scheduler's delivery jobs: each first turns new events into messages
(``dispatch``), then sends what is due. ``mail_outbox`` keeps its name from before
events existed: ``flask --app wsgi scheduler run-job mail_outbox`` delivers every
mail a booking made, with nothing else run first."""

from __future__ import annotations

from datetime import datetime

from accounts import mail
from core.job_summary import JobSummary, joined
from notifications import dispatch, webhooks


def mail_outbox(now: datetime) -> JobSummary:
    """Dispatch new events, then send the mail that is due."""
    return joined(dispatch.dispatch_events(now), mail.deliver_outbox(now))


def mail_work() -> bool:
    return dispatch.events_pending() or mail.outbox_pending()


def webhook_deliveries(now: datetime) -> JobSummary:
    """Dispatch new events, then send the webhook deliveries that are due."""
    return joined(dispatch.dispatch_events(now), webhooks.deliver_webhooks(now))


def webhook_work() -> bool:
    return dispatch.events_pending() or webhooks.webhooks_pending()
