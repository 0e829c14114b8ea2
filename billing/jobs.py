"""Scheduled billing work: reconcile with the provider, bill overage, run the local simulation."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from billing import ledger, provider_sync
from billing.models import LocalEvent, StripeEvent
from billing.providers import local_gateway
from billing.settings import BillingSettings
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary

# Stripe retries a delivery for 3 days and keeps its events (and the dashboard's
# "resend") for 30; an id is kept at least as long as its event can come back.


def reconcile(now: datetime) -> JobSummary:
    """Daily: every live subscription and its invoices re-read, in case an event was lost."""
    return provider_sync.reconcile(now, settings=BillingSettings.from_config(current_app.config))


def expire_lapsed_credit(now: datetime) -> JobSummary:
    """Daily: the credit of companies that stopped paying expires after its carry-over period."""
    expired = ledger.expire_lapsed(now)
    db.session.commit()
    return summary(N_("credit expired for %(n)d companies"), n=expired) if expired else NOTHING


def prune_webhook_events(now: datetime) -> JobSummary:
    """Daily: forget handled webhook event ids older than WEBHOOK_EVENT_KEEP_DAYS.

    A captured delivery cannot be replayed later (its signature is good for 5 minutes),
    and an event Stripe resends after its id is gone is re-read and applied again,
    which changes nothing that is already so (credit is granted once per invoice).
    """
    days = current_app.config["WEBHOOK_EVENT_KEEP_DAYS"]
    cutoff = now - timedelta(days=days)
    removed = db.session.execute(delete(StripeEvent).where(StripeEvent.received_at < cutoff))
    db.session.commit()
    if not removed.rowcount:
        return NOTHING
    return summary(N_("%(n)d old webhook event ids removed"), n=removed.rowcount)


def bill_overage(now: datetime) -> JobSummary:
    return provider_sync.bill_overage(now)


def _local() -> bool:
    return current_app.config["BILLING_BACKEND"] == "local"


def local_cycle(now: datetime) -> JobSummary:
    """The local backend's provider side: renewals, ends of subscriptions, overdue invoices."""
    if not _local():
        return NOTHING
    return local_gateway().run_cycle(now)


def local_events_pending() -> bool:
    if not _local():
        return False
    found = db.session.scalar(
        select(LocalEvent.id).where(LocalEvent.delivered_at.is_(None)).limit(1)
    )
    db.session.rollback()
    return found is not None


def deliver_local_events(now: datetime) -> JobSummary:
    """Retry local events a failed delivery left behind (as Stripe retries its own)."""
    if not _local():
        return NOTHING
    db.session.rollback()
    delivered = local_gateway().deliver_pending()
    return summary(N_("%(n)d local billing events delivered"), n=delivered)
