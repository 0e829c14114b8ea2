"""What joining and provisioning keep: sign-up applications and SCIM tokens."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Company, OperatorOrg, User
from core.db import UTCDateTime
from core.extensions import db


class ApplicationKind(StrEnum):
    COMPANY = "company"  # a company that wants its employees to stay (企業の利用申込)
    OPERATOR = "operator"  # a facility operator or municipality (施設運営者の登録申請)


class ApplicationStatus(StrEnum):
    UNCONFIRMED = "unconfirmed"  # the contact has not opened the confirmation link yet
    PENDING = "pending"  # confirmed, waiting for the platform admin
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # never confirmed, or never decided, in time


class Application(db.Model):
    """A company's or an operator's request to join, from the public sign-up pages.

    The fields every application has are columns; what only one kind asks for
    (billing address and expected seats; the operator's kind, first facility and
    licence) is the JSON object ``details``. The confirmation link's secret is
    stored as its SHA-256 only.
    """

    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(
        String(12), default=ApplicationStatus.UNCONFIRMED, index=True
    )
    org_name: Mapped[str] = mapped_column(String(200))
    corporate_number: Mapped[str | None] = mapped_column(String(13))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254), index=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    locale: Mapped[str] = mapped_column(String(5), default="ja")
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Unconfirmed: the link's end; pending: when an undecided application lapses.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator_org.id"))

    decided_by: Mapped[User | None] = relationship()
    company: Mapped[Company | None] = relationship()
    operator: Mapped[OperatorOrg | None] = relationship()

    __table_args__ = (
        CheckConstraint("kind IN ('company', 'operator')", name="kind_known"),
        CheckConstraint(
            "status IN ('unconfirmed', 'pending', 'approved', 'rejected', 'expired')",
            name="status_known",
        ),
    )

    @property
    def detail_values(self) -> dict[str, Any]:
        return json.loads(self.details or "{}")


class ScimToken(db.Model):
    """A company's bearer token for SCIM provisioning; only its SHA-256 is stored.

    A company has at most one live token: rotating revokes the old one."""

    __tablename__ = "scim_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company: Mapped[Company] = relationship()
