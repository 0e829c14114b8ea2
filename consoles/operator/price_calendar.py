"""Each night of a unit as the operator's price calendar shows it: on sale at its
stored price, sold at the price the booking froze, or closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select

from availability.models import Occupancy
from booking.models import BookingNight
from core.dates import stay_nights
from core.extensions import db
from facilities.models import Unit
from pricing.prices import NightPrice, night_prices


@dataclass(frozen=True)
class PricedNight:
    night: date
    price: NightPrice
    state: str  # "open", "booked", "closed" (a block), "past"
    booked_price: int | None = None  # the price frozen in the booking


def price_calendar(unit: Unit, start: date, end: date, today: date) -> list[PricedNight]:
    """Each night of [start, end) of one unit: its price, its reasons, and whether it
    is sold (with the price the booking froze) or closed."""
    nights = stay_nights(start, end)
    prices = night_prices([(unit.id, unit.base_price)], nights)[unit.id]
    # Each held night: its booking (with the price it froze) or its block.
    claims = {
        night: (booking_id, block_id, frozen)
        for night, booking_id, block_id, frozen in db.session.execute(
            select(Occupancy.night, Occupancy.booking_id, Occupancy.block_id, BookingNight.price)
            .outerjoin(
                BookingNight,
                and_(
                    BookingNight.booking_id == Occupancy.booking_id,
                    BookingNight.night == Occupancy.night,
                ),
            )
            .where(Occupancy.unit_id == unit.id, Occupancy.night >= start, Occupancy.night < end)
        )
    }
    out = []
    for night, price in zip(nights, prices, strict=True):
        booking_id, block_id, frozen = claims.get(night, (None, None, None))
        if booking_id is not None:
            state = "booked"
        elif block_id is not None:
            state = "closed"
        elif night < today:
            state = "past"
        else:
            state = "open"
        out.append(PricedNight(night, price, state, frozen))
    return out


# --- History --------------------------------------------------------------------------
