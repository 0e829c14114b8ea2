"""Telling the layers above that nights changed hands, without importing them.

Bookings, cancellations and blocks write a ``ChangedNights`` row in their own
transaction; pricing's refresh job reads the queue after the commit.
"""

from __future__ import annotations

from datetime import date

from availability.models import ChangedNights
from core.extensions import db


def nights_changed(facility_id: int, start: date, end: date) -> None:
    """Queue the nights [start, end) of a facility as changed, with this transaction."""
    db.session.add(ChangedNights(facility_id=facility_id, start_date=start, end_date=end))
