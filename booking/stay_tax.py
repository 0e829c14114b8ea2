"""A stay's accommodation tax (宿泊税): each night's, from its frozen price and the
guests, by the rule in force that night (``lodging.tax``), and what the stay keeps of
it as nights are given up (``billing.tax_ledger``).

A stay owes the tax of the nights it keeps: all of them while it is booked or in the
house; those before ``released_on`` after an early check-out; none after a no-show
(no guest lodged) or once cancelled. Any other night's tax goes back to the company in
full, whatever the cancellation policy keeps of the price.

A changed or moved stay: a night it keeps (same room, same night, its frozen price)
keeps its frozen tax, unless the number of guests changed, when it is taxed anew for
the new count; every other night is taxed anew from its new price by the rule in
force that night.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from billing.tax_ledger import refund_tax
from booking.models import CHARGED_STATUSES, Booking, BookingStatus
from facilities.models import Facility
from lodging.tax import TaxTable


def lodges_guests(facility: Facility) -> bool:
    """A satellite office lodges no one: its stays pay no accommodation tax."""
    return facility.kind != "office" and facility.licence_type != "none"


def night_taxes(
    facility: Facility,
    nights: Iterable[tuple[date, int]],
    guests: int,
    table: TaxTable | None = None,
) -> list[int]:
    """Each ``(night, price)``'s tax at ``facility`` for ``guests``."""
    nights = list(nights)
    if not lodges_guests(facility):
        return [0] * len(nights)
    table = table if table is not None else TaxTable.load()
    return table.night_taxes(facility.prefecture, facility.municipality, nights, guests)


def changed_night_taxes(
    facility: Facility,
    booking: Booking,
    nights: Sequence[tuple[date, int, bool]],
    guests: int,
) -> list[int]:
    """Each night's tax after a change, for ``(night, price, kept)`` triples: a kept
    night keeps the tax frozen with it while the guests are as many as before; any
    other night is taxed anew (see the module)."""
    frozen = {n.night: n.accommodation_tax for n in booking.nights}
    same_guests = guests == booking.guests
    fresh = [(night, price) for night, price, kept in nights if not (kept and same_guests)]
    taxed = dict(zip((n for n, _p in fresh), night_taxes(facility, fresh, guests), strict=True))
    return [
        frozen.get(night, 0) if kept and same_guests else taxed[night]
        for night, _price, kept in nights
    ]


def kept_tax(booking: Booking) -> int:
    """The tax of the nights the stay keeps (0 once cancelled or after a no-show)."""
    if booking.status not in CHARGED_STATUSES or booking.status == BookingStatus.NO_SHOW:
        return 0
    return sum(n.accommodation_tax for n in booking.nights if n.night < booking.held_until)


def refund_unkept_tax(booking: Booking, now: datetime) -> int:
    """Give back the tax of the nights the stay no longer keeps; the yen refunded."""
    return refund_tax(booking.company_id, booking.id, booking.user_id, kept_tax(booking), now)
