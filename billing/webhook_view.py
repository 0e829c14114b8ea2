"""The Stripe webhook endpoint: raw body, signature checked, then one transaction."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from billing import provider_sync, webhooks
from billing.providers import gateway
from billing.providers.base import SignatureError
from billing.settings import BillingSettings
from core.db import edge_now
from core.input_guard import trust_body

bp = Blueprint("stripe_webhook", __name__)


def _bad_signature():
    return jsonify(error={"code": "bad_signature", "message": "Invalid signature."}), 400


@bp.post("/billing/stripe/webhook")
@trust_body  # signed by the provider and checked field by field below, not by the guard
def stripe_webhook():
    payload = request.get_data(cache=False)  # the raw bytes the signature covers
    signature = request.headers.get("Stripe-Signature")
    try:
        webhooks.check_delivery(gateway(), payload, signature, time.time())
    except SignatureError:
        return _bad_signature()
    except webhooks.EventRefused as exc:
        return jsonify(error={"code": exc.code, "message": exc.message}), 400
    settings = BillingSettings.from_config(current_app.config)
    try:
        outcome = provider_sync.receive_webhook(payload, signature, edge_now(), settings=settings)
    except provider_sync.WebhookRejected:
        return _bad_signature()
    except provider_sync.ProviderUnavailable:
        return jsonify(error={"code": "retry", "message": "Try again later."}), 503
    return jsonify(received=True, outcome=outcome)
