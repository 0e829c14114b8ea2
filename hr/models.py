from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db


class Purpose(StrEnum):
    """What a stay is for: the employee's own time, under the welfare rules (休暇型),
    or a business workation with working days at the facility (業務型)."""

    LEISURE = "leisure"
    BUSINESS = "business"


# How pages and files name each purpose (休暇型 / 業務型).
PURPOSE_LABELS = {
    Purpose.LEISURE: _l("Leisure stay"),
    Purpose.BUSINESS: _l("Business workation"),
}


# The group name of a company's default policy: for everyone whose group has none.
DEFAULT_GROUP = ""


class GroupPolicy(db.Model):
    """A company's rules for one group of its employees (正社員, 契約社員, 役員…, as
    ``User.employee_group`` names it), or its default (``DEFAULT_GROUP``). A company
    without any row allows both purposes to everyone."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    employee_group: Mapped[str] = mapped_column(String(40), server_default=text("''"))
    leisure_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())
    business_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())

    __table_args__ = (
        UniqueConstraint("company_id", "employee_group", name="uq_group_policy_company_group"),
        CheckConstraint("leisure_allowed OR business_allowed", name="some_purpose_allowed"),
    )
