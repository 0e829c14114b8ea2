"""What the booking package tells the rest of Engawa: whom an event about a stay
concerns, who acted (an event's ``by``), and which refused bookings are announced
(``booking.refused``). The events themselves are ``accounts.events``."""

from __future__ import annotations

from datetime import datetime

from accounts import events
from accounts.models import Role, User
from booking.models import Booking
from core.errors import RuleError


def booking_parties(booking: Booking, actor_id: int | None) -> dict[str, int | None]:
    """Whom an event about ``booking`` concerns: the employee's company, the facility's
    operator, the guest, and who acted (None: nobody, a rule or a job)."""
    return {
        "company_id": booking.company_id,
        "operator_id": booking.unit.facility.operator_id,
        "user_id": booking.user_id,
        "actor_id": actor_id,
    }


def announce_change(
    booking: Booking,
    actor: User,
    old_unit_id: int,
    old_range: tuple,
    charged: int,
    refunded: int,
    now: datetime,
) -> None:
    """``booking.changed``: a stay moved to other dates or another room (by the guest, or
    the operator), with where it was and what moved on the company's credit."""
    events.emit(
        events.BOOKING_CHANGED,
        now,
        **booking_parties(booking, actor.id),
        subject=("booking", booking.id),
        data={
            "old_check_in": old_range[0].isoformat(),
            "old_check_out": old_range[1].isoformat(),
            "old_unit_id": old_unit_id,
            "charged": charged,
            "refunded": refunded,
            "by": acted_by(actor, booking),
        },
    )


# The roles an event's ``by`` names; anybody else, or nobody, is the system.
ACTING_ROLES = (Role.EMPLOYEE, Role.COMPANY_ADMIN, Role.OPERATOR)


def acted_by(actor: User | None, booking: Booking) -> str:
    """Who changed a stay, as events say it (``by``): "employee" when it was the guest
    themself (a company admin cancelling their own stay too: the mail must not say
    "your company's admin"), else the actor's role, or "system" for nobody."""
    if actor is None:
        return "system"
    if actor.id == booking.user_id:
        return str(Role.EMPLOYEE)
    if actor.role in ACTING_ROLES:
        return str(actor.role)
    return "system"


# Refusals that say the company's policy or its credit stood in the employee's way,
# and the reason an event records for each (``booking.refused``). "Just taken", a moved
# price, bad dates or input, and a missing room are not refusals of this kind.
REFUSAL_REASONS = {
    "min_nights": "min_nights",  # the facility's shortest stay
    "max_nights": "max_nights",  # the facility's longest stay
    "capacity": "capacity",  # more guests than the room sleeps
    "policy_stay": "nights_per_stay",  # the company's nights per stay
    "policy_month": "monthly_cap",  # the company's nights per employee and month
    "company_inactive": "company_inactive",
    "subscription": "subscription",  # not paid, ended, overdue past the grace days
    "employee_cap": "monthly_allowance",  # the employee's yen per month
    "credit": "credit",  # the company's stay credit (and overage) is short
}


def record_refusal(actor: User, exc: RuleError, now: datetime) -> events.Event | None:
    """Record that the company's policy or credit refused the actor's booking, if it did.

    Called by the edge after the refused transaction rolled back (the event is all
    its own transaction holds); answers None for a refusal of another kind. The
    notifications count these per employee and day.
    """
    reason = REFUSAL_REASONS.get(exc.code)
    if reason is None or not actor.books_stays:
        return None
    return events.emit(
        events.BOOKING_REFUSED,
        now,
        company_id=actor.company_id,
        user_id=actor.id,
        actor_id=actor.id,
        data={"reason": reason},
    )
