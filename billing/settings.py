"""The billing settings the flows need, read once at the edge and passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BillingSettings:
    """What the flows read from the configuration (see core.config).

    ``backend`` is "local" or "stripe"; ``price_ids`` maps plan codes to the provider's
    price ids; ``grace_days`` is how long a past-due subscription keeps working;
    ``invoice_days_until_due`` is when an invoiced subscription's invoices fall due.
    """

    backend: str
    price_ids: dict[str, str]
    grace_days: int
    invoice_days_until_due: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BillingSettings:
        """Built by the edges (views, jobs, CLI) from the app's config."""
        return cls(
            backend=config["BILLING_BACKEND"],
            price_ids=config["STRIPE_PRICE_IDS"],
            grace_days=config["BILLING_GRACE_DAYS"],
            invoice_days_until_due=config["INVOICE_DAYS_UNTIL_DUE"],
        )
