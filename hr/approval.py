"""Which stays wait for approval, and who decides.

A policy (``hr.models.GroupPolicy``) asks for approval of every stay, of business
stays, of stays longer than N nights, of stays with a peak-season night
(``pricing.seasons.is_peak_night``: Golden Week, Obon, the New Year), or of stays the
employee pays part of (beyond the subsidy). Any rule met suffices; the stay records
each rule it met (``APPROVAL_REASONS`` codes).

Who decides: the policy's named approver, else the employee's manager, else (nobody
named) the company's admins. The policy's deputy decides instead while the approver is
away (``User.away_until``, that day included); a company admin may always decide, as
the last word of the company that set the rules. Nobody decides on their own stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select

from accounts.models import Role, User
from core.extensions import db
from hr.models import GroupPolicy, Purpose
from hr.policy import policy_for
from pricing.seasons import is_peak_night

DEFAULT_APPROVAL_HOURS = 48

# How a page names each rule a stay met.
REASON_LABELS = {
    "all": _l("Every stay needs approval"),
    "business": _l("Business workations need approval"),
    "long": _l("Longer stays need approval"),
    "peak": _l("Stays in peak season need approval"),
    "over_subsidy": _l("Stays beyond the subsidy need approval"),
}


def approval_reasons(
    policy: GroupPolicy | None, purpose: str, nights: Sequence[date], employee_part: int
) -> tuple[str, ...]:
    """The policy's rules a stay meets (empty: it needs no approval)."""
    if policy is None:
        return ()
    reasons = []
    if policy.approval_all:
        reasons.append("all")
    if policy.approval_business and purpose == Purpose.BUSINESS:
        reasons.append("business")
    if policy.approval_over_nights is not None and len(nights) > policy.approval_over_nights:
        reasons.append("long")
    if policy.approval_peak and any(is_peak_night(night) for night in nights):
        reasons.append("peak")
    if policy.approval_over_subsidy and employee_part > 0:
        reasons.append("over_subsidy")
    return tuple(reasons)


def stay_reasons(user: User, purpose: str, nights: Sequence[date], employee_part: int):
    return approval_reasons(policy_for(user), purpose, nights, employee_part)


@dataclass(frozen=True)
class Approvers:
    """Who decides on a stay of one employee (None: the company's admins)."""

    approver_id: int | None
    deputy_id: int | None


def approvers_of(user: User) -> Approvers:
    """The approver and deputy of ``user``'s stays, neither being ``user``."""
    policy = policy_for(user)
    approver = policy.approver_id if policy is not None else None
    if approver is None or approver == user.id:
        approver = user.manager_id
    if approver == user.id:
        approver = None
    deputy = policy.deputy_id if policy is not None else None
    if deputy == user.id or deputy == approver:
        deputy = None
    return Approvers(approver, deputy)


def is_away(user: User | None, today: date) -> bool:
    return user is not None and user.away_until is not None and today <= user.away_until


def may_decide(
    decider: User, employee: User, approver_id: int | None, deputy_id: int | None, today: date
) -> bool:
    """Whether ``decider`` may approve or reject a stay of ``employee`` that waits for
    ``approver_id`` (deputy ``deputy_id``)."""
    if decider.id == employee.id or decider.company_id != employee.company_id:
        return False
    if not decider.active:
        return False
    if decider.role == Role.COMPANY_ADMIN:
        return True
    if approver_id is not None and decider.id == approver_id:
        return True
    if deputy_id is not None and decider.id == deputy_id:
        approver = db.session.get(User, approver_id) if approver_id is not None else None
        return approver is None or not approver.active or is_away(approver, today)
    return False


def approves_anyone(user: User) -> bool:
    """Whether ``user`` may have stays to decide: a company admin, someone's manager, or a
    policy's named approver or deputy (the menu shows them the approvals page)."""
    if user.company_id is None:
        return False
    if user.role == Role.COMPANY_ADMIN:
        return True
    manages = select(User.id).where(User.manager_id == user.id, User.company_id == user.company_id)
    named = select(GroupPolicy.id).where(
        GroupPolicy.company_id == user.company_id,
        or_(GroupPolicy.approver_id == user.id, GroupPolicy.deputy_id == user.id),
    )
    return bool(db.session.scalar(select(exists(manages) | exists(named))))
