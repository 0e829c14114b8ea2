"""Operator-facing pricing: settings, bounds, overrides, the price calendar, history."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from core.extensions import db
from facilities.pricing.models import PriceChange


def prune_history(now: datetime) -> str:
    """Forget price changes older than PRICE_HISTORY_KEEP_DAYS."""
    from flask import current_app

    cutoff = now - timedelta(days=current_app.config["PRICE_HISTORY_KEEP_DAYS"])
    result = db.session.execute(delete(PriceChange).where(PriceChange.changed_at < cutoff))
    db.session.commit()
    return f"{result.rowcount} old price changes removed"
