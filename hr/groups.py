"""A company's policy per group of employees, read by ``hr.policy``, ``hr.approval`` and
``hr.subsidy``: which stays (休暇型 leisure, 業務型 business) each group may book, which
of them wait for an approver, what the company pays of a stay (the subsidy, its yearly
cap) and of each companion; and the month the company's fiscal year begins.

Rules:

- One row per company and group (``GroupPolicy``); the group ``DEFAULT_GROUP`` ("")
  is the company's default, for everyone whose group has no row of its own.
- A row allows at least one purpose (the database says so too: ``some_purpose_allowed``).
- A group name is stripped, at most 40 characters, without control characters.
- The approver and the deputy are active people of the same company (anyone else is
  refused, never stored), and not the same person; no approver: each employee's
  manager decides (``hr.approval``). A request waits 1 to 336 hours (14 days).
- Amounts are integer yen from 0 to ``MAX_YEN`` a person-night (a yearly cap up to
  ``MAX_ANNUAL_CAP``), a percentage from 0 to 100. What a kind of subsidy does not use
  is stored empty: no amount for ``full`` or ``none``, no maximum but for ``percent``,
  no yearly cap for ``none``, no companion rate but for the ``rate`` rule.
- Each change is one audit entry (``hr.group_policy.create`` / ``.update`` /
  ``.delete``, ``hr.fiscal_year``): an update names the settings that changed, before
  and after; a new or deleted row its purposes and every setting not at its default;
  another company's row is not found.

The words pages use for a policy (``subsidy_words``, ``companion_words``) and its
example stay (``example_split``) are here too, so the admin who sets a rule and the
employee who books under it read the same sentence.

Services flush; the caller commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import COMPANY_ROLES, Company, User
from core.db import in_id_range
from core.extensions import db
from core.i18n import format_yen_plain
from hr.models import (
    DEFAULT_GROUP,
    CompanionCategory,
    CompanionRule,
    GroupPolicy,
    SubsidyKind,
)
from hr.people import HrError, HrNotFound, clean_text, record_change
from hr.subsidy import NO_COMPANIONS, Companions, Split, split_stay

OBJECT_TYPE = "group_policy"
FISCAL_YEAR_ACTION = "hr.fiscal_year"

MAX_YEN = 1_000_000  # a subsidy, its maximum or a companion rate, per person-night
MAX_ANNUAL_CAP = 100_000_000  # one employee's subsidy over a fiscal year
MAX_APPROVAL_NIGHTS = 365
MIN_APPROVAL_HOURS, MAX_APPROVAL_HOURS = 1, 336
DEFAULT_FISCAL_YEAR_START = 4  # April–March, as most Japanese companies

# The stay the pages work out as an example of a policy's subsidy.
EXAMPLE_NIGHTS, EXAMPLE_PRICE = 3, 12_000
EXAMPLE_COMPANIONS = Companions(adults=1, children=1)

COMPANION_LABELS = {
    CompanionCategory.ADULT: _l("Adults"),
    CompanionCategory.CHILD: _l("Children"),
    CompanionCategory.INFANT: _l("Infants"),
}


@dataclass(frozen=True)
class PolicySettings:
    """Everything a group's policy sets, as ``save_policy_settings`` takes it (the
    defaults: a row nobody has set beyond its purposes)."""

    leisure_allowed: bool = True
    business_allowed: bool = True
    approval_all: bool = False
    approval_business: bool = False
    approval_over_nights: int | None = None
    approval_peak: bool = False
    approval_over_subsidy: bool = False
    approver_id: int | None = None
    deputy_id: int | None = None
    approval_hours: int = 48
    subsidy_kind: str = SubsidyKind.FULL.value
    subsidy_amount: int = 0
    subsidy_max: int | None = None
    annual_cap: int | None = None
    companion_adult: str = CompanionRule.EMPLOYEE.value
    companion_adult_rate: int = 0
    companion_child: str = CompanionRule.EMPLOYEE.value
    companion_child_rate: int = 0
    companion_infant: str = CompanionRule.EMPLOYEE.value
    companion_infant_rate: int = 0


SETTINGS = tuple(f.name for f in fields(PolicySettings))
DEFAULTS = PolicySettings()
PURPOSES = ("leisure_allowed", "business_allowed")
# Each companion category's rule column and rate column.
COMPANION_COLUMNS = {
    CompanionCategory.ADULT: ("companion_adult", "companion_adult_rate"),
    CompanionCategory.CHILD: ("companion_child", "companion_child_rate"),
    CompanionCategory.INFANT: ("companion_infant", "companion_infant_rate"),
}


def settings_of(row: GroupPolicy | None) -> PolicySettings:
    """A row's settings (None: the defaults, what a company that set nothing has)."""
    if row is None:
        return DEFAULTS
    return PolicySettings(**{name: _plain(getattr(row, name)) for name in SETTINGS})


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, SubsidyKind | CompanionRule) else value


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


def approver_candidates(company_id: int) -> list[User]:
    """Who may be named approver or deputy: the company's active people, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.company_id == company_id,
                User.role.in_(COMPANY_ROLES),
                User.active,
            )
            .order_by(User.name, User.id)
        )
    )


def _snapshot(row: GroupPolicy) -> dict[str, Any]:
    return {"employee_group": row.employee_group, **asdict(settings_of(row))}


def policy_values(row: GroupPolicy) -> dict[str, Any]:
    """A new or deleted row's settings as the audit log records them: its group and
    purposes, and each other setting that is not at its default."""
    values = _snapshot(row)
    return {
        name: value
        for name, value in values.items()
        if name == "employee_group" or name in PURPOSES or value != getattr(DEFAULTS, name)
    }


def _row(company_id: int, group: str) -> GroupPolicy | None:
    return db.session.scalar(
        select(GroupPolicy)
        .where(GroupPolicy.company_id == company_id, GroupPolicy.employee_group == group)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _check_purposes(leisure_allowed: bool, business_allowed: bool) -> None:
    if not (leisure_allowed or business_allowed):
        raise HrError(
            _l("Allow at least one kind of stay: leisure, business workations or both."),
            "no_purpose",
            "purposes",
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
    row if it has none; its other settings are kept. Refused: neither purpose allowed
    (``no_purpose``), a group name too long or holding control characters. Recorded
    only when something changed."""
    group = clean_text(employee_group, "employee_group") or DEFAULT_GROUP
    _check_purposes(leisure_allowed, business_allowed)
    values = {"leisure_allowed": leisure_allowed, "business_allowed": business_allowed}
    return _save(company_id, group, values, actor_id, actor_kind, now)


def save_policy_settings(
    company_id: int,
    employee_group: str,
    settings: PolicySettings,
    *,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> GroupPolicy:
    """Set everything of ``employee_group``'s policy ("" for the company's default),
    making its row if it has none. Each setting is checked (``check_settings``) before
    any is stored; recorded only when something changed."""
    group = clean_text(employee_group, "employee_group") or DEFAULT_GROUP
    checked = check_settings(company_id, settings)
    return _save(company_id, group, asdict(checked), actor_id, actor_kind, now)


def _save(
    company_id: int,
    group: str,
    values: dict[str, Any],
    actor_id: int | None,
    actor_kind: str | None,
    now: datetime,
) -> GroupPolicy:
    row = _row(company_id, group)
    if row is None:
        row = GroupPolicy(company_id=company_id, employee_group=group, **values)
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
    before = _snapshot(row)
    for name, value in values.items():
        setattr(row, name, value)
    db.session.flush()
    changed_from, changed_to = audit.diff(before, _snapshot(row))
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


# --- checking the settings ---------------------------------------------------------------


def _active_member(company_id: int, user_id: int | None) -> bool:
    if user_id is None:
        return True
    if not isinstance(user_id, int) or not in_id_range(user_id):
        return False
    found = db.session.scalar(
        select(User.id).where(
            User.id == user_id,
            User.company_id == company_id,
            User.role.in_(COMPANY_ROLES),
            User.active,
        )
    )
    return found is not None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _yen(value: Any, field: str, *, most: int = MAX_YEN) -> int:
    if not _whole(value) or not 0 <= value <= most:
        raise HrError(
            _l(
                "Enter an amount in yen from ¥0 to %(most)s.",
                most=format_yen_plain(most),
            ),
            "amount_range",
            field,
        )
    return value


def check_settings(company_id: int, settings: PolicySettings) -> PolicySettings:
    """``settings`` checked and with what their choices do not use emptied (see the
    module's rules); the first refusal raises ``HrError`` naming its setting."""
    s = settings
    _check_purposes(s.leisure_allowed, s.business_allowed)
    over = s.approval_over_nights
    if over is not None and (not _whole(over) or not 1 <= over <= MAX_APPROVAL_NIGHTS):
        raise HrError(
            _l("Enter a number of nights from 1 to %(n)d.", n=MAX_APPROVAL_NIGHTS),
            "approval_over_nights",
            "approval_over_nights",
        )
    hours = s.approval_hours
    if not _whole(hours) or not MIN_APPROVAL_HOURS <= hours <= MAX_APPROVAL_HOURS:
        raise HrError(
            _l(
                "A request can wait from %(least)d to %(most)d hours (14 days).",
                least=MIN_APPROVAL_HOURS,
                most=MAX_APPROVAL_HOURS,
            ),
            "approval_hours",
            "approval_hours",
        )
    if not _active_member(company_id, s.approver_id):
        raise HrError(
            _l("Choose the approver among your company's active people."),
            "approver_unknown",
            "approver_id",
        )
    if not _active_member(company_id, s.deputy_id):
        raise HrError(
            _l("Choose the deputy among your company's active people."),
            "deputy_unknown",
            "deputy_id",
        )
    if s.deputy_id is not None and s.deputy_id == s.approver_id:
        raise HrError(
            _l("The deputy must be someone other than the approver."),
            "deputy_same",
            "deputy_id",
        )
    s = _checked_subsidy(s)
    return _checked_companions(s)


def _checked_subsidy(s: PolicySettings) -> PolicySettings:
    try:
        kind = SubsidyKind(s.subsidy_kind)
    except ValueError:
        raise HrError(
            _l("Choose how much of a stay the company pays."), "subsidy_kind", "subsidy_kind"
        ) from None
    cap = None if s.annual_cap is None else _yen(s.annual_cap, "annual_cap", most=MAX_ANNUAL_CAP)
    if kind is SubsidyKind.PERCENT:
        if not _whole(s.subsidy_amount) or not 0 <= s.subsidy_amount <= 100:
            raise HrError(
                _l("Enter a percentage from 0 to 100."), "percent_range", "subsidy_amount"
            )
        most = None if s.subsidy_max is None else _yen(s.subsidy_max, "subsidy_max")
        return replace(s, subsidy_kind=kind.value, subsidy_max=most, annual_cap=cap)
    if kind is SubsidyKind.FIXED:
        amount = _yen(s.subsidy_amount, "subsidy_amount")
        return replace(
            s, subsidy_kind=kind.value, subsidy_amount=amount, subsidy_max=None, annual_cap=cap
        )
    # FULL pays every night (up to the yearly cap, if any); NONE pays nothing, so it has
    # no cap either.
    cap = cap if kind is SubsidyKind.FULL else None
    return replace(s, subsidy_kind=kind.value, subsidy_amount=0, subsidy_max=None, annual_cap=cap)


def _checked_companions(s: PolicySettings) -> PolicySettings:
    changes = {}
    for rule_name, rate_name in COMPANION_COLUMNS.values():
        try:
            rule = CompanionRule(getattr(s, rule_name))
        except ValueError:
            raise HrError(
                _l("Choose what the company pays for these companions."),
                "companion_rule",
                rule_name,
            ) from None
        rate = _yen(getattr(s, rate_name), rate_name) if rule is CompanionRule.RATE else 0
        changes[rule_name], changes[rate_name] = rule.value, rate
    return replace(s, **changes)


# --- the fiscal year ---------------------------------------------------------------------


def set_fiscal_year_start(
    company_id: int,
    month: int,
    *,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> Company:
    """Set the month the company's fiscal year begins (1–12; 4: April–March), which
    bounds every employee's yearly subsidy cap. Recorded only when it changed."""
    if not _whole(month) or not 1 <= month <= 12:
        raise HrError(
            _l("Choose the month your fiscal year begins."),
            "fiscal_year_start_month",
            "fiscal_year_start_month",
        )
    company = db.session.scalar(
        select(Company)
        .where(Company.id == company_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if company is None:
        raise HrNotFound(_l("No such company."))
    before = company.fiscal_year_start_month
    if before != month:
        company.fiscal_year_start_month = month
        record_change(
            FISCAL_YEAR_ACTION,
            now,
            actor_id,
            actor_kind,
            object_type="company",
            object_id=company.id,
            company_id=company.id,
            before={"fiscal_year_start_month": before},
            after={"fiscal_year_start_month": month},
        )
        db.session.flush()
    return company


# --- a policy in words -------------------------------------------------------------------


def subsidy_words(policy: GroupPolicy | PolicySettings | None) -> LazyString:
    """What the company pays of each night, in one sentence."""
    s = policy if isinstance(policy, PolicySettings) else settings_of(policy)
    kind = SubsidyKind(s.subsidy_kind)
    if kind is SubsidyKind.FULL:
        return _l("The company pays the whole price of every night.")
    if kind is SubsidyKind.NONE:
        return _l("The company pays nothing: the employee pays every night by card.")
    if kind is SubsidyKind.FIXED:
        return _l(
            "The company pays %(amount)s per person a night (never more than the night's"
            " price); the employee pays the rest by card.",
            amount=format_yen_plain(s.subsidy_amount),
        )
    if s.subsidy_max is None:
        return _l(
            "The company pays %(percent)d%% of each night's price; the employee pays the"
            " rest by card.",
            percent=s.subsidy_amount,
        )
    return _l(
        "The company pays %(percent)d%% of each night's price, at most %(most)s per person"
        " a night; the employee pays the rest by card.",
        percent=s.subsidy_amount,
        most=format_yen_plain(s.subsidy_max),
    )


def cap_words(policy: GroupPolicy | PolicySettings | None) -> LazyString | None:
    """The yearly cap in one sentence (None: no cap)."""
    s = policy if isinstance(policy, PolicySettings) else settings_of(policy)
    if s.annual_cap is None:
        return None
    return _l(
        "At most %(cap)s per employee in a fiscal year; beyond it the employee pays.",
        cap=format_yen_plain(s.annual_cap),
    )


def companion_words(
    policy: GroupPolicy | PolicySettings | None, category: CompanionCategory
) -> LazyString:
    """What the company pays for one category of companions, in a few words."""
    s = policy if isinstance(policy, PolicySettings) else settings_of(policy)
    rule_name, rate_name = COMPANION_COLUMNS[category]
    rule = CompanionRule(getattr(s, rule_name))
    if rule is CompanionRule.SUBSIDISED:
        return _l("Subsidised like the employee")
    if rule is CompanionRule.RATE:
        return _l(
            "The company pays %(rate)s a night each",
            rate=format_yen_plain(getattr(s, rate_name)),
        )
    return _l("Paid by the employee")


def companions_matter(policy: GroupPolicy | PolicySettings | None) -> bool:
    """Whether companions change the company's part (not when it pays all or nothing)."""
    s = policy if isinstance(policy, PolicySettings) else settings_of(policy)
    return s.subsidy_kind in (SubsidyKind.FIXED, SubsidyKind.PERCENT)


@dataclass(frozen=True)
class Example:
    """A stay worked out by a policy: ``nights`` nights at ``price`` a night."""

    nights: int
    price: int
    companions: Companions
    split: Split


def example_split(
    policy: GroupPolicy | PolicySettings | None, companions: Companions = NO_COMPANIONS
) -> Example:
    """The example stay (``EXAMPLE_NIGHTS`` nights at ``EXAMPLE_PRICE``) split by
    ``policy``, as the first stay of a fiscal year (its whole yearly cap left)."""
    s = policy if isinstance(policy, PolicySettings) else settings_of(policy)
    as_row = GroupPolicy(**asdict(s))  # never added to the session: only read
    split = split_stay(as_row, [EXAMPLE_PRICE] * EXAMPLE_NIGHTS, companions, remaining=s.annual_cap)
    return Example(EXAMPLE_NIGHTS, EXAMPLE_PRICE, companions, split)


def delete_group_policy(
    company_id: int,
    policy_id: int,
    *,
    actor_id: int | None,
    now: datetime,
    actor_kind: str | None = None,
) -> None:
    """Remove a group's row: its people fall back to the company's default (removing
    the default allows both purposes to everyone without a row of their own, and the
    company pays every night in full). Another company's row is not found
    (``HrNotFound``)."""
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
