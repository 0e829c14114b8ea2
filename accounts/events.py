"""Domain events: what happened that someone should hear of.

A lower layer never imports the one that tells people (``notifications``, above every
package that has news). It leaves an ``Event`` row in the same transaction as the
change (``emit``), so an event exists exactly when the thing it announces does. The
notifications package reads the rows after the commit and turns each into mail, in-app
notices and webhook deliveries (``notifications.dispatch``), once: an event is claimed
and marked dispatched in one transaction.

An event carries ids and the few facts that will not be true later (what a
cancellation refunded, the dates a stay had before a change); everything else is read
when it is dispatched. It carries no names or addresses.

``dedupe_key`` makes an event happen at most once however often its source runs: the
reminder of one stay, the incident of one feed, the invoice of one period.

The types, and what ``data`` holds for each:

- ``booking.created``: {} (the booking is ``subject_id``)
- ``booking.cancelled``: {"refund": yen, "fee": yen, "by": "employee" | "company_admin"
  | "operator" | "system", "tax_refund": yen (the accommodation tax given back; only
  when more than 0)}
- ``booking.changed``: {"old_check_in", "old_check_out" (ISO dates), "old_unit_id",
  "charged": yen, "refunded": yen, "by": role}
- ``booking.checked_in``, ``booking.checked_out``: {} (the front desk; the stay's
  history, nobody is mailed); an early check-out carries {"tax_refund": yen} when the
  tax of the nights not stayed was given back
- ``booking.no_show``: {"released_from": ISO date or null, "tax_refund": yen when more
  than 0} (the guest never came; the nights from that date on were given back, the
  price is not refunded, the accommodation tax is, in full)
- ``booking.refused``: {"reason": short code} (emitted after the refused transaction
  rolled back; counted per employee and day)
- ``stay.reminder`` and ``stay.thanks``: {} (jobs; deduped per booking)
- ``calendar.conflict``: {} (the conflict is ``subject_id``)
- ``feed.failing``: {"since": ISO instant of the last success or of the feed's creation}
- ``operator.digest``: {"day": ISO date} (one per organisation and Japan day)
- ``invoice.issued``: {} (the invoice is ``subject_id``)
- ``payment.failed``: {"grace_until": ISO instant}
- ``seats.full``: {} (someone could not join: one per company and day)
- ``credit.low``: {"balance": yen, "grant": yen}
- ``refusals.many``: {"count": n, "day": ISO date} (made by the dispatcher from
  ``booking.refused``; ``user_id`` is the employee)
- ``application.submitted``: {"kind": "company" | "operator"} (the application is
  ``subject_id``)
- ``approval.requested``: {"reasons": [the policy's rule codes, hr.models.APPROVAL_REASONS]}
  (a stay waits for its approver; the booking is ``subject_id``, ``user_id`` the
  employee; who decides is read from the stay's ``StayApproval`` when dispatched)
- ``booking.approved``: {"next": "confirmed" | "payment"} (the approver said yes; the
  stay is confirmed, or waits for the employee's card payment of their part;
  ``actor_id`` is who decided, the comment is the ``StayApproval``'s)
- ``booking.rejected``: {} (the approver said no: its nights were released, nothing
  was charged; the comment is the ``StayApproval``'s)
- ``booking.expired``: {"waited_for": "approval" | "payment"} (the stay's hold ran out
  before it was approved or paid: its nights were released, nothing was charged)
- ``booking.withdrawn``: {"waited_for": "approval" | "payment"} (the employee cancelled
  a stay that was still waiting: its nights were released, nothing was charged; the
  stay's history, nobody is mailed)
- ``workspace.booked``: {"series": key or null} (a desk, booth or meeting room for a
  time; the workspace booking is ``subject_id``, ``user_id`` the employee)
- ``workspace.cancelled``: {"refund": yen} (cancelled before its start, or with the stay
  it belonged to)
- ``workspace.changed``: {"old_unit_id", "old_start", "old_end" (ISO instants),
  "charged": yen, "refunded": yen, "kept": yen} (the employee moved the booking to
  another time or unit of the facility, at least 24 hours before its start: the
  difference charged or returned in full, so "kept" is always 0)
- ``workspace.no_show``: {"refund": yen} (nobody checked in in time: the rest of its
  time was released)
- ``programme.joined``, ``programme.waitlisted``, ``programme.promoted`` (a freed place
  went to the first on the waitlist), ``programme.left``, ``programme.cancelled`` (the
  organiser cancelled the session; one event per sign-up), ``programme.message`` (the
  organiser wrote to the session's participants; one event per sign-up): subject
  ``("programme_signup", id)``, user_id the employee, company_id theirs, operator_id the
  organiser; data {"programme_id", "session_id", "title_ja", "title_en", "starts_at",
  "ends_at" (ISO instants), "participants", "fee": yen, "refund": yen, "reason",
  "message_id"} as each applies
- ``coupons.issued``: {"booking_id", "count", "amount": yen each, "total": yen,
  "municipality_code", "valid_from", "valid_until"} (a stay's local coupons)
- ``match.requested`` (per operator organisation that may answer), ``match.proposed``
  (to the company), ``match.accepted`` (to the proposing organisation): subject
  ``("match_request", id)``; data {"title", "proposal_id"} as each applies
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import ForeignKey, Index, String, Text, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from core import metrics
from core.db import UTCDateTime
from core.extensions import db

BOOKING_CREATED = "booking.created"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_CHANGED = "booking.changed"
BOOKING_REFUSED = "booking.refused"
BOOKING_CHECKED_IN = "booking.checked_in"
BOOKING_CHECKED_OUT = "booking.checked_out"
BOOKING_NO_SHOW = "booking.no_show"
STAY_REMINDER = "stay.reminder"
STAY_THANKS = "stay.thanks"
CALENDAR_CONFLICT = "calendar.conflict"
FEED_FAILING = "feed.failing"
OPERATOR_DIGEST = "operator.digest"
INVOICE_ISSUED = "invoice.issued"
PAYMENT_FAILED = "payment.failed"
SEATS_FULL = "seats.full"
CREDIT_LOW = "credit.low"
REFUSALS_MANY = "refusals.many"
APPLICATION_SUBMITTED = "application.submitted"
APPROVAL_REQUESTED = "approval.requested"
BOOKING_APPROVED = "booking.approved"
BOOKING_REJECTED = "booking.rejected"
BOOKING_EXPIRED = "booking.expired"
BOOKING_WITHDRAWN = "booking.withdrawn"
WORKSPACE_BOOKED = "workspace.booked"
WORKSPACE_CANCELLED = "workspace.cancelled"
WORKSPACE_CHANGED = "workspace.changed"
WORKSPACE_NO_SHOW = "workspace.no_show"
PROGRAMME_JOINED = "programme.joined"
PROGRAMME_WAITLISTED = "programme.waitlisted"
PROGRAMME_PROMOTED = "programme.promoted"
PROGRAMME_LEFT = "programme.left"
PROGRAMME_CANCELLED = "programme.cancelled"
PROGRAMME_MESSAGE = "programme.message"
COUPONS_ISSUED = "coupons.issued"
MATCH_REQUESTED = "match.requested"
MATCH_PROPOSED = "match.proposed"
MATCH_ACCEPTED = "match.accepted"

EVENT_TYPES = (
    BOOKING_CREATED,
    BOOKING_CANCELLED,
    BOOKING_CHANGED,
    BOOKING_REFUSED,
    BOOKING_CHECKED_IN,
    BOOKING_CHECKED_OUT,
    BOOKING_NO_SHOW,
    STAY_REMINDER,
    STAY_THANKS,
    CALENDAR_CONFLICT,
    FEED_FAILING,
    OPERATOR_DIGEST,
    INVOICE_ISSUED,
    PAYMENT_FAILED,
    SEATS_FULL,
    CREDIT_LOW,
    REFUSALS_MANY,
    APPLICATION_SUBMITTED,
    APPROVAL_REQUESTED,
    BOOKING_APPROVED,
    BOOKING_REJECTED,
    BOOKING_EXPIRED,
    BOOKING_WITHDRAWN,
    WORKSPACE_BOOKED,
    WORKSPACE_CANCELLED,
    WORKSPACE_CHANGED,
    WORKSPACE_NO_SHOW,
    PROGRAMME_JOINED,
    PROGRAMME_WAITLISTED,
    PROGRAMME_PROMOTED,
    PROGRAMME_LEFT,
    PROGRAMME_CANCELLED,
    PROGRAMME_MESSAGE,
    COUPONS_ISSUED,
    MATCH_REQUESTED,
    MATCH_PROPOSED,
    MATCH_ACCEPTED,
)


class Event(db.Model):
    __tablename__ = "domain_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The organisations the event belongs to (whose people and systems hear of it).
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"), index=True)
    # The person it is about (the employee of a stay), and who caused it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # What it is about: "booking", "conflict", "feed", "invoice", "application", ….
    subject_type: Mapped[str | None] = mapped_column(String(20))
    subject_id: Mapped[int | None]
    # A JSON object of the facts that will not be true later (see the module's list).
    data: Mapped[str] = mapped_column(Text, default="{}")
    # At most one event per key (unique; None: no limit).
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # Turned into mail, notices and webhook deliveries (notifications.dispatch).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The dispatcher's queue: the undispatched, oldest first.
        Index("ix_domain_event_dispatched_id", "dispatched_at", "id"),
        # "Refused more than 3 times today": an employee's refusals by day.
        Index("ix_domain_event_user_type_created", "user_id", "type", "created_at"),
    )

    @property
    def facts(self) -> dict[str, Any]:
        return json.loads(self.data or "{}")


def emit(
    type_: str,
    now: datetime,
    *,
    company_id: int | None = None,
    operator_id: int | None = None,
    user_id: int | None = None,
    actor_id: int | None = None,
    subject: tuple[str, int] | None = None,
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Event | None:
    """Record that ``type_`` happened, in the caller's transaction (flushes only).

    With ``dedupe_key``, an event already recorded under the key makes this a no-op
    that answers None (the insert runs in a savepoint, so a race between two
    processes leaves one event and the caller's transaction intact).
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    if dedupe_key is not None and db.session.scalar(
        select(Event.id).where(Event.dedupe_key == dedupe_key)
    ):
        return None
    event = Event(
        type=type_,
        created_at=now,
        company_id=company_id,
        operator_id=operator_id,
        user_id=user_id,
        actor_id=actor_id,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        data=json.dumps(data or {}, sort_keys=True, default=str),
        dedupe_key=dedupe_key,
    )
    if dedupe_key is None:
        db.session.add(event)
        db.session.flush()
        _count_once_committed(type_)
        return event
    try:
        with db.session.begin_nested():
            db.session.add(event)
    except IntegrityError:
        return None
    return event


# --- Counted once committed (core.metrics) -------------------------------------------

# The events counted as metrics, each once its transaction commits: a booking rolled
# back (a refusal after the event, a failed commit) was never made.
COUNTED: dict[str, Counter] = {
    BOOKING_CREATED: metrics.BOOKINGS_CREATED,
    BOOKING_CANCELLED: metrics.BOOKINGS_CANCELLED,
}
_PENDING = "engawa.events.counted"


def _count_once_committed(type_: str) -> None:
    if type_ in COUNTED:
        session = db.session()
        within = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(_PENDING, []).append((within, type_))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its events count when the whole transaction does
    root = session.get_transaction()
    for within, type_ in session.info.pop(_PENDING, ()):
        if _inside(within, root):  # not left over from a transaction closed unfinished
            COUNTED[type_].inc()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """Drop what the rolled-back transaction (or savepoint) and those inside it emitted."""
    pending = session.info.get(_PENDING)
    if pending:
        pending[:] = [(t, type_) for t, type_ in pending if not _inside(t, previous)]


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False
