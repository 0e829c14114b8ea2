"""The Stripe webhook endpoint: raw body, signature checked, then one transaction."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from billing import flows
from core.db import edge_now

bp = Blueprint("stripe_webhook", __name__)


@bp.post("/billing/stripe/webhook")
def stripe_webhook():
    payload = request.get_data(cache=False)  # the raw bytes the signature covers
    try:
        outcome = flows.receive_webhook(
            payload, request.headers.get("Stripe-Signature"), edge_now()
        )
    except flows.WebhookRejected:
        return jsonify(error={"code": "bad_signature", "message": "Invalid signature."}), 400
    except flows.ProviderUnavailable:
        return jsonify(error={"code": "retry", "message": "Try again later."}), 503
    return jsonify(received=True, outcome=outcome)
