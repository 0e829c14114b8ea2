"""Which stays a company's policy allows an employee, and a business stay's working days.

The policy that applies to a person is their group's (``GroupPolicy`` of their
``employee_group``), else the company's default row (``DEFAULT_GROUP``), else "both
purposes allowed" (a company that set nothing). A business stay (業務型) records its
working days: dates from the check-in day to the check-out day, both included (a
person may work on the day they arrive or leave). Offered by default: the weekdays
among them that are not national holidays (jpholiday).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import jpholiday
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from core.errors import RuleError
from core.extensions import db
from hr.models import DEFAULT_GROUP, GroupPolicy, Purpose


class PolicyRefused(RuleError):
    """The company's HR policy refuses a stay as asked (its purpose, its working days)."""


@dataclass(frozen=True)
class Allowed:
    """The purposes one person may book, in the order the booking form offers them."""

    purposes: tuple[Purpose, ...]

    def __contains__(self, purpose: object) -> bool:
        return purpose in self.purposes

    @property
    def default(self) -> Purpose:
        """The purpose a form starts on (and the API assumes when none is given)."""
        return self.purposes[0]


BOTH = Allowed((Purpose.LEISURE, Purpose.BUSINESS))


def policy_for(user: User) -> GroupPolicy | None:
    """The row that applies to ``user``: their group's, else the company default."""
    if user.company_id is None:
        return None
    groups = [DEFAULT_GROUP]
    if user.employee_group:
        groups.insert(0, user.employee_group)
    rows = {
        row.employee_group: row
        for row in db.session.scalars(
            select(GroupPolicy).where(
                GroupPolicy.company_id == user.company_id,
                GroupPolicy.employee_group.in_(groups),
            )
        )
    }
    for group in groups:
        if group in rows:
            return rows[group]
    return None


def allowed_purposes(user: User) -> Allowed:
    row = policy_for(user)
    if row is None:
        return BOTH
    purposes = tuple(
        purpose
        for purpose, allowed in (
            (Purpose.LEISURE, row.leisure_allowed),
            (Purpose.BUSINESS, row.business_allowed),
        )
        if allowed
    )
    return Allowed(purposes)


def check_purpose(user: User, purpose: str | None) -> Purpose:
    """The purpose ``user`` asked for, if it is one and their policy allows it; None
    asks for the policy's default."""
    allowed = allowed_purposes(user)
    if purpose is None:
        return allowed.default
    try:
        chosen = Purpose(purpose)
    except ValueError:
        raise PolicyRefused(
            _l("A stay is either leisure or a business workation."), "purpose_unknown"
        ) from None
    if chosen not in allowed:
        message = (
            _l("Your company's policy does not allow business workations for you.")
            if chosen is Purpose.BUSINESS
            else _l("Your company's policy allows only business workations for you.")
        )
        raise PolicyRefused(message, "purpose_not_allowed")
    return chosen


def candidate_work_days(check_in: date, check_out: date) -> list[date]:
    """Every day a business stay may count as a working day: check-in to check-out."""
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days + 1)]


def is_day_off(day: date) -> bool:
    """Saturday, Sunday or a national holiday (振替休日 included)."""
    return day.weekday() >= 5 or jpholiday.is_holiday(day)


def default_work_days(check_in: date, check_out: date) -> list[date]:
    """The working days a business stay starts with: its weekdays that are not holidays."""
    return [day for day in candidate_work_days(check_in, check_out) if not is_day_off(day)]


def check_work_days(
    purpose: Purpose, days: Iterable[date] | None, check_in: date, check_out: date
) -> list[date]:
    """A business stay's working days, sorted and without repeats: at least one, each
    within the stay. None gives the default days. A leisure stay has none (asking for
    some is refused: they would be entered as work in the HR system)."""
    if purpose is Purpose.LEISURE:
        if days:
            raise PolicyRefused(_l("A leisure stay has no working days."), "work_days_for_leisure")
        return []
    chosen = sorted(set(days)) if days is not None else default_work_days(check_in, check_out)
    if not chosen:
        raise PolicyRefused(
            _l("Choose at least one working day for a business workation."), "work_days"
        )
    if chosen[0] < check_in or chosen[-1] > check_out:
        raise PolicyRefused(
            _l("Working days must fall between the check-in and check-out days."), "work_days"
        )
    return chosen
