"""Who receives a kind of notification of one event: its audience, as people.

- the employee (``EMPLOYEE``): the event's ``user_id``, the guest of the stay, whatever
  the state of their account: a stay cancelled because the account was closed is
  news for them too;
- the operators (``OPERATORS``): active, unlocked operator users of the event's
  ``operator_id``;
- the company admins (``COMPANY_ADMINS``): active, unlocked company admins of the
  event's ``company_id``;
- the Engawa team (``PLATFORM_ADMINS``): active, unlocked platform admins;
- whoever decides on a stay waiting for approval (``APPROVERS``): its approver
  (``booking.models.StayApproval``), else, while the approver is away
  (``User.away_until``, as of the event's Japan day) or cannot be reached, its deputy,
  else (nobody named, or neither reachable) the company's admins; never the employee
  whose stay it is.

An event without the organisation its audience needs has nobody to tell.
"""

from __future__ import annotations

from sqlalchemy import select

from accounts.events import Event
from accounts.models import Role, User
from booking.models import StayApproval
from core.db import tokyo_today
from core.extensions import db
from hr.approval import is_away
from notifications.catalog import (
    APPROVERS,
    COMPANY_ADMINS,
    EMPLOYEE,
    OPERATORS,
    PLATFORM_ADMINS,
    Kind,
)


def recipients(kind: Kind, event: Event) -> list[User]:
    """The people ``kind`` of ``event`` goes to, in a stable order (by id)."""
    if kind.audience == EMPLOYEE:
        user = db.session.get(User, event.user_id) if event.user_id is not None else None
        return [user] if user is not None else []
    if kind.audience == OPERATORS:
        if event.operator_id is None:
            return []
        return _reachable(Role.OPERATOR, User.operator_id == event.operator_id)
    if kind.audience == COMPANY_ADMINS:
        if event.company_id is None:
            return []
        return _reachable(Role.COMPANY_ADMIN, User.company_id == event.company_id)
    if kind.audience == PLATFORM_ADMINS:
        return _reachable(Role.PLATFORM_ADMIN)
    if kind.audience == APPROVERS:
        return _approvers(event)
    raise ValueError(f"unknown audience {kind.audience!r}")


def _reachable(role: Role, *where) -> list[User]:
    """Active, unlocked people of ``role`` (and ``where``)."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role == role, User.active.is_(True), User.locked_at.is_(None), *where)
            .order_by(User.id)
        )
    )


def _approvers(event: Event) -> list[User]:
    """Who is asked to decide on the stay the event is about (see the module)."""
    approval = db.session.get(StayApproval, event.subject_id) if event.subject_id else None
    if approval is None or event.company_id is None:
        return []
    today = tokyo_today(event.created_at)
    for person_id in (approval.approver_id, approval.deputy_id):
        person = db.session.get(User, person_id) if person_id is not None else None
        if _can_be_asked(person, event) and not is_away(person, today):
            return [person]
    return [
        admin
        for admin in _reachable(Role.COMPANY_ADMIN, User.company_id == event.company_id)
        if admin.id != event.user_id
    ]


def _can_be_asked(person: User | None, event: Event) -> bool:
    return (
        person is not None
        and person.active
        and person.locked_at is None
        and person.company_id == event.company_id
        and person.id != event.user_id
    )
