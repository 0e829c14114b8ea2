"""What the payment provider says, brought into Engawa: verified webhooks, the nightly
reconcile (every subscription and invoice read again, and the employees' card refunds
the provider has not made yet sent), and overage items put on the next invoices.
Provider calls happen with no transaction holding locks.

A paid Checkout in payment mode is an employee's part of a stay (``billing.copay``):
its webhook records the payment through the booking layer's registered handler, in the
same transaction as the event's id, and then sends the refund it may owe (a payment
for a stay that is gone is given back in full)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from billing import copay, ledger, webhooks
from billing.flows import CHECKOUT_LIFETIME_HOURS
from billing.models import CheckoutAttempt, CreditEntry, EntryKind, StripeEvent, Subscription
from billing.providers import gateway
from billing.providers.base import GatewayError, ObjectMissing, SignatureError
from billing.services import is_live
from billing.settings import BillingSettings
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary

log = logging.getLogger(__name__)


# --- Webhooks -----------------------------------------------------------------------


class WebhookRejected(Exception):
    """Bad or stale signature, or an unreadable body: answer 400, change nothing."""


class ProviderUnavailable(Exception):
    """The object could not be re-read: answer 503 so the provider delivers again."""


def receive_webhook(
    payload: bytes, signature: str | None, now: datetime, *, settings: BillingSettings
) -> str:
    """Handle one delivery; returns what happened (handled, duplicate, ignored)."""
    gw = gateway()
    try:
        event = gw.verify_event(payload, signature)
    except SignatureError as exc:
        raise WebhookRejected(str(exc)) from None
    if event.type not in webhooks.HANDLED:
        return "ignored"
    seen = db.session.get(StripeEvent, event.id) is not None
    db.session.rollback()  # no transaction open while the provider is asked
    if seen:
        return "duplicate"
    try:
        snapshot = webhooks.fetch(gw, event.type, event.object_id)
    except ObjectMissing:
        log.info("event %s points at an object the provider no longer has", event.id)
        return "ignored"
    except GatewayError as exc:
        log.warning("could not re-read %s for event %s: %s", event.object_type, event.id, exc)
        raise ProviderUnavailable(event.id) from None
    if not webhooks.record_event(event.id, event.type, now):
        db.session.rollback()
        return "duplicate"
    if webhooks.is_stay_payment(snapshot):
        payment_id = copay.apply_checkout_payment(snapshot.checkout, now, settings.grace_days)
        db.session.commit()
        if payment_id is not None:
            copay.send_owed_refund(payment_id)  # a late payment: given back at once
        return "handled"
    webhooks.apply(snapshot, now, settings.grace_days, settings.price_ids)
    db.session.commit()
    return "handled"


# --- Jobs ---------------------------------------------------------------------------


def reconcile(now: datetime, *, settings: BillingSettings) -> JobSummary:
    """Re-read every live subscription and its invoices, in case an event never arrived."""
    rows = db.session.execute(
        select(Subscription.company_id, Subscription.stripe_subscription_id).where(
            Subscription.status.notin_(("canceled", "incomplete_expired"))
        )
    ).all()
    known = set(db.session.scalars(select(Subscription.stripe_subscription_id)))
    recent_checkouts = db.session.execute(
        select(CheckoutAttempt.company_id, CheckoutAttempt.stripe_session_id).where(
            CheckoutAttempt.stripe_session_id.is_not(None),
            CheckoutAttempt.created_at > now - timedelta(hours=2 * CHECKOUT_LIFETIME_HOURS),
        )
    ).all()
    db.session.rollback()
    gw, changed, failed = gateway(), 0, 0
    # A paid Checkout whose events were all lost: its subscription is found from the session.
    rows = list(rows)
    for company_id, session_id in recent_checkouts:
        try:
            session = gw.checkout(session_id)
        except GatewayError:
            continue
        if session.subscription and session.subscription not in known:
            rows.append((company_id, session.subscription))
            known.add(session.subscription)
    for company_id, stripe_id in rows:
        try:
            record = gw.subscription(stripe_id)
            invoices = [
                inv for inv in gw.invoices_of(record.customer) if inv.subscription == stripe_id
            ]
        except GatewayError as exc:
            log.warning("reconcile: could not read subscription %s: %s", stripe_id, exc)
            failed += 1
            continue
        account = ledger.account_of(company_id, lock=True)
        before = (account.credit_balance, account.subscription and account.subscription.status)
        webhooks.apply(
            webhooks.Snapshot(subscription=record), now, settings.grace_days, settings.price_ids
        )
        for invoice in sorted(invoices, key=lambda inv: inv.created or now):
            webhooks.apply_invoice(account, invoice, now, settings.price_ids)
        db.session.flush()
        if before != (account.credit_balance, account.subscription and account.subscription.status):
            changed += 1
        db.session.commit()
    # Employees' card refunds recorded but not made at the provider (a failed call).
    copay.settle_stay_refunds(now)
    return summary(
        N_("%(checked)d subscriptions checked, %(changed)d corrected, %(failed)d unreachable"),
        checked=len(rows),
        changed=changed,
        failed=failed,
    )


def bill_overage(now: datetime) -> JobSummary:
    """Put each unbilled overage entry on the company's next invoice (once: keyed by entry)."""
    rows = db.session.execute(
        select(CreditEntry.id, CreditEntry.amount, CreditEntry.company_id).where(
            CreditEntry.kind == EntryKind.OVERAGE, CreditEntry.stripe_invoice_item_id.is_(None)
        )
    ).all()
    db.session.rollback()
    billed = 0
    for entry_id, amount, company_id in rows:
        account = ledger.account_of(company_id)
        customer, sub = account.stripe_customer_id, account.subscription
        # Only a live subscription has a next invoice; an ended one's overage waits.
        sub_id = sub.stripe_subscription_id if is_live(sub) else None
        db.session.rollback()
        if not (customer and sub_id):
            continue
        try:
            item = gateway().add_overage_item(
                customer=customer,
                subscription_id=sub_id,
                amount=amount,
                description=f"Stay credit overage #{entry_id}",
                key=f"engawa-overage-{entry_id}",
            )
        except GatewayError as exc:
            log.warning("overage %s not billed yet: %s", entry_id, exc)
            continue
        entry = db.session.get(CreditEntry, entry_id)
        entry.stripe_invoice_item_id = item
        db.session.commit()
        billed += 1
    return summary(N_("%(n)d overage items billed"), n=billed) if billed else NOTHING
