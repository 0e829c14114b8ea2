"""Employees' HR facts: employee number, department, group and manager, set for one
person by a company admin (``people_import`` sets them for many at once from a CSV
file, through the rules here).

Rules:

- Only the company's own people (its employees and company admins) have facts here;
  another company's person is not found (``HrNotFound``, a 404 for the views).
- Values are stripped; an empty value clears the fact. An employee number and a group
  are at most 40 characters, a department 100; control characters are refused.
- An employee number is unique within the company (the database says so too:
  ``uq_user_company_employee_number``).
- A manager is an active person of the same company, never the person themself, and
  never someone below them: the chain of managers has no loop.
- Each change is one audit entry naming the facts that changed, with ids only (never
  a number, department or group: the log is read more widely than the facts).

HR changes take the company's row lock first (as ``identity.members`` and SCIM do),
so two admins cannot make a loop of managers between them. Services flush; the
caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.membership import MemberNotFound
from accounts.models import COMPANY_ROLES, Company, User
from core.db import get_by_id, in_id_range
from core.errors import RuleError
from core.extensions import db
from core.input_guard import NAME_REFUSED

MAX_EMPLOYEE_NUMBER = 40
MAX_DEPARTMENT = 100
MAX_GROUP = 40
# A chain of managers longer than this is refused rather than walked further.
MAX_MANAGER_CHAIN = 100
# The facts on ``User`` this module sets, in the order the audit log names them.
FACTS = ("employee_number", "department", "employee_group", "manager_id")

_TOO_LONG = {
    "employee_number": _l("An employee number is at most %(n)d characters.", n=MAX_EMPLOYEE_NUMBER),
    "department": _l("A department is at most %(n)d characters.", n=MAX_DEPARTMENT),
    "employee_group": _l("A group is at most %(n)d characters.", n=MAX_GROUP),
}
_LIMITS = {
    "employee_number": MAX_EMPLOYEE_NUMBER,
    "department": MAX_DEPARTMENT,
    "employee_group": MAX_GROUP,
}


class HrError(RuleError):
    """An HR rule refused the change; ``field`` names the form field it is about
    (``employee_number``, ``department``, ``employee_group``, ``manager_id``,
    ``purposes``, ``file``) or is None."""

    def __init__(self, message, code: str | None = None, field: str | None = None):
        super().__init__(message, code)
        self.field = field


class HrNotFound(HrError, MemberNotFound):
    """No such person or group policy in this company (another company's is not found
    either); a ``MemberNotFound`` too, so the member pages' 404 handling applies."""

    code = "not_found"


@dataclass(frozen=True)
class Facts:
    """One person's HR facts as they are to be (``FACTS``, values already checked)."""

    employee_number: str | None
    department: str | None
    employee_group: str | None
    manager_id: int | None

    @classmethod
    def of(cls, user: User) -> Facts:
        return cls(*(getattr(user, name) for name in FACTS))

    def changed_from(self, user: User) -> list[str]:
        return [name for name in FACTS if getattr(self, name) != getattr(user, name)]

    def apply_to(self, user: User) -> None:
        for name in FACTS:
            setattr(user, name, getattr(self, name))


# --- values ---------------------------------------------------------------------------


def clean_text(value: str | None, field: str) -> str | None:
    """``value`` stripped, None when empty; refused when longer than ``field`` allows
    (``employee_number``, ``department``, ``employee_group``) or holding a control
    character (a tab or a line break included: these are one-line values)."""
    text = (value or "").strip()
    if not text:
        return None
    if NAME_REFUSED.search(text):
        raise HrError(
            _l("Remove the control characters (such as tabs or line breaks) from this value."),
            "invalid_characters",
            field,
        )
    if len(text) > _LIMITS[field]:
        raise HrError(_TOO_LONG[field], "too_long", field)
    return text


def number_taken() -> HrError:
    """The refusal of an employee number someone else of the company holds."""
    return HrError(
        _l("This employee number belongs to someone else in your company."),
        "employee_number_taken",
        "employee_number",
    )


def _manager_unknown() -> HrError:
    return HrError(
        _l("Choose a manager among your company's active people."),
        "manager_unknown",
        "manager_id",
    )


def manager_self() -> HrError:
    """The refusal of a person as their own manager."""
    return HrError(_l("A person cannot be their own manager."), "manager_self", "manager_id")


def _manager_cycle() -> HrError:
    return HrError(
        _l("This manager reports to this person already (directly or through others)."),
        "manager_cycle",
        "manager_id",
    )


# --- one person -------------------------------------------------------------------------


def lock_company(company_id: int) -> None:
    """Take the company's row lock, which every HR change takes first."""
    db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update())


def _member(company_id: int, user_id: int) -> User:
    """An employee or company admin of this company, row-locked; anyone else is not found."""
    user = (
        db.session.scalar(
            select(User)
            .where(
                User.id == user_id,
                User.company_id == company_id,
                User.role.in_(COMPANY_ROLES),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if in_id_range(user_id)
        else None
    )
    if user is None:
        raise HrNotFound(_l("No such employee."))
    return user


def _check_manager(company_id: int, user_id: int, manager_id: int) -> None:
    """``manager_id`` may manage ``user_id``: an active person of the company, not them,
    and not below them (walked up the chain, at most ``MAX_MANAGER_CHAIN`` steps)."""
    if manager_id == user_id:
        raise manager_self()
    manager = (
        db.session.scalar(
            select(User).where(
                User.id == manager_id,
                User.company_id == company_id,
                User.role.in_(COMPANY_ROLES),
                User.active,
            )
        )
        if in_id_range(manager_id)
        else None
    )
    if manager is None:
        raise _manager_unknown()
    above: int | None = manager.manager_id
    for _step in range(MAX_MANAGER_CHAIN):
        if above is None:
            return
        if above == user_id:
            raise _manager_cycle()
        above = db.session.scalar(
            select(User.manager_id).where(User.id == above, User.company_id == company_id)
        )
    raise HrError(
        _l("This manager's chain of managers is too long."), "manager_chain", "manager_id"
    )


def _number_holder(company_id: int, number: str, other_than: int) -> int | None:
    """Who else of the company holds ``number``."""
    return db.session.scalar(
        select(User.id).where(
            User.company_id == company_id,
            User.employee_number == number,
            User.id != other_than,
        )
    )


def flush_facts() -> None:
    """Flush the facts; a number taken by a concurrent change is the friendly error."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise number_taken() from None


def record_change(
    action: str,
    now: datetime,
    actor_id: int | None,
    actor_kind: str | None,
    *,
    object_type: str,
    object_id: int | None,
    company_id: int,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """One audit entry of an HR change, filed under the company; the person who acted
    by id, or ``actor_kind`` (scim, cli; system when neither is given)."""
    audit.record(
        action,
        now,
        actor=get_by_id(User, actor_id) if actor_id is not None else None,
        actor_kind=actor_kind,
        object_type=object_type,
        object_id=object_id,
        company_id=company_id,
        before=before,
        after=after,
    )


def set_hr_facts(
    company_id: int,
    user_id: int,
    *,
    employee_number: str | None,
    department: str | None,
    employee_group: str | None,
    manager_id: int | None,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> User:
    """Set every HR fact of one person of the company (None or "" clears one).

    A manager is checked only when it changes (a person keeps a manager who has since
    left until someone chooses another). Recorded as ``hr.facts`` with the names of
    the facts that changed and the manager's ids; nothing when nothing changed.
    ``actor_kind``: ``accounts.audit.ACTOR_SCIM`` or ``ACTOR_CLI`` when no person acts.
    Raises ``HrNotFound`` or ``HrError``."""
    facts = Facts(
        employee_number=clean_text(employee_number, "employee_number"),
        department=clean_text(department, "department"),
        employee_group=clean_text(employee_group, "employee_group"),
        manager_id=manager_id,
    )
    lock_company(company_id)
    user = _member(company_id, user_id)
    if manager_id is not None and manager_id != user.manager_id:
        _check_manager(company_id, user.id, manager_id)
    number = facts.employee_number
    if (
        number is not None
        and number != user.employee_number
        and _number_holder(company_id, number, user.id) is not None
    ):
        raise number_taken()
    changed = facts.changed_from(user)
    if not changed:
        return user
    before_manager = user.manager_id
    facts.apply_to(user)
    flush_facts()
    before, after = {}, {"facts": changed}
    if "manager_id" in changed:
        before["manager_id"], after["manager_id"] = before_manager, user.manager_id
    record_change(
        "hr.facts",
        now,
        actor_id,
        actor_kind,
        object_type="user",
        object_id=user.id,
        company_id=company_id,
        before=before,
        after=after,
    )
    db.session.flush()
    return user


def managed_by(manager: User) -> list[User]:
    """The active people of the manager's company whom ``manager`` manages, by name."""
    if manager.company_id is None:
        return []
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.manager_id == manager.id,
                User.company_id == manager.company_id,
                User.role.in_(COMPANY_ROLES),
                User.active,
            )
            .order_by(User.name, User.id)
        )
    )
