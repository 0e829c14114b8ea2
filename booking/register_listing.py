"""The operator's reading of the guest register (宿泊者名簿): the stays of one of their
facilities by arrival date, each with its guests' lines, whether the register is
complete (and what it lacks), and who checked identity at check-in; and the register's
access log.

The register itself (sealed lines, completeness, the read log) is ``lodging.register``,
which knows stays only by id; this module walls every read to the actor's operator
organisation first (another organisation's facility reads as none) and joins the stays,
rooms and people the pages and the API show. The register lists the stays that were
confirmed (``REGISTER_STATUSES``): booked, in the house, gone home, and no-shows, marked
by their status. Cancelled stays are not listed (their register is purged,
``booking.register_purge``), nor stays never confirmed: one refused by its approver or
whose wait ran out never comes to the facility, and one still waiting for its approval
or the employee's payment may never come; its register cannot be filled in until it is
confirmed (``booking.guest_register``), so it would only be listed as incomplete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import LazyString
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from accounts.models import User
from booking.models import CHARGED_STATUSES, Booking, BookingStatus
from core.db import in_id_range
from core.extensions import db
from core.paging import Page
from facilities.licences import offers_lodging
from facilities.models import Facility, Unit
from lodging import register
from lodging.models import RegisterRead
from lodging.register import StoredGuest

MAX_ENTRIES = 2000  # stays read at once; more asks for a shorter period
# The stays the register lists: confirmed once (booked, in the house, gone home, no-show).
REGISTER_STATUSES = CHARGED_STATUSES
LOG_PER_PAGE = 50


@dataclass(frozen=True)
class RegisterEntry:
    """One stay's register entry as the operator reads it."""

    booking: Booking
    guests: list[StoredGuest]
    complete: bool
    missing: list[LazyString]
    checked_by: str | None  # who checked the guests' identity at check-in
    checked_at: datetime | None

    @property
    def no_show(self) -> bool:
        return self.booking.status == BookingStatus.NO_SHOW


@dataclass(frozen=True)
class LogRow:
    """One read (or write) of a stay's register entry."""

    at: datetime
    who: str | None  # None: Engawa itself (a job)
    booking_id: int
    action: str


# --- which facilities keep a register ---------------------------------------------------


def register_facilities(actor: User) -> list[Facility]:
    """The actor's organisation's facilities that lodge guests (a satellite office keeps
    no register), open ones first, then by name."""
    if not actor.runs_facilities:
        return []
    return list(
        db.session.scalars(
            select(Facility)
            .where(Facility.operator_id == actor.operator_id, Facility.kind.in_(("stay", "both")))
            .order_by(Facility.active.desc(), Facility.name_ja, Facility.id)
        )
    )


def register_facility(actor: User, facility_id: int) -> Facility | None:
    """The facility if the actor's organisation runs it and it lodges guests; None for
    another organisation's, an unknown id, or a satellite office."""
    if not actor.runs_facilities or not in_id_range(facility_id):
        return None
    facility = db.session.get(Facility, facility_id)
    if facility is None or facility.operator_id != actor.operator_id:
        return None
    return facility if offers_lodging(facility.kind) else None


def keeps_register(facility: Facility) -> bool:
    """Stays at this facility need a guest register (it lodges guests)."""
    return offers_lodging(facility.kind)


# --- the entries ------------------------------------------------------------------------


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def entries(
    actor: User, facility_id: int, start: date, end: date, *, limit: int = MAX_ENTRIES
) -> list[RegisterEntry]:
    """The register entries of stays arriving in [start, end) at one of the actor's
    facilities, by arrival date, room and booking number; only stays that were confirmed
    (``REGISTER_STATUSES``: cancelled, waiting, refused and expired stays left out).
    Another organisation's facility gives none. At most ``limit`` entries: ask for one
    more to learn whether there were more.

    Reading is not logged here: the caller records it (``lodging.register.record_read``)
    with the action it is (a page, a print, a CSV, the API)."""
    if not actor.runs_facilities or not in_id_range(facility_id) or end <= start:
        return []
    stays = list(
        db.session.scalars(
            select(Booking)
            .join(Unit, Unit.id == Booking.unit_id)
            .join(Facility, Facility.id == Unit.facility_id)
            .where(
                Facility.id == facility_id,
                Facility.operator_id == actor.operator_id,
                Booking.status.in_(REGISTER_STATUSES),
                Booking.check_in >= start,
                Booking.check_in < end,
            )
            .options(joinedload(Booking.unit))
            .order_by(Booking.check_in, Unit.name, Booking.id)
            .limit(max(0, limit))
        )
    )
    if not stays:
        return []
    guests = register.guests_by_booking([b.id for b in stays])  # each line unsealed once
    names = user_names(b.identity_checked_by_id for b in stays)
    found = []
    for stay in stays:
        lines = guests.get(stay.id, [])
        lacking = register.missing_of(lines, stay.guests)
        found.append(
            RegisterEntry(
                booking=stay,
                guests=lines,
                complete=not lacking,
                missing=lacking,
                checked_by=names.get(stay.identity_checked_by_id),
                checked_at=stay.identity_checked_at,
            )
        )
    return found


@dataclass(frozen=True)
class StayRegister:
    """A stay's register as its page shows it: whether one is kept, complete or what it
    lacks, and who checked identity at check-in. No guest's details: the stay's page is
    not a read of the register."""

    kept: bool
    complete: bool
    missing: list[LazyString]
    checked_by: str | None
    checked_at: datetime | None


def stay_register(booking: Booking) -> StayRegister:
    """The register status of one stay (already walled by the caller)."""
    checked_by = user_names([booking.identity_checked_by_id]).get(booking.identity_checked_by_id)
    if not keeps_register(booking.unit.facility):
        return StayRegister(False, True, [], checked_by, booking.identity_checked_at)
    missing = register.missing(booking.id, booking.guests)
    return StayRegister(True, not missing, missing, checked_by, booking.identity_checked_at)


# --- the access log ---------------------------------------------------------------------


def access_log(facility: Facility, page: int, per_page: int = LOG_PER_PAGE) -> Page:
    """The reads of the facility's register entries, newest first, a page at a time (the
    caller walled the facility)."""
    total = db.session.scalar(
        select(func.count())
        .select_from(RegisterRead)
        .where(RegisterRead.facility_id == facility.id)
    )
    number = Page.number(page, total or 0, per_page)
    rows = db.session.execute(
        select(RegisterRead.created_at, User.name, RegisterRead.booking_id, RegisterRead.action)
        .outerjoin(User, User.id == RegisterRead.user_id)
        .where(RegisterRead.facility_id == facility.id)
        .order_by(RegisterRead.created_at.desc(), RegisterRead.id.desc())
        .offset((number - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page([LogRow(*row) for row in rows], total or 0, number, per_page)
