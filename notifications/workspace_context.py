"""What workspace events' messages say (issue 19): a desk, booth or meeting room booked,
changed (another time or unit of its facility), cancelled, or released because nobody
checked in.

One action can make many events: a series (the same desk every working day) makes one
``workspace.booked`` per booking, and a stay that ends cancels each of its desks
(``workspace.cancelled`` with ``with_stay``). People get one message per action: the
first event of the group (the same type, employee, instant, operator organisation and
series or stay) tells of every booking in it, and the others are ``quiet`` (their
webhooks still go, one per booking). A desk booked with a stay (``stay_id``) makes no
message of its own: the stay's confirmation lists its desks (``stay_desks``), and it is
sent when the stay is confirmed, with its desks confirmed and charged.

Times are Tokyo wall-clock times; money is the yen of the event (what a cancellation or
a no-show returned, what a change charged, returned or kept) and of the booking (its
frozen price, tax included). A change tells the booking as it is now and its old unit
and time as the event keeps them; the company's money of it is the employee's alone
(``Facts.private``: not kept in the operators' notices).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from accounts import events as ev
from accounts.events import Event
from availability.workspace import round_up
from billing.models import CreditEntry, EntryKind
from billing.workspace_ledger import FREE_CANCELLATION_HOURS, LATE_REFUND_PERCENT, workspace_terms
from booking.models import Booking
from booking.workspace_models import WorkspaceBooking, WorkspaceStatus
from core.db import TOKYO
from core.extensions import db
from facilities.models import Facility
from facilities.workspace import WorkspaceUnit
from notifications.catalog import EMPLOYEE, OPERATORS
from notifications.facts import Facts

# Booked and not given back: what the operators' daily summary lists.
BOOKED_TODAY = (WorkspaceStatus.CONFIRMED, WorkspaceStatus.CHECKED_IN)


def clock(moment: datetime, *, end: bool = False) -> str:
    """Tokyo wall-clock time, ``14:00``; a time ending at midnight is ``24:00``."""
    local = moment.astimezone(TOKYO)
    if end and local.time() == time(0):
        return "24:00"
    return f"{local:%H:%M}"


def tokyo_day(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()


@dataclass(frozen=True)
class DeskLine:
    """One workspace booking as a message shows it."""

    booking: WorkspaceBooking
    refund: int = 0  # what this event returned of it

    @property
    def unit(self) -> WorkspaceUnit:
        return self.booking.unit

    @property
    def facility(self) -> Facility:
        return self.booking.unit.facility

    @property
    def day(self) -> date:
        return tokyo_day(self.booking.starts_at)

    @property
    def starts(self) -> str:
        return clock(self.booking.starts_at)

    @property
    def ends(self) -> str:
        return clock(self.booking.ends_at, end=True)

    @property
    def price(self) -> int:
        return self.booking.total_price

    @property
    def free_until(self) -> datetime:
        return workspace_terms(self.booking.total_price, self.booking.starts_at).free_until

    @property
    def late_refund(self) -> int:
        """What cancelling returns from ``free_until`` until the start."""
        return workspace_terms(self.booking.total_price, self.booking.starts_at).late_refund

    @property
    def free_until_day(self) -> date:
        return tokyo_day(self.free_until)

    @property
    def free_until_time(self) -> str:
        return clock(self.free_until)


def stay_desks(stay_id: int) -> list[DeskLine]:
    """The desks booked with a stay and still held (for its confirmation), soonest first."""
    return [
        DeskLine(desk)
        for desk in db.session.scalars(
            select(WorkspaceBooking)
            .where(
                WorkspaceBooking.stay_id == stay_id,
                WorkspaceBooking.status.in_(BOOKED_TODAY),
            )
            .order_by(WorkspaceBooking.starts_at, WorkspaceBooking.id)
        )
    ]


def stay_desk_values(stay_id: int) -> dict:
    """What a stay's confirmation shows of its desks (``mail/workspace_stay_desks``)."""
    desks = stay_desks(stay_id)
    return {
        "desks": desks,
        "desks_total": sum(line.price for line in desks),
        "free_hours": FREE_CANCELLATION_HOURS,
        "late_percent": LATE_REFUND_PERCENT,
    }


@dataclass(frozen=True)
class OldTime:
    """Where and when a changed booking was before (``workspace.changed``)."""

    unit: WorkspaceUnit
    starts_at: datetime
    ends_at: datetime

    @property
    def day(self) -> date:
        return tokyo_day(self.starts_at)

    @property
    def starts(self) -> str:
        return clock(self.starts_at)

    @property
    def ends(self) -> str:
        return clock(self.ends_at, end=True)


# --- the group an event belongs to --------------------------------------------------------


def _group_key(event: Event):
    """What ties the event to others of the same action (None: it stands alone)."""
    data = event.facts
    if event.type == ev.WORKSPACE_BOOKED:
        return data.get("series")
    if event.type == ev.WORKSPACE_CANCELLED:
        return data.get("with_stay")
    return None


def _group(event: Event) -> list[Event]:
    """The events of the same action as ``event``, oldest first (just ``event`` alone)."""
    key = _group_key(event)
    if key is None:
        return [event]
    siblings = db.session.scalars(
        select(Event)
        .where(
            Event.type == event.type,
            Event.user_id == event.user_id,
            Event.operator_id == event.operator_id,
            Event.created_at == event.created_at,
            Event.subject_type == "workspace_booking",
        )
        .order_by(Event.id)
    )
    return [other for other in siblings if _group_key(other) == key]


def _theirs(booking: WorkspaceBooking, event: Event) -> bool:
    return (booking.company_id, booking.user_id, booking.unit.facility.operator_id) == (
        event.company_id,
        event.user_id,
        event.operator_id,
    )


def _lines(events: list[Event]) -> list[DeskLine]:
    lines = []
    for event in events:
        booking = db.session.get(WorkspaceBooking, event.subject_id) if event.subject_id else None
        if booking is not None and _theirs(booking, event):
            lines.append(DeskLine(booking, int(event.facts.get("refund") or 0)))
    return sorted(lines, key=lambda line: (line.booking.starts_at, line.booking.id))


def _charged(booking_ids: list[int]) -> int:
    """What the bookings were charged (nothing for desks of a stay that never was)."""
    spent = db.session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
            CreditEntry.workspace_booking_id.in_(booking_ids),
            CreditEntry.kind == EntryKind.SPEND,
        )
    )
    return -int(spent or 0)


def _workspace_facts(event: Event) -> Facts | None:
    """The event's booking and those of its group; None when its booking is gone or not
    the one the event was about."""
    booking = db.session.get(WorkspaceBooking, event.subject_id) if event.subject_id else None
    if booking is None or not _theirs(booking, event):
        return None
    group = _group(event)
    if group[0].id != event.id:
        # The first event of the group tells of all of it; this one says nothing more.
        return Facts(quiet=True)
    lines = _lines(group)
    first = lines[0]
    facility = first.facility
    refund = sum(line.refund for line in lines)
    stay = db.session.get(Booking, booking.stay_id) if booking.stay_id else None
    values = {
        "desks": lines,
        "desk": first,
        "facility": facility,
        "total": sum(line.price for line in lines),
        "refund": refund,
        "stay": stay,
        "free_hours": FREE_CANCELLATION_HOURS,
        "late_percent": LATE_REFUND_PERCENT,
    }
    params = {
        "booking": booking.id,
        "count": len(lines),
        "unit": first.unit.name,
        "facility": facility.name_ja,
        "facility_en": facility.name_en,
        "starts_at": first.booking.starts_at.isoformat(),
        "ends_at": first.booking.ends_at.isoformat(),
        "refund": refund,
    }
    single = ("booking.workspace_booking", {"booking_id": first.booking.id})
    pages = {
        EMPLOYEE: single if len(lines) == 1 else ("booking.workspace_bookings", {}),
        OPERATORS: ("operator.workspace_units", {"facility_id": facility.id}),
    }
    return Facts(values, params, pages)


def _booked(event: Event) -> Facts | None:
    facts = _workspace_facts(event)
    if facts is None or facts.quiet:
        return facts
    if facts.values["desk"].booking.stay_id is not None:
        facts.quiet = True  # the stay's confirmation lists its desks (``stay_desks``)
    return facts


def _cancelled(event: Event) -> Facts | None:
    facts = _workspace_facts(event)
    if facts is None or facts.quiet:
        return facts
    lines = facts.values["desks"]
    charged = _charged([line.booking.id for line in lines])
    with_stay = event.facts.get("with_stay")
    facts.values.update(
        charged=charged,
        kept=max(0, charged - facts.values["refund"]),
        with_stay=with_stay is not None,
    )
    if with_stay is not None:
        facts.params["with_stay"] = True
    return facts


def _no_show(event: Event) -> Facts | None:
    """Nobody checked in: the rest of its time was released from the next slot on."""
    facts = _workspace_facts(event)
    if facts is None or facts.quiet:
        return facts
    booking = facts.values["desk"].booking
    if booking.status != WorkspaceStatus.NO_SHOW or booking.released_at is None:
        return None  # not a no-show (any more): nothing to tell
    released_from = max(round_up(booking.released_at, booking.unit.slot_minutes), booking.starts_at)
    facts.values.update(
        released_from=clock(released_from, end=True),
        kept=max(0, booking.total_price - facts.values["refund"]),
    )
    facts.params["released_from"] = released_from.isoformat()
    return facts


# What a change did to the company's credit: the employee's news, not the operators'.
CHANGE_MONEY = ("price", "charged", "refunded", "kept")


def _changed(event: Event) -> Facts | None:
    """Moved to another time or unit of its facility: the old unit and time (the event's),
    the new (the booking's), the yen charged, returned or kept, and, while it is still
    booked, the cancellation terms of the new time."""
    facts = _workspace_facts(event)
    if facts is None or facts.quiet:
        return facts
    data = event.facts
    line = facts.values["desk"]
    booking = line.booking
    old_unit = (
        db.session.get(WorkspaceUnit, data["old_unit_id"]) if data.get("old_unit_id") else None
    )
    if old_unit is None or old_unit.facility_id != booking.unit.facility_id:
        old_unit = booking.unit  # gone since (or never the facility's): the unit it has
    old = OldTime(
        old_unit,
        datetime.fromisoformat(data["old_start"]),
        datetime.fromisoformat(data["old_end"]),
    )
    money = {name: int(data.get(name) or 0) for name in CHANGE_MONEY[1:]}
    facts.values.update(
        old=old,
        still_booked=booking.status == WorkspaceStatus.CONFIRMED,
        **money,
    )
    facts.params.update(
        old_unit=old.unit.name,
        old_starts_at=old.starts_at.isoformat(),
        old_ends_at=old.ends_at.isoformat(),
        price=booking.total_price,
        **money,
    )
    facts.private = CHANGE_MONEY + ("refund",)
    return facts


LOADERS = {
    ev.WORKSPACE_BOOKED: _booked,
    ev.WORKSPACE_CANCELLED: _cancelled,
    ev.WORKSPACE_CHANGED: _changed,
    ev.WORKSPACE_NO_SHOW: _no_show,
}


# --- the operators' daily summary ---------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=TOKYO)
    return start, start + timedelta(days=1)


def booked_today_query(day: date):
    """The workspace bookings starting on ``day`` (Tokyo) and still booked."""
    start, end = _day_bounds(day)
    return (
        select(WorkspaceBooking)
        .join(WorkspaceUnit, WorkspaceUnit.id == WorkspaceBooking.unit_id)
        .join(Facility, Facility.id == WorkspaceUnit.facility_id)
        .where(
            WorkspaceBooking.status.in_(BOOKED_TODAY),
            WorkspaceBooking.starts_at >= start,
            WorkspaceBooking.starts_at < end,
        )
    )


def operators_with_workspace(day: date) -> list[int]:
    """The operator organisations with a workspace booking on ``day``."""
    query = booked_today_query(day).with_only_columns(Facility.operator_id).distinct()
    return list(db.session.scalars(query))


def workspace_at_facilities(operator_id: int, day: date) -> dict[int, list[DeskLine]]:
    """Per facility of the organisation: its workspace bookings starting on ``day``, by
    time and unit; facilities with none left out."""
    bookings = db.session.scalars(
        booked_today_query(day)
        .where(Facility.operator_id == operator_id)
        .order_by(Facility.id, WorkspaceBooking.starts_at, WorkspaceUnit.name, WorkspaceBooking.id)
    )
    found: dict[int, list[DeskLine]] = {}
    for booking in bookings:
        found.setdefault(booking.unit.facility_id, []).append(DeskLine(booking))
    return found
