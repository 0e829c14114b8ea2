"""A stay that waits for its approver: asked for at booking, then approved, rejected or
expired, exactly once.

While it waits the stay holds its nights (``BookingStatus.PENDING_APPROVAL``) and
nothing is charged. Who decides, and on which rules: ``hr.approval``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from accounts.models import User
from booking.models import ApprovalDecision, Booking, BookingStatus, StayApproval
from core.extensions import db
from hr.approval import DEFAULT_APPROVAL_HOURS, approvers_of
from hr.policy import policy_for

APPROVAL_REQUESTED = "approval.requested"


def request_approval(booking: Booking, employee: User, reasons: tuple[str, ...], now: datetime):
    """Make ``booking`` (just added, its nights claimed) wait for its approver."""
    policy = policy_for(employee)
    hours = policy.approval_hours if policy is not None else DEFAULT_APPROVAL_HOURS
    expires_at = now + timedelta(hours=hours)
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
    return approval
