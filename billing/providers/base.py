"""The payment provider's interface: the ``Gateway`` protocol, its errors and the plain
records every provider answers with, so webhook handlers and services never see a
Stripe object.

``billing.providers.stripe.StripeGateway`` calls Stripe through a ``StripeClient``
instance (never a global key); ``billing.providers.local.LocalGateway`` simulates the
same provider inside Engawa for the embedded default.

Rules for callers: call a gateway only with no database transaction holding
locks (commit first), and pass an idempotency key derived from our own row, so
a retried create makes one object. Amounts are integer yen (JPY has no minor unit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


class GatewayError(Exception):
    """The provider refused or could not be reached; nothing of ours changed."""


class ObjectMissing(GatewayError):
    """The provider has no such object (deleted, or never ours): asking again will not help."""


class SignatureError(Exception):
    """A webhook's signature is missing, wrong or too old."""


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    customer: str
    status: str
    price_id: str | None
    item_id: str | None
    seats: int
    collection_method: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    company_id: int | None  # from metadata.company_id
    # When we asked (our clock, taken before the call): an older read never wins.
    read_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CheckoutRecord:
    id: str
    url: str | None
    status: str | None  # open, complete, expired
    customer: str | None
    subscription: str | None
    company_id: int | None  # client_reference_id
    # A payment-mode session (an employee's part of a stay, ``billing.copay``): what was
    # paid and for which of our rows (metadata we set). Not compared: a subscription
    # Checkout is the same record whatever these say.
    mode: str | None = field(default=None, compare=False)  # payment | subscription
    payment_status: str | None = field(default=None, compare=False)  # paid | unpaid
    payment_intent: str | None = field(default=None, compare=False)
    amount_total: int | None = field(default=None, compare=False)  # yen
    booking_id: int | None = field(default=None, compare=False)  # metadata.booking_id
    stay_payment_id: int | None = field(default=None, compare=False)  # metadata
    expires_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InvoiceRecord:
    id: str
    customer: str
    subscription: str | None
    status: str
    number: str | None
    billing_reason: str | None
    collection_method: str
    total: int
    amount_paid: int
    amount_due: int
    seats: int | None
    price_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    due_date: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    created: datetime | None


@dataclass(frozen=True)
class EventRecord:
    id: str
    type: str
    object_id: str | None
    object_type: str | None


class Gateway(Protocol):
    """What Engawa asks of a payment provider."""

    def create_customer(self, *, company_id: int, name: str, email: str, key: str) -> str: ...

    def update_customer(self, customer: str, *, name: str, email: str, address: str) -> None: ...

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
    ) -> CheckoutRecord: ...

    def expire_checkout(self, session_id: str) -> None: ...

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
        """A Checkout in payment mode: one line of ``amount`` yen named ``name``, paid by
        card before ``expires_at`` (at least 30 minutes ahead, as Stripe requires)."""
        ...

    def refund_payment(
        self, payment_intent: str, amount: int, *, key: str, metadata: dict[str, str]
    ) -> str:
        """Give back ``amount`` yen of a payment; the refund's id."""
        ...

    def refunded_amount(self, payment_intent: str) -> int:
        """What the provider has refunded of a payment so far (pending or done), in yen."""
        ...

    def create_invoiced_subscription(
        self,
        *,
        customer: str,
        price_id: str,
        seats: int,
        company_id: int,
        days_until_due: int,
        key: str,
    ) -> SubscriptionRecord: ...

    def change_seats(self, subscription: SubscriptionRecord, seats: int, *, key: str) -> None: ...

    def cancel_at_period_end(self, subscription_id: str, *, key: str) -> None: ...

    def portal_url(self, *, customer: str, return_url: str) -> str: ...

    def add_overage_item(
        self, *, customer: str, subscription_id: str, amount: int, description: str, key: str
    ) -> str: ...

    def subscription(self, subscription_id: str) -> SubscriptionRecord: ...

    def checkout(self, session_id: str) -> CheckoutRecord: ...

    def invoice(self, invoice_id: str) -> InvoiceRecord: ...

    def invoices_of(self, customer: str) -> list[InvoiceRecord]: ...

    def verify_event(self, payload: bytes, signature: str | None) -> EventRecord: ...


# --- Reading Stripe's shapes ----------------------------------------------------


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> str | None:
    """An expandable field: an id string, or the object with its id."""
    if value is None or isinstance(value, str):
        return value
    return _get(value, "id")


def subscription_record(obj: Any, read_at: datetime | None = None) -> SubscriptionRecord:
    item = (_get(obj, "items", "data") or [None])[0]
    # Since API version 2025-03-31 the period lives on the item; older ones keep it on top.
    start = _get(item, "current_period_start") or _get(obj, "current_period_start")
    end = _get(item, "current_period_end") or _get(obj, "current_period_end")
    return SubscriptionRecord(
        id=obj["id"],
        customer=_id(_get(obj, "customer")),
        status=_get(obj, "status"),
        price_id=_id(_get(item, "price")) or _id(_get(item, "plan")),
        item_id=_get(item, "id"),
        seats=int(_get(item, "quantity") or _get(obj, "quantity") or 1),
        collection_method=_get(obj, "collection_method") or "charge_automatically",
        current_period_start=_time(start),
        current_period_end=_time(end),
        cancel_at_period_end=bool(_get(obj, "cancel_at_period_end")),
        company_id=_int_or_none(_get(obj, "metadata", "company_id")),
        read_at=read_at,
    )


def checkout_record(obj: Any) -> CheckoutRecord:
    amount = _get(obj, "amount_total")
    return CheckoutRecord(
        id=obj["id"],
        url=_get(obj, "url"),
        status=_get(obj, "status"),
        customer=_id(_get(obj, "customer")),
        subscription=_id(_get(obj, "subscription")),
        company_id=_int_or_none(_get(obj, "client_reference_id")),
        mode=_get(obj, "mode"),
        payment_status=_get(obj, "payment_status"),
        payment_intent=_id(_get(obj, "payment_intent")),
        amount_total=_int_or_none(amount) if amount is not None else None,
        booking_id=_int_or_none(_get(obj, "metadata", "booking_id")),
        stay_payment_id=_int_or_none(_get(obj, "metadata", "stay_payment_id")),
        expires_at=_time(_get(obj, "expires_at")),
    )


def refunds_total(refunds: Any) -> int:
    """What a payment's refunds give back, in yen: those that went or are going through
    (a failed or canceled refund gave nothing back)."""
    return sum(
        int(_get(refund, "amount") or 0)
        for refund in refunds
        if _get(refund, "status") not in ("failed", "canceled")
    )


def _is_seat_line(line: Any) -> bool:
    """The subscription's own line (not a proration, not a one-off item) carries the seats."""
    parent = _get(line, "parent", "type")
    if parent is not None:  # API 2025-03-31 and later say where a line comes from
        return parent == "subscription_item_details" and not _get(
            line, "parent", "subscription_item_details", "proration"
        )
    return bool(_get(line, "quantity")) and not _get(line, "proration")


def invoice_record(obj: Any) -> InvoiceRecord:
    lines = _get(obj, "lines", "data") or []
    seat_line = next((line for line in lines if _is_seat_line(line)), None)
    subscription = _id(_get(obj, "subscription")) or _id(
        _get(obj, "parent", "subscription_details", "subscription")
    )
    price = _get(seat_line, "pricing", "price_details", "price") or _get(seat_line, "price")
    return InvoiceRecord(
        id=obj["id"],
        customer=_id(_get(obj, "customer")),
        subscription=subscription,
        status=_get(obj, "status"),
        number=_get(obj, "number"),
        billing_reason=_get(obj, "billing_reason"),
        collection_method=_get(obj, "collection_method") or "charge_automatically",
        total=int(_get(obj, "total") or 0),
        amount_paid=int(_get(obj, "amount_paid") or 0),
        amount_due=int(_get(obj, "amount_due") or 0),
        seats=_int_or_none(_get(seat_line, "quantity")),
        price_id=_id(price),
        period_start=_time(_get(seat_line, "period", "start") or _get(obj, "period_start")),
        period_end=_time(_get(seat_line, "period", "end") or _get(obj, "period_end")),
        due_date=_time(_get(obj, "due_date")),
        hosted_invoice_url=_get(obj, "hosted_invoice_url"),
        invoice_pdf=_get(obj, "invoice_pdf"),
        created=_time(_get(obj, "created")),
    )


def event_record(obj: Any) -> EventRecord:
    data_object = _get(obj, "data", "object")
    return EventRecord(
        id=obj["id"],
        type=obj["type"],
        object_id=_get(data_object, "id"),
        object_type=_get(data_object, "object"),
    )
