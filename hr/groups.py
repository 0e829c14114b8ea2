"""A company's policy per group of employees: which stays (休暇型 leisure, 業務型
business) each group may book; read by ``hr.policy``.

Rules:

- One row per company and group (``GroupPolicy``); the group ``DEFAULT_GROUP`` ("")
  is the company's default, for everyone whose group has no row of its own.
- A row allows at least one purpose (the database says so too: ``some_purpose_allowed``).
- A group name is stripped, at most 40 characters, without control characters.
- Each change is one audit entry (``hr.group_policy.create`` / ``.update`` /
  ``.delete``) with the row's settings; another company's row is not found.

Services flush; the caller commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import COMPANY_ROLES, User
from core.db import in_id_range
from core.extensions import db
from hr.models import DEFAULT_GROUP, GroupPolicy
from hr.people import HrError, HrNotFound, clean_text, record_change

OBJECT_TYPE = "group_policy"


def group_policies(company_id: int) -> list[GroupPolicy]:
    """The company's rows: the default first, then the groups by name."""
    rows = db.session.scalars(select(GroupPolicy).where(GroupPolicy.company_id == company_id))
    return sorted(rows, key=lambda row: (row.employee_group != DEFAULT_GROUP, row.employee_group))


def groups_in_use(company_id: int) -> list[str]:
    """The groups the company's active people belong to, sorted (none: not listed)."""
    groups = db.session.scalars(
        select(User.employee_group)
        .distinct()
        .where(
            User.company_id == company_id,
            User.role.in_(COMPANY_ROLES),
            User.active,
            User.employee_group.is_not(None),
            User.employee_group != "",
        )
    )
    return sorted(groups)


def policy_values(row: GroupPolicy) -> dict[str, Any]:
    """A row's settings as the audit log records them."""
    return {
        "employee_group": row.employee_group,
        "leisure_allowed": row.leisure_allowed,
        "business_allowed": row.business_allowed,
    }


def _row(company_id: int, group: str) -> GroupPolicy | None:
    return db.session.scalar(
        select(GroupPolicy)
        .where(GroupPolicy.company_id == company_id, GroupPolicy.employee_group == group)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def save_group_policy(
    company_id: int,
    employee_group: str,
    *,
    leisure_allowed: bool,
    business_allowed: bool,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> GroupPolicy:
    """Set what ``employee_group`` ("" for the company's default) may book, making its
    row if it has none. Refused: neither purpose allowed (``no_purpose``), a group name
    too long or holding control characters. Recorded only when something changed."""
    group = clean_text(employee_group, "employee_group") or DEFAULT_GROUP
    if not (leisure_allowed or business_allowed):
        raise HrError(
            _l("Allow at least one kind of stay: leisure, business workations or both."),
            "no_purpose",
            "purposes",
        )
    row = _row(company_id, group)
    if row is None:
        row = GroupPolicy(
            company_id=company_id,
            employee_group=group,
            leisure_allowed=leisure_allowed,
            business_allowed=business_allowed,
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            row = _row(company_id, group)  # another admin made it a moment ago
            if row is None:
                raise
        else:
            record_change(
                f"hr.{OBJECT_TYPE}.create",
                now,
                actor_id,
                actor_kind,
                object_type=OBJECT_TYPE,
                object_id=row.id,
                company_id=company_id,
                after=policy_values(row),
            )
            db.session.flush()
            return row
    before = policy_values(row)
    row.leisure_allowed, row.business_allowed = leisure_allowed, business_allowed
    db.session.flush()
    changed_from, changed_to = audit.diff(before, policy_values(row))
    if changed_to:
        changed_from["employee_group"] = changed_to["employee_group"] = row.employee_group
        record_change(
            f"hr.{OBJECT_TYPE}.update",
            now,
            actor_id,
            actor_kind,
            object_type=OBJECT_TYPE,
            object_id=row.id,
            company_id=company_id,
            before=changed_from,
            after=changed_to,
        )
        db.session.flush()
    return row


def delete_group_policy(
    company_id: int,
    policy_id: int,
    *,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> None:
    """Remove a group's row: its people fall back to the company's default (removing
    the default allows both purposes to everyone without a row of their own). Another
    company's row is not found (``HrNotFound``)."""
    row = (
        db.session.scalar(
            select(GroupPolicy)
            .where(GroupPolicy.id == policy_id, GroupPolicy.company_id == company_id)
            .with_for_update()
        )
        if in_id_range(policy_id)
        else None
    )
    if row is None:
        raise HrNotFound(_l("No such group policy."))
    record_change(
        f"hr.{OBJECT_TYPE}.delete",
        now,
        actor_id,
        actor_kind,
        object_type=OBJECT_TYPE,
        object_id=row.id,
        company_id=company_id,
        before=policy_values(row),
    )
    db.session.delete(row)
    db.session.flush()
