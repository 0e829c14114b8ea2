"""A stay that waits for its approver: asked for at booking, then approved, rejected,
withdrawn by the employee or expired, exactly once.

While it waits the stay holds its nights (``BookingStatus.PENDING_APPROVAL``) and
nothing is charged. Who decides, and on which rules: ``hr.approval`` (the named
approver or the manager; the deputy while the approver is away or inactive; any
company admin; never the employee). The hold and its expiry: ``booking.holds``.

- ``approve``: the stay then waits for the employee's card payment of their part
  (``booking.copay``), or is confirmed and its company part charged at once
  (``booking.services.confirm_stay``; a company whose credit no longer covers it
  refuses the approval, and the stay keeps waiting).
- ``reject``: its nights go back; nothing is charged.
- ``withdraw``: the employee cancels a stay still waiting; nothing is charged.

A decision is taken only while the stay's hold runs: never after the end of its
check-in day in Japan (the hold is capped there, ``booking.copay.hold_cap``; earlier
for a stay the employee then pays a part of, so that their payment still fits in), so
a stay is never approved, nor charged, for nights already begun or over.

Each decision locks the booking's row and checks its state again under the lock, so a
decision racing the ``expire_holds`` job (or another decider) has one outcome. Both
decisions are recorded in the audit log (``booking.approved``, ``booking.rejected``) and
tell the employee (``accounts.events``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from accounts import audit, events
from accounts.models import Role, User
from booking.announce import booking_parties
from booking.copay import APPROVED_PAYMENT_HOLD, await_payment
from booking.holds import (  # noqa: F401  (request_approval: booking.services' import)
    approval_of,
    release_waiting,
    request_approval,
    waited_for,
    withdraw_waiting,
)
from booking.lookups import booking_of
from booking.models import (
    WAITING_STATUSES,
    ApprovalDecision,
    Booking,
    BookingStatus,
    StayApproval,
)
from booking.services import confirm_stay
from core.db import TOKYO, in_id_range, tokyo_today
from core.errors import RuleError
from core.extensions import db
from facilities.models import Unit
from hr.approval import is_away, may_decide

MAX_COMMENT = 1000  # StayApproval.comment
# The approver's page lists the decisions of this many days back, at most this many.
RECENT_DAYS = 30
RECENT_ROWS = 20
# How far ahead an approver may say they are away.
MAX_AWAY_DAYS = 366


class ApprovalError(RuleError):
    """An approval, a rejection or a withdrawal refused."""


def _not_found() -> ApprovalError:
    return ApprovalError(_l("No such stay waiting for your approval."), "not_found")


def clean_comment(comment: str | None) -> str:
    """The comment as stored: trimmed, at most ``MAX_COMMENT`` characters."""
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise ApprovalError(
            _l("A comment is at most %(num)d characters.", num=MAX_COMMENT), "comment_too_long"
        )
    return text


def _locked(booking_id: int) -> Booking | None:
    """The booking row locked for a decision, read as of the lock."""
    if not in_id_range(booking_id):
        return None
    return db.session.scalar(
        select(Booking)
        .where(Booking.id == booking_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def may_see(user: User, approval: StayApproval, today: date) -> bool:
    """Whether ``user`` may read this request: whoever may decide it now, and whoever
    decided it or was named to."""
    booking = approval.booking
    if user.company_id is None or user.company_id != booking.company_id:
        return False
    if user.id == booking.user_id:
        return False
    if may_decide(user, booking.user, approval.approver_id, approval.deputy_id, today):
        return True
    return user.id in (approval.decided_by_id, approval.approver_id)


def _decidable(decider: User, booking_id: int, now: datetime) -> tuple[Booking, StayApproval]:
    """The stay ``decider`` decides on, locked; refused unless it waits for an approval
    whose hold has not run out. Another company's stay, or one the decider may not
    decide, is not found."""
    booking = _locked(booking_id)
    if booking is None or decider.company_id is None or booking.company_id != decider.company_id:
        raise _not_found()
    approval = approval_of(booking.id)
    if approval is None or not may_decide(
        decider, booking.user, approval.approver_id, approval.deputy_id, tokyo_today(now)
    ):
        raise _not_found()
    ran_out = booking.hold_expires_at is not None and booking.hold_expires_at <= now
    if booking.status == BookingStatus.EXPIRED or (
        booking.status == BookingStatus.PENDING_APPROVAL and ran_out
    ):
        raise ApprovalError(
            _l(
                "This stay waited too long: its nights were released, so it can no longer be"
                " approved or rejected."
            ),
            "expired",
        )
    if booking.status != BookingStatus.PENDING_APPROVAL or approval.decision != (
        ApprovalDecision.PENDING
    ):
        raise ApprovalError(
            _l("This stay is no longer waiting for approval: it was decided or withdrawn."),
            "not_pending",
        )
    return booking, approval


def _decide(
    approval: StayApproval, decision: ApprovalDecision, decider: User, comment: str, now: datetime
) -> None:
    approval.decision = decision
    approval.decided_by_id = decider.id
    approval.decided_at = now
    approval.comment = comment


def _audit(action: str, booking: Booking, decider: User, comment: str, now: datetime) -> None:
    audit.record(
        action,
        now,
        actor=decider,
        object_type="booking",
        object_id=booking.id,
        company_id=booking.company_id,
        after={"employee_id": booking.user_id} | ({"comment": comment} if comment else {}),
    )


def approve(
    decider: User, booking_id: int, comment: str | None, now: datetime, grace_days: int
) -> Booking:
    """Approve a stay waiting for ``decider``'s decision (see the module), before its
    hold runs out. The stay then waits for the employee's payment of their part (its
    hold ``APPROVED_PAYMENT_HOLD``, never past its check-in day), or is confirmed and
    charged; a refusal of the charge (``BillingRefused``) leaves the caller to roll
    back, and the stay keeps waiting."""
    text = clean_comment(comment)
    booking, approval = _decidable(decider, booking_id, now)
    _decide(approval, ApprovalDecision.APPROVED, decider, text, now)
    if booking.employee_part > 0:
        await_payment(booking, now, hold=APPROVED_PAYMENT_HOLD)
        next_step = "payment"
    else:
        confirm_stay(booking, booking.user, now, grace_days)
        next_step = "confirmed"
    _audit("booking.approved", booking, decider, text, now)
    events.emit(
        events.BOOKING_APPROVED,
        now,
        **booking_parties(booking, decider.id),
        subject=("booking", booking.id),
        data={"next": next_step},
    )
    db.session.flush()
    return booking


def reject(decider: User, booking_id: int, comment: str | None, now: datetime) -> Booking:
    """Reject a stay waiting for ``decider``'s decision: its nights go back at once and
    nothing is charged. A comment is welcome, not required."""
    text = clean_comment(comment)
    booking, approval = _decidable(decider, booking_id, now)
    _decide(approval, ApprovalDecision.REJECTED, decider, text, now)
    release_waiting(booking, BookingStatus.REJECTED, now)
    _audit("booking.rejected", booking, decider, text, now)
    events.emit(
        events.BOOKING_REJECTED,
        now,
        **booking_parties(booking, decider.id),
        subject=("booking", booking.id),
    )
    return booking


def withdraw(employee: User, booking_id: int, now: datetime) -> Booking:
    """The employee cancels their own stay while it still waits (for approval or for
    their payment): its nights go back and nothing is charged (the request is recorded
    as withdrawn). Somebody else's stay is not found (``BookingNotFound``)."""
    booking = booking_of(employee, booking_id, lock=True)
    if booking.status not in WAITING_STATUSES:
        raise ApprovalError(
            _l("This stay is no longer waiting, so it cannot be withdrawn."), "not_waiting"
        )
    withdraw_waiting(booking, employee, now)
    return booking


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalQueue:
    """What an approver's page lists: the stays waiting for their decision (soonest to
    run out first) and the decisions of the last ``RECENT_DAYS`` days (newest first)."""

    waiting: list[StayApproval] = field(default_factory=list)
    decided: list[StayApproval] = field(default_factory=list)


def _requests_of(user: User):
    """Requests of ``user``'s company they could be asked to decide (not their own)."""
    query = (
        select(StayApproval)
        .join(Booking, Booking.id == StayApproval.booking_id)
        .where(Booking.company_id == user.company_id, Booking.user_id != user.id)
        .options(
            joinedload(StayApproval.booking).joinedload(Booking.user),
            joinedload(StayApproval.booking).joinedload(Booking.unit).joinedload(Unit.facility),
            joinedload(StayApproval.approver),
            joinedload(StayApproval.decided_by),
        )
    )
    return query


def approval_queue(user: User, today: date) -> ApprovalQueue:
    """The stays waiting that ``user`` may decide (as approver; as deputy while the
    approver is away or inactive; every one of the company for a company admin), and
    the recent decisions of those they could decide or did."""
    if not user.books_stays or user.company_id is None or not user.active:
        return ApprovalQueue()
    admin = user.role == Role.COMPANY_ADMIN
    query = _requests_of(user)
    named = or_(StayApproval.approver_id == user.id, StayApproval.deputy_id == user.id)
    pending = query.where(
        StayApproval.decision == ApprovalDecision.PENDING,
        Booking.status == BookingStatus.PENDING_APPROVAL,
    )
    if not admin:
        pending = pending.where(named)
    waiting = [
        a
        for a in db.session.scalars(pending.order_by(StayApproval.expires_at, Booking.id))
        if may_decide(user, a.booking.user, a.approver_id, a.deputy_id, today)
    ]
    since = datetime.combine(today - timedelta(days=RECENT_DAYS), time.min, tzinfo=TOKYO)
    decided = query.where(
        StayApproval.decision != ApprovalDecision.PENDING, StayApproval.decided_at >= since
    )
    if not admin:
        decided = decided.where(or_(named, StayApproval.decided_by_id == user.id))
    recent = db.session.scalars(
        decided.order_by(StayApproval.decided_at.desc(), Booking.id.desc()).limit(RECENT_ROWS)
    ).all()
    return ApprovalQueue(waiting, list(recent))


def waiting_count(user: User, today: date) -> int:
    """How many stays wait for ``user``'s decision (a menu's badge)."""
    return len(approval_queue(user, today).waiting)


def request_for(user: User, booking_id: int, today: date) -> StayApproval:
    """A stay's request as ``user`` may read it (``may_see``); else not found."""
    if user.company_id is None or not in_id_range(booking_id):
        raise _not_found()
    approval = db.session.scalar(_requests_of(user).where(StayApproval.booking_id == booking_id))
    if approval is None or not may_see(user, approval, today):
        raise _not_found()
    return approval


def request_of(booking_id: int) -> StayApproval | None:
    """A stay's approval request, if it has one (for its own employee's page)."""
    return db.session.get(StayApproval, booking_id)


def may_decide_now(user: User, approval: StayApproval, now: datetime) -> bool:
    """Whether the page offers ``user`` the buttons: the stay still waits, its hold has
    not run out, and they may decide it."""
    booking = approval.booking
    return (
        approval.decision == ApprovalDecision.PENDING
        and booking.status == BookingStatus.PENDING_APPROVAL
        and booking.hold_expires_at is not None
        and now < booking.hold_expires_at
        and may_decide(
            user, booking.user, approval.approver_id, approval.deputy_id, tokyo_today(now)
        )
    )


def approver_away(approval: StayApproval, today: date) -> bool:
    """The stay's named approver is away today (their deputy may decide)."""
    return is_away(approval.approver, today)


# --- away ---------------------------------------------------------------------------------


def set_away(user: User, until: date | None, now: datetime) -> None:
    """``user`` is away through ``until`` (None: not away): meanwhile their deputy decides
    on the stays waiting for them. Audited (``user.away``)."""
    today = tokyo_today(now)
    if until is not None and until < today:
        raise ApprovalError(_l("The last day away cannot be in the past."), "away_past")
    if until is not None and until > today + timedelta(days=MAX_AWAY_DAYS):
        raise ApprovalError(
            _l("You can be away for at most %(num)d days ahead.", num=MAX_AWAY_DAYS), "away_far"
        )
    before = user.away_until
    if before == until:
        return
    user.away_until = until
    audit.record(
        "user.away",
        now,
        actor=user,
        object_type="user",
        object_id=user.id,
        company_id=user.company_id,
        before={"away_until": before},
        after={"away_until": until},
    )
    db.session.flush()
