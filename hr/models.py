from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint, false, text, true
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


class SubsidyKind(StrEnum):
    """How much of a stay's price the company pays (its part, from the stay credit); the
    employee pays the rest by card. ``FULL``: all of it (a company that set nothing);
    ``FIXED``: ``subsidy_amount`` yen per person-night; ``PERCENT``: ``subsidy_amount``
    percent of each night, at most ``subsidy_max`` yen per person-night; ``NONE``: the
    employee pays everything."""

    FULL = "full"
    FIXED = "fixed"
    PERCENT = "percent"
    NONE = "none"


class CompanionRule(StrEnum):
    """What the company pays for a companion's nights: as for the employee
    (``SUBSIDISED``), a fixed companion rate per night (``RATE``), or nothing, the
    employee paying (``EMPLOYEE``)."""

    SUBSIDISED = "subsidised"
    RATE = "rate"
    EMPLOYEE = "employee"


class CompanionCategory(StrEnum):
    ADULT = "adult"
    CHILD = "child"
    INFANT = "infant"


# The approval rules a policy can set, in the order a page lists them (the codes a
# waiting stay records as its reasons).
APPROVAL_REASONS = ("all", "business", "long", "peak", "over_subsidy")


class GroupPolicy(db.Model):
    """A company's rules for one group of its employees (正社員, 契約社員, 役員…, as
    ``User.employee_group`` names it), or its default (``DEFAULT_GROUP``). A company
    without any row allows both purposes to everyone."""

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    employee_group: Mapped[str] = mapped_column(String(40), server_default=text("''"))
    leisure_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())
    business_allowed: Mapped[bool] = mapped_column(default=True, server_default=true())

    # Approval: which stays wait for an approver before they are confirmed (their nights
    # held meanwhile, nothing charged), any rule sufficing: every stay, business stays,
    # stays longer than ``approval_over_nights`` nights, stays with a peak-season night
    # (pricing.seasons), stays the employee pays part of (beyond the subsidy).
    approval_all: Mapped[bool] = mapped_column(default=False, server_default=false())
    approval_business: Mapped[bool] = mapped_column(default=False, server_default=false())
    approval_over_nights: Mapped[int | None]
    approval_peak: Mapped[bool] = mapped_column(default=False, server_default=false())
    approval_over_subsidy: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Who approves: this named approver, else the employee's manager (else the company's
    # admins); the deputy decides while the approver is away (``User.away_until``).
    approver_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    deputy_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # How long a stay waits for a decision before its nights are released.
    approval_hours: Mapped[int] = mapped_column(default=48, server_default=text("48"))

    # Subsidy (SubsidyKind) and the employee's yearly cap of it, over the company's
    # fiscal year (``Company.fiscal_year_start_month``); None: no cap.
    subsidy_kind: Mapped[str] = mapped_column(
        String(10), default=SubsidyKind.FULL, server_default=text("'full'")
    )
    subsidy_amount: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    subsidy_max: Mapped[int | None]
    annual_cap: Mapped[int | None]
    # Companions by category (CompanionRule), each with its rate per night (yen the
    # company pays for that companion's night under ``RATE``).
    companion_adult: Mapped[str] = mapped_column(
        String(10), default=CompanionRule.EMPLOYEE, server_default=text("'employee'")
    )
    companion_adult_rate: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    companion_child: Mapped[str] = mapped_column(
        String(10), default=CompanionRule.EMPLOYEE, server_default=text("'employee'")
    )
    companion_child_rate: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    companion_infant: Mapped[str] = mapped_column(
        String(10), default=CompanionRule.EMPLOYEE, server_default=text("'employee'")
    )
    companion_infant_rate: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    __table_args__ = (
        UniqueConstraint("company_id", "employee_group", name="uq_group_policy_company_group"),
        CheckConstraint("leisure_allowed OR business_allowed", name="some_purpose_allowed"),
        CheckConstraint(
            "approval_over_nights IS NULL OR approval_over_nights > 0", name="over_nights_positive"
        ),
        CheckConstraint("approval_hours BETWEEN 1 AND 336", name="approval_hours_range"),
        CheckConstraint(
            "subsidy_kind IN ('full', 'fixed', 'percent', 'none')", name="subsidy_kind_known"
        ),
        CheckConstraint(
            "subsidy_amount >= 0 AND (subsidy_kind <> 'percent' OR subsidy_amount <= 100)",
            name="subsidy_amount_range",
        ),
        CheckConstraint("subsidy_max IS NULL OR subsidy_max >= 0", name="subsidy_max_not_negative"),
        CheckConstraint("annual_cap IS NULL OR annual_cap >= 0", name="annual_cap_not_negative"),
        CheckConstraint(
            "companion_adult IN ('subsidised', 'rate', 'employee')"
            " AND companion_child IN ('subsidised', 'rate', 'employee')"
            " AND companion_infant IN ('subsidised', 'rate', 'employee')",
            name="companion_rules_known",
        ),
        CheckConstraint(
            "companion_adult_rate >= 0 AND companion_child_rate >= 0"
            " AND companion_infant_rate >= 0",
            name="companion_rates_not_negative",
        ),
    )
