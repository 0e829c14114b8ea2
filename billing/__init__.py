"""Plans, subscriptions, the credit ledger, invoices, webhooks, and the payment
providers behind one protocol (``billing.providers``: Stripe, or the local backend)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from billing import copay, jobs, webhook_view
from billing.providers import local_views
from core.extensions import csrf
from core.scheduler import JobSpec, register_jobs


def init_app(app: Flask) -> None:
    app.register_blueprint(webhook_view.bp)
    csrf.exempt(webhook_view.bp)  # signed by the provider instead
    app.register_blueprint(local_views.bp)
    register_jobs(
        app,
        JobSpec(
            "billing_reconcile",
            jobs.reconcile,
            "cron",
            lambda config: {"hour": 5, "minute": 10},
            _l("Re-read every subscription and invoice from the payment provider"),
        ),
        JobSpec(
            "billing_expire_credit",
            jobs.expire_lapsed_credit,
            "cron",
            lambda config: {"hour": 5, "minute": 20},
            _l("Expire the credit of ended subscriptions after its carry-over period"),
        ),
        JobSpec(
            "stay_card_refunds",
            copay.stay_refunds_job,
            "interval",
            lambda config: {"minutes": 10},
            _l("Send the card refunds owed to employees for their part of cancelled stays"),
        ),
        JobSpec(
            "billing_overage",
            jobs.bill_overage,
            "interval",
            lambda config: {"minutes": 15},
            _l("Put overage credit on the companies' next invoices"),
        ),
        JobSpec(
            "local_billing_cycle",
            jobs.local_cycle,
            "interval",
            lambda config: {"minutes": 10},
            _l("Local billing backend: renew periods, end cancelled subscriptions"),
            run_at_start=True,
        ),
        JobSpec(
            "local_billing_events",
            jobs.deliver_local_events,
            "interval",
            lambda config: {"seconds": 30},
            _l("Local billing backend: deliver events a failed delivery left behind"),
            has_work=jobs.local_events_pending,
        ),
        JobSpec(
            "prune_webhook_events",
            jobs.prune_webhook_events,
            "cron",
            lambda config: {"hour": 4, "minute": 50},
            _l("Forget handled webhook event ids after the days set to keep them"),
        ),
    )
