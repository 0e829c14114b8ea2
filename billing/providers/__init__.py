"""The payment providers behind one protocol (``base``): Stripe or the local backend.

``gateway()`` is the provider the configuration picks; only the local backend's
test-mode pages and jobs reach its extra abilities, through ``local_gateway()``.
"""

from __future__ import annotations

from flask import current_app

from billing.providers.base import Gateway
from billing.providers.local import LocalGateway
from billing.providers.stripe import StripeGateway


class NotLocalBackend(RuntimeError):
    """A test-mode ability asked for while the Stripe backend is configured."""


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
            found = LocalGateway(app.config["STRIPE_WEBHOOK_SECRET"])
        app.extensions["billing_gateway"] = found
    return found


def local_gateway() -> LocalGateway:
    """The local backend, for its test-mode pages and jobs; refused under Stripe."""
    found = gateway()
    if not isinstance(found, LocalGateway):
        raise NotLocalBackend("The local billing backend is not in use (BILLING_BACKEND=stripe).")
    return found
