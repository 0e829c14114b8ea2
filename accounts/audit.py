"""The audit log: who did what to which object, when, and what a setting was before and after.

Every action of the platform console, every change of a company's or an operator's
settings made in a console, by the directory (SCIM) or on the command line, is one
``AuditEntry`` written in the same transaction as the change (``record``), so an
entry exists exactly when the change does. Entries carry ids, never passwords,
tokens or secrets; ``before``/``after`` hold only the settings that changed.

The platform admin reads every entry (``/admin/audit``); a company admin reads the
entries of their company, an operator those of their organisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime
from core.extensions import db

# Who acted when no person did.
ACTOR_CLI = "cli"
ACTOR_SCIM = "scim"
ACTOR_SYSTEM = "system"
# Keys never written into before/after, whatever a caller passes.
SECRET_KEYS = frozenset({"password", "password_hash", "client_secret", "token", "totp_secret"})


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The person who acted, or None with ``actor_kind`` cli / scim / system.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    actor_kind: Mapped[str] = mapped_column(String(10), default="user")
    # A dotted verb: "company.create", "user.lock", "sso.update", "scim.user.deactivate".
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None]
    # The organisation the entry belongs to: its admins can read it.
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"))
    # JSON objects of the settings that changed, or None.
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)

    actor: Mapped[User | None] = relationship()

    __table_args__ = (
        # One object's history (SCIM's meta.lastModified reads it on every answer).
        Index("ix_audit_entry_object", "object_type", "object_id", "created_at"),
        # An organisation's page, newest first, and the filter choices it offers.
        Index("ix_audit_entry_company_created", "company_id", "created_at"),
        Index("ix_audit_entry_operator_created", "operator_id", "created_at"),
        Index("ix_audit_entry_company_action", "company_id", "action", "object_type"),
        Index("ix_audit_entry_operator_action", "operator_id", "action", "object_type"),
    )

    @property
    def before_values(self) -> dict[str, Any]:
        return json.loads(self.before) if self.before else {}

    @property
    def after_values(self) -> dict[str, Any]:
        return json.loads(self.after) if self.after else {}

    @property
    def changes(self) -> list[tuple[str, Any, Any]]:
        """(setting, before, after) for each setting named in either side."""
        before, after = self.before_values, self.after_values
        keys = list(dict.fromkeys([*before, *after]))
        return [(key, before.get(key), after.get(key)) for key in keys]


def _dump(values: dict[str, Any] | None) -> str | None:
    if not values:
        return None
    clean = {k: v for k, v in values.items() if k not in SECRET_KEYS}
    return json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Only the settings whose value changed, from two snapshots of the same keys."""
    changed = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in changed}, {k: after[k] for k in changed}


def record(
    action: str,
    now: datetime,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
    object_type: str,
    object_id: int | None = None,
    company_id: int | None = None,
    operator_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the session (the caller commits with its change)."""
    entry = AuditEntry(
        created_at=now,
        actor_id=actor.id if actor is not None else None,
        actor_kind=actor_kind or ("user" if actor is not None else ACTOR_SYSTEM),
        action=action,
        object_type=object_type,
        object_id=object_id,
        company_id=company_id,
        operator_id=operator_id,
        before=_dump(before),
        after=_dump(after),
    )
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What a reader narrows the log to; empty fields narrow nothing."""

    action: str = ""
    object_type: str = ""
    actor_id: int | None = None
    company_id: int | None = None
    operator_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def entries_query(where: AuditFilter):
    """A select of entries, newest first, narrowed by ``where`` (page it with core.paging).

    A company admin's or operator's page passes their own organisation's id, so they
    never see another's entries."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if where.action:
        query = query.where(AuditEntry.action.startswith(where.action, autoescape=True))
    if where.object_type:
        query = query.where(AuditEntry.object_type == where.object_type)
    if where.actor_id is not None:
        query = query.where(AuditEntry.actor_id == where.actor_id)
    if where.company_id is not None:
        query = query.where(AuditEntry.company_id == where.company_id)
    if where.operator_id is not None:
        query = query.where(AuditEntry.operator_id == where.operator_id)
    if where.since is not None:
        query = query.where(AuditEntry.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.created_at < where.until)
    return query


def known_actions() -> list[str]:
    """The actions present in the log, for a filter's choices."""
    return list(
        db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    )
