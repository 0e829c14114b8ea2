"""The guest register (宿泊者名簿) of a stay, for those who may read or write it.

The tenant walls of the register (``lodging.register`` knows stays only by id):

- the employee reads and fills in the register of their own stays only
  (``lookups.booking_of``); the operator of the facility, of its own facilities'
  stays only (``front_desk.operator_booking``). Anybody else's stay is
  ``BookingNotFound``, exactly like one that does not exist;
- a passport image is shown to the booker and the facility's operator, nobody else;
- the register can be filled in while the stay is booked or in the house, until its
  check-out day; a cancelled stay, a no-show or a stay that has ended is not edited,
  nor one not confirmed yet (waiting for its approval or payment) or never confirmed;
- a satellite office (no lodging) keeps no register;
- every read (a page, the API, an image) and every write is recorded in the
  register's access log, in the same transaction.

Plain values in; services flush, the edge commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from booking import front_desk, lookups
from booking.models import OPEN_STATUSES, WAITING_STATUSES, Booking
from booking.services import BookingError, BookingNotFound
from core.db import in_id_range, tokyo_today
from core.extensions import db
from facilities.licences import offers_lodging
from lodging import register
from lodging.guests import GuestDetails
from lodging.models import RegisteredGuest
from lodging.register import StoredGuest


class RegisterError(BookingError):
    """The register of this stay cannot take this (code says why)."""


# --- whose stay --------------------------------------------------------------------------


def employee_stay(actor: User, booking_id: int) -> Booking:
    """The actor's own stay; anybody else's: ``BookingNotFound``."""
    return lookups.booking_of(actor, booking_id)


def operator_stay(actor: User, booking_id: int) -> Booking:
    """A stay of the actor's organisation's facilities; any other: ``BookingNotFound``."""
    return front_desk.operator_booking(actor, booking_id)


def needs_register(booking: Booking) -> bool:
    """A stay lodges its guests unless its facility is a satellite office only."""
    return offers_lodging(booking.unit.facility.kind)


def editable(booking: Booking, today: date) -> bool:
    """Booked or in the house, before its check-out day, at a facility that lodges."""
    return needs_register(booking) and booking.status in OPEN_STATUSES and today < booking.check_out


def check_editable(booking: Booking, today: date) -> None:
    """``RegisterError`` unless the stay's register may be changed on ``today``."""
    if not needs_register(booking):
        raise RegisterError(
            _l("This stay is at a satellite office: it needs no guest register."), "not_needed"
        )
    if booking.status in WAITING_STATUSES:
        raise RegisterError(
            _l(
                "%(state)s Its guest register can be filled in once it is confirmed.",
                state=front_desk.state_sentence(booking),
            ),
            "not_editable",
        )
    if not editable(booking, today):
        raise RegisterError(
            _l(
                "%(state)s Its guest register can no longer be changed.",
                state=front_desk.state_sentence(booking)
                if booking.status not in OPEN_STATUSES
                else _l("This stay has ended."),
            ),
            "not_editable",
        )


def _facility_id(booking: Booking) -> int:
    return booking.unit.facility_id


# --- reading -----------------------------------------------------------------------------


def read_register(actor: User, booking: Booking, action: str, now: datetime) -> list[StoredGuest]:
    """The stay's lines (the caller checked whose stay it is), the read recorded."""
    lines = register.guests_of(booking.id)
    register.record_read([booking.id], _facility_id(booking), actor.id, action, now)
    return lines


def register_complete(bookings: Iterable[Booking]) -> dict[int, bool]:
    """Whether each stay's register is complete (a stay that needs none is). Only
    whether it is: nothing of the register is read, so nothing is recorded."""
    bookings = list(bookings)
    counts = {b.id: b.guests for b in bookings if needs_register(b)}
    complete = register.completeness(counts) if counts else {}
    return {b.id: complete.get(b.id, True) for b in bookings}


def may_see_passport(actor: User, booking: Booking) -> bool:
    """The booker, and the operators of the stay's facility: nobody else."""
    if booking.user_id == actor.id:
        return True
    return bool(actor.runs_facilities) and actor.operator_id == booking.unit.facility.operator_id


def _line_of(booking: Booking, guest_id: int) -> RegisteredGuest:
    line = (
        db.session.scalar(
            select(RegisteredGuest).where(
                RegisteredGuest.id == guest_id, RegisteredGuest.booking_id == booking.id
            )
        )
        if in_id_range(guest_id)
        else None
    )
    if line is None:
        raise BookingNotFound(_l("No such guest in this stay's register."))
    return line


def passport_of(actor: User, booking: Booking, guest_id: int, now: datetime) -> tuple[bytes, str]:
    """The image (bytes, content type) of a guest's passport, for the booker or the
    facility's operator; the read recorded. Anything else: ``BookingNotFound``."""
    if not may_see_passport(actor, booking):
        raise BookingNotFound(_l("No such stay."))
    line = _line_of(booking, guest_id)
    image = register.passport_image(line.id)
    if image is None:
        raise BookingNotFound(_l("This guest's passport image is not in the register."))
    register.record_read([booking.id], _facility_id(booking), actor.id, "passport", now)
    return image


# --- writing -----------------------------------------------------------------------------


def save_register(
    actor: User,
    booking: Booking,
    guests: Sequence[GuestDetails],
    now: datetime,
    *,
    passports: dict[int, bytes] | None = None,
    every_guest: bool = False,
) -> list[StoredGuest]:
    """Replace the stay's register with ``guests`` (the booker's line first), and seal
    the passport images given by index into ``guests``; the write recorded.

    At most the stay's number of guests; with ``every_guest``, exactly that many (the
    API). An image for a guest who needs no passport is refused (``no_passport``)."""
    # Under the stay's row lock, as of the lock: two saves (or a save and a cancellation)
    # of one stay take turns, and the second sees what the first did.
    booking = db.session.scalar(
        select(Booking)
        .where(Booking.id == booking.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    check_editable(booking, tokyo_today(now))
    if len(guests) > booking.guests or (every_guest and len(guests) != booking.guests):
        raise RegisterError(
            _l(
                "This stay has %(num)d guests: give the details of each of them.",
                num=booking.guests,
            ),
            "guests_count",
        )
    passports = passports or {}
    for index in passports:
        if not 0 <= index < len(guests) or not guests[index].needs_passport:
            raise RegisterError(
                _l("Only a foreign guest who lives abroad needs a passport image."),
                "no_passport",
            )
    rows = register.save_guests(booking.id, guests, entered_by_id=actor.id, now=now)
    for index, data in sorted(passports.items()):
        register.save_passport_image(rows[index].id, data, now)
    register.record_read([booking.id], _facility_id(booking), actor.id, "edit", now)
    return register.guests_of(booking.id)
