"""The embedded default: a payment provider simulated inside Engawa (test mode).

``LocalGateway`` answers the same ``Gateway`` calls as Stripe and keeps its
records in Stripe's shapes in tables of its own, written through a session of
its own (like a provider's database, it never shares our transaction). Its
events are signed with ``STRIPE_WEBHOOK_SECRET`` exactly as Stripe signs and
travel through the same webhook endpoint and handlers as Stripe's, over the
app's own WSGI interface instead of the network.

What it simulates: customers, Checkout (a clearly marked test-mode page) for a
subscription or, in payment mode, for an employee's part of a stay (a PaymentIntent
paid by the test card, refunds of it, the session's ``expires_at``), a
subscription with monthly periods, invoices paid by card at once or sent for
bank transfer (due in N days, paid from the invoice page), proration of seat
changes on the next invoice, overage invoice items, cancellation at period end,
a failed card payment (past_due), and renewals (the ``local_billing_cycle`` job).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from billing.models import LocalEvent, LocalObject
from billing.providers.base import (
    CheckoutRecord,
    EventRecord,
    GatewayError,
    InvoiceRecord,
    ObjectMissing,
    SubscriptionRecord,
    checkout_record,
    invoice_record,
    subscription_record,
)
from billing.providers.local_store import LocalStore, add_month, ran_out, timestamp_of
from billing.providers.stripe import verify_event  # signed as Stripe signs, read the same way
from core.db import edge_now, utcnow
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary

# ``add_month`` lives with the store now; it is still imported from here (tests).
__all__ = ["LocalGateway", "add_month", "sign"]

PAST_DUE_TO_UNPAID_DAYS = 14
# Stripe's bounds for a Checkout's ``expires_at``, from the session's creation.
CHECKOUT_MIN_LIFETIME = timedelta(minutes=30)
CHECKOUT_MAX_LIFETIME = timedelta(hours=24)  # like Stripe's retry schedule, then "unpaid"
# Its clock is the app's (``edge_now``): tests and demos that pin the time see
# periods, due dates and prorations on the same calendar as everything else.


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class LocalGateway:
    def __init__(self, webhook_secret: str):
        self.webhook_secret = webhook_secret

    # --- storage ---------------------------------------------------------------------

    @contextmanager
    def _store(self) -> Iterator[LocalStore]:
        with Session(db.engine) as session, session.begin():
            store = LocalStore(session)
            yield store
        self.deliver_pending()

    def _read(self, object_id: str, kind: str) -> dict:
        with Session(db.engine) as session:
            row = session.get(LocalObject, object_id)
            if row is None or row.kind != kind:
                raise ObjectMissing(f"No such {kind}: {object_id}")
            return json.loads(row.data)

    # --- Gateway ---------------------------------------------------------------------

    def create_customer(self, *, company_id: int, name: str, email: str, key: str) -> str:
        with self._store() as store:
            found = store.by_key(key)
            if found:
                return found["id"]
            return store.add(
                "customer",
                "cus",
                {
                    "name": name,
                    "email": email or None,
                    "metadata": {"company_id": str(company_id)},
                    "pending_items": [],
                    "fail_next_payment": False,
                },
                key,
            )["id"]

    def update_customer(self, customer: str, *, name: str, email: str, address: str) -> None:
        with self._store() as store:
            record = store.get(customer, "customer")
            record.update(name=name, email=email or None, address={"line1": address})
            store.put(record)

    def create_checkout(
        self,
        *,
        customer: str,
        price_id: str,
        seats: int,
        company_id: int,
        success_url: str,
        cancel_url: str,
        key: str,
    ) -> CheckoutRecord:
        with self._store() as store:
            found = store.by_key(key)
            if found is None:
                store.get(customer, "customer")
                store.plan(price_id)
                found = store.add(
                    "checkout.session",
                    "cs_local",
                    {
                        "mode": "subscription",
                        "status": "open",
                        "customer": customer,
                        "client_reference_id": str(company_id),
                        "subscription": None,
                        "line_items": [{"price": price_id, "quantity": seats}],
                        "subscription_metadata": {"company_id": str(company_id)},
                        "success_url": success_url,
                        "cancel_url": cancel_url,
                    },
                    key,
                )
                found["url"] = f"/billing/local/checkout/{found['id']}"
                store.put(found)
        return checkout_record(found)

    def create_payment_checkout(
        self,
        *,
        amount: int,
        name: str,
        description: str,
        email: str,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        key: str,
    ) -> CheckoutRecord:
        with self._store() as store:
            found = store.by_key(key)
            if found is None:
                created = edge_now()
                lifetime = expires_at - created
                if not CHECKOUT_MIN_LIFETIME <= lifetime <= CHECKOUT_MAX_LIFETIME:
                    raise GatewayError(
                        "expires_at must be 30 minutes to 24 hours after the session is created"
                    )
                if amount <= 0:
                    raise GatewayError("amount must be a positive integer")
                found = store.add(
                    "checkout.session",
                    "cs_local",
                    {
                        "mode": "payment",
                        "status": "open",
                        "payment_status": "unpaid",
                        "customer": None,
                        "customer_email": email or None,
                        "client_reference_id": None,
                        "subscription": None,
                        "payment_intent": None,
                        "currency": "jpy",
                        "amount_total": amount,
                        "line_items": [
                            {"name": name, "description": description, "amount": amount}
                        ],
                        "metadata": dict(metadata),
                        "expires_at": timestamp_of(expires_at),
                        "success_url": success_url,
                        "cancel_url": cancel_url,
                    },
                    key,
                )
                found["url"] = f"/billing/local/pay/{found['id']}"
                store.put(found)
        return checkout_record(found)

    def refund_payment(
        self, payment_intent: str, amount: int, *, key: str, metadata: dict[str, str]
    ) -> str:
        with self._store() as store:
            found = store.by_key(key)
            if found is not None:
                return found["id"]
            intent = store.get(payment_intent, "payment_intent")
            left = intent["amount_received"] - intent["amount_refunded"]
            if not 0 < amount <= left:
                raise GatewayError(
                    f"Refund amount (¥{amount}) is greater than unrefunded amount (¥{left})"
                )
            refund = store.add(
                "refund",
                "re_local",
                {
                    "amount": amount,
                    "currency": "jpy",
                    "payment_intent": payment_intent,
                    "reason": "requested_by_customer",
                    "status": "succeeded",
                    "metadata": dict(metadata),
                },
                key,
            )
            intent["amount_refunded"] += amount
            store.put(intent)
            return refund["id"]

    def refunded_amount(self, payment_intent: str) -> int:
        return int(self._read(payment_intent, "payment_intent")["amount_refunded"])

    def create_invoiced_subscription(
        self,
        *,
        customer: str,
        price_id: str,
        seats: int,
        company_id: int,
        days_until_due: int,
        key: str,
    ) -> SubscriptionRecord:
        read_at = utcnow()
        with self._store() as store:
            found = store.by_key(key)
            if found is None:
                store.get(customer, "customer")
                found = store.new_subscription(
                    customer,
                    price_id,
                    seats,
                    {"company_id": str(company_id)},
                    "send_invoice",
                    days_until_due,
                    key,
                )
                store.emit("customer.subscription.created", found)
                store.new_invoice(found, "subscription_create", paid=False)
        return subscription_record(found, read_at)

    def change_seats(self, subscription: SubscriptionRecord, seats: int, *, key: str) -> None:
        with self._store() as store:
            if store.by_key(key) is not None:
                return
            sub = store.get(subscription.id, "subscription")
            item = sub["items"]["data"][0]
            before, price = item["quantity"], store.plan(item["price"]["id"])
            # Prorate the rest of the period on the next invoice, as Stripe does.
            start, end = item["current_period_start"], item["current_period_end"]
            left = max(0, end - timestamp_of(edge_now())) / max(1, end - start)
            amount = round((seats - before) * price.fee_per_seat * left)
            if amount:
                customer = store.get(sub["customer"], "customer")
                customer["pending_items"].append(
                    {
                        "amount": amount,
                        "description": f"Seats {before} → {seats} (prorated)",
                        "proration": True,
                    }
                )
                store.put(customer)
            item["quantity"] = seats
            store.put(sub)
            store.mark_key(key, sub["id"])
            store.emit("customer.subscription.updated", sub)

    def cancel_at_period_end(self, subscription_id: str, *, key: str) -> None:
        with self._store() as store:
            sub = store.get(subscription_id, "subscription")
            if sub["cancel_at_period_end"]:
                return
            sub["cancel_at_period_end"] = True
            store.put(sub)
            store.emit("customer.subscription.updated", sub)

    def portal_url(self, *, customer: str, return_url: str) -> str:
        self._read(customer, "customer")
        return f"/billing/local/portal/{customer}"

    def add_overage_item(
        self, *, customer: str, subscription_id: str, amount: int, description: str, key: str
    ) -> str:
        with self._store() as store:
            found = store.by_key(key)
            if found:
                return found["id"]
            item = store.add(
                "invoiceitem",
                "ii_local",
                {
                    "amount": amount,
                    "currency": "jpy",
                    "customer": customer,
                    "subscription": subscription_id,
                    "description": description,
                },
                key,
            )
            owner = store.get(customer, "customer")
            owner["pending_items"].append(
                {"amount": amount, "description": description, "proration": False}
            )
            store.put(owner)
            return item["id"]

    def subscription(self, subscription_id: str) -> SubscriptionRecord:
        read_at = utcnow()  # the real clock: it orders reads, across processes too
        return subscription_record(self._read(subscription_id, "subscription"), read_at)

    def checkout(self, session_id: str) -> CheckoutRecord:
        """The session as it is now: one past its ``expires_at`` has expired (as at Stripe,
        its event sent), so it is never handed out again as open."""
        found = self._read(session_id, "checkout.session")
        if ran_out(found, edge_now()):
            with self._store() as store:
                found = store.get(session_id, "checkout.session")
                if ran_out(found, edge_now()):
                    store.expire_session(found)
        return checkout_record(found)

    def invoice(self, invoice_id: str) -> InvoiceRecord:
        return invoice_record(self._read(invoice_id, "invoice"))

    def invoices_of(self, customer: str) -> list[InvoiceRecord]:
        with Session(db.engine) as session:
            rows = session.scalars(
                select(LocalObject.data)
                .where(LocalObject.kind == "invoice")
                .order_by(LocalObject.created_at, LocalObject.id)
            ).all()
        found = [json.loads(data) for data in rows]
        return [invoice_record(inv) for inv in found if inv["customer"] == customer]

    def verify_event(self, payload: bytes, signature: str | None) -> EventRecord:
        return verify_event(payload, signature, self.webhook_secret)

    # --- the simulation's own actions (test-mode pages and the renewal job) -----------

    def raw(self, object_id: str, kind: str) -> dict:
        return self._read(object_id, kind)

    def complete_checkout(self, session_id: str) -> dict:
        """The test card was "charged": subscription, paid first invoice, events; or, for
        a payment-mode session, a paid PaymentIntent. A session past its ``expires_at``
        expires instead (nothing is charged)."""
        with self._store() as store:
            session = store.get(session_id, "checkout.session")
            if session["status"] != "open":
                return session
            if ran_out(session, edge_now()):
                store.expire_session(session)
                return session
            if session["mode"] == "payment":
                return _pay_session(store, session)
            line = session["line_items"][0]
            sub = store.new_subscription(
                session["customer"],
                line["price"],
                line["quantity"],
                session["subscription_metadata"],
                "charge_automatically",
                None,
                None,
            )
            session["status"], session["subscription"] = "complete", sub["id"]
            store.put(session)
            store.emit("customer.subscription.created", sub)
            store.new_invoice(sub, "subscription_create", paid=True)
            store.emit("checkout.session.completed", session)
            return session

    def expire_checkout(self, session_id: str) -> None:
        with self._store() as store:
            session = store.get(session_id, "checkout.session")
            if session["status"] == "open":
                store.expire_session(session)

    def pay_invoice(self, invoice_id: str) -> None:
        """A bank transfer arrived (or a retried card went through)."""
        with self._store() as store:
            invoice = store.get(invoice_id, "invoice")
            if invoice["status"] != "open":
                return
            store.settle(invoice)

    def set_fail_next_payment(self, customer_id: str, fail: bool) -> None:
        with self._store() as store:
            customer = store.get(customer_id, "customer")
            customer["fail_next_payment"] = fail
            store.put(customer)

    def run_cycle(self, now: datetime) -> JobSummary:
        """Renew ended periods, end subscriptions set to cancel, mark overdue ones past due."""
        renewed = ended = overdue = 0
        with self._store() as store:
            for sub in store.all("subscription"):
                item = sub["items"]["data"][0]
                if sub["status"] in ("canceled", "incomplete_expired"):
                    continue
                if sub["status"] == "past_due":
                    since = sub.get("past_due_at", timestamp_of(now))
                    if since <= timestamp_of(now - timedelta(days=PAST_DUE_TO_UNPAID_DAYS)):
                        store.set_status(sub, "unpaid")
                if item["current_period_end"] > timestamp_of(now):
                    continue
                if sub["cancel_at_period_end"] or sub["status"] == "unpaid":
                    store.set_status(sub, "canceled", event="customer.subscription.deleted")
                    ended += 1
                    continue
                start = datetime.fromtimestamp(item["current_period_end"], UTC)
                item["current_period_start"] = item["current_period_end"]
                item["current_period_end"] = timestamp_of(add_month(start))
                store.put(sub)
                store.emit("customer.subscription.updated", sub)
                store.new_invoice(sub, "subscription_cycle", paid=True)
                renewed += 1
            for invoice in store.all("invoice"):
                if (
                    invoice["status"] == "open"
                    and invoice.get("due_date")
                    and invoice["due_date"] < timestamp_of(now)
                ):
                    sub_id = invoice["parent"]["subscription_details"]["subscription"]
                    sub = store.get(sub_id, "subscription")
                    if sub["status"] == "active":
                        store.set_status(sub, "past_due")
                        overdue += 1
        if not (renewed or ended or overdue):
            return NOTHING
        return summary(
            N_("%(renewed)d renewed, %(ended)d ended, %(overdue)d overdue (local billing)"),
            renewed=renewed,
            ended=ended,
            overdue=overdue,
        )

    # --- delivery ----------------------------------------------------------------------

    def deliver_pending(self) -> int:
        """Post undelivered events to the webhook endpoint, oldest first."""
        app = current_app._get_current_object()
        with Session(db.engine) as session:
            pending = session.execute(
                select(LocalEvent.id, LocalEvent.payload)
                .where(LocalEvent.delivered_at.is_(None))
                .order_by(LocalEvent.created_at, LocalEvent.id)
            ).all()
        delivered = 0
        client = Client(app)
        for event_id, payload in pending:
            body = payload.encode()
            # In a context of its own: the request gets a fresh app context and so its
            # own database session, as a delivery from Stripe would.
            response = contextvars.Context().run(
                client.post,
                "/billing/stripe/webhook",
                data=body,
                headers={
                    "Stripe-Signature": sign(body, self.webhook_secret),
                    "Content-Type": "application/json",
                },
            )
            if response.status_code != 200:
                break  # keep order; the next delivery (or the job) tries again
            with Session(db.engine) as session, session.begin():
                session.get(LocalEvent, event_id).delivered_at = edge_now()
            delivered += 1
        return delivered


def _pay_session(store: LocalStore, session: dict) -> dict:
    """A payment-mode session paid by the test card: its PaymentIntent, then the event
    Engawa acts on (``checkout.session.completed``)."""
    amount = session["amount_total"]
    intent = store.add(
        "payment_intent",
        "pi_local",
        {
            "amount": amount,
            "amount_received": amount,
            "amount_refunded": 0,
            "currency": "jpy",
            "status": "succeeded",
            "metadata": dict(session["metadata"]),
        },
    )
    session["status"], session["payment_status"] = "complete", "paid"
    session["payment_intent"] = intent["id"]
    store.put(session)
    store.emit("checkout.session.completed", session)
    return session
