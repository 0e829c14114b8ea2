"""Stripe, through the official SDK. The only module that imports ``stripe``."""

from __future__ import annotations

import json
from datetime import datetime

import stripe

from billing.providers.base import (
    CheckoutRecord,
    EventRecord,
    GatewayError,
    InvoiceRecord,
    ObjectMissing,
    SignatureError,
    SubscriptionRecord,
    checkout_record,
    event_record,
    invoice_record,
    refunds_total,
    subscription_record,
)
from core.db import utcnow


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
        """A one-off card payment of ``amount`` yen (JPY has no minor unit: ¥5,000 is 5000)
        on Engawa's own account; the metadata goes on the session and its PaymentIntent."""
        product = {"name": name}
        if description:
            product["description"] = description
        params = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": amount,
                        "product_data": product,
                    },
                    "quantity": 1,
                }
            ],
            "payment_method_types": ["card"],
            "metadata": dict(metadata),
            "payment_intent_data": {"metadata": dict(metadata)},
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        }
        if email:
            params["customer_email"] = email
        session = self._call(self.client.v1.checkout.sessions.create, params=params, key=key)
        return checkout_record(session)

    def refund_payment(
        self, payment_intent: str, amount: int, *, key: str, metadata: dict[str, str]
    ) -> str:
        params = {
            "payment_intent": payment_intent,
            "amount": amount,  # yen
            "reason": "requested_by_customer",
            "metadata": dict(metadata),
        }
        return self._call(self.client.v1.refunds.create, params=params, key=key).id

    def refunded_amount(self, payment_intent: str) -> int:
        params = {"payment_intent": payment_intent, "limit": 100}
        page = self._call(self.client.v1.refunds.list, params=params)
        try:
            return refunds_total(page.auto_paging_iter())
        except self._error as exc:
            raise GatewayError(exc.user_message or str(exc)) from exc

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
