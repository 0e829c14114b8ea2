"""The embedded default: a payment provider simulated inside Engawa (test mode).

``LocalGateway`` answers the same ``Gateway`` calls as Stripe and keeps its
records in Stripe's shapes in tables of its own, written through a session of
its own (like a provider's database, it never shares our transaction). Its
events are signed with ``STRIPE_WEBHOOK_SECRET`` exactly as Stripe signs and
travel through the same webhook endpoint and handlers as Stripe's, over the
app's own WSGI interface instead of the network.

What it simulates: customers, Checkout (a clearly marked test-mode page), a
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
import secrets
import time
from calendar import monthrange
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import Client

from billing.models import LocalEvent, LocalObject, Plan
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
from billing.providers.stripe import verify_event  # signed as Stripe signs, read the same way
from core.db import edge_now, utcnow
from core.extensions import db

PAST_DUE_TO_UNPAID_DAYS = 14  # like Stripe's retry schedule, then "unpaid"
# Its clock is the app's (``edge_now``): tests and demos that pin the time see
# periods, due dates and prorations on the same calendar as everything else.


def add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _sortable_id(prefix: str) -> str:
    """Ids that sort in the order they were made (the app clock may stand still in tests)."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(4)}"


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
    def _store(self) -> Iterator[_Store]:
        with Session(db.engine) as session, session.begin():
            store = _Store(session)
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
            left = max(0, end - _ts(edge_now())) / max(1, end - start)
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
        return checkout_record(self._read(session_id, "checkout.session"))

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
        """The test card was "charged": subscription, paid first invoice, events."""
        with self._store() as store:
            session = store.get(session_id, "checkout.session")
            if session["status"] != "open":
                return session
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
                session["status"] = "expired"
                store.put(session)
                store.emit("checkout.session.expired", session)

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

    def run_cycle(self, now: datetime) -> str:
        """Renew ended periods, end subscriptions set to cancel, mark overdue ones past due."""
        renewed = ended = overdue = 0
        with self._store() as store:
            for sub in store.all("subscription"):
                item = sub["items"]["data"][0]
                if sub["status"] in ("canceled", "incomplete_expired"):
                    continue
                if sub["status"] == "past_due" and sub.get("past_due_at", _ts(now)) <= _ts(
                    now - timedelta(days=PAST_DUE_TO_UNPAID_DAYS)
                ):
                    store.set_status(sub, "unpaid")
                if item["current_period_end"] > _ts(now):
                    continue
                if sub["cancel_at_period_end"] or sub["status"] == "unpaid":
                    store.set_status(sub, "canceled", event="customer.subscription.deleted")
                    ended += 1
                    continue
                start = datetime.fromtimestamp(item["current_period_end"], UTC)
                item["current_period_start"] = item["current_period_end"]
                item["current_period_end"] = _ts(add_month(start))
                store.put(sub)
                store.emit("customer.subscription.updated", sub)
                store.new_invoice(sub, "subscription_cycle", paid=True)
                renewed += 1
            for invoice in store.all("invoice"):
                if (
                    invoice["status"] == "open"
                    and invoice.get("due_date")
                    and invoice["due_date"] < _ts(now)
                ):
                    sub_id = invoice["parent"]["subscription_details"]["subscription"]
                    sub = store.get(sub_id, "subscription")
                    if sub["status"] == "active":
                        store.set_status(sub, "past_due")
                        overdue += 1
        if not (renewed or ended or overdue):
            return ""
        return f"{renewed} renewed, {ended} ended, {overdue} overdue (local billing)"

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


class _Store:
    """The simulated provider's records, inside one transaction of its own session."""

    def __init__(self, session: Session):
        self.session = session

    def by_key(self, key: str | None) -> dict | None:
        if not key:
            return None
        row = self.session.scalar(select(LocalObject).where(LocalObject.idempotency_key == key))
        return json.loads(row.data) if row else None

    def mark_key(self, key: str, object_id: str) -> None:
        self.session.add(
            LocalObject(
                id=f"idem_{secrets.token_hex(8)}",
                kind="idempotency",
                data=json.dumps({"id": object_id}),
                idempotency_key=key,
            )
        )

    def add(self, kind: str, prefix: str, data: dict, key: str | None = None) -> dict:
        now = edge_now()
        obj = {
            "id": _sortable_id(prefix),
            "object": kind,
            "created": _ts(now),
            "livemode": False,
            **data,
        }
        self.session.add(
            LocalObject(
                id=obj["id"], kind=kind, data=json.dumps(obj), idempotency_key=key, created_at=now
            )
        )
        self.session.flush()
        return obj

    def get(self, object_id: str, kind: str) -> dict:
        row = self.session.get(LocalObject, object_id, with_for_update=True)
        if row is None or row.kind != kind:
            raise ObjectMissing(f"No such {kind}: {object_id}")
        return json.loads(row.data)

    def put(self, obj: dict) -> None:
        self.session.get(LocalObject, obj["id"]).data = json.dumps(obj)
        self.session.flush()

    def all(self, kind: str) -> list[dict]:
        rows = self.session.scalars(
            select(LocalObject.data)
            .where(LocalObject.kind == kind)
            .order_by(LocalObject.created_at, LocalObject.id)
        ).all()
        return [json.loads(data) for data in rows]

    def plan(self, price_id: str) -> Plan:
        code = price_id.removeprefix("price_local_")
        plan = self.session.scalar(select(Plan).where(Plan.code == code))
        if plan is None:
            raise GatewayError(f"No such price: {price_id}")
        return plan

    def emit(self, event_type: str, obj: dict) -> None:
        event_id = _sortable_id("evt_local")
        payload = {
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": _ts(edge_now()),
            "livemode": False,
            "data": {"object": obj},
        }
        self.session.add(
            LocalEvent(id=event_id, payload=json.dumps(payload), created_at=edge_now())
        )
        self.session.flush()

    def set_status(self, sub: dict, status: str, event: str = "customer.subscription.updated"):
        if status == "past_due":
            sub["past_due_at"] = _ts(edge_now())
        sub["status"] = status
        self.put(sub)
        self.emit(event, sub)

    def new_subscription(self, customer, price_id, seats, metadata, method, days, key) -> dict:
        plan = self.plan(price_id)
        start = edge_now()
        sub = self.add(
            "subscription",
            "sub_local",
            {
                "customer": customer,
                "status": "active",
                "collection_method": method,
                "days_until_due": days,
                "cancel_at_period_end": False,
                "metadata": metadata,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": f"si_local_{secrets.token_hex(8)}",
                            "object": "subscription_item",
                            "price": {
                                "id": price_id,
                                "object": "price",
                                "unit_amount": plan.fee_per_seat,
                                "currency": "jpy",
                            },
                            "quantity": seats,
                            "current_period_start": _ts(start),
                            "current_period_end": _ts(add_month(start)),
                        }
                    ],
                },
            },
            key,
        )
        return sub

    def new_invoice(self, sub: dict, reason: str, *, paid: bool) -> dict:
        item = sub["items"]["data"][0]
        customer = self.get(sub["customer"], "customer")
        price = item["price"]
        lines = [
            {
                "id": f"il_local_{secrets.token_hex(8)}",
                "object": "line_item",
                "amount": price["unit_amount"] * item["quantity"],
                "quantity": item["quantity"],
                "description": f"{self.plan(price['id']).name} × {item['quantity']}",
                "period": {
                    "start": item["current_period_start"],
                    "end": item["current_period_end"],
                },
                "pricing": {"price_details": {"price": price["id"]}},
                "parent": {
                    "type": "subscription_item_details",
                    "subscription_item_details": {"proration": False},
                },
            }
        ]
        if reason == "subscription_cycle":
            for pending in customer["pending_items"]:
                lines.append(
                    {
                        "id": f"il_local_{secrets.token_hex(8)}",
                        "object": "line_item",
                        "amount": pending["amount"],
                        "quantity": None,
                        "description": pending["description"],
                        "period": None,
                        "pricing": None,
                        "parent": {
                            "type": "invoice_item_details",
                            "invoice_item_details": {"proration": pending["proration"]},
                        },
                    }
                )
            customer["pending_items"] = []
        total = max(0, sum(line["amount"] for line in lines))
        number = f"LOCAL-{len(self.all('invoice')) + 1:05d}"
        invoice = self.add(
            "invoice",
            "in_local",
            {
                "customer": sub["customer"],
                "status": "open",
                "number": number,
                "billing_reason": reason,
                "collection_method": sub["collection_method"],
                "currency": "jpy",
                "total": total,
                "amount_due": total,
                "amount_paid": 0,
                "period_start": item["current_period_start"],
                "period_end": item["current_period_end"],
                "due_date": _ts(edge_now() + timedelta(days=sub["days_until_due"]))
                if sub["collection_method"] == "send_invoice"
                else None,
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": sub["id"]},
                },
                "lines": {"object": "list", "data": lines},
            },
        )
        invoice["hosted_invoice_url"] = f"/billing/local/invoices/{invoice['id']}"
        invoice["invoice_pdf"] = f"/billing/local/invoices/{invoice['id']}?print=1"
        self.put(invoice)
        self.emit("invoice.finalized", invoice)
        if sub["collection_method"] == "send_invoice":
            self.put(customer)
            return invoice
        if customer["fail_next_payment"]:
            customer["fail_next_payment"] = False
            self.put(customer)
            self.emit("invoice.payment_failed", invoice)
            self.set_status(sub, "past_due")
            return invoice
        self.put(customer)
        if paid:
            self.settle(invoice)
        return invoice

    def settle(self, invoice: dict) -> None:
        invoice["status"], invoice["amount_paid"], invoice["amount_due"] = (
            "paid",
            invoice["total"],
            0,
        )
        self.put(invoice)
        self.emit("invoice.paid", invoice)
        sub = self.get(invoice["parent"]["subscription_details"]["subscription"], "subscription")
        open_left = [
            inv
            for inv in self.all("invoice")
            if inv["status"] == "open"
            and inv["parent"]["subscription_details"]["subscription"] == sub["id"]
        ]
        if sub["status"] in ("past_due", "unpaid") and not open_left:
            self.set_status(sub, "active")
