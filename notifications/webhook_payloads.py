"""The JSON body of a webhook delivery.

Every body has the same envelope, built once when the delivery is queued and sent as
the same bytes on every attempt::

    {"id": "evt_123", "type": "booking.created", "created": "2026-12-01T03:00:00Z",
     "data": {"object": {"object": "booking", "id": 42, ...}}}

``id`` is the event's public id: a receiver that gets the same id twice (a retry whose
first answer was lost) has already handled it. ``data.object`` is the thing the event
is about as it stood when the event was dispatched, with only what the receiving
organisation already sees in its console: a company is told its own employee's name
and address, an operator the guest's name and company; neither gets the other's
money or settings. A stay's purpose goes to both (a business workation's guest may
need a desk), its working days only to the company (its own HR data). A workspace
booking (a desk, booth or meeting room for a time) reads like a stay: the guest's and
company's names to the operator, and the stay it was booked with only when that stay is
at the operator's facilities too. An object that
is not the event's organisation's (an id that SQLite gave again to another
organisation's row after the first was deleted) is never described: that event gets
no body, and no delivery. docs/WEBHOOKS.md shows a body of every type.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from accounts import events as ev
from accounts.events import Event
from accounts.models import Company
from billing.models import Invoice, Subscription
from booking.models import Booking, StayApproval
from booking.workspace_models import WorkspaceBooking
from calendars.models import CalendarConflict, CalendarFeed
from core.extensions import db
from facilities.models import Facility, Unit

# Who a body is written for: the same event reads differently to each organisation.
COMPANY = "company"
OPERATOR = "operator"

TEST_TYPE = "webhook.test"  # the "Send test event" button's


def public_id(event: Event) -> str:
    return f"evt_{event.id}"


def instant(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z: ``2026-12-01T03:00:00Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def envelope(public_id_: str, type_: str, created: datetime, obj: dict[str, Any]) -> str:
    body = {"id": public_id_, "type": type_, "created": instant(created), "data": {"object": obj}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def event_body(event: Event, audience: str) -> str | None:
    """The body of ``event`` for a company's (``COMPANY``) or an operator's endpoint;
    None when the thing it is about belongs to another organisation (nothing is sent)."""
    obj = event_object(event, audience)
    if obj is None:
        return None
    return envelope(public_id(event), event.type, event.created_at, obj)


def test_body(public_id_: str, endpoint_id: int, now: datetime) -> str:
    """The body of a test event: the endpoint it was sent to, nothing else."""
    obj = {
        "object": "webhook_endpoint",
        "id": endpoint_id,
        "message": "This is a test event sent from Engawa. It needs no action.",
    }
    return envelope(public_id_, TEST_TYPE, now, obj)


# Events whose object is a booking; the approval ones go to the company only.
_APPROVAL_TYPES = (
    ev.APPROVAL_REQUESTED,
    ev.BOOKING_APPROVED,
    ev.BOOKING_REJECTED,
    ev.BOOKING_EXPIRED,
    ev.BOOKING_WITHDRAWN,
)
_BOOKING_TYPES = (ev.BOOKING_CREATED, ev.BOOKING_CANCELLED, ev.BOOKING_CHANGED, *_APPROVAL_TYPES)
_WORKSPACE_TYPES = (
    ev.WORKSPACE_BOOKED,
    ev.WORKSPACE_CANCELLED,
    ev.WORKSPACE_CHANGED,
    ev.WORKSPACE_NO_SHOW,
)


def _subject(event: Event, model):
    return db.session.get(model, event.subject_id) if event.subject_id else None


def _booking_is_theirs(booking: Booking, event: Event) -> bool:
    return (
        booking.company_id == event.company_id
        and booking.unit.facility.operator_id == event.operator_id
    )


def event_object(event: Event, audience: str) -> dict[str, Any] | None:
    """``data.object`` of ``event``; only the id when the thing is gone; None when the row
    of that id belongs to another organisation than the event's (the id was reused)."""
    facts = event.facts
    if event.type in _BOOKING_TYPES:
        booking = _subject(event, Booking)
        if booking is None:
            return {"object": "booking", "id": event.subject_id}
        if not _booking_is_theirs(booking, event):
            return None
        return _booking(booking, event.type, facts, audience)
    if event.type == ev.CALENDAR_CONFLICT:
        conflict = _subject(event, CalendarConflict)
        if conflict is None:
            return {"object": "calendar_conflict", "id": event.subject_id}
        if conflict.unit.facility.operator_id != event.operator_id:
            return None
        return _conflict(conflict)
    if event.type == ev.FEED_FAILING:
        feed = _subject(event, CalendarFeed)
        if feed is None:
            return {
                "object": "calendar_feed",
                "id": event.subject_id,
                "failing_since": facts.get("since"),
            }
        if feed.unit.facility.operator_id != event.operator_id:
            return None
        return _feed(feed, facts)
    if event.type == ev.INVOICE_ISSUED:
        invoice = _subject(event, Invoice)
        if invoice is None:
            return {"object": "invoice", "id": event.subject_id}
        if invoice.company_id != event.company_id:
            return None
        return _invoice(invoice)
    if event.type == ev.PAYMENT_FAILED:
        return _payment_failed(event, facts)
    if event.type in _WORKSPACE_TYPES:
        booking = _subject(event, WorkspaceBooking)
        if booking is None:
            return {"object": "workspace_booking", "id": event.subject_id}
        if not _workspace_is_theirs(booking, event):
            return None
        return _workspace(booking, event, facts, audience)
    return {"object": event.subject_type, "id": event.subject_id}


def _facility(facility: Facility) -> dict[str, Any]:
    return {"id": facility.id, "name_ja": facility.name_ja, "name_en": facility.name_en}


def _unit(unit: Unit) -> dict[str, Any]:
    return {"id": unit.id, "name": unit.name}


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _booking(booking: Booking, type_: str, facts: dict, audience: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "object": "booking",
        "id": booking.id,
        "status": booking.status,
        "facility": _facility(booking.unit.facility),
        "unit": _unit(booking.unit),
        "check_in": _day(booking.check_in),
        "check_out": _day(booking.check_out),
        "nights": booking.night_count,
        "guests": booking.guests,
        "total_yen": booking.total_price,
        "purpose": booking.purpose,
    }
    guest = booking.user
    if audience == COMPANY:  # the company's own employee: as on its Employees page
        obj["employee"] = {"id": guest.id, "email": guest.email, "name": guest.name}
        # The days a business workation works, as its stays export lists them.
        obj["working_days"] = sorted(row.day.isoformat() for row in booking.work_days)
        # Who pays what: the stay credit (the company's part) and the employee's card.
        obj["company_part_yen"] = booking.company_part
        obj["employee_part_yen"] = booking.employee_part
        obj["companions"] = {
            "adults": booking.companion_adults,
            "children": booking.companion_children,
            "infants": booking.companion_infants,
        }
    else:  # as on the operator's arrivals page
        company = db.session.get(Company, booking.company_id)
        obj["guest"] = {"name": guest.name}
        obj["company"] = {"name": company.name if company else None}
    if type_ == ev.BOOKING_CANCELLED:
        obj["refund_yen"] = facts.get("refund")
        obj["fee_yen"] = facts.get("fee")
        obj["by"] = facts.get("by")
        if audience == COMPANY:  # a co-paid stay: what returns to the employee's card
            obj["employee_refund_yen"] = facts.get("employee_refund", 0)
    elif type_ == ev.BOOKING_CHANGED:
        obj["previous"] = {
            "check_in": facts.get("old_check_in"),
            "check_out": facts.get("old_check_out"),
            "unit_id": facts.get("old_unit_id"),
        }
        obj["charged_yen"] = facts.get("charged")
        obj["refunded_yen"] = facts.get("refunded")
        obj["by"] = facts.get("by")
    elif type_ in _APPROVAL_TYPES and audience == COMPANY:  # the company's own HR matter
        obj["approval"] = _approval(booking, type_, facts)
        if type_ in (ev.BOOKING_EXPIRED, ev.BOOKING_WITHDRAWN):
            obj["waited_for"] = facts.get("waited_for")  # "approval", "payment" or "credit"
    return obj


def _approval(booking: Booking, type_: str, facts: dict) -> dict[str, Any] | None:
    """Where the stay stands with its approval (None for a stay that needed none: one
    that waited only for the employee's payment)."""
    approval = db.session.get(StayApproval, booking.id)
    if approval is None:
        return None
    out = {
        "reasons": approval.reasons.split(",") if approval.reasons else [],
        "decision": approval.decision,
        "requested_at": instant(approval.requested_at),
        "expires_at": instant(approval.expires_at),
        "decided_at": instant(approval.decided_at),
        "approver_id": approval.approver_id,
        "decided_by_id": approval.decided_by_id,
        "comment": approval.comment or None,
    }
    if type_ == ev.BOOKING_APPROVED:
        out["next"] = facts.get("next")  # "payment" (the employee's part) or "confirmed"
    return out


def _workspace_is_theirs(booking: WorkspaceBooking, event: Event) -> bool:
    return (
        booking.company_id == event.company_id
        and booking.unit.facility.operator_id == event.operator_id
    )


def _workspace(
    booking: WorkspaceBooking, event: Event, facts: dict, audience: str
) -> dict[str, Any]:
    """A desk, booth or meeting room for a time (issue 19): the same people as a stay's
    body (the company: its employee; the operator: the guest's and company's names), and
    the stay it was booked with only to whom that stay is theirs too."""
    unit = booking.unit
    obj: dict[str, Any] = {
        "object": "workspace_booking",
        "id": booking.id,
        "status": booking.status,
        "facility": _facility(unit.facility),
        "unit": {"id": unit.id, "name": unit.name, "kind": unit.kind},
        "starts_at": instant(booking.starts_at),
        "ends_at": instant(booking.ends_at),
        "minutes": booking.minutes,
        "total_yen": booking.total_price,
        "series": booking.series_key,
        "stay_id": None,
    }
    stay = db.session.get(Booking, booking.stay_id) if booking.stay_id else None
    if stay is not None and (
        audience == COMPANY or stay.unit.facility.operator_id == event.operator_id
    ):
        obj["stay_id"] = stay.id
    guest = booking.user
    if audience == COMPANY:
        obj["employee"] = {"id": guest.id, "email": guest.email, "name": guest.name}
    else:
        company = db.session.get(Company, booking.company_id)
        obj["guest"] = {"name": guest.name}
        obj["company"] = {"name": company.name if company else None}
    if event.type == ev.WORKSPACE_CANCELLED:
        obj["refund_yen"] = facts.get("refund")
        obj["with_stay"] = facts.get("with_stay") is not None
    elif event.type == ev.WORKSPACE_NO_SHOW:
        obj["refund_yen"] = facts.get("refund")
        obj["released_at"] = instant(booking.released_at)
    elif event.type == ev.WORKSPACE_CHANGED:  # where and when it was before
        obj["previous"] = {
            "unit_id": facts.get("old_unit_id"),
            "starts_at": _instant_of(facts.get("old_start")),
            "ends_at": _instant_of(facts.get("old_end")),
        }
    return obj


def _instant_of(value: str | None) -> str | None:
    """An event's ISO instant as the bodies write instants (UTC with a Z)."""
    return instant(datetime.fromisoformat(value)) if value else None


def _conflict(conflict: CalendarConflict) -> dict[str, Any]:
    """Over a booking (``booking_id``) or a direct stay (``direct_stay_id``), the other
    null; no guest's name either way (a direct stay's is the operator's own)."""
    return {
        "object": "calendar_conflict",
        "id": conflict.id,
        "booking_id": conflict.booking_id,
        "direct_stay_id": conflict.direct_stay_id,
        "facility": _facility(conflict.unit.facility),
        "unit": _unit(conflict.unit),
        "first_night": _day(conflict.first_night),
        "nights": conflict.nights,
        "feed": {"id": conflict.feed_id, "label": conflict.feed.label},
    }


def _feed(feed: CalendarFeed, facts: dict) -> dict[str, Any]:
    return {
        "object": "calendar_feed",
        "id": feed.id,
        "label": feed.label,
        "facility": _facility(feed.unit.facility),
        "unit": _unit(feed.unit),
        "failing_since": facts.get("since"),
        # The short reason the operator's calendar page shows ("HTTP 404", "timed out…").
        "last_error": feed.last_error,
    }


def _invoice(invoice: Invoice) -> dict[str, Any]:
    return {
        "object": "invoice",
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "total_yen": invoice.total,
        "amount_due_yen": invoice.amount_due,
        "due_date": instant(invoice.due_date),
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }


def _payment_failed(event: Event, facts: dict) -> dict[str, Any] | None:
    subscription = None
    if event.subject_type == "subscription" and event.subject_id:
        subscription = db.session.get(Subscription, event.subject_id)
        if subscription is not None and subscription.company_id != event.company_id:
            return None
    if subscription is None and event.company_id is not None:
        subscription = db.session.scalar(
            select(Subscription)
            .where(Subscription.company_id == event.company_id)
            .order_by(Subscription.id.desc())
            .limit(1)
        )
    return {
        "object": "subscription",
        "id": subscription.id if subscription else None,
        "status": subscription.status if subscription else None,
        "grace_until": facts.get("grace_until"),
    }
