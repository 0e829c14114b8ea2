"""The operator moves a stay: another room of the same facility and/or other dates,
which also shortens or extends it.

Operator-caused changes never cost the company more for the nights it already had:
the stay's first nights (as many as it had) cost the lower of what they cost before
and today's prices; nights added beyond its length are an extension, priced at
today's prices and paid from the company's credit by the usual rules (and refused if
the credit or the company's policy forbids); nights dropped come back in full. The
new nights are claimed under ``UNIQUE(unit_id, night)`` before the old ones are
released, in one transaction: a night just taken answers ``BookingConflict`` (409
``taken``) and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from accounts.models import User
from booking.models import Booking
from booking.services import DEFAULT_GRACE_DAYS
from facilities.models import Unit


@dataclass(frozen=True)
class MoveNight:
    night: date
    price: int  # what the night costs after the move
    kind: str  # "kept" (same room and night) | "moved" | "added" (an extension)
    old_price: int | None = None  # the night it replaces, for "moved"


@dataclass(frozen=True)
class MoveQuote:
    """What a move would do, shown before the operator confirms it."""

    booking: Booking
    unit: Unit
    check_in: date
    check_out: date
    nights: list[MoveNight]
    old_total: int
    new_total: int
    charged: int  # taken from the company's credit (an extension), ≥ 0
    refunded: int  # given back to the company's credit, ≥ 0
    available: bool  # every new night is free in that room right now

    @property
    def net(self) -> int:
        """Charged (+) or returned (−): what ``expected_net`` compares."""
        return self.charged - self.refunded


def quote_move(
    actor: User,
    booking_id: int,
    unit_id: int,
    check_in: date,
    check_out: date,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
) -> MoveQuote:
    """Every rule ``move_booking`` applies, without changing anything (for the confirm
    step). A rule broken raises its ``BookingError``; taken nights answer
    ``available=False``."""
    raise NotImplementedError


def move_booking(
    actor: User,
    booking_id: int,
    unit_id: int,
    check_in: date,
    check_out: date,
    now: datetime,
    *,
    horizon_days: int = 180,
    grace_days: int = DEFAULT_GRACE_DAYS,
    expected_net: int | None = None,
) -> MoveQuote:
    """Move one of the actor's organisation's stays (see the module). Refused:
    a stay of another organisation (``BookingNotFound``), checked out, a no-show or
    cancelled (``not_movable``), a checked-in stay's check-in date moved
    (``not_movable``), a room of another facility or off sale (``unit_unavailable``),
    more guests than the room sleeps (``capacity``), dates in the past or beyond the
    horizon, a night closed in that room (``closed``), the same stay (``unchanged``),
    an extension the company's policy or credit refuses (its code); a night booked
    by somebody else: ``BookingConflict`` (``taken``). With ``expected_net`` (what
    the operator was shown), a different amount is refused with ``PriceChanged``.
    The employee hears of it (``booking.changed``, by the operator)."""
    raise NotImplementedError
