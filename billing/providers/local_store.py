"""The local backend's records: Stripe-shaped objects and events in tables of its own.

``LocalStore`` works inside one transaction of the simulated provider's own
session (see ``billing.providers.local``); it creates, reads and changes the
objects, emits the events to deliver, and writes invoices as Stripe would.
"""

from __future__ import annotations

import json
import secrets
import time
from calendar import monthrange
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import LocalEvent, LocalObject, Plan
from billing.providers.base import GatewayError, ObjectMissing
from core.db import edge_now


def add_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def timestamp_of(moment: datetime) -> int:
    return int(moment.timestamp())


def ran_out(session: dict, now: datetime) -> bool:
    """An open Checkout session past its ``expires_at`` at ``now``: Stripe expires it
    then, and so does the simulation (``LocalStore.expire_session``)."""
    expires_at = session.get("expires_at")
    return (
        session["status"] == "open" and expires_at is not None and expires_at <= timestamp_of(now)
    )


def _sortable_id(prefix: str) -> str:
    """Ids that sort in the order they were made (the app clock may stand still in tests)."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(4)}"


class LocalStore:
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
            "created": timestamp_of(now),
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
            "created": timestamp_of(edge_now()),
            "livemode": False,
            "data": {"object": obj},
        }
        self.session.add(
            LocalEvent(id=event_id, payload=json.dumps(payload), created_at=edge_now())
        )
        self.session.flush()

    def expire_session(self, session: dict) -> None:
        """End an open Checkout session: nothing can be paid in it any more (as Stripe
        ends one at its ``expires_at``, or when asked to)."""
        session["status"] = "expired"
        self.put(session)
        self.emit("checkout.session.expired", session)

    def set_status(self, sub: dict, status: str, event: str = "customer.subscription.updated"):
        if status == "past_due":
            sub["past_due_at"] = timestamp_of(edge_now())
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
                            "current_period_start": timestamp_of(start),
                            "current_period_end": timestamp_of(add_month(start)),
                        }
                    ],
                },
            },
            key,
        )
        return sub

    def new_invoice(self, sub: dict, reason: str, *, paid: bool) -> dict:
        """Invoice the subscription's current period, as Stripe does: a renewal also bills
        the customer's pending items; a card is charged at once (when ``paid``) unless its
        next payment is set to fail, an invoice to be sent waits for its bank transfer."""
        item = sub["items"]["data"][0]
        customer = self.get(sub["customer"], "customer")
        lines = [self._plan_line(item)]
        if reason == "subscription_cycle":
            lines.extend(_pending_line(pending) for pending in customer["pending_items"])
            customer["pending_items"] = []
        invoice = self._add_invoice(sub, reason, lines)
        self.emit("invoice.finalized", invoice)
        self._collect(sub, customer, invoice, paid=paid)
        return invoice

    def _plan_line(self, item: dict) -> dict:
        price = item["price"]
        return {
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

    def _add_invoice(self, sub: dict, reason: str, lines: list[dict]) -> dict:
        item = sub["items"]["data"][0]
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
                "due_date": timestamp_of(edge_now() + timedelta(days=sub["days_until_due"]))
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
        return invoice

    def _collect(self, sub: dict, customer: dict, invoice: dict, *, paid: bool) -> None:
        """Charge the card for a new invoice (a sent invoice waits for its transfer)."""
        if sub["collection_method"] == "send_invoice":
            self.put(customer)
            return
        if customer["fail_next_payment"]:
            customer["fail_next_payment"] = False
            self.put(customer)
            self.emit("invoice.payment_failed", invoice)
            self.set_status(sub, "past_due")
            return
        self.put(customer)
        if paid:
            self.settle(invoice)

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


def _pending_line(pending: dict) -> dict:
    """An invoice line for an item waiting on the customer (proration or overage)."""
    return {
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
