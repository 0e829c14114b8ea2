"""What one event's messages say: its subject rows and facts, read when it is dispatched.

An event carries ids and the facts that will not be true later (``accounts.events``);
``load_facts`` reads the rest (the booking, its room and facility, the feed, the
invoice…) once per event, for every kind and recipient it makes. The answer holds:

- ``values``: what the mail templates show (``templates/mail/<kind>``);
- ``params``: what a notice under the bell keeps (the list in ``notifications.notices``:
  ids, names of facilities and rooms, ISO dates, yen; never a person's name);
- ``pages``: for each audience, the page the message opens (an endpoint and its values).

None means there is nothing left to tell: the subject row is gone, or no longer
belongs to the event's organisations and person (a deleted row's id may be used again,
on SQLite), or (the operators' daily summary) the day has no arrivals or departures
any more, nor workspace booked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Company, OperatorOrg, User
from billing.models import CreditEntry, EntryKind, Invoice
from booking.models import Booking, BookingStatus, StayApproval
from booking.stay_options import register_missing
from booking.terms import stay_terms
from calendars.models import CalendarConflict, CalendarFeed
from core.dates import stay_nights
from core.db import TOKYO, tokyo_today
from core.extensions import db
from facilities.models import Facility, Unit
from hr.approval import REASON_LABELS
from identity.models import Application
from notifications.catalog import (
    APPROVERS,
    COMPANY_ADMINS,
    EMPLOYEE,
    OPERATORS,
    PLATFORM_ADMINS,
)
from notifications.facts import REGION_LOADERS, Facts, Page
from notifications.workspace_context import (
    LOADERS as WORKSPACE_LOADERS,
)
from notifications.workspace_context import (
    DeskLine,
    stay_desk_values,
    workspace_at_facilities,
)


def load_facts(event: Event) -> Facts | None:
    """The facts of ``event``'s messages; None when there is nothing left to tell."""
    loader = LOADERS.get(event.type)
    if loader is None:
        return None
    facts = loader(event)
    if facts is None:
        return None
    # Whose organisation a footer names ("an operator of …", "a company admin of …").
    if event.operator_id is not None:
        org = db.session.get(OperatorOrg, event.operator_id)
        facts.values.setdefault("operator_name", org.name if org else "")
    if event.company_id is not None:
        company = db.session.get(Company, event.company_id)
        facts.values.setdefault("company_name", company.name if company else "")
    facts.values["event"] = event
    facts.values["data"] = event.facts
    return facts


# --- stays --------------------------------------------------------------------------------


def _booking_facts(event: Event) -> Facts | None:
    booking = db.session.get(Booking, event.subject_id) if event.subject_id else None
    if booking is None:
        return None
    unit = booking.unit
    facility = unit.facility
    if (booking.company_id, booking.user_id, facility.operator_id) != (
        event.company_id,
        event.user_id,
        event.operator_id,
    ):
        return None  # not the stay the event was about
    values = {
        "booking": booking,
        "unit": unit,
        "facility": facility,
        "guest": booking.user,
    }
    params = {
        "booking": booking.id,
        "facility": facility.name_ja,
        "facility_en": facility.name_en,
        "check_in": booking.check_in.isoformat(),
        "check_out": booking.check_out.isoformat(),
    }
    pages = {
        EMPLOYEE: ("booking.stay", {"booking_id": booking.id}),
        OPERATORS: ("operator.facility", {"facility_id": facility.id}),
    }
    return Facts(values, params, pages)


def _created(event: Event) -> Facts | None:
    facts = _booking_facts(event)
    if facts is None:
        return None
    booking = facts.values["booking"]
    # The terms as they stood when the stay was booked (the day the mail tells of).
    facts.values["terms"] = stay_terms(
        booking.check_in, tokyo_today(event.created_at), tokyo_today(booking.created_at)
    )
    _ask_for_register(facts, event)
    # A desk booked with the stay sends no mail of its own: the confirmation lists them.
    facts.values.update(stay_desk_values(booking.id))
    return facts


def _ask_for_register(facts: Facts, event: Event) -> None:
    """What the stay's guest register still lacks when the mail is written ([] when
    complete; None when the stay needs none: an office, a stay no longer booked): the
    confirmation and the reminder ask for it with a link to the register's page."""
    facts.values["register_missing"] = register_missing(
        facts.values["booking"], tokyo_today(event.created_at)
    )


def _tax_moved_with(event: Event) -> int:
    """What the stay's accommodation tax entries written with ``event`` moved (the same
    transaction gives them its time): given back (+) or charged (−). A change's event
    does not carry it (``booking.announce.announce_change``); the ledger does."""
    return sum(
        db.session.scalars(
            select(CreditEntry.amount).where(
                CreditEntry.booking_id == event.subject_id,
                CreditEntry.kind == EntryKind.ACCOMMODATION_TAX,
                CreditEntry.created_at == event.created_at,
            )
        )
    )


def _changed(event: Event) -> Facts | None:
    facts = _booking_facts(event)
    if facts is None:
        return None
    data = event.facts
    old_unit = db.session.get(Unit, data.get("old_unit_id")) if data.get("old_unit_id") else None
    facts.values.update(
        old_unit=old_unit or facts.values["unit"],
        old_check_in=date.fromisoformat(data["old_check_in"]),
        old_check_out=date.fromisoformat(data["old_check_out"]),
        # What the change moved of the accommodation tax: charged (+) or returned (−).
        tax_difference=-_tax_moved_with(event),
    )
    return facts


def _no_show(event: Event) -> Facts | None:
    """The guest never came: which nights were given back and what the stay cost (kept)."""
    facts = _booking_facts(event)
    if facts is None or facts.values["booking"].status != BookingStatus.NO_SHOW:
        return None  # not a no-show (any more): nothing to tell
    booking = facts.values["booking"]
    raw = event.facts.get("released_from")
    released_from = date.fromisoformat(raw) if raw else None
    facts.values.update(
        released_from=released_from,
        given_back=stay_nights(released_from, booking.check_out) if released_from else [],
    )
    facts.pages[COMPANY_ADMINS] = ("company.usage", {})
    return facts


def _confirmed_stay(event: Event) -> Facts | None:
    """A reminder or a thank-you: only for a stay still held (booked, in the house or
    checked out; not cancelled or a no-show)."""
    facts = _booking_facts(event)
    if facts is None or not facts.values["booking"].is_live:
        return None  # cancelled since the job saw it: nothing to tell
    _ask_for_register(facts, event)
    return facts


# --- approvals ----------------------------------------------------------------------------


def _approval_facts(event: Event) -> Facts | None:
    """A stay's approval: the request (why, who decides, until when) and its decision
    (the comment), with the approver's page (where the decision is made, signed in)."""
    facts = _booking_facts(event)
    approval = db.session.get(StayApproval, event.subject_id) if event.subject_id else None
    if facts is None or approval is None:
        return None
    reasons = [code for code in approval.reasons.split(",") if code]
    facts.values.update(
        approval=approval,
        employee=facts.values["booking"].user,
        reason_labels=[REASON_LABELS.get(code, code) for code in reasons],
    )
    facts.pages[APPROVERS] = ("approvals.decide", {"booking_id": approval.booking_id})
    return facts


def _approval_requested(event: Event) -> Facts | None:
    """Only while the stay still waits for a decision: one decided (or withdrawn, or
    expired) before the dispatcher came needs nobody's approval."""
    facts = _approval_facts(event)
    if facts is None or facts.values["booking"].status != BookingStatus.PENDING_APPROVAL:
        return None
    return facts


def _expired(event: Event) -> Facts | None:
    """The stay's hold ran out: what it waited for (an approval, the employee's payment)."""
    facts = _booking_facts(event)
    if facts is None:
        return None
    facts.values["waited_for"] = event.facts.get("waited_for", "approval")
    facts.values["refund"] = event.facts.get("refund", 0)  # paid by card, given back
    return facts


# --- calendars ----------------------------------------------------------------------------


def _conflict(event: Event) -> Facts | None:
    conflict = db.session.get(CalendarConflict, event.subject_id) if event.subject_id else None
    if conflict is None:
        return None
    unit = conflict.unit
    facility = unit.facility
    if facility.operator_id != event.operator_id:
        return None  # not the conflict the event was about
    nights = [conflict.first_night + timedelta(days=i) for i in range(conflict.nights)]
    # Over a booking or over a direct stay (then ``booking`` is None): the mail names
    # the booking's number, or says it is a direct stay; never the guest's name.
    values = {
        "conflict": conflict,
        "unit": unit,
        "facility": facility,
        "feed": conflict.feed,
        "booking": conflict.booking,
        "direct_stay": conflict.direct_stay,
        "nights": nights,
    }
    params = {
        "unit": unit.name,
        "facility": facility.name_ja,
        "facility_en": facility.name_en,
        "first_night": conflict.first_night.isoformat(),
        "nights": conflict.nights,
    }
    if conflict.is_direct:
        params["direct_stay"] = True
    return Facts(values, params, {OPERATORS: ("operator.calendar_sync", {})})


def _feed_failing(event: Event) -> Facts | None:
    feed = db.session.get(CalendarFeed, event.subject_id) if event.subject_id else None
    if feed is None:
        return None
    unit = feed.unit
    facility = unit.facility
    if facility.operator_id != event.operator_id:
        return None  # not the feed the event was about
    since = datetime.fromisoformat(event.facts["since"])
    values = {"feed": feed, "unit": unit, "facility": facility, "since": since}
    params = {
        "feed": feed.label,
        "unit": unit.name,
        "facility": facility.name_ja,
        "facility_en": facility.name_en,
        "since": since.isoformat(),
    }
    return Facts(values, params, {OPERATORS: ("operator.calendar_sync", {})})


# --- the operators' daily summary ---------------------------------------------------------


@dataclass
class FacilityDay:
    """One facility's day at the front desk, for the operators' summary."""

    facility: Facility
    arrivals: list[Booking] = field(default_factory=list)
    departures: list[Booking] = field(default_factory=list)
    # Its desks, booths and meeting rooms booked for the day (issue 19), by time.
    workspace: list[DeskLine] = field(default_factory=list)

    @property
    def has_stays(self) -> bool:
        return bool(self.arrivals or self.departures)

    @property
    def rooms_to_clean(self) -> list[str]:
        """The rooms guests leave today, each once."""
        return list(dict.fromkeys(b.unit.name for b in self.departures))


def _leaves_on(booking: Booking, day: date) -> bool:
    """The guest leaves (or left) on ``day``: a checked-out guest on the Japan date
    they checked out (an early leaver too), anyone else when the nights held end."""
    if booking.status == BookingStatus.CHECKED_OUT and booking.checked_out_at is not None:
        return tokyo_today(booking.checked_out_at) == day
    return booking.held_until == day


def day_at_facilities(operator_id: int, day: date) -> list[FacilityDay]:
    """Per facility of the organisation: stays arriving on ``day`` (that hold its
    night) and leaving on it (an early leaver on the day they left, not on the date
    booked), facilities with neither left out; no-shows and cancelled stays are in
    neither. The operator console's "today" page reads the same from
    ``consoles.operator.operations``, which this layer may not import."""
    day_start = datetime.combine(day, time.min, tzinfo=TOKYO)
    held_until = func.coalesce(Booking.released_on, Booking.check_out)
    bookings = db.session.scalars(
        select(Booking)
        .join(Unit, Unit.id == Booking.unit_id)
        .join(Facility, Facility.id == Unit.facility_id)
        .where(
            Facility.operator_id == operator_id,
            Booking.is_live,
            Booking.check_in <= day,
            or_(
                held_until == day,
                Booking.check_in == day,
                and_(
                    Booking.checked_out_at >= day_start,
                    Booking.checked_out_at < day_start + timedelta(days=1),
                ),
            ),
        )
        .order_by(Facility.id, Unit.name, Booking.id)
    ).all()
    days: dict[int, FacilityDay] = {}
    for booking in bookings:
        if _leaves_on(booking, day):
            kind = "departures"
        elif booking.check_in == day and day < booking.held_until:
            kind = "arrivals"
        else:
            continue  # it left earlier (or arrived and left another day)
        facility = booking.unit.facility
        getattr(days.setdefault(facility.id, FacilityDay(facility)), kind).append(booking)
    return list(days.values())


def _digest(event: Event) -> Facts | None:
    if event.operator_id is None:
        return None
    day = date.fromisoformat(event.facts["day"])
    facilities = day_at_facilities(event.operator_id, day)
    _add_workspace(facilities, event.operator_id, day)
    if not facilities:
        return None  # every movement of the day was cancelled since: nothing to send
    values = {
        "day": day,
        "facilities": facilities,
        "has_stays": any(f.has_stays for f in facilities),
        "has_workspace": any(f.workspace for f in facilities),
    }
    return Facts(values, {"day": day.isoformat()}, {OPERATORS: ("operator.dashboard", {})})


def _add_workspace(facilities: list[FacilityDay], operator_id: int, day: date) -> None:
    """Each facility's workspace bookings of the day, a facility with only those added."""
    by_id = {f.facility.id: f for f in facilities}
    for facility_id, lines in workspace_at_facilities(operator_id, day).items():
        if facility_id not in by_id:
            by_id[facility_id] = FacilityDay(lines[0].facility)
            facilities.append(by_id[facility_id])
        by_id[facility_id].workspace = lines
    facilities.sort(key=lambda f: f.facility.id)


# --- the company's money and seats --------------------------------------------------------

BILLING_PAGE: Page = ("company.billing", {})


def _invoice(event: Event) -> Facts | None:
    invoice = db.session.get(Invoice, event.subject_id) if event.subject_id else None
    if invoice is None or invoice.company_id != event.company_id:
        return None
    values = {
        "invoice": invoice,
        "paid_automatically": invoice.collection_method == "charge_automatically"
        and invoice.status == "paid",
    }
    params = {"number": invoice.number or "", "total": invoice.total}
    return Facts(values, params, {COMPANY_ADMINS: BILLING_PAGE})


def _payment_failed(event: Event) -> Facts | None:
    grace_until = datetime.fromisoformat(event.facts["grace_until"])
    values = {"grace_until": grace_until}
    params = {"grace_until": grace_until.isoformat()}
    return Facts(values, params, {COMPANY_ADMINS: BILLING_PAGE})


def _seats_full(event: Event) -> Facts | None:
    return Facts({}, {}, {COMPANY_ADMINS: BILLING_PAGE})


def _credit_low(event: Event) -> Facts | None:
    data = event.facts
    values = {"balance": int(data["balance"]), "grant": int(data["grant"])}
    return Facts(values, dict(values), {COMPANY_ADMINS: BILLING_PAGE})


def _refusals(event: Event) -> Facts | None:
    employee = db.session.get(User, event.user_id) if event.user_id else None
    if employee is None:
        return None
    data = event.facts
    values = {"employee": employee, "count": int(data["count"])}
    values["day"] = date.fromisoformat(data["day"])
    params = {"count": values["count"]}
    return Facts(values, params, {COMPANY_ADMINS: ("members.employees", {})})


# --- the Engawa team ----------------------------------------------------------------------


def _application(event: Event) -> Facts | None:
    application = db.session.get(Application, event.subject_id) if event.subject_id else None
    if application is None:
        return None
    values = {"application": application}
    params = {"name": application.org_name, "kind": application.kind}
    page = ("admin_applications.detail", {"application_id": application.id})
    return Facts(values, params, {PLATFORM_ADMINS: page})


LOADERS: dict[str, Callable[[Event], Facts | None]] = {
    ev.BOOKING_CREATED: _created,
    ev.BOOKING_CANCELLED: _booking_facts,
    ev.BOOKING_CHANGED: _changed,
    ev.BOOKING_NO_SHOW: _no_show,
    ev.STAY_REMINDER: _confirmed_stay,
    ev.STAY_THANKS: _confirmed_stay,
    ev.CALENDAR_CONFLICT: _conflict,
    ev.FEED_FAILING: _feed_failing,
    ev.OPERATOR_DIGEST: _digest,
    ev.INVOICE_ISSUED: _invoice,
    ev.PAYMENT_FAILED: _payment_failed,
    ev.SEATS_FULL: _seats_full,
    ev.CREDIT_LOW: _credit_low,
    ev.REFUSALS_MANY: _refusals,
    ev.APPLICATION_SUBMITTED: _application,
    ev.APPROVAL_REQUESTED: _approval_requested,
    ev.BOOKING_APPROVED: _approval_facts,
    ev.BOOKING_REJECTED: _approval_facts,
    ev.BOOKING_EXPIRED: _expired,
    **WORKSPACE_LOADERS,
    **REGION_LOADERS,
}
