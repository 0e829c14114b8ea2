"""The facility operator's front desk: find a stay of their own facilities, check it in
and out, mark a no-show, cancel it on the guest's behalf, keep notes, and read its
history. Moving a stay (another room, other dates) is ``booking.operator_moves``.

Plain values in, models out; services flush, the edge commits. Every lookup is walled
to the actor's operator organisation: another organisation's stay is ``BookingNotFound``
exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from accounts.models import User
from booking.models import Booking
from booking.services import BookingError, CancelResult

MAX_NOTE = 2000  # characters of the operator's notes on one stay
MAX_CANCEL_REASON = 300  # Booking.cancel_reason


class FrontDeskError(BookingError):
    """A front-desk action the stay's state or date does not allow (code says which)."""


def operator_booking(actor: User, booking_id: int, *, lock: bool = False) -> Booking:
    """A stay in one of the actor's organisation's facilities (row-locked if asked).

    Anybody else's, or none: ``BookingNotFound``. The actor must run facilities.
    """
    raise NotImplementedError


def operator_bookings(
    actor: User,
    start: date,
    end: date,
    *,
    facility_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    limit: int = 500,
) -> list[Booking]:
    """Stays of the actor's facilities overlapping [start, end) (all facilities, or one of
    them; a foreign ``facility_id`` gives no rows), by check-in, with room, facility,
    guest and company loaded. ``statuses``: only those (default: all)."""
    raise NotImplementedError


def check_in(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest has arrived: a confirmed stay, from its check-in day until the day
    before check-out (Japan dates). Anything else: ``FrontDeskError``."""
    raise NotImplementedError


def check_out(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest has left: a checked-in stay. Leaving before the check-out date gives
    the remaining nights back (``released_on`` = today); nothing is refunded (the
    cancellation policy returns nothing once a stay has begun)."""
    raise NotImplementedError


def mark_no_show(actor: User, booking_id: int, now: datetime) -> Booking:
    """The guest never came: a confirmed stay on or after its check-in day. The nights
    from today on (from check-in if later) are given back and may be sold again;
    nothing is refunded (the existing policy). The employee and the company hear of it."""
    raise NotImplementedError


def cancel_for_guest(actor: User, booking_id: int, reason: str, now: datetime) -> CancelResult:
    """Cancel a confirmed stay that has not ended on the guest's behalf, with a reason
    (1–300 characters, told to the guest). Operator-caused: everything the stay holds of
    the company's credit comes back. Cancelling twice changes nothing (``already``)."""
    raise NotImplementedError


def set_note(actor: User, booking_id: int, note: str) -> Booking:
    """Replace the operator's notes on a stay (at most ``MAX_NOTE`` characters)."""
    raise NotImplementedError


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a stay, read from its domain events."""

    at: datetime
    type: str  # the event type (accounts.events)
    by: str  # "employee" | "company_admin" | "operator" | "system"
    actor_name: str  # who acted, or "" for nobody
    data: dict  # the event's data (old dates and room, money moved, the refund…)


def history(booking: Booking) -> list[HistoryEntry]:
    """Everything that happened to the stay, oldest first: booked, changed or moved (by
    whom, from which dates and room, what moved on the credit), checked in and out, a
    no-show, cancelled (by whom, the refund)."""
    raise NotImplementedError
