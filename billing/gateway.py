"""The payment provider behind one interface. Only this module talks to Stripe.

``StripeGateway`` calls Stripe through a ``StripeClient`` instance (never a global
key); ``billing.local.LocalGateway`` simulates the same provider inside Engawa
for the embedded default. Both answer with the plain records below, so the
webhook handlers and services never see a Stripe object.

Rules for callers: call a gateway only with no database transaction holding
locks (commit first), and pass an idempotency key derived from our own row, so
a retried create makes one object. Amounts are integer yen (JPY has no minor unit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flask import current_app

from core.db import utcnow


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
    return CheckoutRecord(
        id=obj["id"],
        url=_get(obj, "url"),
        status=_get(obj, "status"),
        customer=_id(_get(obj, "customer")),
        subscription=_id(_get(obj, "subscription")),
        company_id=_int_or_none(_get(obj, "client_reference_id")),
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


# --- Stripe ---------------------------------------------------------------------


class StripeGateway:
    """Stripe through the official SDK; ``api_base`` points tests at a local server."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        timeout: float = 20,
        max_network_retries: int = 2,
        registration_number: str = "",
    ):
        import stripe

        self._error = stripe.StripeError
        self.webhook_secret = webhook_secret
        self.registration_number = registration_number
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=stripe.RequestsClient(timeout=timeout),
            # Retries resend the same idempotency key, so a timed-out create makes one object.
            max_network_retries=max_network_retries,
        )

    def _call(self, method, *args, params: dict | None = None, key: str | None = None):
        try:
            return method(*args, params or {}, {"idempotency_key": key} if key else {})
        except self._error as exc:
            if getattr(exc, "code", None) == "resource_missing":
                raise ObjectMissing(exc.user_message or str(exc)) from exc
            raise GatewayError(exc.user_message or str(exc)) from exc

    def create_customer(self, *, company_id: int, name: str, email: str, key: str) -> str:
        params = {
            "name": name,
            "metadata": {"company_id": str(company_id)},
            "invoice_settings": self._invoice_settings(),
        }
        if email:
            params["email"] = email
        return self._call(self.client.v1.customers.create, params=params, key=key).id

    def _invoice_settings(self) -> dict:
        """Every invoice shows the platform's qualified-invoice registration number (適格請求書)."""
        if not self.registration_number:
            return {}
        return {"custom_fields": [{"name": "登録番号", "value": self.registration_number}]}

    def update_customer(self, customer: str, *, name: str, email: str, address: str) -> None:
        params = {
            "name": name,
            "email": email,
            "address": {"line1": address[:200]},
            "invoice_settings": self._invoice_settings(),
        }
        self._call(self.client.v1.customers.update, customer, params=params)

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
        params = {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(company_id),
            "line_items": [{"price": price_id, "quantity": seats}],
            "subscription_data": {"metadata": {"company_id": str(company_id)}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = self._call(self.client.v1.checkout.sessions.create, params=params, key=key)
        return checkout_record(session)

    def expire_checkout(self, session_id: str) -> None:
        self._call(self.client.v1.checkout.sessions.expire, session_id)

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
        params = {
            "customer": customer,
            "items": [{"price": price_id, "quantity": seats}],
            "collection_method": "send_invoice",  # bank transfer against an invoice
            "days_until_due": days_until_due,
            "metadata": {"company_id": str(company_id)},
        }
        read_at = utcnow()
        created = self._call(self.client.v1.subscriptions.create, params=params, key=key)
        return subscription_record(created, read_at)

    def change_seats(self, subscription: SubscriptionRecord, seats: int, *, key: str) -> None:
        params = {
            "items": [{"id": subscription.item_id, "quantity": seats}],
            "proration_behavior": "create_prorations",  # Stripe prorates on the next invoice
        }
        self._call(self.client.v1.subscriptions.update, subscription.id, params=params, key=key)

    def cancel_at_period_end(self, subscription_id: str, *, key: str) -> None:
        params = {"cancel_at_period_end": True}
        self._call(self.client.v1.subscriptions.update, subscription_id, params=params, key=key)

    def portal_url(self, *, customer: str, return_url: str) -> str:
        params = {"customer": customer, "return_url": return_url}
        return self._call(self.client.v1.billing_portal.sessions.create, params=params).url

    def add_overage_item(
        self, *, customer: str, subscription_id: str, amount: int, description: str, key: str
    ) -> str:
        params = {
            "customer": customer,
            "subscription": subscription_id,
            "amount": amount,  # yen: ¥500 is 500
            "currency": "jpy",
            "description": description,
        }
        return self._call(self.client.v1.invoice_items.create, params=params, key=key).id

    def subscription(self, subscription_id: str) -> SubscriptionRecord:
        read_at = utcnow()
        found = self._call(self.client.v1.subscriptions.retrieve, subscription_id)
        return subscription_record(found, read_at)

    def checkout(self, session_id: str) -> CheckoutRecord:
        return checkout_record(self._call(self.client.v1.checkout.sessions.retrieve, session_id))

    def invoice(self, invoice_id: str) -> InvoiceRecord:
        return invoice_record(self._call(self.client.v1.invoices.retrieve, invoice_id))

    def invoices_of(self, customer: str) -> list[InvoiceRecord]:
        params = {"customer": customer, "limit": 100}
        page = self._call(self.client.v1.invoices.list, params=params)
        try:
            return [invoice_record(invoice) for invoice in page.auto_paging_iter()]
        except self._error as exc:
            raise GatewayError(exc.user_message or str(exc)) from exc

    def verify_event(self, payload: bytes, signature: str | None) -> EventRecord:
        return verify_event(payload, signature, self.webhook_secret)


def verify_event(payload: bytes, signature: str | None, secret: str, tolerance: int = 300):
    """Check Stripe's ``Stripe-Signature`` over the raw body, then read the event."""
    import json

    import stripe

    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, tolerance)
        event = json.loads(payload)
        if not isinstance(event, dict):
            raise ValueError("an event is a JSON object")
        return event_record(event)
    except (
        stripe.SignatureVerificationError,
        UnicodeDecodeError,
        ValueError,
        KeyError,
        TypeError,
    ) as exc:
        raise SignatureError(str(exc)) from None


def gateway() -> Gateway:
    """The provider the configuration picks (one per app, made on first use)."""
    app = current_app._get_current_object()
    found = app.extensions.get("billing_gateway")
    if found is None:
        if app.config["BILLING_BACKEND"] == "stripe":
            found = StripeGateway(
                app.config["STRIPE_SECRET_KEY"],
                app.config["STRIPE_WEBHOOK_SECRET"],
                api_base=app.config.get("STRIPE_API_BASE") or None,
                registration_number=app.config["INVOICE_REGISTRATION_NUMBER"],
            )
        else:
            from billing.local import LocalGateway

            found = LocalGateway(app.config["STRIPE_WEBHOOK_SECRET"])
        app.extensions["billing_gateway"] = found
    return found
