"""Stripe events as triggers: verify, re-read the object from the provider, apply once.

An event's own payload is never trusted for state: it may be a redelivery, or
older than one already handled. The handler reads the object as it is now from
the provider (before any transaction opens), then in one transaction records the
event id and applies the object. A redelivered event finds its id and changes
nothing; an old ``updated`` after a ``deleted`` re-reads a canceled subscription,
and a canceled subscription never moves again.

A Checkout in payment mode is not a company's subscription but an employee's part of
a stay (``is_stay_payment``): ``billing.provider_sync`` hands it to ``billing.copay``,
whose handler the booking layer registers (billing cannot import booking); ``apply``
leaves it alone.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.events import INVOICE_ISSUED, PAYMENT_FAILED, emit
from billing import ledger
from billing.models import (
    TERMINAL_STATUSES,
    BillingAccount,
    CreditEntry,
    EntryKind,
    Invoice,
    Plan,
    StripeEvent,
    Subscription,
)
from billing.providers.base import (
    CheckoutRecord,
    Gateway,
    InvoiceRecord,
    SignatureError,
    SubscriptionRecord,
)
from core.db import tokyo_today
from core.extensions import db

log = logging.getLogger(__name__)

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        # Not required, but they keep the invoice list current.
        "invoice.finalized",
        "invoice.updated",
        "invoice.voided",
        "invoice.marked_uncollectible",
    }
)


# --- What a signed delivery must look like before anything acts on it -------------------

# How far ahead of the real clock a signature may be dated (clocks drift a little).
# The SDK's tolerance (300 s, billing.providers.stripe.verify_event) bounds the past only.
FUTURE_SKEW = timedelta(minutes=5)
# Our column for event ids and types, and the columns object ids go into.
MAX_STRIPE_ID = StripeEvent.__table__.c.id.type.length
MAX_EVENT_TYPE = StripeEvent.__table__.c.type.type.length
# Stripe's ids are letters, digits and underscores ("evt_1Q…", "cs_test_a1…"). They end
# up in our columns and in the provider's URLs, so nothing else is let through.
STRIPE_ID = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_STRIPE_ID}}}", re.ASCII)
EVENT_TYPE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+", re.ASCII)  # invoice.paid
OBJECT_NAME = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*", re.ASCII)  # invoice, checkout.session


class EventRefused(Exception):
    """A correctly signed delivery that cannot be acted on: 400, nothing recorded or changed."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def check_delivery(gw: Gateway, payload: bytes, signature: str | None, wall_clock: float) -> None:
    """Refuse what the handler must never see: a bad signature, or one dated more than
    ``FUTURE_SKEW`` ahead (``SignatureError``); an event whose shape is not Stripe's
    (``EventRefused``).

    ``wall_clock`` (``time.time()``) is the clock the SDK judges a stale signature by,
    so it judges a future one too: Stripe signs each delivery when it sends it. The
    event's own ``created`` is not judged by any clock of ours: under a Stripe test
    clock it is the simulated time, weeks ahead, and a replay is stopped by the
    signature's time anyway.
    """
    gw.verify_event(payload, signature)
    if _signed_at(signature) > wall_clock + FUTURE_SKEW.total_seconds():
        raise SignatureError("the signature is dated in the future")
    _check_shape(json.loads(payload))  # verify_event has read it: a JSON object


def _signed_at(signature: str | None) -> int:
    """The latest ``t=`` of a header the SDK has accepted (it reads the first)."""
    stamps = []
    for item in (signature or "").split(","):
        key, _sep, value = item.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            stamps.append(int(value))
    return max(stamps, default=0)


def _malformed(what: str) -> EventRefused:
    log.warning("signed webhook event refused: %s", what)  # never the payload itself
    return EventRefused("malformed_event", f"Malformed event: {what}.")


def _check_shape(event: dict[str, Any]) -> None:
    """The fields the handlers read, each of the type and size Stripe sends."""
    event_id, event_type = event.get("id"), event.get("type")
    if not _is_id(event_id):
        raise _malformed("id")
    if (
        not isinstance(event_type, str)
        or len(event_type) > MAX_EVENT_TYPE
        or not EVENT_TYPE.fullmatch(event_type)
    ):
        raise _malformed("type")
    created = event.get("created")
    if type(created) is not int or created < 0:  # bool is an int too: not a time
        raise _malformed("created")
    data = event.get("data")
    data_object = data.get("object") if isinstance(data, dict) else None
    if not isinstance(data_object, dict):
        raise _malformed("data.object")
    # The handled types re-read their object by its id; other objects may have none.
    object_id = data_object.get("id")
    if (object_id is not None or event_type in HANDLED) and not _is_id(object_id):
        raise _malformed("data.object.id")
    object_name = data_object.get("object")
    if object_name is not None and not (
        isinstance(object_name, str)
        and len(object_name) <= MAX_EVENT_TYPE
        and OBJECT_NAME.fullmatch(object_name)
    ):
        raise _malformed("data.object.object")


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and STRIPE_ID.fullmatch(value) is not None


@dataclass
class Snapshot:
    """What the provider says now about the objects an event points at."""

    checkout: CheckoutRecord | None = None
    subscription: SubscriptionRecord | None = None
    invoice: InvoiceRecord | None = None


def fetch(gw: Gateway, event_type: str, object_id: str | None) -> Snapshot:
    """Re-read the event's object (and its subscription) from the provider. No transaction."""
    snap = Snapshot()
    if not object_id:
        return snap
    if event_type.startswith("checkout.session."):
        snap.checkout = gw.checkout(object_id)
        if snap.checkout.subscription:
            snap.subscription = gw.subscription(snap.checkout.subscription)
    elif event_type.startswith("customer.subscription."):
        snap.subscription = gw.subscription(object_id)
    elif event_type.startswith("invoice."):
        snap.invoice = gw.invoice(object_id)
        if snap.invoice.subscription:
            snap.subscription = gw.subscription(snap.invoice.subscription)
    return snap


def record_event(event_id: str, event_type: str, now: datetime) -> bool:
    """Claim the event id in this transaction; False if it was handled already."""
    if db.session.get(StripeEvent, event_id) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(StripeEvent(id=event_id, type=event_type, received_at=now))
    except IntegrityError:
        return False  # a concurrent delivery of the same event claimed it first
    return True


def is_stay_payment(snapshot: Snapshot) -> bool:
    """The event is about a payment-mode Checkout (an employee's part of a stay)."""
    return snapshot.checkout is not None and snapshot.checkout.mode == "payment"


def apply(snapshot: Snapshot, now: datetime, grace_days: int, prices: dict[str, str]) -> None:
    """Bring our rows in line with the provider's objects (the caller commits). A stay
    payment's session is not a company's billing: ``billing.copay`` applies it."""
    if is_stay_payment(snapshot):
        return
    company_id = _company_of(snapshot)
    if company_id is None:
        log.warning("billing event for an unknown customer ignored")
        return
    account = ledger.account_of(company_id, lock=True)
    customer = (
        (snapshot.checkout and snapshot.checkout.customer)
        or (snapshot.subscription and snapshot.subscription.customer)
        or (snapshot.invoice and snapshot.invoice.customer)
    )
    if customer and account.stripe_customer_id is None:
        account.stripe_customer_id = customer
    if snapshot.subscription is not None:
        apply_subscription(account, snapshot.subscription, now, prices, grace_days=grace_days)
    if snapshot.invoice is not None:
        apply_invoice(account, snapshot.invoice, now, prices)
    db.session.flush()


def _company_of(snapshot: Snapshot) -> int | None:
    # Ours only: a customer we created, or metadata/client_reference_id we set.
    for record in (snapshot.checkout, snapshot.subscription, snapshot.invoice):
        customer = record and record.customer
        if customer:
            found = db.session.scalar(
                select(BillingAccount.company_id).where(
                    BillingAccount.stripe_customer_id == customer
                )
            )
            if found is not None:
                return found
    for record in (snapshot.checkout, snapshot.subscription):
        if record is not None and record.company_id is not None:
            account = db.session.get(BillingAccount, record.company_id)
            if account is not None and account.stripe_customer_id in (None, record.customer):
                return record.company_id
    return None


def plan_for_price(price_id: str | None, prices: dict[str, str]) -> Plan | None:
    if price_id is None:
        return None
    for code, configured in prices.items():
        if configured == price_id:
            return db.session.scalar(select(Plan).where(Plan.code == code))
    if price_id.startswith("price_local_"):
        return db.session.scalar(select(Plan).where(Plan.code == price_id[len("price_local_") :]))
    return db.session.scalar(select(Plan).where(Plan.stripe_price_id == price_id))


def apply_subscription(
    account: BillingAccount,
    record: SubscriptionRecord,
    now: datetime,
    prices: dict[str, str],
    *,
    grace_days: int | None = None,
) -> Subscription | None:
    """Copy the provider's subscription; a canceled one stays canceled.

    A subscription past due is news for the company's admins, once per incident
    (``payment.failed``, with the end of its ``grace_days``); without ``grace_days``
    the next webhook or reconcile that brings them tells.
    """
    sub = db.session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == record.id)
        .with_for_update()
    )
    plan = plan_for_price(record.price_id, prices)
    if sub is None:
        if plan is None:
            log.warning("subscription %s has a price we do not sell; ignored", record.id)
            return None
        sub = Subscription(
            company_id=account.company_id,
            plan_id=plan.id,
            stripe_subscription_id=record.id,
            status=record.status,
            seats=record.seats,
            created_at=now,
        )
        db.session.add(sub)
    elif sub.status in TERMINAL_STATUSES:
        return sub
    elif record.read_at and sub.synced_at and record.read_at < sub.synced_at:
        return sub  # read before the copy we hold (a slower concurrent handler)
    if plan is not None:
        sub.plan_id = plan.id
    if record.status == "past_due" and sub.past_due_since is None:
        sub.past_due_since = now
    elif record.status != "past_due":
        sub.past_due_since = None
    sub.status = record.status
    sub.seats = max(1, record.seats)
    sub.collection_method = record.collection_method
    sub.current_period_start = record.current_period_start
    sub.current_period_end = record.current_period_end
    sub.cancel_at_period_end = record.cancel_at_period_end
    sub.updated_at = now
    if record.read_at is not None:
        sub.synced_at = record.read_at
    sub.version = (sub.version or 0) + 1
    db.session.flush()
    if sub.status == "past_due" and sub.past_due_since is not None and grace_days is not None:
        _payment_failed(sub, grace_days, now)
    current = account.subscription
    # The newest live subscription decides; an ended one only until another exists.
    if current is None or current.id == sub.id or current.status in TERMINAL_STATUSES:
        account.subscription_id = sub.id
    return sub


def _payment_failed(sub: Subscription, grace_days: int, now: datetime) -> None:
    """One ``payment.failed`` per incident: keyed by when the subscription fell past due."""
    since = sub.past_due_since.astimezone(UTC)
    emit(
        PAYMENT_FAILED,
        now,
        company_id=sub.company_id,
        subject=("subscription", sub.id),
        data={"grace_until": (since + timedelta(days=grace_days)).isoformat()},
        dedupe_key=f"payment_failed:{sub.id}:{since.isoformat()}",
    )


# Invoices that open a period of seats (not prorations or one-off items).
PERIOD_REASONS = frozenset({"subscription_create", "subscription_cycle"})
# An invoice sent to the customer (not a draft, not voided or written off before it was).
ISSUED_STATUSES = frozenset({"open", "paid"})


def apply_invoice(
    account: BillingAccount, record: InvoiceRecord, now: datetime, prices: dict[str, str]
) -> Invoice:
    """Copy the invoice; a paid period invoice grants its seats' credit, once.

    An invoice first seen issued (open or paid) is news for the company's admins, once
    (``invoice.issued``), whichever of the webhooks or the reconcile brings it first.
    """
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.stripe_invoice_id == record.id).with_for_update()
    )
    was_issued = invoice is not None and invoice.status in ISSUED_STATUSES
    if invoice is None:
        invoice = Invoice(
            company_id=account.company_id,
            stripe_invoice_id=record.id,
            created_at=record.created or now,
            total=record.total,
            status=record.status,
        )
        db.session.add(invoice)
    # "paid" and "void" are final at Stripe; an older snapshot (reconcile reads
    # lists that can lag) cannot undo them or their amounts.
    if invoice.status in ("paid", "void") and record.status != invoice.status:
        return invoice
    invoice.status = record.status
    for name in (
        "number",
        "billing_reason",
        "collection_method",
        "total",
        "amount_paid",
        "amount_due",
        "seats",
        "period_start",
        "period_end",
        "due_date",
        "hosted_invoice_url",
        "invoice_pdf",
    ):
        setattr(invoice, name, getattr(record, name))
    invoice.stripe_subscription_id = record.subscription
    db.session.flush()
    if invoice.status in ISSUED_STATUSES and not was_issued:
        emit(
            INVOICE_ISSUED,
            now,
            company_id=invoice.company_id,
            subject=("invoice", invoice.id),
            dedupe_key=f"invoice:{invoice.id}",
        )
    # A ¥0 invoice (a free trial) is not a paid period: credit comes with paid seats.
    if invoice.status == "paid" and record.billing_reason in PERIOD_REASONS and record.total > 0:
        _grant_once(account, invoice, record, now, prices)
    return invoice


def _grant_once(account, invoice: Invoice, record: InvoiceRecord, now, prices) -> None:
    granted = db.session.scalar(
        select(CreditEntry.id).where(
            CreditEntry.invoice_id == invoice.id, CreditEntry.kind == EntryKind.GRANT
        )
    )
    if granted is not None:
        return
    plan = plan_for_price(record.price_id, prices)
    if plan is None and record.subscription:
        sub = db.session.scalar(
            select(Subscription).where(Subscription.stripe_subscription_id == record.subscription)
        )
        plan = sub.plan if sub else None
    if plan is None or not record.seats:
        log.warning("paid invoice %s has no seats of a known plan; no credit granted", record.id)
        return
    amount = record.seats * plan.credit_per_seat
    if amount <= 0:
        return
    period_start = tokyo_today(record.period_start) if record.period_start else None
    ledger.grant_period(
        account,
        amount,
        now,
        invoice_id=invoice.id,
        period_start=period_start,
    )
