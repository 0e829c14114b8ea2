"""A waiting stay's hold on its nights: how it begins (``request_approval``), how its
nights are given back (``release_waiting``), and the ``expire_holds`` job that ends
every hold that ran out.

A stay that waits (``WAITING_STATUSES``: for its approver, then for the employee's card
payment of their part) holds its nights until ``Booking.hold_expires_at`` and is charged
nothing. If it is still waiting then, it becomes ``EXPIRED``: its nights go back (a
block that wanted them takes them), its approval is recorded as expired (nobody decided
in time) or its payment can no longer be made, and the employee is told. Nothing is
ever charged for it. No hold lasts past the end of the stay's check-in day in Japan
(``booking.copay.hold_cap``): a stay nobody approved or paid for by then expires, and
is never approved, paid for or charged afterwards.

The job and a decision on the same stay have one outcome: each locks the booking's row
and checks its state again under the lock. The job claims rows with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL (a stay being decided right now is left for the next run, when it
no longer waits); on SQLite a write transaction is ``BEGIN IMMEDIATE``, one at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from accounts import audit, events
from accounts.models import User
from availability.blocks import reconcile_unit
from availability.changes import nights_changed
from availability.models import Occupancy
from booking.announce import booking_parties
from booking.copay import close_payment, decision_cap, payment_hold_expired
from booking.models import (
    WAITING_STATUSES,
    ApprovalDecision,
    Booking,
    BookingStatus,
    StayApproval,
)
from booking.workspace_follow import desks_follow_ended
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.job_summary import N_, NOTHING, JobSummary, summary
from hr.approval import DEFAULT_APPROVAL_HOURS, approvers_of
from hr.policy import policy_for

BATCH = 100  # stays expired per transaction
MAX_BATCHES = 20  # per run; what is left waits for the next minute


def request_approval(
    booking: Booking, employee: User, reasons: tuple[str, ...], now: datetime
) -> StayApproval:
    """Make ``booking`` (just added, its nights claimed) wait for its approver, for the
    policy's ``approval_hours`` but never past ``booking.copay.decision_cap`` (the end of
    its check-in day in Japan, earlier by the shortest Checkout when the employee then
    pays a part: ``book_stay`` books no stay that cannot wait), and ask them
    (``approval.requested``)."""
    policy = policy_for(employee)
    hours = policy.approval_hours if policy is not None else DEFAULT_APPROVAL_HOURS
    expires_at = min(
        now + timedelta(hours=hours), decision_cap(booking.check_in, booking.employee_part)
    )
    who = approvers_of(employee)
    booking.status = BookingStatus.PENDING_APPROVAL
    booking.hold_expires_at = expires_at
    approval = StayApproval(
        booking_id=booking.id,
        reasons=",".join(reasons),
        approver_id=who.approver_id,
        deputy_id=who.deputy_id,
        requested_at=now,
        expires_at=expires_at,
        decision=ApprovalDecision.PENDING,
    )
    db.session.add(approval)
    db.session.flush()
    events.emit(
        events.APPROVAL_REQUESTED,
        now,
        **booking_parties(booking, employee.id),
        subject=("booking", booking.id),
        data={"reasons": list(reasons)},
    )
    return approval


def waited_for(booking: Booking) -> str:
    """What a waiting stay waits for, as events say it: "approval" or "payment"."""
    return "approval" if booking.status == BookingStatus.PENDING_APPROVAL else "payment"


def release_waiting(booking: Booking, status: BookingStatus, now: datetime) -> None:
    """End a waiting stay (locked by the caller) as ``status`` and give its nights back.

    Nothing was charged while it waited, so nothing is refunded: no ledger entry is
    written. A block that wanted the nights (an external calendar) takes them now."""
    db.session.execute(delete(Occupancy).where(Occupancy.booking_id == booking.id))
    booking.status = status
    booking.hold_expires_at = None
    db.session.flush()
    reconcile_unit(booking.unit_id, tokyo_today(now))
    nights_changed(booking.unit.facility_id, booking.check_in, booking.check_out)
    desks_follow_ended(booking, now, None)  # its desks were held, never charged


def approval_of(booking_id: int) -> StayApproval | None:
    """The stay's approval request, read afresh (its booking is locked by the caller)."""
    return db.session.get(StayApproval, booking_id, populate_existing=True)


def close_approval(
    booking_id: int, decision: ApprovalDecision, now: datetime, *, by: User | None = None
) -> StayApproval | None:
    """Record ``decision`` on the stay's pending approval (if it has one)."""
    approval = approval_of(booking_id)
    if approval is None or approval.decision != ApprovalDecision.PENDING:
        return None
    approval.decision = decision
    approval.decided_at = now
    approval.decided_by_id = by.id if by is not None else None
    return approval


def withdraw_waiting(booking: Booking, actor: User | None, now: datetime) -> str:
    """End a waiting stay (locked by the caller) before it was decided or paid: its
    pending approval is recorded as withdrawn by ``actor`` (the employee, the admin who
    deactivated them, or nobody), its unpaid payment abandoned, its nights given back,
    nothing charged. Returns what it waited for; the open Checkout, if any, is the
    payment's ``stripe_session_id``, for the edge to end after the commit."""
    what = waited_for(booking)
    close_approval(booking.id, ApprovalDecision.WITHDRAWN, now, by=actor)
    close_payment(booking)
    release_waiting(booking, BookingStatus.CANCELLED, now)
    booking.cancelled_at = now
    db.session.flush()
    events.emit(
        events.BOOKING_WITHDRAWN,
        now,
        **booking_parties(booking, actor.id if actor is not None else None),
        subject=("booking", booking.id),
        data={"waited_for": what},
    )
    return what


# --- the job ------------------------------------------------------------------------------


def _claim_due(now: datetime, after: int) -> list[Booking]:
    """Waiting stays whose hold ran out, after id ``after``, locked for this run (rows
    another transaction holds, a decision under way, are skipped)."""
    return list(
        db.session.scalars(
            select(Booking)
            .where(
                Booking.status.in_(WAITING_STATUSES),
                Booking.hold_expires_at <= now,
                Booking.id > after,
            )
            .order_by(Booking.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def expire_hold(booking: Booking, now: datetime) -> bool:
    """Expire one waiting stay locked by the caller, if it still waits and its hold ran
    out (checked again under the lock); whether it did."""
    if booking.status not in WAITING_STATUSES or booking.hold_expires_at is None:
        return False
    if booking.hold_expires_at > now:
        return False
    what = waited_for(booking)
    if what == "approval":
        close_approval(booking.id, ApprovalDecision.EXPIRED, now)
        # Approvals are audited: nobody decided in time (by the system).
        audit.record(
            "booking.approval_expired",
            now,
            object_type="booking",
            object_id=booking.id,
            company_id=booking.company_id,
            after={"employee_id": booking.user_id},
        )
    else:
        payment_hold_expired(booking, now)
    release_waiting(booking, BookingStatus.EXPIRED, now)
    events.emit(
        events.BOOKING_EXPIRED,
        now,
        **booking_parties(booking, None),
        subject=("booking", booking.id),
        data={"waited_for": what},
    )
    return True


def expire_holds(now: datetime) -> JobSummary:
    """The ``expire_holds`` job: every waiting stay whose hold ran out by ``now`` expires
    (see the module). Commits each batch; idempotent."""
    expired = 0
    after = 0
    for _batch in range(MAX_BATCHES):
        batch = _claim_due(now, after)
        if not batch:
            break
        for booking in batch:
            after = booking.id
            if expire_hold(booking, now):
                expired += 1
        db.session.commit()
    db.session.commit()  # ends the last (empty) claim's transaction
    if not expired:
        return NOTHING
    return summary(N_("%(n)d waiting stays expired and their nights released"), n=expired)


def holds_due() -> bool:
    """Whether any waiting stay's hold has run out (the job's ``has_work``)."""
    due = db.session.scalar(
        select(Booking.id)
        .where(Booking.status.in_(WAITING_STATUSES), Booking.hold_expires_at <= edge_now())
        .limit(1)
    )
    return due is not None
