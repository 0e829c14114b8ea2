"""A stay's accommodation tax (宿泊税): each night's, from its frozen price and the
guests, by the rule in force that night (``lodging.tax``), and what the stay keeps of
it as nights are given up (``billing.tax_ledger``).

A stay owes the tax of the nights it keeps: all of them while it is booked or in the
house; those before ``released_on`` after a no-show or an early check-out; none once
cancelled. Any other night's tax goes back to the company in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from billing.tax_ledger import refund_tax
from booking.models import CHARGED_STATUSES, Booking
from facilities.models import Facility
from lodging.tax import TaxTable


def night_taxes(
    facility: Facility,
    nights: Iterable[tuple[date, int]],
    guests: int,
    table: TaxTable | None = None,
) -> list[int]:
    """Each ``(night, price)``'s tax at ``facility`` for ``guests``."""
    table = table if table is not None else TaxTable.load()
    return table.night_taxes(facility.prefecture, facility.municipality, nights, guests)


def kept_tax(booking: Booking) -> int:
    """The tax of the nights the stay keeps (0 once cancelled)."""
    if booking.status not in CHARGED_STATUSES:
        return 0
    return sum(n.accommodation_tax for n in booking.nights if n.night < booking.held_until)


def refund_unkept_tax(booking: Booking, now: datetime) -> int:
    """Give back the tax of the nights the stay no longer keeps; the yen refunded."""
    return refund_tax(booking.company_id, booking.id, booking.user_id, kept_tax(booking), now)
