"""A company outcome report's period and scope (``consoles.company.report``): the nights
``[first, end)`` it covers, which periods may be asked for, and whose stays a reader may
see (a company admin the company's, a manager their reports')."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from accounts.models import Role, User
from core.dates import DateRange
from core.extensions import db
from hr.subsidy import fiscal_year

MAX_PERIOD_DAYS = 3 * 366 + 1  # three years: enough to compare fiscal years side by side
YEARS_AROUND = 10  # a period lies within ten years of today


@dataclass(frozen=True)
class Period(DateRange):
    """The nights ``[first, end)``; ``last`` is the last night."""

    def fiscal_years(self, start_month: int) -> int:
        """How many fiscal years (beginning in ``start_month``) the period touches."""
        count, day = 0, self.first
        while day < self.end:
            count += 1
            day = fiscal_year(day, start_month)[1]
        return count


def fiscal_year_period(today: date, start_month: int) -> Period:
    """The fiscal year ``today`` is in (``hr.subsidy.fiscal_year``)."""
    return Period(*fiscal_year(today, start_month))


def period_problem(first: date, end: date, today: date) -> str | None:
    """Why ``[first, end)`` cannot be a report's period (a code), or None: ``dates_order``
    (no night), ``out_of_range`` (longer than ``MAX_PERIOD_DAYS`` or beyond ten years of
    today)."""
    if end <= first:
        return "dates_order"
    if (end - first).days > MAX_PERIOD_DAYS:
        return "out_of_range"
    if max(abs(first.year - today.year), abs(end.year - today.year)) > YEARS_AROUND:
        return "out_of_range"
    return None


@dataclass(frozen=True)
class Scope:
    """Whose stays a report covers: the company's (``manager_id`` None) or the stays of
    the people reporting to one manager."""

    company_id: int
    manager_id: int | None = None

    @property
    def is_company(self) -> bool:
        return self.manager_id is None


def scope_of(user: User) -> Scope | None:
    """The report ``user`` may read: a company admin the company's, an employee who
    manages somebody (``User.manager_id``) their reports'; anyone else none."""
    if user.company_id is None or not user.active:
        return None
    if user.role == Role.COMPANY_ADMIN:
        return Scope(user.company_id)
    if user.role != Role.EMPLOYEE:
        return None
    manages = db.session.scalar(
        select(User.id)
        .where(User.manager_id == user.id, User.company_id == user.company_id)
        .limit(1)
    )
    return Scope(user.company_id, user.id) if manages is not None else None
